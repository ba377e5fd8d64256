//! Training runs end to end on a tiny ShapeWorld: the loss falls, a killed run resumes to
//! the same result as an uninterrupted one, a diverging run stops keeping its last good
//! checkpoint, occupied run folders and bad inputs are refused, and the report is written.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use gshn_train::cli::checkpoint;
use gshn_train::cli::experiment::ExperimentConfig;
use gshn_train::cli::report::{example_pictures, write_report, ReportInput};
use gshn_train::cli::run_error::RunError;
use gshn_train::cli::run_log::LogRow;
use gshn_train::cli::train::{all_finite, run, RunOptions};

mod common;
use common::{opts, RNG};

const TINY: &str = r#"
name = "tiny"
seed = 3
device = "flex"
[data]
train_images = 48
val_images = 16
test_images = 24
[model]
d_model = 32
embed_dim = 32
[model.text]
width = 32
layers = 1
[model.tokens]
cnn_channels = 16
[train]
steps = 140
stl_steps = 8
batch_size = 16
warmup = 5
lr = 3e-3
log_every = 4
eval_every = 50
checkpoint_every = 30
[eval]
report_images = 3
"#;

fn tiny(overrides: &[&str]) -> ExperimentConfig {
    common::config(TINY, "tiny", overrides)
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("train", name)
}

/// The log without its timings.
fn untimed(log: &[LogRow]) -> Vec<LogRow> {
    log.iter().map(|r| LogRow { images_per_s: 0.0, elapsed_s: 0.0, ..r.clone() }).collect()
}

#[test]
fn the_loss_falls_and_a_killed_run_resumes_to_the_same_result() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = tiny(&[]);
    let device = Device::flex().autodiff();

    let whole_dir = scratch("whole");
    let whole = run(&cfg, &device, &opts(&whole_dir)).unwrap();
    assert_eq!(whole.step, 148);
    // The main stage's CLIP loss falls well below chance (ln 16 = 2.77 for a batch of 16).
    let main: Vec<&LogRow> = whole.log.iter().filter(|r| r.stage == "main").collect();
    let last = main.last().unwrap().term("clip");
    assert!(last < 0.85 * 16f64.ln() && last < main[0].term("clip"), "CLIP loss {} → {last}", main[0].term("clip"));
    assert!(whole.log.iter().any(|r| r.stage == "stl" && r.term("stl") > 0.0), "the STL stage ran");
    assert!(whole.log.iter().any(|r| r.val("vqa").is_some()), "validation ran with VQA");
    let test = whole.test.clone().unwrap();
    assert!(test.tasks.vqa.is_some() && test.tasks.hard_negative_accuracy.is_some() && test.layers.len() == 2);
    assert!(test.layers.iter().all(|l| (0.0..=1.0).contains(&l.firing_rate())));
    assert!(whole_dir.join("eval.json").is_file() && whole_dir.join("metrics.csv").is_file() && whole_dir.join("config.toml").is_file());
    let csv = std::fs::read_to_string(whole_dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), whole.log.len() + 1, "one CSV row per log row plus the header");

    // Killed after 70 steps (last checkpoint at 60), then resumed.
    let parts_dir = scratch("parts");
    let first = run(&cfg, &device, &RunOptions { stop_after: Some(70), ..opts(&parts_dir) }).unwrap();
    assert_eq!(first.step, 70);
    assert!(first.test.is_none());
    let resumed = run(&cfg, &device, &RunOptions { resume: true, ..opts(&parts_dir) }).unwrap();
    assert_eq!(resumed.step, 148);
    assert_eq!(resumed.test, whole.test, "resumed run's test metrics equal the uninterrupted run's");
    assert_eq!(untimed(&resumed.log), untimed(&whole.log), "and so does the whole metrics log");
    assert_eq!(untimed(&gshn_train::cli::run_log::read_log(&parts_dir).unwrap()), untimed(&whole.log), "the log on disk has no duplicate rows");

    // The saved checkpoint loads to the same model: same test metrics.
    let loaded = checkpoint::load(&parts_dir, &device).unwrap();
    assert_eq!(loaded.state.step, 148);
    assert_eq!(loaded.config, cfg);
    let again = gshn_train::cli::eval::evaluate(&loaded.model, &whole.data.test, &whole.batcher, "45nm-fp32", 100, &device, Some(&whole.data.train)).unwrap();
    assert_eq!(Some(again), whole.test);
    // Only the newest two checkpoints are kept, and no temporary folder is left.
    let names: Vec<String> = std::fs::read_dir(parts_dir.join("checkpoints")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.contains(&"step-000148".to_string()) && names.contains(&"latest".to_string()), "{names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".tmp")) && names.len() == 3, "{names:?}");

    // A finished run folder is not overwritten without --resume, nor by another config.
    let err = run(&cfg, &device, &opts(&parts_dir)).err().unwrap();
    assert!(matches!(err, RunError::Occupied { different: false, .. }), "{err}");
    let err = run(&tiny(&["train.batch_size=8"]), &device, &RunOptions { resume: true, ..opts(&parts_dir) }).err().unwrap();
    assert!(err.to_string().contains("different config"), "{err}");

    // The report: markdown with the table, the plots and the example sheet.
    let pictures = example_pictures(&whole.model, &whole.data.test, &whole.batcher, &whole.data.answers, 3, &device).unwrap();
    assert_eq!(pictures.width(), 3 * (256 + 8) + 8);
    let report = whole_dir.join("report");
    write_report(&report, &ReportInput { config: &cfg, log: &whole.log, test: &test, command: "test", device: "flex" }, Some(&pictures)).unwrap();
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("| text→image |") && md.contains("VQA accuracy") && md.contains("firing rate sgc1"), "{md}");
    for f in ["loss.png", "loss.svg", "validation.png", "firing_rates.png", "examples.png"] {
        assert!(report.join(f).is_file(), "{f}");
    }
    std::fs::remove_dir_all(&whole_dir).ok();
    std::fs::remove_dir_all(&parts_dir).ok();
}

#[test]
fn a_diverging_run_stops_with_a_clear_error_and_keeps_its_last_good_checkpoint() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    // An absurd learning rate without clipping: the weights blow up within a few steps.
    let cfg = tiny(&["train.lr=1e6", "train.grad_clip=1e30", "train.weight_decay=0", "train.checkpoint_every=1", "train.stl_steps=0", "train.warmup=0"]);
    let device = Device::flex().autodiff();
    let dir = scratch("nan");
    let err = run(&cfg, &device, &opts(&dir)).err().expect("the run must stop");
    let message = err.to_string();
    match &err {
        RunError::NonFinite { step, checkpoint: Some(ck), .. } => {
            assert!(message.contains("last good checkpoint") && message.contains("--resume --set train.lr="), "{message}");
            let loaded = checkpoint::load(ck, &device).unwrap();
            assert!(loaded.state.step < *step);
            assert!(all_finite(&loaded.model), "the kept checkpoint holds finite weights");
        }
        _ => panic!("expected a non-finite loss error, got: {message}"),
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_command_line_refuses_bad_configs_and_missing_checkpoints_clearly() {
    let gshn = env!("CARGO_BIN_EXE_gshn");
    let dir = scratch("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(gshn).args(args).output().unwrap();
        assert!(!o.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let missing = dir.join("nope.toml");
    let err = run(&["train", "--config", missing.to_str().unwrap()]);
    assert!(err.contains("cannot read config") && err.contains("nope.toml"), "{err}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[model.snn]\ntime_step = 4\n").unwrap();
    let err = run(&["train", "--config", bad.to_str().unwrap()]);
    assert!(err.contains("model.snn.time_step") && err.contains("unknown field"), "{err}");
    std::fs::write(&bad, "[train]\nbatch_size = 1\n").unwrap();
    let err = run(&["train", "--config", bad.to_str().unwrap()]);
    assert!(err.contains("train.batch_size"), "{err}");
    let err = run(&["train", "--config", bad.to_str().unwrap(), "--set", "model.snn.neurons=if"]);
    assert!(err.contains("model.snn.neurons") && err.contains("unknown field"), "{err}");
    std::fs::write(&bad, "[model]\ntime_steps = 4\n").unwrap();
    let err = run(&["train", "--config", bad.to_str().unwrap()]);
    assert!(err.contains("model.time_steps") && err.contains("model.snn.time_steps"), "an old name says the new one: {err}");
    let err = run(&["eval", "--checkpoint", dir.join("no-run").to_str().unwrap()]);
    assert!(err.contains("no checkpoint at"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gshn_train_then_gshn_eval_on_the_command_line() {
    let gshn = env!("CARGO_BIN_EXE_gshn");
    let dir = scratch("cli-e2e");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("tiny.toml");
    std::fs::write(&cfg, TINY).unwrap();
    let out = dir.join("run");
    let o = std::process::Command::new(gshn)
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            "train.steps=6",
            "--set",
            "train.stl_steps=2",
            "--device",
            "flex",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("| text→image |") && stdout.contains("VQA accuracy"), "{stdout}");
    assert!(stderr.contains("[main] step") && stderr.contains("img/s"), "progress lines: {stderr}");
    for f in ["config.toml", "metrics.csv", "eval.json", "report/report.md", "report/examples.png", "checkpoints/latest"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let o = std::process::Command::new(gshn).args(["eval", "--checkpoint", out.to_str().unwrap(), "--device", "flex"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The checkpoint evaluates to the same table the run printed.
    assert_eq!(String::from_utf8_lossy(&o.stdout), stdout);
    assert!(out.join("report-eval/report.md").is_file());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            ExperimentConfig::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 1);
    let default = ExperimentConfig::load(&root.join("shapeworld.toml"), &[]).unwrap();
    assert_eq!(default.model, ExperimentConfig::default().model, "shapeworld.toml spells out the defaults");
}
