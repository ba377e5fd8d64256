//! `gshn segment` end to end on the committed sample image and the real panoptic sample.

use std::path::PathBuf;

use clap::Parser;
use gshn_train::segment_cmd::{run, SegmentArgs};

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
    let no_json = args(&[dir.join("input_images/000000142238.jpg").to_str().unwrap(), "--method", "panoptic", "--out", out.to_str().unwrap()]);
    assert!(run(&no_json).unwrap_err().to_string().contains("--panoptic-png"));
}
