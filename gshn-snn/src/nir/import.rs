//! NIR graph → [`SpikingNetwork`] on any Burn device.
//!
//! The graph must be one feed-forward chain `Input → … → Output` of the nodes in
//! [`super::SUPPORTED_NODES`]. A neuron node becomes the gshn-snn neuron whose discrete step
//! is NIR's forward-Euler step at `dt` (the inverse of the table in [`super::export`]):
//! with `a = dt/τ`, `β = 1 − a` and the input gain `g = R·a`,
//!
//! | NIR | gshn-snn |
//! |---|---|
//! | LIF, `R = 1` (g = a), `v_leak = v_reset` | LIF `tau = τ/dt`, `decay_input` (SpikingJelly's `LIFNode`) |
//! | LIF, `R = τ/dt` (g = 1), `v_leak = 0` | LIF `beta = β` (snnTorch's `Leaky`) |
//! | LIF, `R = τ/dt`, `v_leak = v_reset ≠ 0` | LIF `tau = τ/dt`, no `decay_input` |
//! | LIF, other g, `v_leak = v_reset = 0` | LIF `beta = β`, threshold `v_threshold/g` (membrane in units of g) |
//! | IF, `R·dt = 1` | IF |
//! | IF, other `R`, `v_reset = 0` | IF, threshold `v_threshold/(R·dt)` |
//!
//! each with NIR's reset — to `v_reset`, in the step that spiked — and NIR's `v > v_threshold`.
//! A node written by gshn-snn carries its own config in metadata (`gshn_neuron`), which is used
//! instead, after checking that it agrees with the node's fields.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use super::error::{NirError, Result};
use super::export::{check_finite, nir_neuron, transpose, META_NEURON, META_PLIF_W};
use super::graph::{Entry, Metadata, NirArray, NirGraph, NirNode, Value};
use crate::network::{SpikingNetwork, Stage};
use crate::neuron::{IfConfig, Leak, LifConfig, Neuron, NeuronBaseConfig, NeuronConfig, ResetMode, ResetTiming};
use crate::surrogate::FireCondition;

/// How to import.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// The simulation step the file's time constants are read at, seconds. Default 10⁻⁴
    /// (snnTorch's and SpikingJelly's; NIR files do not record one).
    pub dt: f64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { dt: super::DEFAULT_DT }
    }
}

/// An imported network, with what was read in a way the reader should know.
#[derive(Debug)]
pub struct Import {
    /// The network.
    pub network: SpikingNetwork,
    /// The NIR node each stage came from, in order.
    pub node_names: Vec<String>,
    /// Notes (rescaled thresholds, flatten nodes passed through, …).
    pub notes: Vec<String>,
}

/// Relative tolerance when recognising `R = 1`, `R = τ/dt` or `v_leak = v_reset` in a file
/// (they pass through f32 and a division on the way).
const TOL: f64 = 1e-5;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL * a.abs().max(b.abs()).max(1e-12)
}

/// The nodes of `graph` from its input to its output, or why they are not one chain.
pub fn chain(graph: &NirGraph) -> Result<Vec<String>> {
    for (name, entry) in &graph.nodes {
        if let Entry::Graph(_) = entry {
            return Err(NirError::Unsupported {
                node: name.clone(),
                kind: "NIRGraph".into(),
                why: "; a nested graph (snnTorch writes recurrent layers, RLeaky/RSynaptic, this way) holds recurrent edges".into(),
            });
        }
    }
    let of_kind = |kind: &str| graph.nodes.iter().filter(|(_, e)| e.kind() == kind).map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let (inputs, outputs) = (of_kind("Input"), of_kind("Output"));
    if inputs.len() != 1 || outputs.len() != 1 {
        return Err(NirError::NotAChain(format!(
            "it needs one Input and one Output node, it has {} ({}) and {} ({})",
            inputs.len(),
            inputs.join(", "),
            outputs.len(),
            outputs.join(", ")
        )));
    }
    let edges: BTreeSet<(String, String)> = graph.edges.iter().cloned().collect();
    let mut next: BTreeMap<&str, &str> = BTreeMap::new();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    for (from, to) in &edges {
        for end in [from, to] {
            if !graph.nodes.contains_key(end) {
                return Err(NirError::NotAChain(format!("the edge `{from}` → `{to}` names `{end}`, which is not a node")));
            }
        }
        if let Some(other) = next.insert(from, to) {
            return Err(NirError::NotAChain(format!("node `{from}` feeds both `{other}` and `{to}`; gshn-snn runs one chain")));
        }
        if let Some(other) = prev.insert(to, from) {
            return Err(NirError::NotAChain(format!("node `{to}` is fed by both `{other}` and `{from}`; gshn-snn runs one chain")));
        }
    }
    let mut order = vec![inputs[0].clone()];
    let mut seen: BTreeSet<&str> = BTreeSet::from([inputs[0].as_str()]);
    let mut at = inputs[0].as_str();
    while at != outputs[0] {
        let Some(&to) = next.get(at) else {
            return Err(NirError::NotAChain(format!("node `{at}` leads nowhere, and the output `{}` is not reached", outputs[0])));
        };
        if !seen.insert(to) {
            return Err(NirError::NotAChain(format!("the edge `{at}` → `{to}` closes a loop (recurrent connections are not supported)")));
        }
        order.push(to.to_string());
        at = to;
    }
    if let Some(&to) = next.get(at) {
        return Err(NirError::NotAChain(format!("the output `{at}` feeds `{to}`")));
    }
    if let Some(stray) = graph.nodes.keys().find(|k| !seen.contains(k.as_str())) {
        return Err(NirError::NotAChain(format!("node `{stray}` is not on the path from `{}` to `{}`", inputs[0], outputs[0])));
    }
    Ok(order)
}

/// Imports `graph` as a network on `device`.
pub fn import(graph: &NirGraph, options: &ImportOptions, device: &Device) -> Result<Import> {
    let dt = options.dt;
    if !(dt.is_finite() && dt > 0.0) {
        return Err(NirError::BadField { node: "(import)".into(), field: "dt".into(), reason: format!("{dt} is not a positive time step") });
    }
    let order = chain(graph)?;
    let node = |name: &str| match &graph.nodes[name] {
        Entry::Node(n) => n,
        Entry::Graph(_) => unreachable!("chain() refuses nested graphs"),
    };
    let NirNode::Input { shape } = &node(&order[0]).op else { unreachable!("chain() starts at the Input") };
    let mut shape = shape.clone();
    let d_input = numel(&order[0], &shape)?;
    if d_input == 0 {
        return Err(NirError::Shape { node: order[0].clone(), reason: format!("the input shape {shape:?} has no elements") });
    }
    let mut stages = Vec::new();
    let mut names = Vec::new();
    let mut notes = Vec::new();
    for name in &order[1..] {
        let n = node(name);
        let width = numel(name, &shape)?;
        match &n.op {
            NirNode::Affine { weight, bias } => {
                stages.push(Stage::Linear(linear(name, weight, Some(bias), width, device)?));
                shape = vec![weight.shape[0]];
            }
            NirNode::Linear { weight } => {
                stages.push(Stage::Linear(linear(name, weight, None, width, device)?));
                shape = vec![weight.shape[0]];
            }
            NirNode::If { .. } | NirNode::Lif { .. } => {
                let config = neuron_config(name, &n.op, &n.metadata, width, dt, &mut notes)?;
                stages.push(Stage::Neuron(build_neuron(name, &config, &n.metadata, device)?));
            }
            NirNode::Flatten { start_dim, end_dim, .. } => {
                shape = flatten(name, &shape, *start_dim, *end_dim)?;
                notes.push(format!("node `{name}` (Flatten): gshn-snn's steps are flat already; passed through"));
                continue;
            }
            NirNode::Output { shape: out } => {
                let n_out = numel(name, out)?;
                if !out.is_empty() && n_out != width {
                    return Err(NirError::Shape {
                        node: name.clone(),
                        reason: format!("the output shape {out:?} holds {n_out} values, the node before it gives {width}"),
                    });
                }
                continue;
            }
            NirNode::Input { .. } => unreachable!("chain() has one Input, first"),
            NirNode::Other { kind, .. } => return Err(NirError::Unsupported { node: name.clone(), kind: kind.clone(), why: why_not(kind).into() }),
        }
        names.push(name.clone());
    }
    let network = SpikingNetwork::new(d_input, stages).map_err(|source| NirError::Neuron { node: order[0].clone(), source })?;
    Ok(Import { network, node_names: names, notes })
}

/// The number of values per step of `shape`, refusing shapes beyond [`super::file::MAX_ELEMENTS`].
fn numel(node: &str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n as u64 <= super::file::MAX_ELEMENTS)
        .ok_or_else(|| NirError::Shape { node: node.into(), reason: format!("shape {shape:?} holds more than {} values per step", super::file::MAX_ELEMENTS) })
}

fn why_not(kind: &str) -> &'static str {
    match kind {
        "CubaLIF" | "CubaLI" => "; a current-based synapse keeps a second state (the synaptic current), which gshn-snn's neurons do not have",
        "Conv1d" | "Conv2d" => "; gshn-snn has no convolution layers",
        "SumPool2d" | "AvgPool2d" => "; gshn-snn has no pooling layers",
        "Delay" => "; gshn-snn has no synaptic delays",
        "LI" | "I" => "; a neuron without a threshold (a leaky integrator readout) is not a gshn-snn neuron",
        _ => "",
    }
}

/// NIR's `Flatten` of `shape` (axes `start ..= end`, negative from the end).
fn flatten(node: &str, shape: &[usize], start: i64, end: i64) -> Result<Vec<usize>> {
    let rank = shape.len() as i64;
    let axis = |d: i64| if d < 0 { d + rank } else { d };
    let (s, e) = (axis(start), axis(end));
    if rank == 0 || s < 0 || e >= rank || s > e {
        return Err(NirError::Shape { node: node.into(), reason: format!("cannot flatten axes {start}..={end} of shape {shape:?}") });
    }
    let (s, e) = (s as usize, e as usize);
    let mut out = shape[..s].to_vec();
    out.push(numel(node, &shape[s..=e])?);
    out.extend_from_slice(&shape[e + 1..]);
    Ok(out)
}

fn linear(name: &str, weight: &NirArray, bias: Option<&NirArray>, width: usize, device: &Device) -> Result<Linear> {
    let field = |f: &str, reason: String| NirError::BadField { node: name.into(), field: f.into(), reason };
    let &[d_out, d_in] = weight.shape.as_slice() else {
        return Err(field("weight", format!("shape {:?} is not [out, in]", weight.shape)));
    };
    if d_out.checked_mul(d_in) != Some(weight.numel()) {
        return Err(field("weight", format!("holds {} values for shape [{d_out}, {d_in}]", weight.numel())));
    }
    if d_in != width {
        return Err(NirError::Shape {
            node: name.into(),
            reason: format!("its weight takes {d_in} inputs (shape [{d_out}, {d_in}]), the node before it gives {width}"),
        });
    }
    if d_out == 0 {
        return Err(field("weight", "has no outputs".into()));
    }
    check_finite(name, "weight", weight)?;
    let w = Tensor::<2>::from_data(TensorData::new(transpose(&weight.to_f32(), d_out, d_in), [d_in, d_out]), device);
    let bias = match bias {
        None => None,
        Some(b) => {
            if b.numel() != d_out {
                return Err(NirError::Shape { node: name.into(), reason: format!("its bias has {} values for {d_out} outputs", b.numel()) });
            }
            check_finite(name, "bias", b)?;
            Some(Param::from_tensor(Tensor::<1>::from_data(TensorData::new(b.to_f32(), [d_out]), device)))
        }
    };
    Ok(Linear { weight: Param::from_tensor(w), bias })
}

/// The one value of a neuron parameter shared by all `width` neurons.
fn shared(name: &str, field: &str, a: &NirArray, width: usize) -> Result<f64> {
    if a.numel() != width && a.numel() != 1 {
        return Err(NirError::Shape { node: name.into(), reason: format!("`{field}` has {} values for {width} neurons", a.numel()) });
    }
    check_finite(name, field, a)?;
    a.uniform().ok_or_else(|| {
        let (lo, hi) = a.data.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        NirError::BadField {
            node: name.into(),
            field: field.into(),
            reason: format!("per-neuron values differ ({lo} … {hi}); gshn-snn neurons share one value per layer"),
        }
    })
}

/// The gshn-snn neuron config of a NIR IF/LIF node (the table in the module docs).
fn neuron_config(name: &str, op: &NirNode, metadata: &Metadata, width: usize, dt: f64, notes: &mut Vec<String>) -> Result<NeuronConfig> {
    let bad = |field: &str, reason: String| NirError::BadField { node: name.into(), field: field.into(), reason };
    // NIR's semantics: reset to v_reset in the step that spiked, spike where v > v_threshold.
    let base = |threshold: f64, v_reset: f64| {
        NeuronBaseConfig::new()
            .with_threshold(threshold)
            .with_reset(ResetMode::Hard)
            .with_reset_value(v_reset)
            .with_reset_timing(ResetTiming::Immediate)
            .with_fire_condition(FireCondition::Greater)
    };
    let config = match op {
        NirNode::If { r, v_threshold, v_reset } => {
            let (r, th, vr) = (shared(name, "r", r, width)?, shared(name, "v_threshold", v_threshold, width)?, shared(name, "v_reset", v_reset, width)?);
            let gain = r * dt;
            if close(gain, 1.0) {
                NeuronConfig::If(IfConfig::new().with_base(base(th, vr)))
            } else if vr == 0.0 && gain > 0.0 {
                notes.push(format!("node `{name}` (IF): R·dt = {gain}; the membrane is kept in units of R·dt, so the threshold is {th}/{gain}"));
                NeuronConfig::If(IfConfig::new().with_base(base(th / gain, 0.0)))
            } else {
                return Err(bad("r", format!("R·dt = {gain} with v_reset = {vr}: gshn-snn runs R·dt = 1, or any positive R·dt with v_reset = 0")));
            }
        }
        NirNode::Lif { tau, r, v_leak, v_threshold, v_reset } => {
            let tau = shared(name, "tau", tau, width)?;
            let (r, vl) = (shared(name, "r", r, width)?, shared(name, "v_leak", v_leak, width)?);
            let (th, vr) = (shared(name, "v_threshold", v_threshold, width)?, shared(name, "v_reset", v_reset, width)?);
            if tau < dt {
                return Err(bad(
                    "tau",
                    format!("τ = {tau} s is shorter than the step dt = {dt} s (forward Euler would overshoot; import with the dt the file was made for)"),
                ));
            }
            let a = dt / tau;
            let gain = r * a;
            let lif = |leak: Leak, th: f64| NeuronConfig::Lif(LifConfig::new().with_leak(leak).with_base(base(th, vr)));
            if close(gain, a) && close(vl, vr) {
                lif(Leak::Tau { tau: tau / dt, decay_input: true }, th)
            } else if close(gain, 1.0) && vl == 0.0 {
                lif(Leak::Beta { beta: 1.0 - a }, th)
            } else if close(gain, 1.0) && close(vl, vr) {
                lif(Leak::Tau { tau: tau / dt, decay_input: false }, th)
            } else if vl == 0.0 && vr == 0.0 && gain > 0.0 {
                notes.push(format!("node `{name}` (LIF): input gain R·dt/τ = {gain}; the membrane is kept in units of it, so the threshold is {th}/{gain}"));
                lif(Leak::Beta { beta: 1.0 - a }, th / gain)
            } else {
                return Err(bad("v_leak", format!("v_leak = {vl} with v_reset = {vr} and R·dt/τ = {gain}: gshn-snn's leak relaxes to 0 or to v_reset")));
            }
        }
        _ => unreachable!("called for neuron nodes"),
    };
    let Some(text) = metadata.get(META_NEURON).and_then(|v| v.as_str()) else {
        return Ok(config);
    };
    // Written by gshn-snn: its own config, if the NIR fields still say what it says.
    #[derive(serde::Deserialize)]
    struct Holder {
        neuron: NeuronConfig,
    }
    let own = toml::from_str::<Holder>(text).map_err(|e| bad(&format!("metadata.{META_NEURON}"), e.to_string()))?.neuron;
    let expect = nir_neuron(&own, width, dt);
    let found = op.fields();
    let agree = expect.kind() == op.kind()
        && expect.fields().iter().all(|(k, v)| match (v, found.get(k)) {
            (Value::Floats(a), Some(Value::Floats(b))) => a.data.iter().zip(b.data.iter().cycle()).all(|(x, y)| close(*x, *y)),
            _ => false,
        });
    if !agree {
        return Err(bad(
            &format!("metadata.{META_NEURON}"),
            format!("the gshn-snn config it records ({}) disagrees with the node's NIR fields; was the file edited?", text.trim().replace('\n', "; ")),
        ));
    }
    Ok(own)
}

fn build_neuron(name: &str, config: &NeuronConfig, metadata: &Metadata, device: &Device) -> Result<Neuron> {
    let wrap = |source| NirError::Neuron { node: name.into(), source };
    let mut neuron = config.init(device).map_err(wrap)?;
    if let (Neuron::Plif(p), Some(w)) = (&mut neuron, metadata.get(META_PLIF_W).and_then(|v| v.as_f64())) {
        if !w.is_finite() {
            return Err(NirError::BadField { node: name.into(), field: format!("metadata.{META_PLIF_W}"), reason: format!("{w} is not finite") });
        }
        p.w = Param::from_tensor(Tensor::<1>::from_floats([w as f32], device));
    }
    Ok(neuron)
}
