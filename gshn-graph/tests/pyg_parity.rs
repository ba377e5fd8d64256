//! Golden parity with PyTorch Geometric 2.8 `GATConv` / `GATv2Conv` (fixtures from
//! `scripts/peers/gat_fixtures.py`): same weights in both; outputs, attention weights and the
//! gradients with respect to inputs, edge features and every weight match to 1e-5 — through the
//! fused softmax + aggregation (the default) and through the unfused Burn ops.

mod common;
use common::wgpu;
use std::collections::HashMap;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use gshn_graph::gat::{GatConv, GatConvConfig, GatVariant};
use gshn_graph::EdgeList;
use serde::Deserialize;

#[derive(Deserialize)]
struct P {
    shape: Vec<usize>,
    value: Vec<f32>,
    grad: Vec<f32>,
}

#[derive(Deserialize)]
struct Fixture {
    name: String,
    layer: String,
    config: serde_json::Value,
    num_nodes: usize,
    src: Vec<usize>,
    dst: Vec<usize>,
    x: Vec<f32>,
    edge_attr: Option<Vec<f32>>,
    out: Vec<f32>,
    out_shape: [usize; 2],
    grad_out: Vec<f32>,
    att_src: Vec<usize>,
    att_dst: Vec<usize>,
    attention: Vec<f32>,
    grad_x: Vec<f32>,
    grad_edge_attr: Option<Vec<f32>>,
    params: HashMap<String, P>,
}

fn load(name: &str) -> Fixture {
    let p = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn t2(v: &[f32], shape: [usize; 2], d: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), d)
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}[{i}]: {g} vs {w}");
    }
}

/// A torch weight `[out, in]` as a Burn linear weight `[in, out]`.
fn linear_weight(p: &P, d: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(t2(&p.value, [p.shape[0], p.shape[1]], d).transpose().require_grad())
}

fn att(p: &P, d: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(t2(&p.value, [p.shape[1], p.shape[2]], d).require_grad())
}

fn vec1(p: &P, d: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::<1>::from_data(TensorData::new(p.value.clone(), [p.shape[0]]), d).require_grad())
}

fn set_linear(lin: &mut Linear, fix: &Fixture, prefix: &str, d: &Device) {
    lin.weight = linear_weight(&fix.params[&format!("{prefix}.weight")], d);
    lin.bias = fix.params.get(&format!("{prefix}.bias")).map(|b| vec1(b, d));
}

fn build(fix: &Fixture, d: &Device, fused: bool) -> GatConv {
    let c = &fix.config;
    let get = |k: &str| c.get(k);
    let v2 = fix.layer == "GATv2Conv";
    let cfg = GatConvConfig::new(c["in_channels"].as_u64().unwrap() as usize, c["out_channels"].as_u64().unwrap() as usize)
        .with_heads(c["heads"].as_u64().unwrap() as usize)
        .with_concat(c["concat"].as_bool().unwrap())
        .with_add_self_loops(get("add_self_loops").and_then(|v| v.as_bool()).unwrap_or(true))
        .with_edge_dim(get("edge_dim").and_then(|v| v.as_u64()).map(|v| v as usize))
        .with_residual(get("residual").and_then(|v| v.as_bool()).unwrap_or(false))
        .with_fused(fused)
        .with_variant(if v2 { GatVariant::V2 { share_weights: get("share_weights").and_then(|v| v.as_bool()).unwrap_or(false) } } else { GatVariant::V1 });
    let mut layer = cfg.init(d).unwrap();
    if v2 {
        set_linear(&mut layer.lin, fix, "lin_l", d);
        if let Some(lr) = layer.lin_r.as_mut() {
            set_linear(lr, fix, "lin_r", d);
        }
        layer.att_src = att(&fix.params["att"], d);
    } else {
        set_linear(&mut layer.lin, fix, "lin", d);
        layer.att_src = att(&fix.params["att_src"], d);
        layer.att_dst = Some(att(&fix.params["att_dst"], d));
        layer.att_edge = fix.params.get("att_edge").map(|p| att(p, d));
    }
    if let Some(le) = layer.lin_edge.as_mut() {
        set_linear(le, fix, "lin_edge", d);
    }
    if let Some(r) = layer.res.as_mut() {
        set_linear(r, fix, "res", d);
    }
    layer.bias = Some(vec1(&fix.params["bias"], d));
    layer
}

/// Checks the fixture through the fused path and the unfused one.
fn check(name: &str, device: &Device) {
    check_path(name, device, true);
    check_path(name, device, false);
}

fn check_path(name: &str, device: &Device, fused: bool) {
    let mut fix = load(name);
    fix.name = format!("{} ({})", fix.name, if fused { "fused" } else { "unfused" });
    let layer = build(&fix, device, fused);
    let edges = EdgeList::new(fix.num_nodes, fix.src.iter().copied().zip(fix.dst.iter().copied())).unwrap();
    let in_ch = fix.config["in_channels"].as_u64().unwrap() as usize;
    let x = t2(&fix.x, [fix.num_nodes, in_ch], device).require_grad();
    let edge_attr = fix.edge_attr.as_ref().map(|a| t2(a, [fix.src.len(), a.len() / fix.src.len()], device).require_grad());
    let out = layer.forward(x.clone(), &edges, edge_attr.clone()).unwrap();
    assert_eq!(out.out.dims(), fix.out_shape, "{}", fix.name);
    close(&format!("{}: out", fix.name), &values(&out.out), &fix.out);
    assert_eq!(out.edges.src, fix.att_src, "{}: attention edges (sources)", fix.name);
    assert_eq!(out.edges.dst, fix.att_dst, "{}: attention edges (targets)", fix.name);
    close(&format!("{}: attention", fix.name), &values(&out.attention), &fix.attention);
    let loss = out.out.mul(t2(&fix.grad_out, fix.out_shape, device)).sum();
    let grads = loss.backward();
    close(&format!("{}: grad x", fix.name), &values(&x.grad(&grads).unwrap()), &fix.grad_x);
    if let (Some(a), Some(want)) = (edge_attr, &fix.grad_edge_attr) {
        close(&format!("{}: grad edge_attr", fix.name), &values(&a.grad(&grads).unwrap()), want);
    }
    let v2 = fix.layer == "GATv2Conv";
    let mut checked = 0;
    for (pname, p) in &fix.params {
        let got: Vec<f32> = match pname.as_str() {
            "lin.weight" | "lin_l.weight" => values(&layer.lin.weight.grad(&grads).unwrap().transpose()),
            "lin_l.bias" => values(&layer.lin.bias.as_ref().unwrap().grad(&grads).unwrap()),
            "lin_r.weight" => values(&layer.lin_r.as_ref().unwrap().weight.grad(&grads).unwrap().transpose()),
            "lin_r.bias" => values(&layer.lin_r.as_ref().unwrap().bias.as_ref().unwrap().grad(&grads).unwrap()),
            "lin_edge.weight" => values(&layer.lin_edge.as_ref().unwrap().weight.grad(&grads).unwrap().transpose()),
            "res.weight" => values(&layer.res.as_ref().unwrap().weight.grad(&grads).unwrap().transpose()),
            "att_src" | "att" => values(&layer.att_src.grad(&grads).unwrap()),
            "att_dst" if !v2 => values(&layer.att_dst.as_ref().unwrap().grad(&grads).unwrap()),
            "att_edge" => values(&layer.att_edge.as_ref().unwrap().grad(&grads).unwrap()),
            "bias" => values(&layer.bias.as_ref().unwrap().grad(&grads).unwrap()),
            other => panic!("{}: unmapped PyG parameter {other}", fix.name),
        };
        close(&format!("{}: grad {pname}", fix.name), &got, &p.grad);
        checked += 1;
    }
    assert_eq!(checked, fix.params.len());
}

#[test]
fn gat_heads4_concat() {
    check("gat_heads4_concat", &Device::flex().autodiff());
}

#[test]
fn gat_heads3_mean_edge_features_residual() {
    check("gat_heads3_mean_edge_residual", &Device::flex().autodiff());
}

#[test]
fn gat_without_self_loops() {
    check("gat_no_self_loops", &Device::flex().autodiff());
}

#[test]
fn gatv2_shared_weights() {
    check("gatv2_shared", &Device::flex().autodiff());
}

#[test]
fn gatv2_unshared_edge_features_mean() {
    check("gatv2_unshared_edge_mean", &Device::flex().autodiff());
}

#[test]
fn gat_gradients_exist_on_wgpu_too() {
    if let Some(d) = wgpu() {
        check("gat_heads4_concat", &d.clone().autodiff());
        check("gatv2_unshared_edge_mean", &d.autodiff());
    }
}
