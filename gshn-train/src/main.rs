//! The `gshn` command.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use gshn_snn::stats::EnergyModel;
use gshn_train::cli::device::{apply_runtime, pick_device};
use gshn_train::cli::experiment::{DeviceChoice, ExperimentConfig};
use gshn_train::cli::report::{example_pictures, write_report, ReportInput};
use gshn_train::cli::segment_cmd::{self, whole, SegmentArgs};
use gshn_train::cli::snn_demo::{self, SnnDemoConfig};
use gshn_train::cli::train::{run, RunOptions};

/// A library field error as the flag it came from (`time_steps` → `--time-steps`).
fn as_flag(e: gshn_train::GshnError) -> anyhow::Error {
    match e {
        gshn_train::GshnError::InvalidConfig { field, reason } => anyhow::anyhow!("--{}: {reason}", field.replace('_', "-")),
        other => other.into(),
    }
}

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
    #[command(allow_negative_numbers = true)]
    SnnDemo {
        /// The seed that drives every random number.
        #[arg(long, default_value_t = 0, value_parser = whole::<u64>)]
        seed: u64,
        /// Training steps (1 to 1e8).
        #[arg(long, default_value_t = 300, value_parser = whole::<usize>)]
        steps: usize,
        /// Time steps T (1 to 256).
        #[arg(long, default_value_t = 8, value_parser = whole::<usize>)]
        time_steps: usize,
        /// Energy preset: 45nm-fp32, 45nm-fp16 or 45nm-int8.
        #[arg(long, default_value = "45nm-fp32")]
        energy: String,
    },
    /// Cut an image into segments (fh, slic, grid or panoptic ground truth) and write an
    /// overlay picture, optionally the segments as JSON.
    #[command(allow_negative_numbers = true)]
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
        /// Continue the run in --out from its last checkpoint (the folder must hold a run).
        #[arg(long, conflicts_with = "resume_or_start")]
        resume: bool,
        /// Continue the run in --out if there is one, else start it there: for job scripts
        /// that restart the same command after a preemption or a kill.
        #[arg(long)]
        resume_or_start: bool,
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
        #[arg(long, value_name = "I/N", allow_hyphen_values = true)]
        shard: Option<gshn_train::cli::ablate::Shard>,
        /// Run only the grid's first N seeds (every variant and data draw): a pilot whose runs
        /// the full grid reuses when it later runs into the same --out; the tables cover the N.
        #[arg(long, value_name = "N")]
        seeds: Option<usize>,
        /// Write into --out even when it is a non-empty folder that gshn did not make.
        #[arg(long)]
        force: bool,
    },
    /// Evaluate a checkpoint on its config's test split, or on other data sets (`--set data.…`,
    /// `--dataset FILE`, one transfer-table row each), and write a report.
    Eval {
        /// A run folder, its checkpoints/ folder, or one checkpoints/step-NNNNNN folder.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Override a data or evaluation field of the checkpoint's config (repeatable), e.g.
        /// `--set data.seed=7` for another ShapeWorld draw or `--set data.source=coco --set
        /// data.dir=DIR`; with --dataset, applied to every data set.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// A data-set file (TOML: optional `name`, `[data]`, `[eval]`), repeatable: the
        /// checkpoint is scored on its own test split and on each, one table row each.
        #[arg(long, value_name = "FILE")]
        dataset: Vec<PathBuf>,
        /// Device: auto, flex or wgpu.
        #[arg(long)]
        device: Option<String>,
        /// Report folder. Default: <run folder>/report-eval.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write into --report even when it is a non-empty folder that gshn did not make.
        #[arg(long)]
        force: bool,
    },
    /// Generate or export data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Measure the training step on a device.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Spiking networks in and out of NIR (snnTorch, SpikingJelly, Norse, neuromorphic hardware).
    #[command(subcommand)]
    Snn(SnnCommand),
}

#[derive(Subcommand)]
enum SnnCommand {
    /// Write a checkpoint's spiking branch as a NIR file (per node: each node its own
    /// neighbourhood; docs/snn.md, "NIR").
    Export {
        /// A run folder, its checkpoints/ folder, or one checkpoints/step-NNNNNN folder.
        #[arg(long)]
        checkpoint: PathBuf,
        /// The NIR file to write (a new file).
        #[arg(long)]
        out: PathBuf,
        /// The simulation step NIR's time constants are expressed in, seconds.
        #[arg(long, default_value_t = gshn_snn::nir::DEFAULT_DT)]
        dt: f64,
        /// Write neurons NIR cannot express exactly (subtract or no reset, delayed reset),
        /// noting each, instead of refusing.
        #[arg(long)]
        allow_lossy: bool,
        /// Overwrite --out if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Read a NIR file (from snnTorch, SpikingJelly, Norse, … or `gshn snn export`), build it
    /// with gshn-snn on a device, and run it on a seeded input: the chain and firing rates.
    #[command(allow_negative_numbers = true)]
    Import {
        /// The NIR file.
        file: PathBuf,
        /// The simulation step the file's time constants are read at, seconds.
        #[arg(long, default_value_t = gshn_snn::nir::DEFAULT_DT)]
        dt: f64,
        /// Time steps to run (1 to 4096).
        #[arg(long, default_value_t = 16, value_parser = whole::<usize>)]
        steps: usize,
        /// The input's seed.
        #[arg(long, default_value_t = 0, value_parser = whole::<u64>)]
        seed: u64,
        /// Device: auto, flex or wgpu.
        #[arg(long, default_value = "flex")]
        device: String,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time N training steps of an experiment (the runner's batches, losses and optimiser;
    /// no validation or checkpoints): warm-up, per-step percentiles after it, and the number
    /// of distinct batch shapes.
    #[command(allow_negative_numbers = true)]
    Train {
        /// The experiment (TOML).
        #[arg(long, default_value = "configs/shapeworld.toml")]
        config: PathBuf,
        /// Override any config field (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Steps to time (1 to 1e6).
        #[arg(long, default_value_t = 50, value_parser = whole::<usize>)]
        steps: usize,
        /// Device: auto, flex or wgpu.
        #[arg(long)]
        device: Option<String>,
        /// Also write every step's time as JSON here (a new file).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Overwrite the --json file if it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Write ShapeWorld splits as PNGs plus COCO-style caption, panoptic and question files.
    #[command(allow_negative_numbers = true)]
    Shapeworld {
        /// Output folder (new, empty, or one this command wrote before).
        #[arg(long)]
        out: std::path::PathBuf,
        /// The seed.
        #[arg(long, default_value_t = 0, value_parser = whole::<u64>)]
        seed: u64,
        /// Training images (at most 1e6).
        #[arg(long, default_value_t = 4000, value_parser = whole::<usize>)]
        train: usize,
        /// Validation images (at most 1e6).
        #[arg(long, default_value_t = 500, value_parser = whole::<usize>)]
        val: usize,
        /// Test images (at most 1e6).
        #[arg(long, default_value_t = 1000, value_parser = whole::<usize>)]
        test: usize,
        /// Image side in pixels (a multiple of 4 from 32 to 1024).
        #[arg(long, default_value_t = 64, value_parser = whole::<u32>)]
        image_size: u32,
        /// Colour–shape pairs held out of training, e.g. `red:triangle,blue:circle`.
        #[arg(long, value_delimiter = ',')]
        holdout: Vec<String>,
        /// Write into --out even when it is a non-empty folder that gshn did not make.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::SnnDemo { seed, steps, time_steps, energy } => {
            let energy =
                EnergyModel::preset(&energy).with_context(|| format!("--energy: unknown preset `{energy}` (use 45nm-fp32, 45nm-fp16 or 45nm-int8)"))?;
            let cfg = SnnDemoConfig::new().with_seed(seed).with_steps(steps).with_time_steps(time_steps);
            cfg.validate().map_err(as_flag)?;
            let device = Device::flex().autodiff();
            eprintln!("training a 2-layer spiking network (LIF, ATan, T = {time_steps}) on flex, seed {seed}");
            let report = snn_demo::run(&cfg, &device, |line| eprintln!("{line}"))?;
            println!("{}", snn_demo::render(&report, &energy));
        }
        Command::Data(DataCommand::Shapeworld { out, seed, train, val, test, image_size, holdout, force }) => {
            use gshn_train::cli::experiment::{bad_flag, check_holdout, check_image_size, MAX_IMAGES};
            use gshn_train::data::export::write_split;
            use gshn_train::data::shapeworld::{generate, ShapeWorldConfig, Split};
            check_image_size(image_size).map_err(|e| bad_flag("--image-size", e))?;
            for (flag, n) in [("--train", train), ("--val", val), ("--test", test)] {
                anyhow::ensure!(n <= MAX_IMAGES, bad_flag(flag, format!("{n} exceeds {MAX_IMAGES} images")));
            }
            let pairs = check_holdout(&holdout).map_err(|e| bad_flag("--holdout", e))?;
            gshn_train::cli::output::claim_folder(&out, gshn_train::cli::output::OutputKind::ShapeWorld, "--out", force)?;
            let cfg = ShapeWorldConfig { image_size, holdout: pairs, ..Default::default() };
            for (split, n) in [(Split::Train, train), (Split::Val, val), (Split::Test, test)] {
                eprintln!("writing {} {} examples to {}", n, split.name(), out.join(split.name()).display());
                write_split(&out, split, &generate(&cfg, seed, split, n))?;
            }
        }
        Command::Train { config, set, out, resume, resume_or_start, device } => {
            let mut cfg = ExperimentConfig::load(&config, &set)?;
            if let Some(d) = device {
                cfg.device = parse_device(&d)?;
            }
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&cfg.name));
            if resume && gshn_train::cli::run_folder::inspect(&out)? == gshn_train::cli::run_folder::FolderState::Fresh {
                anyhow::bail!(
                    "--resume: {} {}; there is no run to continue — drop --resume to start one there (--resume-or-start in job scripts that restart after a kill), or give the run folder with --out",
                    out.display(),
                    if out.exists() { "is empty" } else { "does not exist" }
                );
            }
            let (dev, dev_name) = device_for(&cfg)?;
            eprintln!("gshn train: {} → {} on {dev_name}", config.display(), out.display());
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let start = std::time::Instant::now();
            let result = run(&cfg, &dev, &RunOptions { out: out.clone(), resume: resume || resume_or_start, stop_after: None, progress: true })?;
            let test = result.test.as_ref().context("the run ended without a test evaluation")?;
            let pictures = (cfg.eval.report_images > 0)
                .then(|| example_pictures(&result.model, &result.data.test, &result.batcher, &result.data.answers, cfg.eval.report_images, &dev))
                .transpose()?;
            let report_dir = out.join("report");
            write_report(&report_dir, &ReportInput { config: &cfg, log: &result.log, test, command: &command, device: &dev_name }, pictures.as_ref())?;
            println!("{}", test.markdown());
            eprintln!(
                "done in {}: report {}, checkpoint {}",
                gshn_train::cli::run_log::hms(start.elapsed().as_secs_f64()),
                report_dir.join("report.md").display(),
                out.join("checkpoints").display()
            );
        }
        Command::Ablate { config, out, set, device, shard, seeds, force } => {
            use gshn_train::cli::ablate::{ablate, Ablation};
            let mut set = set;
            if let Some(d) = &device {
                let choice = parse_device(d)?;
                set.push(format!("device={}", serde_json::to_string(&choice)?));
            }
            let mut ab = Ablation::load(&config, &set)?;
            if let Some(n) = seeds {
                ab = ab.first_seeds(n)?;
            }
            let stem = config.file_stem().and_then(|s| s.to_str()).unwrap_or("ablation").to_string();
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join("ablations").join(stem));
            gshn_train::cli::output::check_folder(&out, gshn_train::cli::output::OutputKind::Ablation, "--out", force)?;
            let (dev, dev_name) = device_for(&ab.variants[0].1)?;
            gshn_train::cli::output::claim_folder(&out, gshn_train::cli::output::OutputKind::Ablation, "--out", force)?;
            eprintln!(
                "gshn ablate: {} variants × {} seeds × {} data seeds → {} on {dev_name}",
                ab.variants.len(),
                ab.seeds.len(),
                ab.data_seeds.len(),
                out.display()
            );
            let rows = ablate(&ab, &out, &dev, true, shard)?;
            let diverged = gshn_train::cli::ablate::diverged_runs(&ab, &out)?;
            if !diverged.is_empty() {
                eprintln!("{} run(s) diverged (listed in table.md; retried when a variant's optimiser settings change, e.g. a lower train.lr in its `set`, or delete the run's folder)", diverged.len());
            }
            if rows.len() + diverged.len() == ab.runs() {
                println!("{}", std::fs::read_to_string(out.join("table.md"))?);
                eprintln!("wrote {}, {}, {} and the plots", out.join("runs.csv").display(), out.join("curves.csv").display(), out.join("table.md").display());
            }
        }
        Command::Eval { checkpoint, set, dataset, device, report, force } => {
            use gshn_train::cli::checkpoint;
            use gshn_train::cli::output::{check_folder, claim_folder, OutputKind};
            use gshn_train::cli::transfer::{self, EvalSet, TransferRow};
            let choice = device.as_deref().map(parse_device).transpose()?;
            let sets = dataset.iter().map(|p| EvalSet::load(p)).collect::<Result<Vec<_>, _>>()?;
            let dir = checkpoint::resolve(&checkpoint)?;
            let saved = ExperimentConfig::load(&dir.join("config.toml"), &[])?;
            // Every override is checked before anything runs.
            let mut plans = vec![(EvalSet { name: "own test split".into(), overrides: set.clone() }, transfer::config_for(&saved, &set)?)];
            for s in &sets {
                let overrides = [s.overrides.clone(), set.clone()].concat();
                let cfg = transfer::config_for(&saved, &overrides).map_err(|e| anyhow::anyhow!("{}: {e}", s.name))?;
                anyhow::ensure!(plans.iter().all(|(p, _)| p.name != s.name), "--dataset: two data sets are named `{}`; give one a `name`", s.name);
                plans.push((EvalSet { overrides, ..s.clone() }, cfg));
            }
            let (dev, dev_name) = device_for(&ExperimentConfig { device: choice.unwrap_or(saved.device), ..saved.clone() })?;
            let run_dir = dir.parent().and_then(|p| p.parent()).map(PathBuf::from).unwrap_or_default();
            let report_dir = report.clone().unwrap_or_else(|| run_dir.join(if sets.is_empty() { "report-eval" } else { "report-transfer" }));
            check_folder(&report_dir, OutputKind::Report, "--report", force)?;
            let loaded = checkpoint::load(&dir, &dev)?;
            if loaded.verified == checkpoint::Verified::Unchecked {
                eprintln!("note: {} predates checkpoint checksums (no {}); its files could not be verified", loaded.dir.display(), checkpoint::SUMS);
            }
            eprintln!("evaluating {} (step {}) on {dev_name}", loaded.dir.display(), loaded.state.step);
            let say = |s: String| eprintln!("{s}");
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let mut rows = Vec::new();
            for (k, (s, cfg)) in plans.into_iter().enumerate() {
                if !sets.is_empty() {
                    eprintln!("[{}/{}] {}: {}", k + 1, sets.len() + 1, s.name, gshn_train::cli::train::data_description(&cfg));
                }
                let own = cfg.data == loaded.config.data;
                let scored = transfer::score(&loaded, &cfg, own, &dev, &say)?;
                if scored.fit.unknown_words > 0 {
                    eprintln!(
                        "note: {} of the {} words of the test texts ({:.1} %) are not in the checkpoint's vocabulary and are read as [UNK]",
                        scored.fit.unknown_words,
                        scored.fit.words,
                        100.0 * scored.fit.unknown_share()
                    );
                }
                if sets.is_empty() {
                    // One data set: the full report, as after training.
                    let log = gshn_train::cli::run_log::read_log(&run_dir).unwrap_or_default();
                    let pictures = (cfg.eval.report_images > 0)
                        .then(|| example_pictures(&loaded.model, &scored.data.test, &scored.batcher, &loaded.state.answers, cfg.eval.report_images, &dev))
                        .transpose()?;
                    claim_folder(&report_dir, OutputKind::Report, "--report", force)?;
                    write_report(
                        &report_dir,
                        &ReportInput { config: &cfg, log: &log, test: &scored.report, command: &command, device: &dev_name },
                        pictures.as_ref(),
                    )?;
                    let eval_json = report_dir.join("eval.json");
                    checkpoint::write_checked(&eval_json, serde_json::to_string_pretty(&scored.report)?.as_bytes())
                        .with_context(|| format!("cannot write {}", eval_json.display()))?;
                    println!("{}", scored.report.markdown());
                    eprintln!("report: {}", report_dir.join("report.md").display());
                    return Ok(());
                }
                rows.push(TransferRow { set: s, fit: scored.fit, report: scored.report });
            }
            let table = transfer::table(&rows);
            claim_folder(&report_dir, OutputKind::Report, "--report", force)?;
            let md = format!(
                "# Transfer: {}

`{command}`, on {dev_name}

{table}",
                loaded.dir.display()
            );
            for (file, bytes) in [("transfer.md", md.into_bytes()), ("transfer.json", serde_json::to_string_pretty(&rows)?.into_bytes())] {
                let p = report_dir.join(file);
                checkpoint::write_checked(&p, &bytes).with_context(|| format!("cannot write {}", p.display()))?;
            }
            println!("{table}");
            eprintln!("wrote {} and {}", report_dir.join("transfer.md").display(), report_dir.join("transfer.json").display());
        }
        Command::Bench(BenchCommand::Train { config, set, steps, device, json, force }) => {
            let max = gshn_train::cli::bench_train::MAX_STEPS;
            anyhow::ensure!((1..=max).contains(&steps), "--steps: {steps} must lie in 1..={max}");
            if let Some(p) = &json {
                gshn_train::cli::output::check_output_file(p, "--json", &[&config], force)?;
            }
            let mut cfg = ExperimentConfig::load(&config, &set)?;
            if let Some(d) = device {
                cfg.device = parse_device(&d)?;
            }
            let (dev, dev_name) = device_for(&cfg)?;
            eprintln!("gshn bench train: {} for {steps} steps on {dev_name}", config.display());
            let report = gshn_train::cli::bench_train::bench_train(&cfg, &dev, &dev_name, steps, &|s| eprintln!("{s}"))?;
            if let Some(p) = json {
                std::fs::write(&p, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", p.display()))?;
            }
            println!("{}", report.markdown());
        }
        Command::Snn(SnnCommand::Export { checkpoint, out, dt, allow_lossy, force }) => {
            let options = gshn_snn::nir::ExportOptions { dt, allow_lossy };
            print!("{}", gshn_train::cli::nir_cmd::export_checkpoint(&checkpoint, &out, &options, force)?);
        }
        Command::Snn(SnnCommand::Import { file, dt, steps, seed, device }) => {
            anyhow::ensure!((1..=4096).contains(&steps), "--steps: {steps} must lie in 1..=4096");
            let (dev, dev_name) = pick_device(parse_device(&device)?)?;
            eprintln!("gshn snn import: {} on {dev_name}", file.display());
            print!("{}", gshn_train::cli::nir_cmd::import_file(&file, dt, steps, seed, &dev)?);
        }
        Command::Segment(args) => {
            let seg = segment_cmd::run(&args)?;
            eprintln!("{} segments ({}×{}) → {}", seg.len(), seg.width, seg.height, args.out.display());
        }
    }
    Ok(())
}
