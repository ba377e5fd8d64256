//! `gshn eval` on other data sets: a checkpoint trained on one ShapeWorld draw is scored on
//! another draw and on a COCO-style folder exported by `gshn data shapeworld`, one table row
//! each; what cannot change, or does not fit, is refused by name.

mod common;

use std::path::{Path, PathBuf};

use common::CLI_TINY as TINY;

fn gshn(args: &[&str], cwd: &Path) -> (bool, String, String) {
    let o = common::gshn_cli(args, cwd, &[]);
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn scratch() -> PathBuf {
    let root = common::scratch("transfer", "cli");
    std::fs::create_dir_all(&root).unwrap();
    root
}

#[test]
fn a_checkpoint_is_scored_on_other_draws_and_folders_one_row_each() {
    let root = scratch();
    std::fs::write(root.join("tiny.toml"), TINY).unwrap();
    let (ok, _, err) = gshn(&["train", "--config", "tiny.toml", "--out", "run"], &root);
    assert!(ok, "{err}");
    let own: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("run/eval.json")).unwrap()).unwrap();

    // The own test split again: the numbers the run reported.
    let (ok, _, err) = gshn(&["eval", "--checkpoint", "run"], &root);
    assert!(ok, "{err}");
    let again: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("run/report-eval/eval.json")).unwrap()).unwrap();
    assert_eq!(own["retrieval"], again["retrieval"]);

    // Another draw through --set: a full report of its own, other images, other numbers.
    let (ok, _, err) = gshn(&["eval", "--checkpoint", "run", "--set", "data.seed=7", "--report", "draw7"], &root);
    assert!(ok, "{err}");
    let draw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("draw7/eval.json")).unwrap()).unwrap();
    assert_ne!(own["retrieval"], draw["retrieval"], "another draw gives other numbers");

    // A COCO-style folder and a second draw as data-set files: three rows.
    let (ok, _, err) = gshn(&["data", "shapeworld", "--out", "sw", "--train", "24", "--val", "4", "--test", "12", "--seed", "3"], &root);
    assert!(ok, "{err}");
    std::fs::write(
        root.join("sw-coco.toml"),
        "[data]\nsource = \"coco\"\ndir = \"sw/test\"\ntest_images = 8\nval_images = 2\n[data.segments]\nsource = \"grid\"\n",
    )
    .unwrap();
    std::fs::write(root.join("draw.toml"), "name = \"draw-9\"\n[data]\nseed = 9\n").unwrap();
    let (ok, out, err) = gshn(&["eval", "--checkpoint", "run", "--dataset", "sw-coco.toml", "--dataset", "draw.toml"], &root);
    assert!(ok, "{err}");
    for row in ["| own test split | 16 |", "| sw-coco | 8 |", "| draw-9 | 16 |"] {
        assert!(out.contains(row), "{row}:\n{out}");
    }
    let md = std::fs::read_to_string(root.join("run/report-transfer/transfer.md")).unwrap();
    assert!(md.contains("| sw-coco |") && md.contains("t→i R@10 (chance)"), "{md}");
    let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("run/report-transfer/transfer.json")).unwrap()).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["report"]["retrieval"], own["retrieval"], "the first row is the run's own test split");

    // What cannot change, or does not fit, is refused by name; nothing is written.
    for (args, needles) in [
        (vec!["eval", "--checkpoint", "run", "--set", "model.d_model=8", "--report", "x"], vec!["model.d_model", "cannot change"]),
        (vec!["eval", "--checkpoint", "run", "--set", "data.image_size=128", "--report", "x"], vec!["data.image_size", "token grid"]),
        (vec!["eval", "--checkpoint", "run", "--set", "data.source=coco", "--set", "data.dir=nowhere", "--report", "x"], vec!["nowhere"]),
        (vec!["eval", "--checkpoint", "run", "--dataset", "draw.toml", "--dataset", "draw.toml", "--report", "x"], vec!["draw-9", "two data sets"]),
    ] {
        let (ok, _, err) = gshn(&args, &root);
        assert!(!ok, "{args:?} must fail");
        for n in needles {
            assert!(err.contains(n), "{args:?}: `{n}`:\n{err}");
        }
    }
    assert!(!root.join("x").exists());
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn the_shipped_data_set_files_apply_to_a_shipped_config() {
    use gshn_train::cli::experiment::ExperimentConfig;
    use gshn_train::cli::transfer::{config_for, EvalSet};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let saved = ExperimentConfig::load(&root.join("shapeworld.toml"), &[]).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("transfer")).unwrap() {
        let p = entry.unwrap().path();
        let set = EvalSet::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let cfg = config_for(&saved, &set.overrides).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_ne!(cfg.data, saved.data, "{} changes the data", p.display());
        n += 1;
    }
    assert!(n >= 4);
}
