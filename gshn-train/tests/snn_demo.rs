//! The spiking commands: a short run of the spiking demo learns, and repeats bit for bit with
//! the same seed; `gshn snn export` writes a trained model's spiking branch as NIR (or says
//! which setting prevents it) and `gshn snn import` runs a NIR file on a device.

mod common;

use burn::tensor::Device;
use gshn_train::cli::snn_demo::{run, SnnDemoConfig};

#[test]
fn short_spiking_run_learns_and_is_deterministic() {
    let cfg = SnnDemoConfig::new().with_steps(80).with_batch(32).with_hidden(32);
    let device = Device::flex().autodiff();
    let a = run(&cfg, &device, |_| {}).unwrap();
    assert!(a.loss_last < 0.7 * a.loss_first, "loss {} → {}", a.loss_first, a.loss_last);
    assert!(a.test_accuracy > 0.6, "accuracy {} (chance 0.25)", a.test_accuracy);
    let rate = a.layers[0].firing_rate();
    assert!(rate > 0.0 && rate < 1.0, "fc1 firing rate {rate}");
    let b = run(&cfg, &device, |_| {}).unwrap();
    assert_eq!((a.loss_last, a.test_accuracy), (b.loss_last, b.test_accuracy), "same seed, same run");
}

#[test]
fn a_trained_spiking_branch_goes_to_nir_and_back_through_the_command_line() {
    let root = common::scratch("snn_cli", "nir");
    std::fs::create_dir_all(&root).unwrap();
    let run = |args: &[&str]| {
        let o = common::gshn_cli(args, &root, &[]);
        (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let gain = format!("{}\n[model.snn]\nnorm = \"gain\"\ntime_steps = 3\n", common::CLI_TINY);
    std::fs::write(root.join("gain.toml"), gain).unwrap();
    std::fs::write(root.join("ln.toml"), common::CLI_TINY).unwrap();
    for (config, out) in [("gain.toml", "gain"), ("ln.toml", "ln")] {
        let (ok, _, err) = run(&["train", "--config", config, "--out", out]);
        assert!(ok, "{err}");
    }

    let (ok, out, err) = run(&["snn", "export", "--checkpoint", "gain", "--out", "branch.nir"]);
    assert!(ok, "{err}");
    for want in ["| input | Input | shape [16] |", "| lif_1 | LIF |", "| affine_2 | Affine |", "T = 3 steps", "average it over T"] {
        assert!(out.contains(want), "{want}:\n{out}");
    }
    // Exists now: refused without --force, naming the flag.
    let (ok, _, err) = run(&["snn", "export", "--checkpoint", "gain", "--out", "branch.nir"]);
    assert!(!ok && err.contains("--out") && err.contains("--force"), "{err}");

    let (ok, out, err) = run(&["snn", "import", "branch.nir", "--steps", "8"]);
    assert!(ok, "{err}");
    assert!(out.contains("| 1 | lif_1 | LIF") && out.contains("firing rate"), "{out}");

    // LayerNorm has no NIR form: refused, naming the setting and what to train with.
    let (ok, _, err) = run(&["snn", "export", "--checkpoint", "ln", "--out", "ln.nir"]);
    assert!(!ok && err.contains("model.snn.norm = \"layer-norm\"") && err.contains("\"gain\""), "{err}");
    assert!(!root.join("ln.nir").exists(), "nothing is written when the export is refused");

    // A graph too wide to run for that many steps: refused before anything is allocated.
    use gshn_snn::nir::{NirGraph, NirNode, Node};
    let wide = NirGraph::chain(vec![
        ("input".into(), Node::new(NirNode::Input { shape: vec![1 << 20] })),
        ("output".into(), Node::new(NirNode::Output { shape: vec![1 << 20] })),
    ]);
    gshn_snn::nir::write(root.join("wide.nir"), &wide).unwrap();
    let (ok, _, err) = run(&["snn", "import", "wide.nir", "--steps", "4096"]);
    assert!(!ok && err.contains("4096 steps × 1048576 features") && err.contains("--steps"), "{err}");

    // A file that is not NIR: named.
    std::fs::write(root.join("junk.nir"), b"not hdf5").unwrap();
    let (ok, _, err) = run(&["snn", "import", "junk.nir"]);
    assert!(!ok && err.contains("junk.nir") && !err.contains("panicked"), "{err}");
}
