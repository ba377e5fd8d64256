//! Times the CNN backbone's layers — a 3×3 convolution, its bias and ReLU, forward + backward —
//! in gshn (flex: the fused op, and with `--unfused` Burn's `Conv2d` + `relu`) and in PyTorch
//! (`conv2d` + `relu`, CPU) at the default model's shapes with the same thread count, in one
//! run, and prints the times, the FLOP rates and the ratios. The peer runs through
//! `scripts/peers/bench_conv.py`.
//!
//! ```text
//! cargo test --workspace --no-run && target/debug/compare-conv --threads 1 --python .venv/bin/python
//! ```

use anyhow::bail;
use burn::nn::conv::Conv2dConfig;
use burn::nn::PaddingConfig2d;
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use gshn_bench::{median_time, set_threads, PeerArgs};
use gshn_train::model::fused_conv::conv_relu;

#[derive(Parser)]
#[command(about = "gshn vs PyTorch: the CNN backbone's 3×3 convolution + bias + ReLU, forward + backward")]
struct Args {
    /// CPU threads for every contender.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Layers as in,out,side triples, `;`-separated (default: the default backbone's three;
    /// the first takes the pixels, which need no gradient).
    #[arg(long, default_value = "3,16,64;16,32,32;32,32,16")]
    layers: String,
    /// Also time Burn's `Conv2d` + `relu` (`model.tokens.fused_conv = false`).
    #[arg(long)]
    unfused: bool,
    /// The peer's Python (torch) and repetitions.
    #[command(flatten)]
    peer: PeerArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let layers: Vec<[usize; 3]> = args
        .layers
        .split(';')
        .map(|l| {
            let v: Vec<usize> = l.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
            match v[..] {
                [c, o, s] if c > 0 && o > 0 && s > 0 => Ok([c, o, s]),
                _ => bail!("--layers: `{l}` is not three positive sizes in,out,side"),
            }
        })
        .collect::<anyhow::Result<_>>()?;
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    set_threads(args.threads);
    let (threads, batch) = (args.threads.to_string(), args.batch.to_string());
    let flags = ["--threads", &threads, "--batch", &batch, "--layers", &args.layers];
    let peer_args: Vec<&std::ffi::OsStr> = flags.iter().map(std::ffi::OsStr::new).collect();
    let peer = args.peer.run_peer("bench_conv.py", &peer_args)?;

    let device = Device::flex().autodiff();
    println!("3×3 convolution + bias + ReLU, forward+backward, batch {}, {} thread(s), median of {} runs", args.batch, args.threads, args.peer.reps);
    let (extra_head, extra_rule) = if args.unfused { (" Burn ops (ms) | Burn GFLOP/s |", "---|---|") } else { ("", "") };
    println!("| layer | GFLOP | gshn fused (ms) | fused GFLOP/s |{extra_head} PyTorch (ms) | PyTorch GFLOP/s | PyTorch / gshn fused |");
    println!("|---|---|---|---|{extra_rule}---|---|---|");
    for (i, &[c, o, side]) in layers.iter().enumerate() {
        let conv = Conv2dConfig::new([c, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(&device);
        let x = Tensor::<4>::random([args.batch, c, side, side], Distribution::Normal(0.0, 1.0), &device);
        // The first layer reads the pixels, which take no gradient (as in the model).
        let x = if i == 0 { x } else { x.require_grad() };
        // Forward, ∂L/∂W, and ∂L/∂x where the input takes a gradient: 2·N·O·C·9·H·W each.
        let pass = 2.0 * (args.batch * o * c * 9 * side * side) as f64;
        let gflop = pass * if i == 0 { 2.0 } else { 3.0 } / 1e9;
        let time = |fused: bool| {
            median_time(args.peer.reps, || {
                let grads = conv_relu(&conv, x.clone(), fused).sum().backward();
                let g: f32 = conv.weight.grad(&grads).expect("weight gradient").sum().into_scalar();
                std::hint::black_box(g);
            })
            .as_secs_f64()
                * 1e3
        };
        let ours = time(true);
        let extra = if args.unfused {
            let t = time(false);
            format!(" {t:.1} | {:.1} |", gflop / t * 1e3)
        } else {
            String::new()
        };
        let theirs = peer["layers"][i].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {c}→{o} at {side}² | {gflop:.2} | {ours:.1} | {:.1} |{extra} {theirs:.1} | {:.1} | {:.2} |",
            gflop / ours * 1e3,
            gflop / theirs * 1e3,
            theirs / ours
        );
    }
    Ok(())
}
