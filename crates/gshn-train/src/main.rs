//! The `gshn` command.

use anyhow::Context;
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use gshn_snn::stats::EnergyModel;
use gshn_train::segment_cmd::{self, SegmentArgs};
use gshn_train::snn_demo::{self, SnnDemoConfig};

#[derive(Parser)]
#[command(name = "gshn", version, about = "Graph Spiking Hybrid Networks for vision-language alignment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a small two-layer spiking network on rate-coded patterns (CPU, seconds) and print
    /// accuracy, firing rates, SOPs and estimated energy.
    SnnDemo {
        /// The seed that drives every random number.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Training steps.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Time steps T.
        #[arg(long, default_value_t = 8)]
        time_steps: usize,
        /// Energy preset: 45nm-fp32, 45nm-fp16 or 45nm-int8.
        #[arg(long, default_value = "45nm-fp32")]
        energy: String,
    },
    /// Cut an image into segments (fh, slic, grid or panoptic ground truth) and write an
    /// overlay picture, optionally the segments as JSON.
    Segment(SegmentArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::SnnDemo { seed, steps, time_steps, energy } => {
            let energy = EnergyModel::preset(&energy)
                .with_context(|| format!("unknown energy preset `{energy}` (use 45nm-fp32, 45nm-fp16 or 45nm-int8)"))?;
            anyhow::ensure!(steps > 0, "--steps must be at least 1");
            let cfg = SnnDemoConfig::new().with_seed(seed).with_steps(steps).with_time_steps(time_steps);
            let device = Device::flex().autodiff();
            eprintln!("training a 2-layer spiking network (LIF, ATan, T = {time_steps}) on flex, seed {seed}");
            let report = snn_demo::run(&cfg, &device, |line| eprintln!("{line}"))?;
            println!("{}", snn_demo::render(&report, &energy));
        }
        Command::Segment(args) => {
            let seg = segment_cmd::run(&args)?;
            eprintln!(
                "{} segments ({}×{}) → {}",
                seg.len(),
                seg.width,
                seg.height,
                args.out.display()
            );
        }
    }
    Ok(())
}
