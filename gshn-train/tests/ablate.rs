//! `gshn ablate` end to end on two tiny variants × two seeds, including a resume after a
//! killed run and a rerun that skips finished runs; bad ablation files; the shipped files.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use gshn_train::ablate::{ablate, Ablation};
use gshn_train::train::{read_log, run, RunOptions};

static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

const BASE: &str = r#"
name = "tiny"
device = "flex"
[data]
train_images = 32
val_images = 8
test_images = 16
[model]
d_model = 16
embed_dim = 16
[model.text]
width = 16
layers = 1
[model.tokens]
cnn_channels = 8
[train]
steps = 12
stl_steps = 4
batch_size = 16
warmup = 2
log_every = 4
eval_every = 8
checkpoint_every = 6
[eval]
report_images = 1
"#;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-ablate-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_ablation(dir: &Path, body: &str) -> PathBuf {
    std::fs::write(dir.join("base.toml"), BASE).unwrap();
    let p = dir.join("ab.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn two_variants_two_seeds_resume_and_skip_finished_runs() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("e2e");
    let path = write_ablation(
        &dir,
        "base = \"base.toml\"\nseeds = [0, 1]\nset = [\"train.steps=12\"]\nplot = [\"t2i_r10\", \"vqa\"]\n[[variant]]\nname = \"hybrid\"\n[[variant]]\nname = \"gat-only\"\nset = [\"model.fusion.branches=gat-only\"]\n",
    );
    let ab = Ablation::load(&path, &[]).unwrap();
    assert_eq!(ab.variants.len(), 2);
    assert_eq!(ab.reference, "hybrid");
    let device = Device::flex().autodiff();
    let out = dir.join("out");

    // A run killed after 9 steps (checkpoint at 6) before the ablation starts.
    let killed = out.join("runs/hybrid/seed-1");
    let cfg = gshn_train::experiment::ExperimentConfig { seed: 1, ..ab.variants[0].1.clone() };
    run(&cfg, &device, &RunOptions { out: killed.clone(), resume: false, stop_after: Some(9), progress: false }).unwrap();
    assert!(!killed.join("eval.json").exists());

    let rows = ablate(&ab, &out, &device, false).unwrap();
    assert_eq!(rows.len(), 4);
    let log = read_log(&killed).unwrap();
    let steps: Vec<usize> = log.iter().map(|r| r.step).collect();
    assert_eq!(steps, vec![4, 8, 12, 16], "the killed run resumed without duplicate log rows");

    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("variant,seed,t2i_r1,"), "{csv}");
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(table.contains("### text→image R@10") && table.contains("Δ vs hybrid") && table.contains("| gat-only | 2 |"), "{table}");
    for f in ["t2i_r10.png", "t2i_r10.svg", "vqa.png", "vqa.svg"] {
        assert!(out.join(f).is_file(), "{f}");
    }

    // A second call finds every run finished and retrains nothing.
    let stamp = |p: &Path| std::fs::metadata(p.join("eval.json")).unwrap().modified().unwrap();
    let before = stamp(&killed);
    let again = ablate(&ab, &out, &device, false).unwrap();
    assert_eq!(stamp(&killed), before);
    assert_eq!(again.iter().map(|r| r.eval.clone()).collect::<Vec<_>>(), rows.iter().map(|r| r.eval.clone()).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn grids_expand_and_bad_ablation_files_are_clear_errors() {
    let dir = scratch("errors");
    let p = write_ablation(&dir, "base = \"base.toml\"\n[grid]\n\"model.snn.time_steps\" = [1, 2]\n\"model.snn.neuron\" = [\"lif\", \"if\"]\n");
    let ab = Ablation::load(&p, &[]).unwrap();
    let names: Vec<&str> = ab.variants.iter().map(|(v, _)| v.name.as_str()).collect();
    assert_eq!(names.len(), 4);
    assert!(names.contains(&"neuron=if,time_steps=2") || names.contains(&"time_steps=2,neuron=if"), "{names:?}");
    assert!(ab.variants.iter().any(|(_, c)| c.model.snn.time_steps == 2 && c.model.snn.neuron.name() == "if"));

    let err = |body: &str| Ablation::load(&write_ablation(&dir, body), &[]).unwrap_err().to_string();
    let e = err("base = \"base.toml\"\n[[variant]]\nname = \"x\"\nset = [\"model.snn.time_step=2\"]\n");
    assert!(e.contains("model.snn.time_step") && e.contains("unknown field"), "{e}");
    let e = err("base = \"base.toml\"\n[[variant]]\nname = \"x\"\nset = [\"model.time_steps=2\"]\n");
    assert!(e.contains("model.snn.time_steps"), "an old name says the new one: {e}");
    assert!(err("base = \"missing.toml\"\n[[variant]]\nname = \"x\"\n").contains("missing.toml"));
    assert!(err("base = \"base.toml\"\nplot = [\"accuracy\"]\n[[variant]]\nname = \"x\"\n").contains("unknown plot metric"));
    assert!(err("base = \"base.toml\"\n[[variant]]\nname = \"x\"\n[[variant]]\nname = \"x\"\n").contains("two variants"));
    assert!(err("base = \"base.toml\"\nreference = \"y\"\n[[variant]]\nname = \"x\"\n").contains("reference variant `y`"));
    assert!(err("base = \"base.toml\"\nvariants = []\n").contains("variants"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_shipped_ablations_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/ablations");
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let ab = Ablation::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(ab.seeds.len(), 3, "{}", p.display());
            n += 1;
        }
    }
    assert_eq!(n, 5);
}
