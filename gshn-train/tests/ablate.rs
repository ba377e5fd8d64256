//! `gshn ablate` end to end on two tiny variants × two seeds, run as two shard processes at
//! once, including a resume after a killed run and a rerun that skips finished runs; bad
//! ablation files; the shipped files.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use burn::tensor::Device;
use gshn_train::cli::ablate::{ablate, bars, diverged_runs, Ablation, Shard, DIVERGED};
use gshn_train::cli::run_log::read_log;
use gshn_train::cli::train::{run, RunOptions};

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
    let killed = out.join("runs/hybrid/data-0-seed-1");
    let mut cfg = gshn_train::cli::experiment::ExperimentConfig { seed: 1, ..ab.variants[0].1.clone() };
    cfg.data.seed = Some(0);
    run(&cfg, &device, &RunOptions { out: killed.clone(), resume: false, stop_after: Some(9), progress: false }).unwrap();
    assert!(!killed.join("eval.json").exists());

    // Two shards of the grid as two separate `gshn` processes at the same time, writing one
    // folder (as two machines of a batch scheduler would); the last to finish writes the tables.
    let shards: Vec<std::process::Child> = ["0/2", "1/2"]
        .iter()
        .map(|sh| {
            Command::new(env!("CARGO_BIN_EXE_gshn"))
                .args(["ablate", "--config"])
                .arg(&path)
                .arg("--out")
                .arg(&out)
                .args(["--device", "flex", "--shard", sh])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in shards {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!("2/2".parse::<Shard>().is_err() && "1".parse::<Shard>().is_err() && "0/0".parse::<Shard>().is_err());
    let table_from_shards = std::fs::read_to_string(out.join("table.md")).unwrap();
    // The library call finds every run finished (nothing retrained) and merges them the same way.
    let rows = ablate(&ab, &out, &device, false, None).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(std::fs::read_to_string(out.join("table.md")).unwrap(), table_from_shards, "the merge is deterministic");
    let log = read_log(&killed).unwrap();
    let steps: Vec<usize> = log.iter().map(|r| r.step).collect();
    assert_eq!(steps, vec![4, 8, 12, 16], "the killed run resumed without duplicate log rows");

    let csv = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    assert!(csv.starts_with("variant,data_seed,seed,t2i_r1,"), "{csv}");
    // The whole image side's energy is defined without a spiking branch too (GAT-only has no
    // firing rate, but a CNN, tokens and GAT to count).
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let (energy, firing) = (header.iter().position(|h| *h == "energy_nj").unwrap(), header.iter().position(|h| *h == "firing_rate").unwrap());
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert!(cells[energy].parse::<f64>().is_ok_and(|e| e > 0.0), "energy of every variant: {line}");
        assert_eq!(cells[firing].is_empty(), cells[0] == "gat-only", "{line}");
    }
    let curves = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    // Validation at steps 8 and 16 in each of the four runs.
    assert_eq!(curves.lines().count(), 1 + 4 * 2, "{curves}");
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(
        table.find("### Primary: text→image R@10").is_some_and(|p| table.find("(secondary)").is_some_and(|q| p < q))
            && table.contains("MDE (80 % power)")
            && table.contains("### VQA accuracy (secondary)")
            && table.contains("p (Holm, all secondary)")
            && table.contains("Δ vs hybrid")
            && table.contains("| gat-only | 2 |"),
        "{table}"
    );
    for f in ["t2i_r10.png", "t2i_r10.svg", "vqa.png", "vqa.svg", "curve_t2i_r10.svg", "curve_vqa.png"] {
        assert!(out.join(f).is_file(), "{f}");
    }

    // A second call finds every run finished and retrains nothing.
    let stamp = |p: &Path| std::fs::metadata(p.join("eval.json")).unwrap().modified().unwrap();
    let before = stamp(&killed);
    let again = ablate(&ab, &out, &device, false, None).unwrap();
    assert_eq!(stamp(&killed), before);
    assert_eq!(again.iter().map(|r| r.eval.clone()).collect::<Vec<_>>(), rows.iter().map(|r| r.eval.clone()).collect::<Vec<_>>());

    // Every run records the code that made it and the optimiser's full settings; the
    // reference run made by another commit is not reused: set aside (not deleted) and rerun,
    // naming the commits.
    use gshn_train::cli::train::{read_provenance, COMMIT};
    let reference = out.join("runs/hybrid/data-0-seed-0");
    let prov = read_provenance(&reference).unwrap();
    assert_eq!(prov.commits, vec![COMMIT.to_string()]);
    assert!(
        prov.optimizer.contains("\"beta_1\":0.9") && prov.optimizer.contains("\"beta_2\":0.999") && prov.optimizer.contains("weight_decay"),
        "{}",
        prov.optimizer
    );
    assert_eq!(read_provenance(&killed).unwrap().commits.len(), 2, "the resumed run's two sessions");
    std::fs::write(reference.join("provenance.json"), r#"{"commits": ["0123abc"], "optimizer": "AdamW"}"#).unwrap();
    let why = gshn_train::cli::ablate::other_code(&reference).unwrap();
    assert!(why.contains("0123abc") && why.contains(COMMIT), "{why}");
    let before = stamp(&killed);
    assert_eq!(ablate(&ab, &out, &device, false, None).unwrap().len(), 4);
    assert!(read_provenance(&reference).unwrap().other_commits().is_empty(), "rerun by this build");
    assert!(reference.with_file_name("data-0-seed-0.stale-1").join("eval.json").is_file(), "the old run is set aside");
    assert_eq!(stamp(&killed), before, "runs of this build are still reused");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_diverging_variant_is_recorded_and_the_grid_goes_on() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("diverge");
    // "diverges" comes first: the grid must still run "ok" after it. `CKPT` is replaced below.
    let body = "base = \"base.toml\"\nseeds = [0]\nset = [\"train.steps=4\", \"train.stl_steps=0\", \"train.checkpoint_every=CKPT\", \"train.log_every=1\", \"train.eval_every=4\", \"train.warmup=0\"]\nreference = \"ok\"\n\
                [[variant]]\nname = \"diverges\"\nset = [\"train.lr=1e6\", \"train.grad_clip=1e30\", \"train.weight_decay=0\"]\n[[variant]]\nname = \"ok\"\n";
    let path = write_ablation(&dir, &body.replace("CKPT", "4"));
    let ab = Ablation::load(&path, &[]).unwrap();
    let device = Device::flex().autodiff();
    let out = dir.join("out");
    let rows = ablate(&ab, &out, &device, false, None).unwrap();
    assert_eq!(rows.iter().map(|r| r.variant.as_str()).collect::<Vec<_>>(), vec!["ok"]);
    let diverged = diverged_runs(&ab, &out).unwrap();
    assert_eq!(diverged.len(), 1);
    assert_eq!((diverged[0].variant.as_str(), diverged[0].data_seed, diverged[0].seed), ("diverges", 0, 0));
    assert!(diverged[0].reason.starts_with("the loss became") && !diverged[0].reason.contains("gshn train"), "{}", diverged[0].reason);
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(table.contains("### Diverged runs") && table.contains("| diverges | 0 | 0 | the loss became"), "{table}");
    // The bar charts do not show the diverged variant as a measured 0.
    let b = bars(&ab, &rows, "t2i_r10");
    assert!(b[0].value.is_nan() && b[1].value.is_finite(), "no bar for the diverged variant, not a 0");
    let labels: Vec<String> = b.into_iter().map(|b| b.label).collect();
    assert_eq!(labels, ["diverges (no runs)", "ok"]);
    let two_seeds = Ablation { seeds: vec![0, 1], ..ab.clone() };
    let labels: Vec<String> = bars(&two_seeds, &rows, "t2i_r10").into_iter().map(|b| b.label).collect();
    assert_eq!(labels, ["diverges (no runs)", "ok (1 of 2 runs)"]);
    // Not retried with the same settings: the marker (replaced by a sentinel) stays as it is.
    let marker = out.join("runs/diverges/data-0-seed-0").join(DIVERGED);
    std::fs::write(&marker, "sentinel").unwrap();
    let again = ablate(&ab, &out, &device, false, None).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "sentinel");
    assert_eq!(diverged_runs(&ab, &out).unwrap()[0].reason, "sentinel");
    // Other optimiser settings retry it (from its last good checkpoint; here it diverged
    // before the first, so from the start).
    let fixed = Ablation::load(&path, &["train.grad_clip=1.0".into(), "train.lr=1e-3".into()]).unwrap();
    let rows = ablate(&fixed, &out, &device, false, None).unwrap();
    assert_eq!(rows.len(), 2, "{:?}", diverged_runs(&fixed, &out));
    assert!(diverged_runs(&fixed, &out).unwrap().is_empty() && !marker.exists());
    assert!(!std::fs::read_to_string(out.join("table.md")).unwrap().contains("Diverged"));

    // Diverging after a checkpoint, then again on a retry with other settings before the next
    // checkpoint: counted as diverged with the retry's settings, and the tables are written.
    let path = write_ablation(&dir, &body.replace("CKPT", "1"));
    let out = dir.join("out2");
    ablate(&Ablation::load(&path, &[]).unwrap(), &out, &device, false, None).unwrap();
    assert!(out.join("runs/diverges/data-0-seed-0/checkpoints/latest").is_file(), "it diverged after a checkpoint");
    let retry = Ablation::load(&path, &["train.lr=1e5".into(), "train.weight_decay=0".into()]).unwrap();
    std::fs::remove_file(out.join("table.md")).unwrap();
    let rows = ablate(&retry, &out, &device, false, None).unwrap();
    assert_eq!((rows.len(), diverged_runs(&retry, &out).unwrap().len()), (1, 1));
    assert!(std::fs::read_to_string(out.join("table.md")).unwrap().contains("| diverges | 0 | 0 |"));
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
    assert!(err("base = \"base.toml\"\nprimary = \"accuracy\"\n[[variant]]\nname = \"x\"\n").contains("unknown primary metric `accuracy`"));
    let p = write_ablation(&dir, "base = \"base.toml\"\nplot = [\"vqa\", \"t2i_r10\"]\n[[variant]]\nname = \"x\"\n");
    assert_eq!(Ablation::load(&p, &[]).unwrap().primary, "vqa", "the primary defaults to the first plotted metric");
    assert!(err("base = \"base.toml\"\n[[variant]]\nname = \"x\"\n[[variant]]\nname = \"x\"\n").contains("two variants"));
    assert!(err("base = \"base.toml\"\nreference = \"y\"\n[[variant]]\nname = \"x\"\n").contains("reference variant `y`"));
    assert!(err("base = \"base.toml\"\nvariants = []\n").contains("variants"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A pilot is its full grid's first slice: every variant with the same config, on the full
/// grid's first `seeds` seeds of all its draws, with the same reference, primary metric and
/// plots (so that its runs are the full grid's, reused when that grid runs).
fn assert_first_slice(pilot: &Ablation, full: &Path, seeds: usize) {
    let full = Ablation::load(full, &[]).unwrap();
    assert_eq!((&pilot.seeds[..], &pilot.data_seeds), (&full.seeds[..seeds], &full.data_seeds));
    let configs = |a: &Ablation| a.variants.iter().map(|(v, c)| (v.name.clone(), c.clone())).collect::<Vec<_>>();
    assert_eq!(configs(pilot), configs(&full));
    assert_eq!((&pilot.reference, &pilot.primary, &pilot.plot), (&full.reference, &full.primary, &full.plot));
}

#[test]
fn first_seeds_cuts_a_grid_to_its_pilot_and_refuses_what_it_cannot_give() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/ablations");
    // `--seeds 4` over the full SNN-only grid is the pilot file run earlier, run for run.
    let cut = Ablation::load(&root.join("snn_only.toml"), &[]).unwrap().first_seeds(4).unwrap();
    let pilot = Ablation::load(&root.join("snn_only_pilot.toml"), &[]).unwrap();
    assert_eq!((&cut.seeds, &cut.data_seeds, &cut.reference, &cut.primary), (&pilot.seeds, &pilot.data_seeds, &pilot.reference, &pilot.primary));
    assert_eq!(cut.variants, pilot.variants);
    assert_eq!(cut.runs(), 7 * 4 * 2);
    for n in [0, 17] {
        let e = Ablation::load(&root.join("snn_only.toml"), &[]).unwrap().first_seeds(n).unwrap_err().to_string();
        assert!(e.contains(&format!("--seeds {n}")) && (n == 0 || e.contains("16 seeds")), "{e}");
    }
}

#[test]
fn the_shipped_ablations_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/ablations");
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let ab = Ablation::load(&p, &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            // The SNN-only grid is sized for its minimum detectable effect (32 pairs); the
            // others are the documented five-seed grids.
            if p.ends_with("snn_only.toml") {
                assert_eq!((ab.seeds.len() * ab.data_seeds.len(), ab.primary.as_str()), (32, "t2i_r10"), "{}", p.display());
            } else if p.ends_with("snn_only_pilot.toml") {
                assert_first_slice(&ab, &root.join("snn_only.toml"), 4);
            } else if p.ends_with("tokens_controls_pilot.toml") || p.ends_with("tokens_geometry_pilot.toml") {
                // A slice of the tokens grid: some of its variants, each with the same config,
                // on its first seeds of its first draws.
                let full = Ablation::load(&root.join("tokens.toml"), &[]).unwrap();
                let (s, d) = (ab.seeds.len(), ab.data_seeds.len());
                assert_eq!((&ab.seeds[..], &ab.data_seeds[..]), (&full.seeds[..s], &full.data_seeds[..d]), "{}", p.display());
                assert_eq!(ab.primary, full.primary, "{}", p.display());
                for (v, c) in &ab.variants {
                    let (_, fc) = full.variants.iter().find(|(f, _)| f.name == v.name).unwrap_or_else(|| panic!("{} is not in tokens.toml", v.name));
                    assert_eq!(c, fc, "{}", v.name);
                }
                assert_eq!(ab.reference, full.reference);
            } else if p.ends_with("branches_pretrained_pilot.toml") {
                assert_first_slice(&ab, &root.join("branches_pretrained.toml"), 3);
            } else if p.ends_with("branches_nlvr_pilot.toml") {
                assert_first_slice(&ab, &root.join("branches_nlvr.toml"), 2);
            } else if p.ends_with("tokens_only_ve.toml") {
                // The VE grid's control: the same runs for the hybrid, and no branch.
                let full = Ablation::load(&root.join("branches_ve.toml"), &[]).unwrap();
                assert_eq!((&ab.seeds, &ab.data_seeds, &ab.reference, &ab.primary), (&full.seeds, &full.data_seeds, &full.reference, &full.primary));
                let config = |a: &Ablation, name: &str| a.variants.iter().find(|(v, _)| v.name == name).map(|(_, c)| c.clone()).unwrap();
                assert_eq!(config(&ab, "hybrid"), config(&full, "hybrid"));
                assert_eq!(config(&ab, "tokens-only").model.fusion.branches, gshn_train::model::Branches::TokensOnly);
            } else {
                assert_eq!(ab.seeds.len(), 5, "{}", p.display());
            }
            n += 1;
        }
    }
    assert_eq!(n, 18);
}
