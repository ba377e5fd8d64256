//! Kill `gshn train` at arbitrary moments — mid-step, mid-checkpoint, mid-log-line — and
//! resume it each time: the run always continues, and its final metrics equal an uninterrupted
//! run's exactly (flex repeats bit for bit).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    c.args(["train", "--config", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume"]).stdout(Stdio::null()).stderr(Stdio::piped());
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
    let t0 = Instant::now();
    let o = train(&cfg, &whole).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full = t0.elapsed();

    // Kill after a seeded random fraction of an uninterrupted run's time, again and again,
    // until a session finishes on its own.
    let killed = root.join("killed");
    let mut rng = SeedRng::new(11);
    let mut kills = 0;
    loop {
        let mut child = train(&cfg, &killed).spawn().unwrap();
        let wait = full.mul_f64(0.1 + 0.5 * rng.next_f64());
        let deadline = Instant::now() + wait;
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match finished {
            Some(status) => {
                let mut err = String::new();
                use std::io::Read;
                child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                assert!(status.success(), "a resumed session failed after {kills} kills:\n{err}");
                break;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                assert!(kills < 60, "the run never finished");
            }
        }
    }
    assert!(kills >= 3, "only {kills} kills: the test did not interrupt the run");
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
