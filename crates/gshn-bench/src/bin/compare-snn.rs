//! Times multi-step LIF forward + backward in gshn (flex) and in snnTorch and SpikingJelly
//! (PyTorch, CPU) on the same shapes with the same thread count, in one run, and prints the
//! ratios. The peers run through `scripts/peers/bench_snn.py`.
//!
//! ```text
//! cargo run --release -p gshn-bench --bin compare-snn -- --threads 2 --python .venv/bin/python
//! ```

use std::process::Command;

use anyhow::{bail, Context};
use burn::tensor::Device;
use clap::Parser;
use gshn_bench::{lif_forward_backward, lif_input, median_time, set_threads};

#[derive(Parser)]
#[command(about = "gshn vs snnTorch vs SpikingJelly: multi-step LIF forward + backward")]
struct Args {
    /// CPU threads for every contender.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Time steps to measure.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16")]
    time_steps: Vec<usize>,
    /// Neurons per step as batch,nodes,features.
    #[arg(long, value_delimiter = ',', default_value = "64,100,256")]
    shape: Vec<usize>,
    /// Timed repetitions per case (median reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Python with torch, snntorch and spikingjelly installed.
    #[arg(long, default_value = "python3")]
    python: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.shape.len() != 3 || args.shape.contains(&0) {
        bail!("--shape needs three positive sizes: batch,nodes,features");
    }
    if args.time_steps.contains(&0) {
        bail!("--time-steps must all be at least 1");
    }
    set_threads(args.threads);
    let shape = [args.shape[0], args.shape[1], args.shape[2]];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/peers/bench_snn.py");
    let ts: Vec<String> = args.time_steps.iter().map(|t| t.to_string()).collect();
    eprintln!("running the peers: {} {script}", args.python);
    let out = Command::new(&args.python)
        .arg(script)
        .args(["--threads", &args.threads.to_string(), "--reps", &args.reps.to_string()])
        .args(["--time-steps", &ts.join(",")])
        .args(["--shape", &format!("{},{},{}", shape[0], shape[1], shape[2])])
        .output()
        .with_context(|| format!("could not run `{}` (pass --python PATH to a Python with the peers)", args.python))?;
    if !out.status.success() {
        bail!("the peer script failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let peers: serde_json::Value = serde_json::from_slice(&out.stdout).context("peer script output is not JSON")?;

    let device = Device::flex().autodiff();
    println!(
        "multi-step LIF forward+backward, [T, {}, {}, {}], {} thread(s), median of {} runs",
        shape[0], shape[1], shape[2], args.threads, args.reps
    );
    println!("| T | gshn flex (ms) | snnTorch (ms) | SpikingJelly (ms) | snnTorch / gshn | SpikingJelly / gshn |");
    println!("|---|---|---|---|---|---|");
    for &t in &args.time_steps {
        let x = lif_input(t, shape, &device);
        let ours = median_time(args.reps, || {
            std::hint::black_box(lif_forward_backward(&x, &device));
        })
        .as_secs_f64()
            * 1e3;
        let peer = |name: &str| peers[name][t.to_string()].as_f64().unwrap_or(f64::NAN);
        let (snt, sj) = (peer("snntorch"), peer("spikingjelly"));
        println!("| {t} | {ours:.1} | {snt:.1} | {sj:.1} | {:.2} | {:.2} |", snt / ours, sj / ours);
    }
    Ok(())
}
