//! `gshn segment` end to end on the committed sample image and the real panoptic sample.

use std::path::PathBuf;

use clap::Parser;
use gshn_train::cli::segment_cmd::{run, SegmentArgs};

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    args: SegmentArgs,
}

fn args(extra: &[&str]) -> SegmentArgs {
    let mut v = vec!["gshn"];
    v.extend_from_slice(extra);
    Wrap::parse_from(v).args
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-segment-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn every_method_writes_an_overlay_and_json() {
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/../gshn-seg/tests/fixtures/images/coffee.png");
    for method in ["fh", "slic", "grid"] {
        let (out, json) = (tmp(&format!("{method}.png")), tmp(&format!("{method}.json")));
        let a = args(&[image, "--method", method, "--out", out.to_str().unwrap(), "--json", json.to_str().unwrap(), "--edges"]);
        let seg = run(&a).unwrap();
        assert!(seg.len() > 1, "{method}");
        let pic = image::open(&out).unwrap();
        assert_eq!((pic.width(), pic.height()), (seg.width, seg.height));
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(doc["segments"].as_array().unwrap().len(), seg.len());
        assert!(!doc["adjacency"]["edges"].as_array().unwrap().is_empty());
    }
    let bad = args(&[image, "--method", "grid", "--grid", "four", "--out", tmp("x.png").to_str().unwrap()]);
    assert!(run(&bad).unwrap_err().to_string().contains("--grid"));
    let missing = args(&["/nonexistent.png", "--out", tmp("y.png").to_str().unwrap()]);
    assert!(run(&missing).is_err());
}

#[test]
fn panoptic_method_reads_the_real_sample() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/coco-panoptic-sample");
    if !dir.exists() {
        eprintln!("SKIP: {} is absent", dir.display());
        return;
    }
    let out = tmp("panoptic.png");
    let a = args(&[
        dir.join("input_images/000000142238.jpg").to_str().unwrap(),
        "--method",
        "panoptic",
        "--panoptic-png",
        dir.join("panoptic_examples/000000142238.png").to_str().unwrap(),
        "--panoptic-json",
        dir.join("panoptic_examples.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let seg = run(&a).unwrap();
    assert_eq!(seg.len(), 18);
    let no_json =
        args(&[dir.join("input_images/000000142238.jpg").to_str().unwrap(), "--method", "panoptic", "--out", tmp("panoptic-2.png").to_str().unwrap()]);
    assert!(run(&no_json).unwrap_err().to_string().contains("--panoptic-png"));
}

#[test]
fn hostile_inputs_are_errors_naming_the_file_and_the_knob() {
    // A 16 KB PNG of 4096 × 4096: refused before Felzenszwalb runs, naming --max-pixels.
    let big = tmp("big.png");
    image::GrayImage::new(4096, 4096).save(&big).unwrap();
    let t = std::time::Instant::now();
    let msg = run(&args(&[big.to_str().unwrap(), "--method", "fh", "--out", tmp("big-out.png").to_str().unwrap()])).unwrap_err().to_string();
    assert!(msg.contains("raise `--max-pixels`") && msg.contains(big.to_str().unwrap()), "{msg}");
    assert!(t.elapsed().as_secs_f64() < 5.0, "refused only after {:?}", t.elapsed());
    let small = run(&args(&[big.to_str().unwrap(), "--method", "grid", "--max-pixels", "100", "--out", tmp("big-out.png").to_str().unwrap()]));
    assert!(small.unwrap_err().to_string().contains("limit of 100"));

    // A truncated image.
    let coffee = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../gshn-seg/tests/fixtures/images/coffee.png")).unwrap();
    let cut = tmp("cut.png");
    std::fs::write(&cut, &coffee[..coffee.len() - 1]).unwrap();
    let msg = run(&args(&[cut.to_str().unwrap(), "--method", "grid", "--out", tmp("cut-out.png").to_str().unwrap()])).unwrap_err().to_string();
    assert!(msg.contains(cut.to_str().unwrap()) && msg.contains("truncated"), "{msg}");

    // A panoptic JSON whose file_name leaves the folder: the JSON file, the name and the line.
    let json = tmp("escape.json");
    let doc = serde_json::json!({"annotations": [{"image_id": 1, "file_name": "../../etc/passwd", "segments_info": []}], "categories": []});
    std::fs::write(&json, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let image = concat!(env!("CARGO_MANIFEST_DIR"), "/../gshn-seg/tests/fixtures/images/coffee.png");
    let a = args(&[image, "--method", "panoptic", "--panoptic-png", image, "--panoptic-json", json.to_str().unwrap(), "--out", tmp("p.png").to_str().unwrap()]);
    let msg = run(&a).unwrap_err().to_string();
    assert!(msg.contains("../../etc/passwd") && msg.contains(json.to_str().unwrap()) && msg.contains("line"), "{msg}");
}
