//! Kill `gshn train` at arbitrary moments — mid-step, mid-checkpoint, mid-log-line — and
//! resume it each time: the run always continues, and its final metrics equal an uninterrupted
//! run's exactly (flex repeats bit for bit).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gshn_snn::rng::SeedRng;

const TINY: &str = r#"
name = "crash"
seed = 2
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
steps = 60
stl_steps = 4
batch_size = 16
warmup = 4
log_every = 1
eval_every = 20
checkpoint_every = 1
[eval]
report_images = 0
"#;

fn train(cfg: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gshn"));
    c.args(["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume-or-start"]).stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

#[test]
fn a_run_killed_at_random_moments_resumes_to_the_uninterrupted_result() {
    let root = std::env::temp_dir().join(format!("gshn-crash-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    std::fs::create_dir_all(&root).unwrap();
    let cfg = root.join("crash.toml");
    std::fs::write(&cfg, TINY).unwrap();

    let whole = root.join("whole");
    let o = train(&cfg, &whole).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Kill each session once its run has checkpointed a seeded random target step, a random
    // few milliseconds later (so that kills land mid-step, mid-checkpoint and mid-log-line);
    // then let a last session finish.
    let killed = root.join("killed");
    let mut rng = SeedRng::new(11);
    let mut targets: Vec<usize> = (0..6).map(|_| 3 + rng.below(58) as usize).collect();
    targets.sort_unstable();
    targets.dedup();
    let latest_step = |d: &Path| {
        std::fs::read_to_string(d.join("checkpoints/latest"))
            .ok()
            .and_then(|s| s.trim().strip_prefix("step-").and_then(|n| n.parse::<usize>().ok()))
            .unwrap_or(0)
    };
    let mut kills = 0;
    for &target in &targets {
        let mut child = train(&cfg, &killed).spawn().unwrap();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if latest_step(&killed) >= target {
                std::thread::sleep(Duration::from_millis(rng.below(40)));
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        match finished {
            Some(status) => panic!("a session ended ({status}) before its kill at step {target}"),
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    let o = train(&cfg, &killed).output().unwrap();
    assert!(o.status.success(), "the last session failed after {kills} kills:\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(kills >= 4, "only {kills} kills");
    let read = |d: &Path| std::fs::read_to_string(d.join("eval.json")).unwrap();
    assert_eq!(read(&killed), read(&whole), "after {kills} kills the final metrics differ");
    let log = |d: &Path| {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["images_per_s"] = 0.into();
                v["elapsed_s"] = 0.into();
                v
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(log(&killed), log(&whole), "the metrics log has no lost or duplicate rows");
    std::fs::remove_dir_all(&root).ok();
}
