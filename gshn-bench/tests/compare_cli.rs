//! The comparison commands reject bad arguments and a missing peer Python with clear errors
//! (the timing itself needs the peers and is not a test).

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin).args(args).output().expect("the binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn compare_snn_rejects_bad_shapes_and_a_missing_python() {
    let bin = env!("CARGO_BIN_EXE_compare-snn");
    let (ok, err) = run(bin, &["--shape", "1,2"]);
    assert!(!ok && err.contains("--shape needs three positive sizes"), "{err}");
    let (ok, err) = run(bin, &["--time-steps", "0"]);
    assert!(!ok && err.contains("--time-steps"), "{err}");
    let (ok, err) = run(bin, &["--python", "/nonexistent/python", "--time-steps", "1", "--shape", "1,1,1"]);
    assert!(!ok && err.contains("could not run `/nonexistent/python`"), "{err}");
}

#[test]
fn compare_seg_and_compare_gat_report_a_missing_python() {
    for bin in [env!("CARGO_BIN_EXE_compare-seg"), env!("CARGO_BIN_EXE_compare-gat")] {
        let (ok, err) = run(bin, &["--python", "/nonexistent/python"]);
        assert!(!ok && err.contains("could not run `/nonexistent/python`"), "{bin}: {err}");
    }
}

#[test]
fn compare_train_rejects_bad_arguments_an_unsupported_model_and_a_missing_python() {
    let bin = env!("CARGO_BIN_EXE_compare-train");
    let (ok, err) = run(bin, &["--runs", "0"]);
    assert!(!ok && err.contains("must be at least 1"), "{err}");
    let (ok, err) = run(bin, &["--torch-device", "tpu"]);
    assert!(!ok && err.contains("--torch-device is cpu or cuda"), "{err}");
    let (ok, err) = run(bin, &["--steps", "1", "--set", "model.snn.encoding=rate", "--python", "/nonexistent/python"]);
    assert!(!ok && err.contains("model.snn.encoding"), "{err}");
    let (ok, err) = run(bin, &["--steps", "1", "--python", "/nonexistent/python"]);
    assert!(!ok && err.contains("could not run `/nonexistent/python`"), "{err}");
}
