//! Run folders never lose work: a missing, damaged or escaping `latest` pointer resumes from
//! the newest complete checkpoint (or stops), nothing is pruned or truncated unless the run
//! continues exactly, non-run folders and files are refused, one process holds a folder at a
//! time, a torn log line does not block `--resume`, checkpoints are pruned by step number, and
//! the command printed after a divergence works.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use gshn_train::cli::checkpoint::{checkpoints_by_step, step_of};
use gshn_train::cli::experiment::ExperimentConfig;
use gshn_train::cli::run_error::RunError;
use gshn_train::cli::run_log::read_log;
use gshn_train::cli::train::{run, RunOptions};

static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TINY: &str = r#"
name = "tiny"
seed = 4
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
stl_steps = 0
batch_size = 16
warmup = 2
log_every = 2
eval_every = 100
checkpoint_every = 3
[eval]
report_images = 0
"#;

fn tiny(overrides: &[&str]) -> ExperimentConfig {
    ExperimentConfig::from_toml(TINY, "tiny", &overrides.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-folders-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

fn opts(out: &Path, resume: bool) -> RunOptions {
    RunOptions { out: out.to_path_buf(), resume, stop_after: None, progress: false }
}

/// Every file under `dir` and a hash of its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap_or_default().hash(&mut h);
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), h.finish());
            }
        }
    }
    out
}

/// A run killed after `steps` steps (checkpoints every 3, the newest two kept).
fn killed_run(dir: &Path, steps: usize) -> ExperimentConfig {
    let cfg = tiny(&[]);
    run(&cfg, &Device::flex().autodiff(), &RunOptions { stop_after: Some(steps), ..opts(dir, false) }).unwrap();
    cfg
}

#[test]
fn a_damaged_latest_pointer_resumes_from_the_newest_complete_checkpoint_and_prunes_nothing_early() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let whole_dir = scratch("whole");
    let whole = run(&tiny(&[]), &device, &opts(&whole_dir, false)).unwrap();
    for damage in ["missing", "garbage", "escape", "deleted"] {
        let dir = scratch(damage);
        let cfg = killed_run(&dir, 8); // checkpoints at 3 and 6
        let root = dir.join("checkpoints");
        match damage {
            "missing" => std::fs::remove_file(root.join("latest")).unwrap(),
            "garbage" => std::fs::write(root.join("latest"), "\u{0}\u{1}not a name").unwrap(),
            "escape" => std::fs::write(root.join("latest"), "../../../etc").unwrap(),
            _ => std::fs::remove_dir_all(root.join("step-000006")).unwrap(),
        }
        // Without --resume: refused, and nothing changes.
        let before = snapshot(&dir);
        assert!(matches!(run(&cfg, &device, &opts(&dir, false)), Err(RunError::Occupied { .. })), "{damage}");
        assert_eq!(snapshot(&dir), before, "{damage}: a refused run changed the folder");
        // With --resume: continues from the newest complete checkpoint to the same result.
        let resumed = run(&cfg, &device, &opts(&dir, true)).unwrap_or_else(|e| panic!("{damage}: {e}"));
        assert_eq!(resumed.step, 12, "{damage}");
        assert_eq!(resumed.test, whole.test, "{damage}: the resumed run equals the uninterrupted one");
        std::fs::remove_dir_all(&dir).ok();
    }
    // No complete checkpoint at all: an error, and nothing is deleted.
    let dir = scratch("none-complete");
    let cfg = killed_run(&dir, 8);
    for (_, d) in checkpoints_by_step(&dir.join("checkpoints")) {
        std::fs::remove_file(d.join("optimizer.bpk")).unwrap();
    }
    let before = snapshot(&dir);
    let err = run(&cfg, &device, &opts(&dir, true)).err().unwrap().to_string();
    assert!(err.contains("no other complete checkpoint") && err.contains("nothing was changed"), "{err}");
    assert_eq!(snapshot(&dir), before);
    for d in [whole_dir, dir] {
        std::fs::remove_dir_all(&d).ok();
    }
}

#[test]
fn folders_that_are_not_runs_and_files_are_refused_untouched() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let dir = scratch("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("thesis.tex"), "my work").unwrap();
    let before = snapshot(&dir);
    let err = run(&tiny(&[]), &device, &opts(&dir, true)).err().unwrap();
    assert!(matches!(err, RunError::Folder { .. }) && err.to_string().contains("not a gshn run folder"), "{err}");
    assert_eq!(snapshot(&dir), before);
    let file = dir.join("thesis.tex");
    let err = run(&tiny(&[]), &device, &opts(&file, false)).err().unwrap();
    assert!(err.to_string().contains("is a file"), "{err}");
    assert_eq!(snapshot(&dir), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn one_process_per_folder_and_stale_locks_are_taken_over() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let dir = scratch("locked");
    let cfg = killed_run(&dir, 4);
    // A live holder (this very process, on this host): refused, naming it.
    let host = std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    let lock = format!(r#"{{"pid":{},"host":"{host}","since":"0","command":"gshn train --other"}}"#, std::process::id());
    std::fs::write(dir.join("run.lock"), &lock).unwrap();
    let before = snapshot(&dir);
    let err = run(&cfg, &device, &opts(&dir, true)).err().unwrap();
    assert!(matches!(err, RunError::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("process {}", std::process::id())) && msg.contains("gshn train --other"), "{msg}");
    assert_eq!(snapshot(&dir), before);
    // A holder whose pid now belongs to another process (this one, started at another time):
    // stale, taken over; the run continues and releases the lock.
    let reused = lock.replace("\"command\"", "\"start\":1,\"command\"");
    std::fs::write(dir.join("run.lock"), &reused).unwrap();
    let r = run(&cfg, &device, &RunOptions { stop_after: Some(2), ..opts(&dir, true) }).unwrap();
    assert!(r.step >= 2 && !dir.join("run.lock").exists(), "step {}", r.step);
    // A holder that is gone: the lock is stale and taken over; the run continues.
    std::fs::write(dir.join("run.lock"), lock.replace(&format!("\"pid\":{}", std::process::id()), "\"pid\":4000000000")).unwrap();
    let r = run(&cfg, &device, &opts(&dir, true)).unwrap();
    assert_eq!(r.step, 12);
    assert!(!dir.join("run.lock").exists(), "the lock is released when the run ends");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_torn_last_log_line_does_not_block_resume() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let dir = scratch("torn");
    let cfg = killed_run(&dir, 7); // rows at 2, 4, 6; checkpoint at 6
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("metrics.jsonl")).unwrap();
    write!(f, "{{\"step\":8,\"stage\":\"ma").unwrap();
    drop(f);
    let r = run(&cfg, &device, &opts(&dir, true)).unwrap();
    assert_eq!(r.step, 12);
    let steps: Vec<usize> = read_log(&dir).unwrap().iter().map(|r| r.step).collect();
    assert_eq!(steps, vec![2, 4, 6, 8, 10, 12]);
    // metrics.csv (rewritten whole on resume, then appended): one field per header column in
    // every row, and a column for every task's loss terms and validation metrics.
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(csv.lines().skip(1).all(|l| l.split(',').count() == header.len()), "{csv}");
    for c in gshn_train::task::loss_columns() {
        assert!(header.contains(&c.key), "{} in {header:?}", c.key);
    }
    for c in gshn_train::task::val_columns() {
        assert!(header.contains(&format!("val_{}", c.key).as_str()), "val_{} in {header:?}", c.key);
    }
    // A bad line before the last one is an error naming the file and the line.
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{broken";
    std::fs::write(dir.join("metrics.jsonl"), lines.join("\n")).unwrap();
    let err = read_log(&dir).unwrap_err().to_string();
    assert!(err.contains("metrics.jsonl") && err.contains("line 2"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A metrics log written before the log's columns came from the tasks (named fields, in
/// another order) reads back with the same values: runs made by older code resume and
/// report.
#[test]
fn a_log_written_before_the_task_columns_reads_the_same() {
    let dir = scratch("old-log");
    std::fs::create_dir_all(&dir).unwrap();
    let old = r#"{"step":200,"stage":"main","loss":1.69,"clip":0.5,"vqa":0.25,"node":0.0,"stl":0.0,"lr":0.002,"images_per_s":167.1,"val_i2t_r1":0.1,"val_t2i_r1":0.2,"val_t2i_r5":0.3,"val_t2i_r10":0.4,"val_vqa":0.6,"elapsed_s":57.4,"entailment":0.59,"val_entailment":0.7,"nlvr":0.0,"val_nlvr":null}"#;
    let older = r#"{"step":100,"stage":"stl","loss":2.5,"clip":0.0,"vqa":0.0,"node":0.0,"stl":2.5,"lr":0.001,"images_per_s":150.0,"val_i2t_r1":null,"val_t2i_r1":null,"val_t2i_r5":null,"val_t2i_r10":null,"val_vqa":null,"elapsed_s":30.0}"#;
    std::fs::write(dir.join("metrics.jsonl"), format!("{older}\n{old}\n")).unwrap();
    let rows = read_log(&dir).unwrap();
    assert_eq!(rows.len(), 2);
    let (a, b) = (&rows[0], &rows[1]);
    assert_eq!((a.step, a.stage.as_str(), a.term("stl"), a.term("entailment"), a.validated()), (100, "stl", 2.5, 0.0, false));
    assert_eq!((b.term("clip"), b.term("vqa"), b.term("entailment"), b.term("nlvr")), (0.5, 0.25, 0.59, 0.0));
    assert_eq!((b.val("t2i_r10"), b.val("vqa"), b.val("entailment"), b.val("nlvr")), (Some(0.4), Some(0.6), Some(0.7), None));
    assert!(b.validated() && (b.lr, b.images_per_s, b.elapsed_s) == (0.002, 167.1, 57.4));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checkpoints_are_ordered_and_pruned_by_step_number() {
    assert_eq!(step_of("step-1000000"), Some(1_000_000));
    assert_eq!(step_of("step-000123"), Some(123));
    for bad in ["step-", "step-12.tmp", "../step-1", "step-1/..", "latest"] {
        assert_eq!(step_of(bad), None, "{bad}");
    }
    let dir = scratch("order");
    for name in ["step-999000", "step-1000000", "step-000999", "step-1000000.tmp", "notes"] {
        std::fs::create_dir_all(dir.join(name)).unwrap();
    }
    let order: Vec<usize> = checkpoints_by_step(&dir).into_iter().map(|(s, _)| s).collect();
    assert_eq!(order, vec![1_000_000, 999_000, 999]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_command_printed_after_a_divergence_works() {
    let _rng = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex().autodiff();
    let dir = scratch("nan-advice");
    let cfg = tiny(&["train.lr=1e6", "train.grad_clip=1e30", "train.weight_decay=0", "train.checkpoint_every=1", "train.log_every=1", "train.warmup=0"]);
    let err = run(&cfg, &device, &opts(&dir, false)).err().unwrap();
    let advice = match &err {
        RunError::NonFinite { advice, checkpoint: Some(_), .. } => advice.clone(),
        other => panic!("expected a divergence with a checkpoint, got {other}"),
    };
    // The advice: gshn train --config DIR/config.toml --out DIR --resume --set train.lr=X
    let lr = advice.split("--set train.lr=").nth(1).expect("the advice sets train.lr").trim().trim_end_matches('.');
    assert!(advice.contains("--resume") && advice.contains(&dir.display().to_string()), "{advice}");
    let saved = ExperimentConfig::load(&dir.join("config.toml"), &[format!("train.lr={lr}"), "train.grad_clip=1.0".into()]).unwrap();
    let r = run(&saved, &device, &opts(&dir, true));
    assert!(!matches!(r, Err(RunError::Occupied { .. })), "--resume with a lower learning rate is accepted: {:?}", r.err());
    // A change outside the resumable fields is still refused.
    let other = ExperimentConfig::load(&dir.join("config.toml"), &["model.d_model=32".into()]).unwrap();
    assert!(matches!(run(&other, &device, &opts(&dir, true)), Err(RunError::Occupied { different: true, .. })));
    std::fs::remove_dir_all(&dir).ok();
}
