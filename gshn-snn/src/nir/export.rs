//! [`SpikingNetwork`] → NIR graph.
//!
//! gshn-snn's neurons are discrete-time; NIR's are continuous (`τ·v̇ = (v_leak − v) + R·I`),
//! and a simulator recovers the discrete step by forward Euler with its `dt`
//! (`v ← v + dt/τ·(v_leak − v) + dt·R/τ·I`; snnTorch and SpikingJelly both take dt = 10⁻⁴ s).
//! The parameters below are chosen so that step comes back exactly (`docs/snn.md`, "NIR"):
//!
//! | gshn-snn | NIR | τ | R | v_leak |
//! |---|---|---|---|---|
//! | LIF `tau`, `decay_input` | LIF | τ·dt | 1 | V_reset (hard) or 0 |
//! | LIF `tau`, no `decay_input` | LIF | τ·dt | τ | V_reset (hard) or 0 |
//! | LIF `beta` < 1 | LIF | dt/(1 − β) | 1/(1 − β) | 0 |
//! | LIF `beta` = 1, IF | IF | — | 1/dt | — |
//! | PLIF (τ = 1/sigmoid(w), frozen) | LIF | as LIF `tau` | | |
//!
//! Each neuron node also carries its gshn-snn config (TOML, metadata `gshn_neuron`; PLIF's
//! weight as `gshn_plif_w`), so that gshn-snn reads back exactly what it wrote — the surrogate,
//! `≥` vs `>` — where other tools read only the NIR fields.

use burn::tensor::Tensor;

use super::error::{NirError, Result};
use super::graph::{Metadata, NirArray, NirGraph, NirNode, Node, Value};
use crate::network::{SpikingNetwork, Stage};
use crate::neuron::{IfConfig, Leak, LifConfig, Neuron, NeuronConfig, PlifConfig, ResetMode, ResetTiming, SpikingNeuron};
use crate::surrogate::FireCondition;

/// Metadata key of a neuron node's gshn-snn config (TOML: `neuron = …`).
pub const META_NEURON: &str = "gshn_neuron";
/// Metadata key of a PLIF neuron's learned weight `w` (`τ = 1 + e^{−w}`), exact.
pub const META_PLIF_W: &str = "gshn_plif_w";

/// How to export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// The simulation step NIR's continuous time constants are expressed in, seconds.
    /// Default 10⁻⁴ (snnTorch's and SpikingJelly's).
    pub dt: f64,
    /// Write neurons NIR cannot express exactly (subtract or no reset, delayed reset),
    /// noting each, instead of refusing. Default false.
    pub allow_lossy: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self { dt: super::DEFAULT_DT, allow_lossy: false }
    }
}

/// An exported graph, with what a reader of it should know.
#[derive(Debug, Clone)]
pub struct Export {
    /// The NIR graph: `input → stage nodes → output`.
    pub graph: NirGraph,
    /// Notes on anything other tools will read differently from gshn-snn.
    pub notes: Vec<String>,
}

/// Exports `net` as a NIR graph (nodes `input`, `affine_0`/`linear_0`, `lif_1`/`if_1`, …,
/// `output`, named by stage index).
pub fn export(net: &SpikingNetwork, options: &ExportOptions) -> Result<Export> {
    if !(options.dt.is_finite() && options.dt > 0.0) {
        return Err(NirError::BadField { node: "(export)".into(), field: "dt".into(), reason: format!("{} is not a positive time step", options.dt) });
    }
    let mut notes = Vec::new();
    let mut width = net.d_input;
    let mut nodes = vec![("input".to_string(), Node::new(NirNode::Input { shape: vec![width] }))];
    for (i, stage) in net.stages.iter().enumerate() {
        let (name, node) = match stage {
            Stage::Linear(l) => {
                let [d_in, d_out] = l.weight.dims();
                let weight = NirArray::from_f32(vec![d_out, d_in], &transpose(&values(l.weight.val()), d_in, d_out));
                let name = format!("{}_{i}", if l.bias.is_some() { "affine" } else { "linear" });
                check_finite(&name, "weight", &weight)?;
                width = d_out;
                let op = match &l.bias {
                    Some(b) => {
                        let bias = NirArray::from_f32(vec![d_out], &values(b.val()));
                        check_finite(&name, "bias", &bias)?;
                        NirNode::Affine { weight, bias }
                    }
                    None => NirNode::Linear { weight },
                };
                (name, Node::new(op))
            }
            Stage::Neuron(n) => neuron_node(i, n, width, options, &mut notes)?,
        };
        nodes.push((name, node));
    }
    nodes.push(("output".to_string(), Node::new(NirNode::Output { shape: vec![width] })));
    let mut graph = NirGraph::chain(nodes);
    graph.metadata.insert("source".into(), Value::string(format!("gshn-snn {}", env!("CARGO_PKG_VERSION"))));
    graph.metadata.insert("dt".into(), Value::float(options.dt));
    Ok(Export { graph, notes })
}

/// The config a built neuron was made from (PLIF with its current τ as `init_tau`).
pub fn neuron_config(n: &Neuron) -> NeuronConfig {
    match n {
        Neuron::If(x) => NeuronConfig::If(IfConfig::new().with_base(x.base.config.clone())),
        Neuron::Lif(x) => NeuronConfig::Lif(LifConfig::new().with_leak(x.leak).with_base(x.base.config.clone())),
        Neuron::Plif(x) => NeuronConfig::Plif(PlifConfig::new().with_init_tau(x.tau()).with_decay_input(x.decay_input).with_base(x.base.config.clone())),
    }
}

/// The NIR node of `width` neurons configured by `config` (PLIF: τ = `init_tau`), for a
/// simulator stepping by `dt`: the mapping table above.
pub fn nir_neuron(config: &NeuronConfig, width: usize, dt: f64) -> NirNode {
    let base = config.base();
    let hard = base.reset == ResetMode::Hard;
    let v_reset = if hard { base.reset_value } else { 0.0 };
    let full = |v: f64| NirArray::full(width, v);
    let lif = |tau: f64, r: f64, v_leak: f64| NirNode::Lif {
        tau: full(tau),
        r: full(r),
        v_leak: full(v_leak),
        v_threshold: full(base.threshold),
        v_reset: full(v_reset),
    };
    let if_node = || NirNode::If { r: full(1.0 / dt), v_threshold: full(base.threshold), v_reset: full(v_reset) };
    match config {
        NeuronConfig::If(_) => if_node(),
        NeuronConfig::Lif(c) => match c.leak {
            Leak::Tau { tau, decay_input } => lif(tau * dt, if decay_input { 1.0 } else { tau }, v_reset),
            Leak::Beta { beta } if beta >= 1.0 => if_node(),
            Leak::Beta { beta } => lif(dt / (1.0 - beta), 1.0 / (1.0 - beta), 0.0),
        },
        NeuronConfig::Plif(c) => lif(c.init_tau * dt, if c.decay_input { 1.0 } else { c.init_tau }, v_reset),
    }
}

fn neuron_node(i: usize, n: &Neuron, width: usize, options: &ExportOptions, notes: &mut Vec<String>) -> Result<(String, Node)> {
    let config = neuron_config(n);
    let base = n.base().config.clone();
    let mut lossy = Vec::new();
    match base.reset {
        ResetMode::Soft => lossy.push("its subtract reset (V ← H − V_th·S) is written as a reset to 0, which NIR's reset-to-v_reset is".to_string()),
        ResetMode::None => lossy.push("it never resets, which NIR cannot say (written as a reset to 0)".to_string()),
        ResetMode::Hard => {}
    }
    if base.reset_timing == ResetTiming::Delayed {
        lossy.push("its reset is delayed to the next step (snnTorch's reset_delay), where NIR resets in the step that spiked".to_string());
    }
    for what in lossy {
        if !options.allow_lossy {
            return Err(NirError::Lossy { stage: i, what: format!("the {} neuron: {what}", config.name()) });
        }
        notes.push(format!("stage {i} ({}): {what}; gshn-snn restores it from the node's metadata, other tools will not", config.name()));
    }
    if base.fire_condition == FireCondition::GreaterEqual {
        notes.push(format!(
            "stage {i} ({}): fires at V ≥ V_th where NIR says V > V_th; they differ only when V equals V_th exactly (gshn-snn keeps ≥ from the metadata)",
            config.name()
        ));
    }
    let op = nir_neuron(&config, width, options.dt);
    let name = format!("{}_{i}", op.kind().to_lowercase());
    let mut metadata = Metadata::new();
    metadata.insert(META_NEURON.into(), Value::string(neuron_toml(&config)?));
    if let Neuron::Plif(p) = n {
        let w: f32 = p.w.val().into_scalar();
        metadata.insert(META_PLIF_W.into(), Value::float(w as f64));
    }
    Ok((name, Node { op, metadata }))
}

/// `neuron = …` as TOML (floats print their shortest exact form, so they read back bit for bit).
pub fn neuron_toml(config: &NeuronConfig) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Holder<'a> {
        neuron: &'a NeuronConfig,
    }
    toml::to_string(&Holder { neuron: config }).map_err(|e| NirError::BadField { node: config.name().into(), field: META_NEURON.into(), reason: e.to_string() })
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// `[rows, cols]` row-major → `[cols, rows]`.
pub(super) fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

pub(super) fn check_finite(node: &str, field: &str, a: &NirArray) -> Result<()> {
    match a.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(NirError::BadField {
            node: node.into(),
            field: field.into(),
            reason: format!("element {i} is {} (NIR files hold finite parameters)", a.data[i]),
        }),
    }
}
