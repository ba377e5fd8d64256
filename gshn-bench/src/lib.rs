//! # gshn-bench
//!
//! Workloads shared by the criterion benches (`benches/`) and the side-by-side comparison
//! commands (`src/bin/`) that time gshn and its peer libraries on the same input in one run,
//! and [`twin`]: the batch file through which `compare-train` hands gshn's own batches to the
//! PyTorch twin of the whole model.

#![warn(missing_docs)]

pub mod twin;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use burn::tensor::{Device, Distribution, Tensor};
use gshn_graph::{EdgeList, GatConv, GatConvConfig, GatPath, GraphBatch};
use gshn_snn::neuron::{LifConfig, NeuronBaseConfig, SpikingNeuron};
use gshn_snn::rng::SeedRng;

/// One multi-step LIF forward + backward over `[T, batch, nodes, features]` (LIF τ = 2,
/// hard reset, ATan): the spiking branch's hot loop, through the fused kernel (the default).
/// Returns once the gradient is on the host.
pub fn lif_forward_backward(x: &Tensor<4>, device: &Device) -> f32 {
    lif_forward_backward_with(x, device, true)
}

/// [`lif_forward_backward`] through the fused kernel (`fused`) or the per-step ops.
pub fn lif_forward_backward_with(x: &Tensor<4>, device: &Device, fused: bool) -> f32 {
    let lif = LifConfig::new().with_base(NeuronBaseConfig::new().with_fused(fused)).init(device).expect("valid default LIF");
    let x = x.clone().require_grad();
    let spikes = lif.forward(x.clone()).expect("valid input");
    let grads = spikes.sum().backward();
    let g = x.grad(&grads).expect("input gradient");
    g.sum().into_scalar()
}

/// A random input `[T, batch, nodes, features]` on `device`.
pub fn lif_input(t: usize, shape: [usize; 3], device: &Device) -> Tensor<4> {
    Tensor::random([t, shape[0], shape[1], shape[2]], Distribution::Normal(0.8, 1.0), device)
}

/// The median of `reps` timings of `f`, after one warm-up call.
pub fn median_time(reps: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Restricts the CPU backend's thread pool to `threads` (call once, before any tensor work).
pub fn set_threads(threads: usize) {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("the global thread pool is configured once, before any tensor work");
}

/// The GAT workload: `graphs` random graphs of `nodes` nodes, each node with about
/// `in_degree` random incoming edges, `features`-wide inputs (seeded, so every contender
/// sees the same edges).
pub fn gat_graphs(graphs: usize, nodes: usize, in_degree: usize, features: usize, seed: u64, device: &Device) -> GraphBatch {
    let mut rng = SeedRng::new(seed);
    let inputs = (0..graphs)
        .map(|_| {
            let pairs: Vec<(usize, usize)> = (0..nodes).flat_map(|t| (0..in_degree).map(move |_| t)).map(|t| (rng.below(nodes as u64) as usize, t)).collect();
            let edges = EdgeList::new(nodes, pairs).expect("edges in range");
            (Tensor::<2>::random([nodes, features], Distribution::Normal(0.0, 1.0), device), edges, None)
        })
        .collect();
    GraphBatch::new(inputs).expect("valid batch")
}

/// The GAT layer of the workload: `features → heads × channels`, concatenated, with the fused
/// softmax + aggregation (the default).
pub fn gat_layer(features: usize, heads: usize, channels: usize, device: &Device) -> GatConv {
    gat_layer_with(features, heads, channels, true, device)
}

/// [`gat_layer`] with the fused softmax + aggregation on or off.
pub fn gat_layer_with(features: usize, heads: usize, channels: usize, fused: bool, device: &Device) -> GatConv {
    GatConvConfig::new(features, channels).with_heads(heads).with_fused(fused).init(device).expect("valid layer")
}

/// The attention step alone on `[E, H]` scores and `[N, H, C]` messages: the fused op
/// (`fused`) or the unfused Burn ops, forward + backward; returns once the gradient of the
/// messages is on the host.
pub fn gat_aggregate_forward_backward(scores: &Tensor<2>, x: &Tensor<3>, edges: &EdgeList, fused: bool) -> f32 {
    let (scores, x) = (scores.clone().require_grad(), x.clone().require_grad());
    let device = x.device();
    let out = if fused {
        gshn_graph::fused::gat_aggregate(scores, x.clone(), &gshn_graph::fused::GatIndex::from_edges(edges, &device)).0
    } else {
        let (src, dst) = edges.to_tensors(&device);
        gshn_graph::scatter::segment_softmax_aggregate(scores, x.clone(), src, dst).0
    };
    let grads = out.sum().backward();
    x.grad(&grads).expect("message gradient").sum().into_scalar()
}

/// One GAT forward + backward over the batch along `path`; returns once the input gradient
/// is on the host.
pub fn gat_forward_backward(layer: &GatConv, batch: &GraphBatch, path: GatPath) -> f32 {
    let mut b = batch.clone();
    b.x = b.x.require_grad();
    let out = layer.forward_batch(&b, path).expect("valid input");
    let grads = out.sum().backward();
    b.x.grad(&grads).expect("input gradient").sum().into_scalar()
}

/// Arguments every comparison command shares: the peer's Python and the repetitions.
#[derive(Debug, Clone, clap::Args)]
pub struct PeerArgs {
    /// Timed repetitions (median reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Python with the peer library installed.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

impl PeerArgs {
    /// Runs `scripts/peers/<script>` with `args` (plus `--reps`) and parses the JSON it prints.
    pub fn run_peer(&self, script: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<serde_json::Value> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/peers").join(script);
        eprintln!("running the peer: {} {}", self.python, path.display());
        let out = Command::new(&self.python)
            .arg(&path)
            .args(["--reps", &self.reps.to_string()])
            .args(args)
            .env("OMP_NUM_THREADS", "1")
            .output()
            .with_context(|| format!("could not run `{}` (pass --python PATH to a Python with the peer installed)", self.python))?;
        if !out.status.success() {
            bail!("the peer script {script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        serde_json::from_slice(&out.stdout).with_context(|| format!("{script} did not print JSON"))
    }
}
