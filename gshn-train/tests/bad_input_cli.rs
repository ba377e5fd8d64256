//! The `gshn` command under bad input of every kind: each case exits non-zero, names the field
//! or the file in its message, and leaves an existing run folder exactly as it was (every
//! file hashed before and after).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const TINY: &str = r#"
name = "tiny"
seed = 1
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
steps = 6
stl_steps = 2
batch_size = 16
warmup = 2
log_every = 2
eval_every = 100
checkpoint_every = 3
[eval]
report_images = 0
"#;

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

fn gshn(args: &[&str], cwd: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_gshn")).args(args).current_dir(cwd).output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn every_bad_input_is_refused_by_name_and_changes_nothing() {
    let root = std::env::temp_dir().join(format!("gshn-bad-cli-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("tiny.toml"), TINY).unwrap();
    // A finished run to protect.
    let (ok, err) = gshn(&["train", "--config", "tiny.toml", "--out", "run"], &root);
    assert!(ok, "{err}");
    let protected = root.join("run");
    let before = snapshot(&protected);
    assert!(before.keys().any(|p| p.ends_with("eval.json")));
    let write = |name: &str, text: &str| {
        std::fs::write(root.join(name), text).unwrap();
        name.to_string()
    };
    let bad_field = write("bad-field.toml", "[model.gat]\nhedas = 2\n");
    let renamed = write("renamed.toml", "[model]\ntime_steps = 8\n");
    let nan = write("nan.toml", &format!("{TINY}\n").replace("warmup = 2", "warmup = 2\nlr = nan"));
    let huge = write("huge.toml", "[data]\nimage_size = 4000000\n");
    let escape = write("escape.toml", "name = \"../outside\"\n");
    let syntax = write("syntax.toml", "[model\n");
    let holdout = write("holdout.toml", "[data]\nholdout = [\"red:circle\", \"bogus\"]\n");
    let dup_seeds = write("dup.toml", "base = \"tiny.toml\"\nseeds = [1, 1]\n[[variant]]\nname = \"a\"\n");
    let dotdot = write("dotdot.toml", "base = \"tiny.toml\"\n[[variant]]\nname = \"..\"\n");
    let big_grid = write("grid.toml", "base = \"tiny.toml\"\n[grid]\n\"seed\" = [1,2,3,4,5,6,7,8,9,10]\n\"model.d_model\" = [1,2,3,4,5,6,7,8,9,10]\n\"model.embed_dim\" = [1,2,3,4,5,6,7,8,9,10]\n");
    std::fs::write(root.join("plain-file"), "not a folder").unwrap();
    std::fs::create_dir_all(root.join("foreign")).unwrap();
    std::fs::write(root.join("foreign/notes.txt"), "mine").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["train", "--config", "missing.toml"], "missing.toml"),
        (vec!["train", "--config", &bad_field], "model.gat.hedas"),
        (vec!["train", "--config", &renamed], "model.snn.time_steps"),
        (vec!["train", "--config", &nan], "train.lr"),
        (vec!["train", "--config", &huge], "data.image_size"),
        (vec!["train", "--config", &escape], "name"),
        (vec!["train", "--config", &syntax], "syntax.toml"),
        (vec!["train", "--config", &holdout], "data.holdout"),
        (vec!["train", "--config", "tiny.toml", "--set", "model.snn.time_steps=0"], "model.snn.time_steps"),
        (vec!["train", "--config", "tiny.toml", "--set", "model.snn.neuron.lif.tau=-1"], "model.snn.neuron.lif"),
        (vec!["train", "--config", "tiny.toml", "--set", "nonsense"], "KEY=VALUE"),
        (vec!["train", "--config", "tiny.toml", "--device", "tpu"], "tpu"),
        (vec!["train", "--config", "tiny.toml", "--out", "run"], "--resume"),
        (vec!["train", "--config", "tiny.toml", "--out", "run", "--resume", "--set", "model.d_model=32"], "different config"),
        (vec!["train", "--config", "tiny.toml", "--out", "plain-file"], "is a file"),
        (vec!["train", "--config", "tiny.toml", "--out", "foreign"], "not a gshn run folder"),
        (vec!["eval", "--checkpoint", "nowhere"], "nowhere"),
        (vec!["eval", "--checkpoint", "run", "--device", "tpu"], "tpu"),
        (vec!["ablate", "--config", &dup_seeds], "seed 1 is listed twice"),
        (vec!["ablate", "--config", &dotdot], "variant name"),
        (vec!["ablate", "--config", &big_grid], "more than"),
        (vec!["ablate", "--config", &dup_seeds, "--device", "tpu"], "tpu"),
        (vec!["ablate", "--config", &dup_seeds, "--shard", "2/2"], "shard"),
        (vec!["segment", "no-such.png", "--out", "x.png"], "no-such.png"),
    ];
    for (args, needle) in &cases {
        let (ok, err) = gshn(args, &root);
        assert!(!ok, "{args:?} must fail");
        assert!(err.contains(needle), "{args:?}: the message must name `{needle}`:\n{err}");
        assert_eq!(snapshot(&protected), before, "{args:?} changed the run folder");
    }
    assert_eq!(std::fs::read_to_string(root.join("plain-file")).unwrap(), "not a folder");
    assert_eq!(snapshot(&root.join("foreign")).len(), 1, "nothing was written into a foreign folder");
    assert!(!root.join("outside").exists() && !root.parent().unwrap().join("outside").exists());
    // A damaged `latest` with nothing complete behind it: eval and resume refuse by file name.
    let latest = protected.join("checkpoints/latest");
    std::fs::write(&latest, "step-000099").unwrap();
    for d in std::fs::read_dir(protected.join("checkpoints")).unwrap().flatten() {
        if d.path().is_dir() {
            std::fs::remove_file(d.path().join("state.json")).unwrap();
        }
    }
    let damaged = snapshot(&protected);
    for args in [vec!["eval", "--checkpoint", "run"], vec!["train", "--config", "tiny.toml", "--out", "run", "--resume"]] {
        let (ok, err) = gshn(&args, &root);
        assert!(!ok && err.contains("latest"), "{args:?}: {err}");
        assert_eq!(snapshot(&protected), damaged, "{args:?} changed the damaged run");
    }
    std::fs::remove_dir_all(&root).ok();
}
