//! Times the whole model's training step — forward, backward, gradient clipping, AdamW — in
//! gshn and in a PyTorch twin (`scripts/peers/gshn_torch.py`: PyTorch, PyTorch Geometric's
//! GATConv, SpikingJelly's multi-step LIF) on the same batches, in one run, and prints the
//! ratio. The batches are gshn's own: its batcher builds them from the experiment config
//! (ShapeWorld by default), and they are written to a file the twin reads
//! (`gshn_bench::twin`), so both sides train on the same images, segments, graphs, captions
//! and questions. The runs alternate (the twin, then gshn, `--runs` times) and the table gives
//! each run's median time per step and the spread over runs. `--same-weights` starts the twin
//! from gshn's initial weights: with `--set model.text.dropout=0` the losses of the warm-up
//! steps then agree value for value, which checks that the twin is the same model.
//!
//! ```text
//! cargo build --workspace --bin compare-train && target/debug/compare-train --threads 2 --python .venv/bin/python --runs 3 --reps 3
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, ensure, Context};
use burn::optim::GradientsParams;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use clap::Parser;
use gshn_bench::twin::{batch_arrays, twin_meta, write_batches};
use gshn_bench::{set_threads, PeerArgs};
use gshn_snn::rng::SeedRng;
use gshn_train::cli::experiment::{DeviceChoice, ExperimentConfig};
use gshn_train::cli::train::{batch_indices, load_data, optimizer, train_step};
use gshn_train::GshnBatch;

#[derive(Parser)]
#[command(about = "gshn vs a PyTorch twin (PyTorch + PyG + SpikingJelly): the whole model's training step")]
struct Args {
    /// The experiment (TOML). Default: the repository's configs/shapeworld.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a config field (repeatable), e.g. `model.fusion.branches=gat-only`; the twin
    /// follows the sizes and the branches, and refuses what it does not implement.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// CPU threads for both sides (gshn's flex thread pool; `torch.set_num_threads`).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Distinct batches: each timed pass runs one step on each.
    #[arg(long, default_value_t = 4)]
    steps: usize,
    /// Runs, each the twin (a fresh process) then gshn, `--reps` passes each; the table gives
    /// every run's medians and their spread.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Untimed steps before the timed passes, on each side.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// gshn's device: flex (CPU) or wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
    /// The twin's device: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    torch_device: String,
    /// Also time the forward pass, the backward pass and the optimiser step apart (one more
    /// set of passes on each side).
    #[arg(long)]
    phases: bool,
    /// Start the twin from gshn's initial weights (copied through a safetensors file) instead
    /// of PyTorch's own initialisation, so that the first step's losses can be compared value
    /// for value (with `--set model.text.dropout=0`, as the two sides draw different dropout
    /// masks).
    #[arg(long)]
    same_weights: bool,
    /// Keep the batch file here (default: a temporary file, removed after the run), and the
    /// weights of `--same-weights` beside it (extension `weights.safetensors`).
    #[arg(long)]
    keep_batches: Option<PathBuf>,
    /// The twin's Python (torch, torch-geometric, spikingjelly) and the timed passes per run.
    #[command(flatten)]
    peer: PeerArgs,
}

/// The median of `v` (NaN when empty).
fn median(v: &[f64]) -> f64 {
    min_median_max(v).1
}

/// The smallest value, the median and the largest (NaNs when empty).
fn min_median_max(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let median = if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 };
    (s[0], median, s[n - 1])
}

fn sync(device: &Device) -> anyhow::Result<()> {
    device.sync().map_err(|e| anyhow::anyhow!("device sync: {e:?}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.steps >= 1 && args.threads >= 1 && args.peer.reps >= 1 && args.runs >= 1, "--steps, --threads, --reps and --runs must be at least 1");
    ensure!(args.torch_device == "cpu" || args.torch_device == "cuda", "--torch-device is cpu or cuda, not `{}`", args.torch_device);
    set_threads(args.threads);
    let config = args.config.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/shapeworld.toml"));
    let mut cfg = ExperimentConfig::load(&config, &args.set)?;
    let bs = cfg.train.batch_size;
    // Only the batches are needed: as many training images as the distinct batches hold.
    (cfg.data.train_images, cfg.data.val_images, cfg.data.test_images) = (bs * args.steps, 0, 2);
    cfg.train.stl_steps = 0;
    let (device, device_name) = match args.device.as_str() {
        "flex" => (Device::flex().autodiff(), "flex (CPU)".to_string()),
        "wgpu" => gshn_train::cli::device::pick_device(DeviceChoice::Wgpu)?,
        other => bail!("--device is flex or wgpu, not `{other}`"),
    };

    let t0 = Instant::now();
    let data = load_data(&cfg)?;
    let model_cfg = cfg.model.clone().with_vocab_size(data.vocab.len()).with_answers(data.answers.len().max(1));
    let meta = twin_meta(&model_cfg, &cfg.train)?;
    let batcher = data.batcher(&cfg)?;
    let batches: Vec<GshnBatch> = (1..=args.steps)
        .map(|step| {
            let idx = batch_indices(cfg.seed, data.train.len(), bs, step);
            let mut pick = SeedRng::new(cfg.seed).fork("step").fork(&step.to_string());
            batcher.batch(&data.train.refs(&idx), &mut pick, &device)
        })
        .collect::<Result<_, _>>()?;
    let arrays = batches.iter().map(batch_arrays).collect::<Result<Vec<_>, _>>()?;
    let file = args.keep_batches.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("gshn-twin-batches-{}.bin", std::process::id())));
    write_batches(&file, &meta, &arrays).with_context(|| format!("writing {}", file.display()))?;
    eprintln!("{} batches of {bs} images ready in {:.1} s ({})", batches.len(), t0.elapsed().as_secs_f64(), file.display());

    let (threads, warmup) = (args.threads.to_string(), args.warmup.to_string());
    let os = std::ffi::OsStr::new;
    let mut flags = vec![os("--batches"), file.as_os_str(), os("--threads"), os(&threads), os("--warmup"), os(&warmup), os("--device"), os(&args.torch_device)];

    // gshn: the runner's own training step (`train_step`: losses, backward, AdamW with
    // per-tensor gradient clipping) at a constant learning rate; one model for every run.
    device.seed(cfg.seed);
    let mut model = model_cfg.init(&device)?;
    let mut optim = optimizer(&cfg.train);
    let lr = cfg.train.lr;
    // With --same-weights the twin starts from gshn's initial weights (a safetensors file of
    // the model's parameters under Burn's names, mapped by the twin).
    let weights = file.with_extension("weights.safetensors");
    if args.same_weights {
        let mut store = SafetensorsStore::from_file(&weights);
        model.save_into(&mut store).map_err(|e| anyhow::anyhow!("saving the initial weights to {}: {e}", weights.display()))?;
        flags.extend([os("--weights"), weights.as_os_str()]);
    }
    if args.phases {
        flags.push(os("--phases"));
    }
    // The warm-up steps' loss terms `[total, clip, stl, vqa, node]` (untimed).
    let mut warmup_losses: Vec<Vec<f32>> = Vec::new();
    for k in 0..args.warmup.max(1) {
        let parts;
        (model, parts) = train_step(model, &mut optim, &batches[k % batches.len()], None, lr)?;
        warmup_losses.push(parts.to_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("reading the losses: {e:?}"))?);
        sync(&device)?;
    }

    // The runs alternate: the twin (a fresh process: its own warm-up, then `reps` passes),
    // then gshn (`reps` passes), so that a change in the machine's load hits both sides.
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); batches.len()]; // ms, per batch, over all runs
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); batches.len()];
    let mut runs: Vec<(f64, f64)> = Vec::new(); // per run: median ms/step, gshn and twin
    let mut peer = serde_json::Value::Null;
    for run in 0..args.runs {
        let p = args.peer.run_peer("gshn_torch.py", &flags);
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                if args.keep_batches.is_none() {
                    std::fs::remove_file(&file).ok();
                    std::fs::remove_file(&weights).ok();
                }
                return Err(e);
            }
        };
        let twin: Vec<f64> = p["step_ms"].as_array().context("the twin printed no step times")?.iter().filter_map(|v| v.as_f64()).collect();
        ensure!(twin.len() == batches.len() * args.peer.reps, "the twin timed {} steps, expected {}", twin.len(), batches.len() * args.peer.reps);
        let mut gshn = Vec::new();
        for _ in 0..args.peer.reps {
            for (b, batch) in batches.iter().enumerate() {
                let start = Instant::now();
                let parts;
                (model, parts) = train_step(model, &mut optim, batch, None, lr)?;
                drop(parts);
                sync(&device)?;
                let ms = start.elapsed().as_secs_f64() * 1e3;
                ours[b].push(ms);
                gshn.push(ms);
            }
        }
        for (k, &ms) in twin.iter().enumerate() {
            theirs[k % batches.len()].push(ms);
        }
        let (g, t) = (median(&gshn), median(&twin));
        eprintln!("run {}/{}: gshn {g:.1} ms/step, twin {t:.1} ms/step", run + 1, args.runs);
        runs.push((g, t));
        peer = p;
    }
    if args.keep_batches.is_none() {
        std::fs::remove_file(&file).ok();
        std::fs::remove_file(&weights).ok();
    }
    let mut phases = [Vec::new(), Vec::new(), Vec::new()];
    if args.phases {
        for _ in 0..args.peer.reps {
            for batch in &batches {
                let t0 = Instant::now();
                let losses = model.losses(batch)?;
                sync(&device)?;
                let t1 = Instant::now();
                let grads = GradientsParams::from_grads(losses.total.backward(), &model);
                sync(&device)?;
                let t2 = Instant::now();
                model = optim.step(lr, model, grads);
                sync(&device)?;
                let t3 = Instant::now();
                for (p, (a, b)) in phases.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3)]) {
                    p.push((b - a).as_secs_f64() * 1e3);
                }
            }
        }
    }

    let v = |k: &str| peer[k].as_str().unwrap_or("?").to_string();
    let m = &cfg.model;
    println!(
        "Whole-model training step (forward, backward, per-tensor clipping, AdamW): {} batches of {bs} images {}×{}, branches {}, T = {}; gshn on {device_name}, \
         the twin on {} (torch {}, torch_geometric {}, spikingjelly {}); {} thread(s) each; {} runs, each the twin then gshn, {} passes over the batches per run \
         after {} warm-up step(s)",
        batches.len(),
        cfg.data.image_size,
        cfg.data.image_size,
        meta["branches"].as_str().unwrap_or("?"),
        m.snn.time_steps,
        v("device"),
        v("torch"),
        v("torch_geometric"),
        v("spikingjelly"),
        args.threads,
        args.runs,
        args.peer.reps,
        args.warmup.max(1),
    );
    println!();
    println!("| batch | nodes ΣN | block M | edges | caption L | gshn (s/step) | twin (s/step) | speed gshn ÷ twin |");
    println!("|---|---|---|---|---|---|---|---|");
    for (b, batch) in batches.iter().enumerate() {
        let (g, t) = (median(&ours[b]), median(&theirs[b]));
        let l = batch.captions.as_ref().map_or(0, |c| c.ids.dims()[1]);
        let i = &batch.images;
        println!("| {} | {} | {} | {} | {l} | {:.3} | {:.3} | {:.2}× |", b + 1, i.num_nodes(), i.max_nodes, i.graph.edges.len(), g / 1e3, t / 1e3, t / g);
    }
    println!();
    println!("| run | gshn (s/step) | twin (s/step) | speed gshn ÷ twin |");
    println!("|---|---|---|---|");
    for (r, (g, t)) in runs.iter().enumerate() {
        println!("| {} | {:.3} | {:.3} | {:.2}× |", r + 1, g / 1e3, t / 1e3, t / g);
    }
    let col = |f: &dyn Fn(&(f64, f64)) -> f64| -> Vec<f64> { runs.iter().map(f).collect() };
    let (gs, ts, rs) = (col(&|r| r.0 / 1e3), col(&|r| r.1 / 1e3), col(&|r| r.1 / r.0));
    let (g, t, r) = (min_median_max(&gs), min_median_max(&ts), min_median_max(&rs));
    println!(
        "| **median (min–max)** | **{:.3}** ({:.3}–{:.3}) | **{:.3}** ({:.3}–{:.3}) | **{:.2}×** ({:.2}–{:.2}) |",
        g.1, g.0, g.2, t.1, t.0, t.2, r.1, r.0, r.2
    );
    if args.phases {
        println!();
        println!("| phase (median ms) | gshn | twin | speed gshn ÷ twin |");
        println!("|---|---|---|---|");
        for (k, name) in ["forward", "backward", "optimizer"].iter().enumerate() {
            let (g, t) = (median(&phases[k]), peer["phases_ms"][name].as_f64().unwrap_or(f64::NAN));
            println!("| {name} | {g:.1} | {t:.1} | {:.2}× |", t / g);
        }
    }
    println!();
    println!(
        "Losses of the untimed warm-up steps ({}; the twin's from its last run):",
        if args.same_weights {
            "the same initial weights: equal values are expected up to float rounding, and only without dropout (--set model.text.dropout=0)"
        } else {
            "independent initial weights: the same scale is expected, not the same values"
        }
    );
    println!();
    println!("| warm-up step | gshn CLIP | twin CLIP | gshn VQA | twin VQA |");
    println!("|---|---|---|---|---|");
    let twin_warmup = peer["warmup_losses"].as_array().cloned().unwrap_or_default();
    for (k, ours) in warmup_losses.iter().enumerate() {
        let t = |name: &str| twin_warmup.get(k).and_then(|l| l[name].as_f64()).unwrap_or(f64::NAN);
        let g = |i: usize| ours.get(i).copied().unwrap_or(f32::NAN);
        println!("| {} | {:.5} | {:.5} | {:.5} | {:.5} |", k + 1, g(1), t("clip"), g(3), t("vqa"));
    }
    println!();
    println!(
        "chance: CLIP ln {bs} = {:.3}, VQA ln {} = {:.3}; parameters: gshn {}, twin {}; the twin's weights: {}",
        (bs as f64).ln(),
        model_cfg.answers,
        (model_cfg.answers as f64).ln(),
        burn::module::Module::num_params(&model),
        peer["params"],
        peer["weights"].as_str().unwrap_or("?"),
    );
    Ok(())
}
