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
    /// Train the GSHN on ShapeWorld (first cut: flags instead of a config file) and print
    /// text↔image retrieval on the test split.
    Train {
        /// The seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Optimiser steps.
        #[arg(long, default_value_t = 1500)]
        steps: usize,
        /// Training images.
        #[arg(long, default_value_t = 4000)]
        train_images: usize,
        /// Test images.
        #[arg(long, default_value_t = 1000)]
        test_images: usize,
        /// Branches: hybrid, gat-only or snn-only.
        #[arg(long, default_value = "hybrid")]
        branches: String,
    },
    /// Generate or export data sets.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Write ShapeWorld splits as PNGs plus COCO-style caption, panoptic and question files.
    Shapeworld {
        /// Output folder.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Training images.
        #[arg(long, default_value_t = 4000)]
        train: usize,
        /// Validation images.
        #[arg(long, default_value_t = 500)]
        val: usize,
        /// Test images.
        #[arg(long, default_value_t = 1000)]
        test: usize,
        /// Image side in pixels.
        #[arg(long, default_value_t = 64)]
        image_size: u32,
        /// Colour–shape pairs held out of training, e.g. `red:triangle,blue:circle`.
        #[arg(long, value_delimiter = ',')]
        holdout: Vec<String>,
    },
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
        Command::Data(DataCommand::Shapeworld { out, seed, train, val, test, image_size, holdout }) => {
            use gshn_train::data::shapeworld::{generate, write_split, ShapeWorldConfig, Split, COLOURS, SHAPES};
            anyhow::ensure!(image_size >= 32, "--image-size must be at least 32");
            let mut pairs = Vec::new();
            for h in &holdout {
                let (c, s) = h.split_once(':').with_context(|| format!("--holdout takes colour:shape pairs, got `{h}`"))?;
                anyhow::ensure!(COLOURS.iter().any(|x| x.0 == c), "unknown colour `{c}` in --holdout");
                anyhow::ensure!(SHAPES.contains(&s), "unknown shape `{s}` in --holdout");
                pairs.push((c.to_string(), s.to_string()));
            }
            let cfg = ShapeWorldConfig { image_size, holdout: pairs, ..Default::default() };
            for (split, n) in [(Split::Train, train), (Split::Val, val), (Split::Test, test)] {
                eprintln!("writing {} {} examples to {}", n, split.name(), out.join(split.name()).display());
                write_split(&out, split, &generate(&cfg, seed, split, n))?;
            }
        }
        Command::Train { seed, steps, train_images, test_images, branches } => {
            use gshn_train::model::{Branches, GshnConfig};
            use gshn_train::train::{run, TrainSettings};
            let branches = match branches.as_str() {
                "hybrid" => Branches::Hybrid,
                "gat-only" => Branches::GatOnly,
                "snn-only" => Branches::SnnOnly,
                other => anyhow::bail!("unknown --branches `{other}` (hybrid, gat-only, snn-only)"),
            };
            let settings = TrainSettings { seed, steps, train_images, test_images, ..Default::default() };
            let device = Device::flex().autodiff();
            let start = std::time::Instant::now();
            let mut recent = Vec::new();
            let (model, _, m) = run(&settings, |v| GshnConfig::new(v).with_branches(branches), &device, |step, loss, lr| {
                recent.push(loss);
                if step % 50 == 0 || step == steps {
                    let mean = recent.iter().sum::<f64>() / recent.len() as f64;
                    recent.clear();
                    eprintln!("step {step:>5}/{steps}  loss {mean:.4}  lr {lr:.2e}  {:.1} steps/s", step as f64 / start.elapsed().as_secs_f64());
                }
            })?;
            println!("| metric | R@1 | R@5 | R@10 | mean rank | median rank |\n|---|---|---|---|---|---|");
            println!("| image→text | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} |", m.i2t_recall[0], m.i2t_recall[1], m.i2t_recall[2], m.i2t_rank[0], m.i2t_rank[1]);
            println!("| text→image | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} |", m.t2i_recall[0], m.t2i_recall[1], m.t2i_recall[2], m.t2i_rank[0], m.t2i_rank[1]);
            println!("r = {:?}, logit scale {:.2}, {:.0} s", model.r_values(), model.logit_scale.value(), start.elapsed().as_secs_f64());
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
