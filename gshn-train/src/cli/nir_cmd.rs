//! `gshn snn export` and `gshn snn import`: a trained model's spiking branch to a NIR file,
//! and any NIR file (snnTorch's, SpikingJelly's, ours) run through gshn-snn on a device.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use gshn_snn::network::Stage;
use gshn_snn::nir::{self, Entry, ExportOptions, ImportOptions, NirError, NirGraph, NirNode, Value};
use gshn_snn::rng::SeedRng;

use crate::cli::checkpoint;
use crate::cli::run_error::RunError;
use crate::model::snn_export::{per_node_network, SnnExportError};

/// What can go wrong in `gshn snn export/import`.
#[derive(Debug, thiserror::Error)]
pub enum NirCmdError {
    /// Reading, writing or mapping the NIR file.
    #[error(transparent)]
    Nir(#[from] NirError),
    /// The model's spiking branch has no NIR form.
    #[error("{checkpoint}: the spiking branch cannot be exported: {source}")]
    Branch {
        /// The checkpoint.
        checkpoint: String,
        /// Why.
        source: SnnExportError,
    },
    /// Loading the checkpoint or checking the output path.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Running the imported network.
    #[error(transparent)]
    Snn(#[from] gshn_snn::SnnError),
}

/// Exports the spiking branch of the checkpoint at (or under) `checkpoint` as a per-node NIR
/// graph to `out` (refused if `out` exists, unless `force`). Returns a summary for the terminal.
pub fn export_checkpoint(checkpoint: &Path, out: &Path, options: &ExportOptions, force: bool) -> Result<String, NirCmdError> {
    crate::cli::output::check_output_file(out, "--out", &[], force)?;
    let device = Device::flex();
    let loaded = checkpoint::load(checkpoint, &device)?;
    let branch_err = |source| NirCmdError::Branch { checkpoint: loaded.dir.display().to_string(), source };
    let branch = loaded.model.snn.as_ref().ok_or_else(|| branch_err(SnnExportError::NoBranch))?;
    let (network, mut notes) = per_node_network(branch).map_err(branch_err)?;
    let exported = nir::export(&network, options)?;
    notes.extend(exported.notes);
    let mut graph = exported.graph;
    graph.metadata.insert("gshn_checkpoint".into(), Value::string(loaded.dir.display().to_string()));
    graph.metadata.insert("gshn_step".into(), Value::Ints(vec![], vec![loaded.state.step as i64]));
    graph.metadata.insert("gshn_time_steps".into(), Value::Ints(vec![], vec![branch.time_steps as i64]));
    nir::write(out, &graph)?;
    let mut text = format!("{} (step {}) → {}\n\n{}", loaded.dir.display(), loaded.state.step, out.display(), describe(&graph)?);
    text.push_str(&format!("\nT = {} steps per input (the model's model.snn.time_steps)\n", branch.time_steps));
    for n in notes {
        text.push_str(&format!("note: {n}\n"));
    }
    Ok(text)
}

/// The chain of `graph` as a table: node, NIR type, shape or neuron parameters.
pub fn describe(graph: &NirGraph) -> Result<String, NirError> {
    let mut t = String::from("| node | NIR type | what |\n|---|---|---|\n");
    for name in nir::import::chain(graph)? {
        let Entry::Node(n) = &graph.nodes[&name] else { continue };
        let first = |a: &nir::NirArray| a.data.first().copied().unwrap_or(f64::NAN);
        let what = match &n.op {
            NirNode::Input { shape } | NirNode::Output { shape } => format!("shape {shape:?}"),
            NirNode::Affine { weight, .. } => format!("weight {:?} + bias", weight.shape),
            NirNode::Linear { weight } => format!("weight {:?}", weight.shape),
            NirNode::Lif { tau, r, v_leak, v_threshold, v_reset } => format!(
                "{} neurons: τ = {:.4e} s, R = {:.4}, v_leak = {}, v_th = {}, v_reset = {}",
                tau.numel(),
                first(tau),
                first(r),
                first(v_leak),
                first(v_threshold),
                first(v_reset)
            ),
            NirNode::If { r, v_threshold, v_reset } => {
                format!("{} neurons: R = {:.4e}, v_th = {}, v_reset = {}", r.numel(), first(r), first(v_threshold), first(v_reset))
            }
            NirNode::Flatten { start_dim, end_dim, .. } => format!("axes {start_dim}..={end_dim}"),
            NirNode::Other { .. } => String::new(),
        };
        t.push_str(&format!("| {name} | {} | {what} |\n", n.op.kind()));
    }
    Ok(t)
}

/// Reads the NIR file `file`, builds it with gshn-snn on `device` and runs it for `steps`
/// steps on a seeded input (uniform in [0, 1) per feature and step), returning the chain
/// and each neuron stage's firing rate.
pub fn import_file(file: &Path, dt: f64, steps: usize, seed: u64, device: &Device) -> Result<String, NirCmdError> {
    let graph = nir::read(file)?;
    let imported = nir::import(&graph, &ImportOptions { dt }, device)?;
    let net = &imported.network;
    // Every stage's output is [steps, 1, width]: the widest bounds the run's memory.
    let widest = net.stages.iter().filter_map(|st| st.widths().map(|(_, o)| o)).chain([net.d_input]).max().unwrap_or(net.d_input);
    let values = steps.saturating_mul(widest);
    if values > gshn_snn::nir::file::MAX_ELEMENTS as usize {
        let reason =
            format!("{steps} steps × {widest} features is {values} values per stage, more than {}; run fewer --steps", gshn_snn::nir::file::MAX_ELEMENTS);
        return Err(NirError::Shape { node: "input".into(), reason }.into());
    }
    let mut rng = SeedRng::new(seed);
    let x: Vec<f32> = (0..steps * net.d_input).map(|_| rng.next_f32()).collect();
    let x = Tensor::<3>::from_data(TensorData::new(x, [steps, 1, net.d_input]), device);
    let trace = net.forward_trace(x)?;
    let mut text = format!("{}: {} stages, {} → {} features\n\n{}\n", file.display(), net.stages.len(), net.d_input, net.d_output(), describe(&graph)?);
    text.push_str(&format!(
        "Run for T = {steps} on a seeded input (uniform [0, 1), seed {seed}):\n\n| stage | node | gshn-snn | firing rate |\n|---|---|---|---|\n"
    ));
    for (i, ((stage, out), name)) in net.stages.iter().zip(&trace).zip(&imported.node_names).enumerate() {
        let (kind, rate) = match stage {
            Stage::Linear(l) => (format!("linear {:?}{}", l.weight.dims(), if l.bias.is_some() { " + bias" } else { "" }), "—".to_string()),
            Stage::Neuron(n) => {
                let rate: f32 = out.clone().mean().into_scalar();
                (neuron_name(n), format!("{rate:.3}"))
            }
        };
        text.push_str(&format!("| {i} | {name} | {kind} | {rate} |\n"));
    }
    for n in imported.notes {
        text.push_str(&format!("note: {n}\n"));
    }
    Ok(text)
}

fn neuron_name(n: &gshn_snn::neuron::Neuron) -> String {
    use gshn_snn::neuron::{Leak, Neuron};
    match n {
        Neuron::If(_) => "IF".into(),
        Neuron::Lif(l) => match l.leak {
            Leak::Tau { tau, decay_input } => format!("LIF τ = {tau:.4}{}", if decay_input { "" } else { ", no decay_input" }),
            Leak::Beta { beta } => format!("LIF β = {beta:.4}"),
        },
        Neuron::Plif(p) => format!("PLIF τ = {:.4}", p.tau()),
    }
}
