//! The `gshn` command.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use gshn_snn::stats::EnergyModel;
use gshn_train::device::{apply_runtime, pick_device};
use gshn_train::eval::evaluate;
use gshn_train::experiment::{DeviceChoice, ExperimentConfig};
use gshn_train::report::{example_pictures, write_report, ReportInput};
use gshn_train::segment_cmd::{self, SegmentArgs};
use gshn_train::snn_demo::{self, SnnDemoConfig};
use gshn_train::train::{load_data, run, RunOptions};

fn parse_device(s: &str) -> anyhow::Result<DeviceChoice> {
    Ok(DeviceChoice::parse(s)?)
}

/// The run's device, with its WGPU runtime settings applied first.
fn device_for(cfg: &ExperimentConfig) -> anyhow::Result<(Device, String)> {
    if cfg.device != DeviceChoice::Flex {
        eprintln!("{}", apply_runtime(&cfg.runtime)?);
    }
    Ok(pick_device(cfg.device)?)
}

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
    /// Train a GSHN from an experiment file, evaluate it on the test split, and write the
    /// run folder: checkpoints, metrics log, eval.json and report/.
    Train {
        /// The experiment (TOML), e.g. configs/shapeworld.toml.
        #[arg(long)]
        config: PathBuf,
        /// Override any config field, e.g. `--set model.snn.time_steps=8` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Run folder. Default: runs/<config name>.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in the folder from its last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Device: auto, flex or wgpu (overrides the config's `device`).
        #[arg(long)]
        device: Option<String>,
    },
    /// Run an ablation: a base config against variants (a list or a grid of overrides), each
    /// over several seeds; resumable. Writes runs.csv, table.md and bar charts.
    Ablate {
        /// The ablation file, e.g. configs/ablations/branches.toml.
        #[arg(long)]
        config: PathBuf,
        /// Output folder. Default: runs/ablations/<file name>.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a field in every variant (repeatable), e.g. `--set train.steps=1500`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Device: auto, flex or wgpu (overrides the configs').
        #[arg(long)]
        device: Option<String>,
        /// Run only this share of the runs, `I/N` (every run whose index is I modulo N), so
        /// that N processes or machines writing the same --out folder split the grid; the one
        /// that finishes last writes the tables.
        #[arg(long, value_name = "I/N")]
        shard: Option<gshn_train::ablate::Shard>,
    },
    /// Evaluate a checkpoint on its config's test split and write a report.
    Eval {
        /// A run folder, its checkpoints/ folder, or one checkpoints/step-NNNNNN folder.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Device: auto, flex or wgpu.
        #[arg(long)]
        device: Option<String>,
        /// Report folder. Default: <run folder>/report-eval.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Generate or export data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Measure the training step on a device.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time N training steps of an experiment (the runner's batches, losses and optimiser;
    /// no validation or checkpoints): warm-up, per-step percentiles after it, and the number
    /// of distinct batch shapes.
    Train {
        /// The experiment (TOML).
        #[arg(long, default_value = "configs/shapeworld.toml")]
        config: PathBuf,
        /// Override any config field (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Steps to time.
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// Device: auto, flex or wgpu.
        #[arg(long)]
        device: Option<String>,
        /// Also write every step's time as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
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
            let energy = EnergyModel::preset(&energy).with_context(|| format!("unknown energy preset `{energy}` (use 45nm-fp32, 45nm-fp16 or 45nm-int8)"))?;
            anyhow::ensure!(steps > 0, "--steps must be at least 1");
            let cfg = SnnDemoConfig::new().with_seed(seed).with_steps(steps).with_time_steps(time_steps);
            let device = Device::flex().autodiff();
            eprintln!("training a 2-layer spiking network (LIF, ATan, T = {time_steps}) on flex, seed {seed}");
            let report = snn_demo::run(&cfg, &device, |line| eprintln!("{line}"))?;
            println!("{}", snn_demo::render(&report, &energy));
        }
        Command::Data(DataCommand::Shapeworld { out, seed, train, val, test, image_size, holdout }) => {
            use gshn_train::data::export::write_split;
            use gshn_train::data::shapeworld::{generate, parse_holdout, ShapeWorldConfig, Split};
            anyhow::ensure!(image_size >= 32, "--image-size must be at least 32");
            let pairs = holdout.iter().map(|h| parse_holdout(h)).collect::<Result<Vec<_>, _>>().map_err(|e| anyhow::anyhow!("--holdout: {e}"))?;
            let cfg = ShapeWorldConfig { image_size, holdout: pairs, ..Default::default() };
            for (split, n) in [(Split::Train, train), (Split::Val, val), (Split::Test, test)] {
                eprintln!("writing {} {} examples to {}", n, split.name(), out.join(split.name()).display());
                write_split(&out, split, &generate(&cfg, seed, split, n))?;
            }
        }
        Command::Train { config, set, out, resume, device } => {
            let mut cfg = ExperimentConfig::load(&config, &set)?;
            if let Some(d) = device {
                cfg.device = parse_device(&d)?;
            }
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
            let (dev, dev_name) = device_for(&cfg)?;
            eprintln!("gshn train: {} → {} on {dev_name}", config.display(), out.display());
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let start = std::time::Instant::now();
            let result = run(&cfg, &dev, &RunOptions { out: out.clone(), resume, stop_after: None, progress: true })?;
            let test = result.test.as_ref().context("the run ended without a test evaluation")?;
            let pictures = (cfg.eval.report_images > 0)
                .then(|| example_pictures(&result.model, &result.data.test, &result.batcher, &result.data.answers, cfg.eval.report_images, &dev))
                .transpose()?;
            let report_dir = out.join("report");
            write_report(&report_dir, &ReportInput { config: &cfg, log: &result.log, test, command: &command, device: &dev_name }, pictures.as_ref())?;
            println!("{}", test.markdown());
            eprintln!(
                "done in {}: report {}, checkpoint {}",
                gshn_train::train::hms(start.elapsed().as_secs_f64()),
                report_dir.join("report.md").display(),
                out.join("checkpoints").display()
            );
        }
        Command::Ablate { config, out, set, device, shard } => {
            use gshn_train::ablate::{ablate, Ablation};
            let mut set = set;
            if let Some(d) = &device {
                let choice = parse_device(d)?;
                set.push(format!("device={}", serde_json::to_string(&choice)?));
            }
            let ab = Ablation::load(&config, &set)?;
            let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("ablation").to_string();
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join("ablations").join(stem));
            let (dev, dev_name) = device_for(&ab.variants[0].1)?;
            eprintln!(
                "gshn ablate: {} variants × {} seeds × {} data seeds → {} on {dev_name}",
                ab.variants.len(),
                ab.seeds.len(),
                ab.data_seeds.len(),
                out.display()
            );
            let rows = ablate(&ab, &out, &dev, true, shard)?;
            let diverged = gshn_train::ablate::diverged_runs(&ab, &out)?;
            if !diverged.is_empty() {
                eprintln!("{} run(s) diverged (listed in table.md; retried when a variant's optimiser settings change, e.g. a lower train.lr in its `set`, or delete the run's folder)", diverged.len());
            }
            if rows.len() + diverged.len() == ab.runs() {
                println!("{}", std::fs::read_to_string(out.join("table.md"))?);
                eprintln!("wrote {}, {}, {} and the plots", out.join("runs.csv").display(), out.join("curves.csv").display(), out.join("table.md").display());
            }
        }
        Command::Eval { checkpoint, device, report } => {
            use gshn_train::checkpoint;
            let choice = device.as_deref().map(parse_device).transpose()?;
            let dir = checkpoint::resolve(&checkpoint)?;
            let saved = ExperimentConfig::load(&dir.join("config.toml"), &[])?;
            let (dev, dev_name) = device_for(&ExperimentConfig { device: choice.unwrap_or(saved.device), ..saved.clone() })?;
            let loaded = checkpoint::load(&dir, &dev)?;
            let cfg = loaded.config.clone();
            eprintln!("evaluating {} (step {}) on {dev_name}", loaded.dir.display(), loaded.state.step);
            let mut data = load_data(&cfg)?;
            anyhow::ensure!(data.vocab == loaded.vocab, "the data's vocabulary differs from the checkpoint's; was the data changed?");
            data.attach_features(&loaded.model, &dev, &|s| eprintln!("{s}"))?;
            let batcher = data.batcher(&cfg)?.with_frozen_text(&loaded.model, &dev);
            let test = evaluate(&loaded.model, &data.test, &batcher, &cfg.eval.energy, cfg.eval.batch_size, &dev, Some(&data.train))?;
            let run_dir = loaded.dir.parent().and_then(|p| p.parent()).map(PathBuf::from).unwrap_or_default();
            let report_dir = report.unwrap_or_else(|| run_dir.join("report-eval"));
            let log = gshn_train::train::read_log(&run_dir).unwrap_or_default();
            let pictures = (cfg.eval.report_images > 0)
                .then(|| example_pictures(&loaded.model, &data.test, &batcher, &loaded.state.answers, cfg.eval.report_images, &dev))
                .transpose()?;
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            write_report(&report_dir, &ReportInput { config: &cfg, log: &log, test: &test, command: &command, device: &dev_name }, pictures.as_ref())?;
            std::fs::write(report_dir.join("eval.json"), serde_json::to_string_pretty(&test)?)?;
            println!("{}", test.markdown());
            eprintln!("report: {}", report_dir.join("report.md").display());
        }
        Command::Bench(BenchCommand::Train { config, set, steps, device, json }) => {
            anyhow::ensure!(steps >= 1, "--steps must be at least 1");
            let mut cfg = ExperimentConfig::load(&config, &set)?;
            if let Some(d) = device {
                cfg.device = parse_device(&d)?;
            }
            let (dev, dev_name) = device_for(&cfg)?;
            eprintln!("gshn bench train: {} for {steps} steps on {dev_name}", config.display());
            let report = gshn_train::bench_train::bench_train(&cfg, &dev, &dev_name, steps, &|s| eprintln!("{s}"))?;
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", p.display()))?;
            }
            println!("{}", report.markdown());
        }
        Command::Segment(args) => {
            let seg = segment_cmd::run(&args)?;
            eprintln!("{} segments ({}×{}) → {}", seg.len(), seg.width, seg.height, args.out.display());
        }
    }
    Ok(())
}
