//! Times multi-step LIF forward + backward in gshn (flex, the fused kernel; `--unfused` adds the
//! per-step path) and in snnTorch and SpikingJelly (PyTorch, CPU) on the same shapes with the
//! same thread count, in one run, and prints the ratios. The peers run through
//! `scripts/peers/bench_snn.py`.
//!
//! ```text
//! cargo test --workspace --no-run && target/debug/compare-snn --threads 2 --python .venv/bin/python
//! ```

use anyhow::bail;
use burn::tensor::Device;
use clap::Parser;
use gshn_bench::{lif_forward_backward_with, lif_input, median_time, set_threads, PeerArgs};

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
    /// Also time gshn's per-step path (`fused = false`), the one before the fused kernel.
    #[arg(long)]
    unfused: bool,
    /// The peers' Python (torch, snntorch, spikingjelly) and repetitions.
    #[command(flatten)]
    peer: PeerArgs,
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
    let ts: Vec<String> = args.time_steps.iter().map(|t| t.to_string()).collect();
    let (threads, ts, shape_arg) = (args.threads.to_string(), ts.join(","), format!("{},{},{}", shape[0], shape[1], shape[2]));
    let flags = ["--threads", &threads, "--time-steps", &ts, "--shape", &shape_arg];
    let peer_args: Vec<&std::ffi::OsStr> = flags.iter().map(std::ffi::OsStr::new).collect();
    let peers = args.peer.run_peer("bench_snn.py", &peer_args)?;

    let device = Device::flex().autodiff();
    println!("multi-step LIF forward+backward, [T, {}, {}, {}], {} thread(s), median of {} runs", shape[0], shape[1], shape[2], args.threads, args.peer.reps);
    let (extra_head, extra_rule) = if args.unfused { (" gshn per-step (ms) |", "---|") } else { ("", "") };
    println!("| T | gshn flex, fused (ms) |{extra_head} snnTorch (ms) | SpikingJelly (ms) | snnTorch / gshn | SpikingJelly / gshn |");
    println!("|---|---|{extra_rule}---|---|---|---|");
    for &t in &args.time_steps {
        let x = lif_input(t, shape, &device);
        let time = |fused: bool| {
            median_time(args.peer.reps, || {
                std::hint::black_box(lif_forward_backward_with(&x, &device, fused));
            })
            .as_secs_f64()
                * 1e3
        };
        let ours = time(true);
        let extra = if args.unfused { format!(" {:.1} |", time(false)) } else { String::new() };
        let peer = |name: &str| peers[name][t.to_string()].as_f64().unwrap_or(f64::NAN);
        let (snt, sj) = (peer("snntorch"), peer("spikingjelly"));
        println!("| {t} | {ours:.1} |{extra} {snt:.1} | {sj:.1} | {:.2} | {:.2} |", snt / ours, sj / ours);
    }
    Ok(())
}
