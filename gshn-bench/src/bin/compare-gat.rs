//! Times GAT forward + backward in gshn-graph (flex, edge-list path with the fused softmax +
//! aggregation, and the dense path; `--unfused` adds the edge-list path on unfused Burn ops)
//! and in PyTorch Geometric (CPU) on the same graphs with the same thread count, in one run,
//! and prints the ratios. The peer runs through `scripts/peers/bench_gat.py`.
//!
//! ```text
//! cargo test --workspace --no-run && target/debug/compare-gat --threads 2 --python .venv/bin/python
//! ```

use anyhow::bail;
use burn::tensor::Device;
use clap::Parser;
use gshn_bench::{gat_forward_backward, gat_graphs, gat_layer_with, median_time, set_threads, PeerArgs};
use gshn_graph::GatPath;

#[derive(Parser)]
#[command(about = "gshn-graph vs PyTorch Geometric: GATConv forward + backward")]
struct Args {
    /// CPU threads for every contender.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Graph sizes (nodes per graph).
    #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
    nodes: Vec<usize>,
    /// Graphs per batch.
    #[arg(long, default_value_t = 64)]
    graphs: usize,
    /// Also time the edge-list path on the unfused Burn ops (`GatConvConfig::fused = false`).
    #[arg(long)]
    unfused: bool,
    /// The peer's Python (torch, torch-geometric) and repetitions.
    #[command(flatten)]
    peer: PeerArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.nodes.contains(&0) || args.graphs == 0 {
        bail!("--nodes and --graphs must be at least 1");
    }
    set_threads(args.threads);
    let (features, heads, channels, in_degree) = (64, 4, 16, 5);
    let device = Device::flex().autodiff();
    let layer = gat_layer_with(features, heads, channels, true, &device);
    let mut unfused_layer = layer.clone();
    unfused_layer.fused = false;
    let graphs_file = std::env::temp_dir().join(format!("gshn-bench-graphs-{}.json", std::process::id()));
    let mut cases = Vec::new();
    let mut sets = Vec::new();
    for &n in &args.nodes {
        let batch = gat_graphs(args.graphs, n, in_degree, features, 7, &device);
        let src: Vec<usize> = batch.edges.src.clone();
        let dst: Vec<usize> = batch.edges.dst.clone();
        cases.push(serde_json::json!({"nodes": n, "num_nodes": batch.edges.num_nodes, "src": src, "dst": dst}));
        sets.push((n, batch));
    }
    let spec = serde_json::json!({"features": features, "heads": heads, "channels": channels, "cases": cases});
    std::fs::write(&graphs_file, spec.to_string())?;
    let threads = args.threads.to_string();
    let peer = args.peer.run_peer("bench_gat.py", &["--threads".as_ref(), threads.as_ref(), "--graphs".as_ref(), graphs_file.as_os_str()]);
    std::fs::remove_file(&graphs_file).ok();
    let peer = peer?;
    println!(
        "GATConv forward+backward, {} graphs × N nodes, ~{in_degree} in-edges/node, {features} features, {heads} heads × {channels}; {} thread(s), median of {} runs",
        args.graphs, args.threads, args.peer.reps
    );
    let (extra_head, extra_rule) = if args.unfused { (" gshn edge list unfused (ms) |", "---|") } else { ("", "") };
    println!("| N | gshn edge list (ms) |{extra_head} gshn dense (ms) | PyG (ms) | PyG / gshn best | auto picks |");
    println!("|---|---|{extra_rule}---|---|---|---|");
    for (n, batch) in &sets {
        let t = |layer, path| {
            median_time(args.peer.reps, || {
                std::hint::black_box(gat_forward_backward(layer, batch, path));
            })
            .as_secs_f64()
                * 1e3
        };
        let (edge, dense) = (t(&layer, GatPath::EdgeList), t(&layer, GatPath::Dense));
        let extra = if args.unfused { format!(" {:.1} |", t(&unfused_layer, GatPath::EdgeList)) } else { String::new() };
        let pyg = peer["pyg"][n.to_string()].as_f64().unwrap_or(f64::NAN);
        // What `GatPath::Auto` runs for this layer on the autodiff device (fused op or not).
        let x = batch.x.clone().require_grad();
        let auto = if layer.auto_picks_dense(&x, *n) { "dense" } else { "edge list" };
        println!("| {n} | {edge:.1} |{extra} {dense:.1} | {pyg:.1} | {:.2} | {auto} |", pyg / edge.min(dense));
    }
    Ok(())
}
