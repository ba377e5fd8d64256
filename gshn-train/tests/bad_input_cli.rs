//! The `gshn` command under bad input of every kind: each case exits non-zero, names the field
//! or the file in its message, and leaves an existing run folder exactly as it was (every
//! file hashed before and after).

mod common;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use common::CLI_TINY as TINY;

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
    gshn_env(args, cwd, &[])
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

fn scratch(name: &str) -> PathBuf {
    let root = common::scratch("bad-cli", name);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// Runs `gshn` with extra environment variables.
fn gshn_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let o = common::gshn_cli(args, cwd, env);
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn refused(args: &[&str], cwd: &Path, needles: &[&str]) -> String {
    let (ok, err) = gshn(args, cwd);
    assert!(!ok, "{args:?} must fail");
    assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{args:?} must not panic or abort:\n{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: the message must name `{n}`:\n{err}");
    }
    err
}

/// Class 1: every numeric argument of every subcommand is bounded as its config twin is, a
/// negative count names its flag, and nothing is allocated or written first.
#[test]
fn unbounded_arguments_of_every_subcommand_are_refused_by_flag() {
    let root = scratch("args");
    let image = root.join("in.png");
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])).save(&image).unwrap();
    std::fs::write(root.join("tiny.toml"), TINY).unwrap();
    let every_pair: Vec<String> =
        gshn_train::data::shapeworld::COLOURS.iter().flat_map(|(c, _)| gshn_train::data::shapeworld::SHAPES.iter().map(move |s| format!("{c}:{s}"))).collect();
    let every_pair = every_pair.join(",");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["snn-demo", "--time-steps", "100000000"], "--time-steps"),
        (vec!["snn-demo", "--time-steps", "0"], "--time-steps"),
        (vec!["snn-demo", "--steps", "0"], "--steps"),
        (vec!["snn-demo", "--steps", "-1"], "--steps"),
        (vec!["snn-demo", "--seed", "-3"], "--seed"),
        (vec!["snn-demo", "--steps", "99999999999999999999999"], "--steps"),
        (vec!["data", "shapeworld", "--out", "sw", "--image-size", "4000000"], "--image-size"),
        (vec!["data", "shapeworld", "--out", "sw", "--image-size", "30"], "--image-size"),
        (vec!["data", "shapeworld", "--out", "sw", "--image-size", "-64"], "--image-size"),
        (vec!["data", "shapeworld", "--out", "sw", "--train", "100000000000"], "--train"),
        (vec!["data", "shapeworld", "--out", "sw", "--test", "-5"], "--test"),
        (vec!["data", "shapeworld", "--out", "sw", "--holdout", &every_pair], "--holdout"),
        (vec!["data", "shapeworld", "--out", "sw", "--holdout", "red:hexagon"], "--holdout"),
        (vec!["segment", "in.png", "--out", "o.png", "--sigma", "1e9"], "--sigma"),
        (vec!["segment", "in.png", "--out", "o.png", "--sigma", "-1"], "--sigma"),
        (vec!["segment", "in.png", "--out", "o.png", "--scale", "1e308"], "--scale"),
        (vec!["segment", "in.png", "--out", "o.png", "--scale", "nan"], "--scale"),
        (vec!["segment", "in.png", "--out", "o.png", "--min-size", "18446744073709551615"], "--min-size"),
        (vec!["segment", "in.png", "--out", "o.png", "--method", "slic", "--n-segments", "100000000000"], "--n-segments"),
        (vec!["segment", "in.png", "--out", "o.png", "--method", "slic", "--compactness", "inf"], "--compactness"),
        (vec!["segment", "in.png", "--out", "o.png", "--max-pixels", "18446744073709551615"], "--max-pixels"),
        (vec!["segment", "in.png", "--out", "o.png", "--max-pixels", "0"], "--max-pixels"),
        (vec!["segment", "in.png", "--out", "o.png", "--method", "grid", "--grid", "100000x100000"], "--grid"),
        (vec!["segment", "in.png", "--out", "o.png", "--method", "grid", "--grid", "-2x4"], "--grid"),
        (vec!["bench", "train", "--config", "tiny.toml", "--steps", "0"], "--steps"),
        (vec!["bench", "train", "--config", "tiny.toml", "--steps", "-3"], "--steps"),
        (vec!["bench", "train", "--config", "tiny.toml", "--steps", "100000000"], "--steps"),
    ];
    for (args, flag) in &cases {
        refused(args, &root, &[flag]);
    }
    assert!(!root.join("sw").exists() && !root.join("o.png").exists(), "nothing was written");
    // The library refuses the same σ for its own callers.
    let img = image::RgbImage::new(8, 8);
    let err = gshn_seg::felzenszwalb::felzenszwalb(&img, &gshn_seg::felzenszwalb::FelzenszwalbParams { sigma: 1e9, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("sigma"), "{err}");
    std::fs::remove_dir_all(&root).ok();
}

/// Class 3: no command writes into a folder it did not make, nor over an input or an
/// existing file without `--force`.
#[test]
fn outputs_go_only_where_gshn_made_them() {
    let root = scratch("outputs");
    let image = root.join("in.png");
    image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])).save(&image).unwrap();
    let foreign = root.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    std::fs::write(root.join("tiny.toml"), TINY).unwrap();
    std::fs::write(root.join("grid.toml"), "base = \"tiny.toml\"\nseeds = [1]\n[[variant]]\nname = \"a\"\n").unwrap();
    let image_before = std::fs::read(&image).unwrap();
    refused(&["data", "shapeworld", "--out", "foreign", "--train", "2", "--val", "2", "--test", "2"], &root, &["foreign", "--force"]);
    refused(&["ablate", "--config", "grid.toml", "--out", "foreign"], &root, &["foreign", "--force"]);
    refused(&["segment", "in.png", "--out", "in.png", "--force"], &root, &["input"]);
    refused(&["segment", "in.png", "--out", "o.png", "--json", "in.png", "--force"], &root, &["input"]);
    std::fs::write(root.join("taken.png"), "someone's picture").unwrap();
    refused(&["segment", "in.png", "--out", "taken.png"], &root, &["taken.png", "--force"]);
    std::fs::write(root.join("times.json"), "{}").unwrap();
    refused(&["bench", "train", "--config", "tiny.toml", "--steps", "1", "--json", "times.json"], &root, &["times.json", "--force"]);
    assert_eq!(snapshot(&foreign).len(), 1, "nothing was written into the foreign folder");
    assert_eq!(std::fs::read(&image).unwrap(), image_before, "the input image is untouched");
    assert_eq!(std::fs::read_to_string(root.join("taken.png")).unwrap(), "someone's picture");
    // Its own kind of folder, or --force, is written.
    let (ok, err) = gshn(&["segment", "in.png", "--out", "taken.png", "--force", "--method", "grid", "--grid", "2x2"], &root);
    assert!(ok, "{err}");
    for _ in 0..2 {
        let (ok, err) = gshn(&["data", "shapeworld", "--out", "sw", "--train", "2", "--val", "2", "--test", "2", "--image-size", "32"], &root);
        assert!(ok, "a folder this command made is written again: {err}");
    }
    assert!(root.join("sw/.gshn-shapeworld").is_file() && root.join("sw/test/captions.json").is_file());
    let (ok, err) = gshn(&["data", "shapeworld", "--out", "foreign", "--train", "2", "--val", "2", "--test", "2", "--image-size", "32", "--force"], &root);
    assert!(ok && foreign.join("notes.txt").is_file(), "{err}");
    std::fs::remove_dir_all(&root).ok();
}

/// Classes 2 and 5 on a trained run: damaged files are refused by name, a resume needs a run,
/// a different config names its fields, f32 overflow is caught at validation, and flex never
/// loads the Vulkan loader.
#[test]
fn damaged_files_and_unclear_requests_get_errors_a_user_can_act_on() {
    let root = scratch("files");
    std::fs::write(root.join("tiny.toml"), TINY).unwrap();
    // flex never loads the Vulkan loader (the dynamic loader lists every library it opens).
    let (ok, err) = gshn_env(&["train", "--config", "tiny.toml", "--out", "run", "--device", "flex"], &root, &[("LD_DEBUG", "libs")]);
    assert!(ok, "{err}");
    assert!(!err.contains("libvulkan"), "a flex run opened the Vulkan loader");
    assert!(!err.contains("wgpu runtime"), "a flex run printed WGPU settings");
    let run = root.join("run");
    let latest = run.join("checkpoints").join(std::fs::read_to_string(run.join("checkpoints/latest")).unwrap().trim());
    let sums = std::fs::read_to_string(latest.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  model.bpk") && sums.contains("  optimizer.bpk"), "{sums}");

    // --resume needs a run; a different config names the fields that differ.
    refused(&["train", "--config", "tiny.toml", "--out", "nowhere", "--resume"], &root, &["nowhere", "does not exist", "--resume"]);
    assert!(!root.join("nowhere").exists());
    refused(
        &["train", "--config", "tiny.toml", "--out", "run", "--resume", "--set", "model.d_model=32", "--set", "seed=5"],
        &root,
        &["model.d_model: 16 → 32", "seed: 1 → 5"],
    );
    // Values an f64 holds but the model's f32 cannot.
    for (set, field) in [
        ("model.snn.neuron.lif.threshold=1e300", "model.snn.neuron.lif.threshold"),
        ("model.loss.node_temperature=1e-300", "model.loss.node_temperature"),
        ("model.fusion.r=1e39", "model.fusion.r"),
    ] {
        refused(&["train", "--config", "tiny.toml", "--out", "other", "--set", set], &root, &[field, "32-bit"]);
    }

    // Values within f32 that still cannot train: named with the reason, not met as a NaN loss.
    refused(&["train", "--config", "tiny.toml", "--out", "other", "--set", "model.fusion.r=3.4e38"], &root, &["model.fusion.r", "1e4"]);
    refused(&["train", "--config", "tiny.toml", "--out", "other", "--set", "train.weight_decay=1e11"], &root, &["train.weight_decay", "train.lr"]);
    assert!(!root.join("other").exists());
    // A checkpoint file of random bytes (same length) is refused by name, by eval and resume.
    let before = snapshot(&run);
    let model = latest.join("model.bpk");
    let good = std::fs::read(&model).unwrap();
    let mut x = 0x9e3779b97f4a7c15u64;
    let noise: Vec<u8> = good
        .iter()
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&model, &noise).unwrap();
    refused(&["eval", "--checkpoint", "run"], &root, &["model.bpk", "checksum"]);
    refused(&["eval", "--checkpoint", latest.to_str().unwrap()], &root, &["model.bpk", "checksum"]);
    assert!(!run.join("report-eval").exists(), "a refused eval writes no report");
    std::fs::write(&model, &good).unwrap();
    assert_eq!(snapshot(&run), before);
    // The run folder's config, edited by hand, is refused by name.
    let cfg_path = run.join("config.toml");
    let cfg_text = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, cfg_text.replace("steps = 6", "steps = 7")).unwrap();
    refused(&["train", "--config", "tiny.toml", "--out", "run", "--resume"], &root, &["config.toml", "checksum"]);
    std::fs::write(&cfg_path, &cfg_text).unwrap();
    assert_eq!(snapshot(&run), before);

    // eval writes its report into a folder it made, never into another.
    let foreign = root.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    refused(&["eval", "--checkpoint", "run", "--report", "foreign"], &root, &["foreign", "--force"]);
    assert_eq!(snapshot(&foreign).len(), 1);
    let (ok, err) = gshn(&["eval", "--checkpoint", "run", "--report", "rep"], &root);
    assert!(ok, "{err}");
    assert!(root.join("rep/.gshn-report").is_file() && root.join("rep/eval.json.sha256").is_file());
    std::fs::remove_dir_all(&root).ok();
}

/// Class 4: duplicate ids in COCO-style files are errors naming the id and the file.
#[test]
fn duplicate_coco_ids_are_refused_by_id_and_file() {
    let root = scratch("coco");
    let data = root.join("data/annotations");
    std::fs::create_dir_all(&data).unwrap();
    let config = TINY.replace("[data]\n", "[data]\nsource = \"coco\"\ndir = \"data\"\n") + "\n[data.segments]\nsource = \"grid\"\n";
    std::fs::write(root.join("coco.toml"), &config).unwrap();
    let images = r#"[{"id": 1, "file_name": "a.png", "width": 8, "height": 8}, {"id": 2, "file_name": "b.png", "width": 8, "height": 8}]"#;
    let dup_images = r#"[{"id": 1, "file_name": "a.png", "width": 8, "height": 8}, {"id": 1, "file_name": "b.png", "width": 8, "height": 8}]"#;
    let caps = |images: &str, second_id: u64| {
        format!(r#"{{"images": {images}, "annotations": [{{"id": 5, "image_id": 1, "caption": "a"}}, {{"id": {second_id}, "image_id": 2, "caption": "b"}}]}}"#)
    };
    std::fs::write(data.join("captions_x.json"), caps(dup_images, 6)).unwrap();
    refused(&["train", "--config", "coco.toml", "--out", "run"], &root, &["duplicate image id 1", "captions_x.json"]);
    std::fs::write(data.join("captions_x.json"), caps(images, 5)).unwrap();
    refused(&["train", "--config", "coco.toml", "--out", "run"], &root, &["duplicate caption id 5", "captions_x.json"]);
    std::fs::write(data.join("captions_x.json"), caps(images, 6)).unwrap();
    let poly = r#""segmentation": [[0, 0, 4, 0, 4, 4]], "area": 8, "bbox": [0, 0, 4, 4], "iscrowd": 0"#;
    let instances = |ann2: u64, cat2: u32| {
        format!(
            r#"{{"images": {images}, "annotations": [{{"id": 7, "image_id": 1, "category_id": 1, {poly}}}, {{"id": {ann2}, "image_id": 2, "category_id": 1, {poly}}}], "categories": [{{"id": 1, "name": "thing"}}, {{"id": {cat2}, "name": "other"}}]}}"#
        )
    };
    std::fs::write(data.join("instances_x.json"), instances(7, 2)).unwrap();
    refused(&["train", "--config", "coco.toml", "--out", "run"], &root, &["duplicate annotation id 7", "instances_x.json"]);
    std::fs::write(data.join("instances_x.json"), instances(8, 1)).unwrap();
    refused(&["train", "--config", "coco.toml", "--out", "run"], &root, &["duplicate category id 1", "instances_x.json"]);
    assert!(!root.join("run/checkpoints").exists());
    std::fs::remove_dir_all(&root).ok();
}

/// Class 5: the vocabulary check speaks in the data's terms.
#[test]
fn a_vocabulary_mismatch_is_explained_in_the_data_terms() {
    use gshn_train::model::Vocab;
    let cfg = gshn_train::cli::experiment::ExperimentConfig::from_toml(TINY, "tiny", &[]).unwrap();
    let saved = Vocab::build(["a red circle", "a blue square"]);
    assert!(gshn_train::cli::train::vocab_mismatch(&saved, &saved, &cfg).is_none());
    let now = Vocab::build(["a red circle", "a green square"]);
    let why = gshn_train::cli::train::vocab_mismatch(&saved, &now, &cfg).unwrap();
    assert!(why.contains("1 words new (`green`)") && why.contains("1 gone (`blue`)") && why.contains("ShapeWorld (data seed 1"), "{why}");
}
