//! The fused GAT softmax + aggregation (`gshn_graph::fused`) against the unfused Burn ops
//! (`scatter::segment_softmax_aggregate`, `GatConvConfig::fused = false`): outputs, attention
//! and gradients to 1e-5 on random graphs with nodes that have no in-edge, duplicate edges
//! and self loops, one and several heads, concatenated and averaged, GATConv and GATv2Conv,
//! on flex and on wgpu.

mod common;
use burn::tensor::{Device, Tensor, TensorData};
use common::wgpu;
use gshn_graph::fused::{gat_aggregate, supports, GatIndex};
use gshn_graph::gat::{GatConv, GatConvConfig, GatVariant};
use gshn_graph::scatter::{index_tensor, segment_softmax_aggregate};
use gshn_graph::EdgeList;

/// A small xorshift generator: fixed data, the same on every backend.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn values(&mut self, len: usize, scale: f32) -> Vec<f32> {
        (0..len).map(|_| self.uniform() * scale).collect()
    }
}

/// `n` nodes; targets drawn from the first `3n/4` nodes only (the rest have no in-edge), about
/// `degree` edges per target, with duplicates and self loops as they fall.
fn random_edges(rng: &mut Rng, n: usize, degree: usize) -> EdgeList {
    let targets = (3 * n / 4).max(1);
    let pairs: Vec<(usize, usize)> = (0..targets * degree).map(|_| (rng.below(n), rng.below(targets))).collect();
    EdgeList::new(n, pairs).unwrap()
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{what}[{i}]: fused {g} vs unfused {w}");
    }
}

fn tensor<const D: usize>(v: &[f32], shape: [usize; D], d: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), d)
}

/// The op alone: forward, attention, and the gradients of a random linear loss for scores
/// and node messages, fused vs unfused.
fn op_parity(n: usize, degree: usize, h: usize, c: usize, seed: u64, device: &Device) {
    let mut rng = Rng(seed);
    let edges = random_edges(&mut rng, n, degree);
    let e = edges.len();
    let s = rng.values(e * h, 4.0);
    let x = rng.values(n * h * c, 1.0);
    let w = rng.values(n * h * c, 1.0);
    let run = |fused: bool| {
        let scores = tensor(&s, [e, h], device).require_grad();
        let xs = tensor(&x, [n, h, c], device).require_grad();
        let (out, alpha) = if fused {
            assert!(supports(&xs), "a fused kernel exists for this device");
            gat_aggregate(scores.clone(), xs.clone(), &GatIndex::from_edges(&edges, device))
        } else {
            let (src, dst) = (index_tensor(&edges.src, device), index_tensor(&edges.dst, device));
            segment_softmax_aggregate(scores.clone(), xs.clone(), src, dst)
        };
        let grads = out.clone().mul(tensor(&w, [n, h, c], device)).sum().backward();
        (values(&out), values(&alpha), values(&scores.grad(&grads).unwrap()), values(&xs.grad(&grads).unwrap()))
    };
    let (f, u) = (run(true), run(false));
    let tag = format!("n {n}, e {e}, h {h}, c {c}");
    close(&format!("{tag}: out"), &f.0, &u.0);
    close(&format!("{tag}: alpha"), &f.1, &u.1);
    close(&format!("{tag}: grad scores"), &f.2, &u.2);
    close(&format!("{tag}: grad x"), &f.3, &u.3);
    // A node without in-edges aggregates nothing.
    let lonely = (0..n).find(|i| !edges.dst.contains(i)).expect("some node has no in-edge");
    assert!(f.0[lonely * h * c..(lonely + 1) * h * c].iter().all(|&v| v == 0.0));
}

#[test]
fn op_matches_unfused_on_flex() {
    let d = Device::flex().autodiff();
    for (i, &(n, degree, h, c)) in [(7, 3, 1, 1), (12, 4, 3, 5), (40, 5, 4, 16), (300, 6, 2, 8)].iter().enumerate() {
        op_parity(n, degree, h, c, 11 + i as u64, &d);
    }
}

/// A layer with the given options and its twin with the same weights: fused and unfused.
fn layers(cfg: &GatConvConfig, device: &Device) -> (GatConv, GatConv) {
    let fused = cfg.clone().with_fused(true).init(device).unwrap();
    let mut unfused = fused.clone();
    unfused.fused = false;
    (fused, unfused)
}

/// Every parameter gradient of a layer, flattened in a fixed order.
fn param_grads(l: &GatConv, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    let mut v = vec![values(&l.lin.weight.grad(grads).unwrap()), values(&l.att_src.grad(grads).unwrap())];
    if let Some(b) = &l.lin.bias {
        v.push(values(&b.grad(grads).unwrap()));
    }
    if let Some(a) = &l.att_dst {
        v.push(values(&a.grad(grads).unwrap()));
    }
    if let Some(r) = &l.lin_r {
        v.push(values(&r.weight.grad(grads).unwrap()));
    }
    if let Some(le) = &l.lin_edge {
        v.push(values(&le.weight.grad(grads).unwrap()));
    }
    if let Some(a) = &l.att_edge {
        v.push(values(&a.grad(grads).unwrap()));
    }
    if let Some(b) = &l.bias {
        v.push(values(&b.grad(grads).unwrap()));
    }
    v
}

/// The whole layer, fused vs unfused: output, attention, and the gradients of the input,
/// the edge features and every weight.
fn layer_parity(cfg: &GatConvConfig, n: usize, seed: u64, device: &Device) {
    let mut rng = Rng(seed);
    let edges = random_edges(&mut rng, n, 4);
    let x = rng.values(n * cfg.in_channels, 1.0);
    let attr = cfg.edge_dim.map(|d| rng.values(edges.len() * d, 1.0));
    let (lf, lu) = layers(cfg, device);
    let run = |fused: bool| {
        let l = if fused { &lf } else { &lu };
        let xs = tensor(&x, [n, cfg.in_channels], device).require_grad();
        let ea = attr.as_ref().map(|a| tensor(a, [edges.len(), a.len() / edges.len()], device).require_grad());
        let out = l.forward(xs.clone(), &edges, ea.clone()).unwrap();
        let w =
            tensor(&(0..out.out.dims().iter().product::<usize>()).map(|i| ((i * 7919) % 13) as f32 / 6.0 - 1.0).collect::<Vec<_>>(), out.out.dims(), device);
        let grads = out.out.clone().mul(w).sum().backward();
        let mut g = vec![values(&xs.grad(&grads).unwrap())];
        if let Some(ea) = &ea {
            g.push(values(&ea.grad(&grads).unwrap()));
        }
        g.extend(param_grads(l, &grads));
        (values(&out.out), values(&out.attention), g)
    };
    let (f, u) = (run(true), run(false));
    let tag = format!("{:?} heads {} concat {} self loops {} edge_dim {:?}", cfg.variant, cfg.heads, cfg.concat, cfg.add_self_loops, cfg.edge_dim);
    close(&format!("{tag}: out"), &f.0, &u.0);
    close(&format!("{tag}: attention"), &f.1, &u.1);
    assert_eq!(f.2.len(), u.2.len());
    for (k, (a, b)) in f.2.iter().zip(&u.2).enumerate() {
        close(&format!("{tag}: gradient {k}"), a, b);
    }
}

fn layer_configs() -> Vec<GatConvConfig> {
    let base = |h: usize, concat: bool| GatConvConfig::new(6, 4).with_heads(h).with_concat(concat);
    vec![
        base(1, true),
        base(3, true).with_add_self_loops(false),
        base(3, false).with_residual(true),
        base(2, true).with_edge_dim(Some(3)),
        base(2, false).with_variant(GatVariant::V2 { share_weights: false }).with_add_self_loops(false),
        base(4, true).with_variant(GatVariant::V2 { share_weights: true }).with_edge_dim(Some(2)),
    ]
}

#[test]
fn layers_match_unfused_on_flex() {
    let d = Device::flex().autodiff();
    for (i, cfg) in layer_configs().iter().enumerate() {
        layer_parity(cfg, 24, 100 + i as u64, &d);
    }
}

#[test]
fn no_edges_at_all() {
    let d = Device::flex().autodiff();
    let edges = EdgeList::new(3, Vec::<(usize, usize)>::new()).unwrap();
    let l = GatConvConfig::new(2, 2).with_heads(2).with_add_self_loops(false).with_bias(false).init(&d).unwrap();
    let x = Tensor::<2>::ones([3, 2], &d).require_grad();
    let out = l.forward(x.clone(), &edges, None).unwrap();
    assert_eq!(values(&out.out), vec![0.0; 12]);
    let grads = out.out.sum().backward();
    assert_eq!(values(&x.grad(&grads).unwrap()), vec![0.0; 6]);
}

#[test]
fn inference_without_autodiff_runs_fused() {
    let d = Device::flex();
    let mut rng = Rng(3);
    let edges = random_edges(&mut rng, 10, 3);
    let cfg = GatConvConfig::new(5, 3).with_heads(2).with_dropout(0.5);
    let x = tensor(&rng.values(50, 1.0), [10, 5], &d);
    let (lf, lu) = layers(&cfg, &d);
    let f = lf.forward(x.clone(), &edges, None).unwrap();
    let u = lu.forward(x, &edges, None).unwrap();
    close("inference out", &values(&f.out), &values(&u.out));
}

#[test]
fn op_and_layers_match_unfused_on_wgpu() {
    let Some(d) = wgpu() else { return };
    let d = d.autodiff();
    for (i, &(n, degree, h, c)) in [(7, 3, 1, 1), (12, 4, 3, 5), (40, 5, 4, 16)].iter().enumerate() {
        op_parity(n, degree, h, c, 11 + i as u64, &d);
    }
    for (i, cfg) in layer_configs().iter().enumerate() {
        layer_parity(cfg, 24, 100 + i as u64, &d);
    }
}
