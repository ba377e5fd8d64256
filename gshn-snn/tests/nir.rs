//! NIR: gshn-snn → NIR → gshn-snn round trips with bit-equal spikes for every neuron and
//! reset mode (flex and wgpu); networks exported by snnTorch and SpikingJelly run here with
//! their spikes; a network exported here runs in snnTorch and SpikingJelly with ours; and bad
//! files give errors that name the file, node or field.
//!
//! Fixtures: `scripts/peers/nir_fixtures.py` (docs/peers.md).

mod common;

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use common::{backends, flex, values};
use gshn_snn::network::{SpikingNetwork, Stage};
use gshn_snn::neuron::{IfConfig, Leak, LifConfig, Neuron, NeuronBaseConfig, NeuronConfig, PlifConfig, ResetMode, ResetTiming};
use gshn_snn::nir::{self, Entry, ExportOptions, ImportOptions, NirArray, NirError, NirGraph, NirNode, Node, Value};
use gshn_snn::rng::SeedRng;
use gshn_snn::FireCondition;
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nir")
}

/// A synapse stage with seeded weights in `[-scale, scale]`.
fn linear(d_in: usize, d_out: usize, bias: bool, scale: f32, rng: &mut SeedRng, device: &Device) -> Stage {
    let mut draw = |n: usize| (0..n).map(|_| (rng.next_f32() * 2.0 - 1.0) * scale).collect::<Vec<f32>>();
    let w = Tensor::<2>::from_data(TensorData::new(draw(d_in * d_out), [d_in, d_out]), device);
    let b = bias.then(|| Param::from_tensor(Tensor::<1>::from_data(TensorData::new(draw(d_out), [d_out]), device)));
    Stage::Linear(Linear { weight: Param::from_tensor(w), bias: b })
}

/// `8 → 6 → neuron → 5 (no bias) → neuron`, seeded.
fn two_layer(first: &NeuronConfig, second: &NeuronConfig, seed: u64, device: &Device) -> SpikingNetwork {
    let mut rng = SeedRng::new(seed);
    let stages = vec![
        linear(8, 6, true, 1.2, &mut rng, device),
        Stage::neuron(first, device).unwrap(),
        linear(6, 5, false, 1.5, &mut rng, device),
        Stage::neuron(second, device).unwrap(),
    ];
    SpikingNetwork::new(8, stages).unwrap()
}

fn input(t: usize, n: usize, f: usize, seed: u64, device: &Device) -> Tensor<3> {
    let mut rng = SeedRng::new(seed);
    let v: Vec<f32> = (0..t * n * f).map(|_| rng.next_f32() * 3.0 - 0.8).collect();
    Tensor::from_data(TensorData::new(v, [t, n, f]), device)
}

fn base() -> NeuronBaseConfig {
    NeuronBaseConfig::new()
}

/// Every neuron model, leak form, reset mode, reset timing and fire condition gshn-snn has.
fn every_neuron() -> Vec<(&'static str, NeuronConfig)> {
    let lif = |leak, b| NeuronConfig::Lif(LifConfig::new().with_leak(leak).with_base(b));
    vec![
        ("if hard", NeuronConfig::If(IfConfig::new())),
        ("if soft", NeuronConfig::If(IfConfig::new().with_base(base().with_reset(ResetMode::Soft)))),
        ("if none >", NeuronConfig::If(IfConfig::new().with_base(base().with_reset(ResetMode::None).with_fire_condition(FireCondition::Greater)))),
        ("lif tau decay", lif(Leak::Tau { tau: 2.0, decay_input: true }, base())),
        ("lif tau no-decay reset -0.3", lif(Leak::Tau { tau: 3.5, decay_input: false }, base().with_reset_value(-0.3))),
        ("lif tau soft", lif(Leak::Tau { tau: 4.0, decay_input: true }, base().with_reset(ResetMode::Soft).with_threshold(0.7))),
        ("lif beta hard >", lif(Leak::Beta { beta: 0.8 }, base().with_fire_condition(FireCondition::Greater))),
        ("lif beta 1", lif(Leak::Beta { beta: 1.0 }, base())),
        ("lif snntorch (delayed subtract)", NeuronConfig::Lif(LifConfig::snntorch(0.9))),
        ("lif delayed hard", lif(Leak::Beta { beta: 0.6 }, base().with_reset_timing(ResetTiming::Delayed))),
        ("plif", NeuronConfig::Plif(PlifConfig::new().with_init_tau(3.0))),
        ("plif no-decay soft", NeuronConfig::Plif(PlifConfig::new().with_decay_input(false).with_base(base().with_reset(ResetMode::Soft)))),
    ]
}

/// A PLIF neuron's weight moved off its initial value, as training would.
fn train_plif(net: &mut SpikingNetwork, device: &Device) {
    for s in net.stages.iter_mut() {
        if let Stage::Neuron(Neuron::Plif(p)) = s {
            p.w = Param::from_tensor(Tensor::<1>::from_floats([0.3137], device));
        }
    }
}

fn lossy_ok() -> ExportOptions {
    ExportOptions { allow_lossy: true, ..Default::default() }
}

#[test]
fn every_neuron_and_reset_mode_round_trips_through_a_file_with_bit_equal_spikes() {
    for (backend, device) in backends() {
        for (what, config) in every_neuron() {
            let mut net = two_layer(&config, &config, 7, &device);
            train_plif(&mut net, &device);
            let x = input(12, 5, 8, 3, &device);
            let want = values(&net.forward(x.clone()).unwrap());
            assert!(want.contains(&1.0), "{backend} {what}: the test network never spikes");

            let exported = nir::export(&net, &lossy_ok()).unwrap();
            let bytes = nir::write_bytes(&exported.graph).unwrap();
            let read = nir::read_bytes(&bytes, Path::new("round-trip.nir")).unwrap();
            assert_eq!(read, exported.graph, "{backend} {what}: the graph changed through the file");
            let back = nir::import(&read, &ImportOptions::default(), &device).unwrap();
            let got = values(&back.network.forward(x).unwrap());
            assert_eq!(got, want, "{backend} {what}: spikes differ after gshn → NIR → gshn");
        }
    }
}

#[test]
fn without_gshn_metadata_the_nir_fields_alone_give_the_same_spikes() {
    // What another tool sees: only NIR's fields. For every neuron NIR can express exactly (a
    // reset to v_reset in the step that spiked), the fields alone rebuild the same dynamics.
    let device = flex();
    let greater = base().with_fire_condition(FireCondition::Greater);
    let lif = |leak, b| NeuronConfig::Lif(LifConfig::new().with_leak(leak).with_base(b));
    let cases = [
        ("if", NeuronConfig::If(IfConfig::new().with_base(greater.clone()))),
        ("lif tau decay", lif(Leak::Tau { tau: 2.0, decay_input: true }, greater.clone())),
        ("lif tau no-decay reset -0.3", lif(Leak::Tau { tau: 3.5, decay_input: false }, greater.clone().with_reset_value(-0.3))),
        ("lif beta", lif(Leak::Beta { beta: 0.75 }, greater.clone())),
        ("plif", NeuronConfig::Plif(PlifConfig::new().with_init_tau(3.0).with_base(greater.clone()))),
    ];
    for (what, config) in cases {
        let mut net = two_layer(&config, &config, 9, &device);
        train_plif(&mut net, &device);
        let x = input(12, 5, 8, 4, &device);
        let want = values(&net.forward(x.clone()).unwrap());
        let mut graph = nir::export(&net, &ExportOptions::default()).unwrap().graph;
        for entry in graph.nodes.values_mut() {
            if let Entry::Node(n) = entry {
                n.metadata.clear();
            }
        }
        let back = nir::import(&graph, &ImportOptions::default(), &device).unwrap();
        let got = values(&back.network.forward(x).unwrap());
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{what}: {differ} of {} spikes differ when read from the NIR fields alone", want.len());
    }
}

#[test]
fn a_neuron_nir_cannot_express_is_refused_unless_lossy_is_allowed() {
    let device = flex();
    for (what, config, needle) in [
        ("soft", NeuronConfig::If(IfConfig::new().with_base(base().with_reset(ResetMode::Soft))), "subtract reset"),
        ("none", NeuronConfig::If(IfConfig::new().with_base(base().with_reset(ResetMode::None))), "never resets"),
        ("delayed", NeuronConfig::Lif(LifConfig::new().with_base(base().with_reset_timing(ResetTiming::Delayed))), "delayed"),
    ] {
        let net = two_layer(&NeuronConfig::default(), &config, 1, &device);
        let err = nir::export(&net, &ExportOptions::default()).unwrap_err().to_string();
        assert!(err.contains("stage 3") && err.contains(needle) && err.contains("allow_lossy"), "{what}: {err}");
        let notes = nir::export(&net, &lossy_ok()).unwrap().notes;
        assert!(notes.iter().any(|n| n.contains("stage 3") && n.contains(needle)), "{what}: {notes:?}");
    }
    // `≥` is exact except at equality: exported with a note, not refused.
    let net = two_layer(&NeuronConfig::default(), &NeuronConfig::default(), 1, &device);
    let notes = nir::export(&net, &ExportOptions::default()).unwrap().notes;
    assert!(notes.iter().any(|n| n.contains("V ≥ V_th")), "{notes:?}");
}

#[derive(serde::Deserialize)]
struct PeerRun {
    #[serde(rename = "T")]
    t: usize,
    #[serde(rename = "N")]
    n: usize,
    #[serde(rename = "F")]
    f: usize,
    input: Vec<f32>,
    #[serde(default)]
    spikes: Vec<f32>,
    #[serde(default)]
    snntorch_spikes: Vec<f32>,
    #[serde(default)]
    spikingjelly_spikes: Vec<f32>,
}

fn peer_run(name: &str) -> PeerRun {
    let path = fixtures().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Runs a NIR file's network on a peer's recorded input, on every backend.
fn run_file(file: &str, run: &PeerRun) -> Vec<(&'static str, Vec<f32>)> {
    let graph = nir::read(fixtures().join(file)).unwrap();
    backends()
        .into_iter()
        .map(|(backend, device)| {
            let imported = nir::import(&graph, &ImportOptions::default(), &device).unwrap();
            let x = Tensor::<3>::from_data(TensorData::new(run.input.clone(), [run.t, run.n, run.f]), &device);
            (backend, values(&imported.network.forward(x).unwrap()))
        })
        .collect()
}

#[test]
fn a_network_exported_by_snntorch_gives_snntorchs_spikes() {
    let run = peer_run("snntorch_net.json");
    assert!(run.spikes.iter().sum::<f32>() > 20.0, "the fixture network should spike");
    for (backend, got) in run_file("snntorch_net.nir", &run) {
        assert_eq!(got, run.spikes, "{backend}: spikes differ from snnTorch's");
    }
}

#[test]
fn a_network_exported_by_spikingjelly_gives_spikingjellys_spikes() {
    let run = peer_run("spikingjelly_net.json");
    assert!(run.spikes.iter().sum::<f32>() > 20.0, "the fixture network should spike");
    let graph = nir::read(fixtures().join("spikingjelly_net.nir")).unwrap();
    let kinds: Vec<String> = nir::import::chain(&graph).unwrap().iter().map(|n| graph.nodes[n].kind().to_string()).collect();
    assert_eq!(kinds, ["Input", "Affine", "LIF", "Linear", "LIF", "Affine", "IF", "Output"], "SpikingJelly's PLIF arrives as a LIF with its learned τ");
    for (backend, got) in run_file("spikingjelly_net.nir", &run) {
        assert_eq!(got, run.spikes, "{backend}: spikes differ from SpikingJelly's");
    }
}

/// The network behind `gshn_net.nir`: both peers' import conventions hold for it (a reset to
/// 0 in the step that spiked, `v_leak = 0` or `v_reset`).
fn gshn_fixture_net(device: &Device) -> SpikingNetwork {
    let greater = base().with_fire_condition(FireCondition::Greater);
    let first = NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Tau { tau: 2.0, decay_input: true }).with_base(greater.clone()));
    let second = NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Beta { beta: 0.8 }).with_base(greater));
    two_layer(&first, &second, 21, device)
}

#[test]
fn gshn_fixture_file_is_what_gshn_exports_now() {
    let graph = nir::export(&gshn_fixture_net(&flex()), &ExportOptions::default()).unwrap().graph;
    let path = fixtures().join("gshn_net.nir");
    if std::env::var("GSHN_WRITE_FIXTURES").is_ok_and(|v| v == "1") {
        nir::write(&path, &graph).unwrap();
    }
    assert_eq!(
        nir::read(&path).unwrap(),
        graph,
        "{} is stale: GSHN_WRITE_FIXTURES=1 cargo test --workspace --test nir gshn_fixture, then scripts/peers/nir_fixtures.py",
        path.display()
    );
}

#[test]
fn a_network_exported_by_gshn_runs_in_snntorch_and_spikingjelly_with_our_spikes() {
    let run = peer_run("gshn_net_peers.json");
    for (backend, device) in backends() {
        let x = Tensor::<3>::from_data(TensorData::new(run.input.clone(), [run.t, run.n, run.f]), &device);
        let ours = values(&gshn_fixture_net(&device).forward(x).unwrap());
        assert!(ours.iter().sum::<f32>() > 10.0, "the fixture network should spike");
        assert_eq!(ours, run.snntorch_spikes, "{backend}: snnTorch's spikes on gshn_net.nir differ from gshn's");
        assert_eq!(ours, run.spikingjelly_spikes, "{backend}: SpikingJelly's spikes on gshn_net.nir differ from gshn's");
    }
}

// ---- bad files and graphs ----

fn err_of(graph: &NirGraph) -> String {
    nir::import(graph, &ImportOptions::default(), &flex()).unwrap_err().to_string()
}

fn fixture_graph() -> NirGraph {
    nir::export(&gshn_fixture_net(&flex()), &ExportOptions::default()).unwrap().graph
}

fn node_mut<'a>(g: &'a mut NirGraph, name: &str) -> &'a mut Node {
    match g.nodes.get_mut(name) {
        Some(Entry::Node(n)) => n,
        _ => panic!("no node {name}"),
    }
}

#[test]
fn a_truncated_or_foreign_file_is_an_error_naming_it() {
    let bytes = std::fs::read(fixtures().join("snntorch_net.nir")).unwrap();
    for cut in [0, 7, 100, 1000, bytes.len() / 2, bytes.len() - 10] {
        let err = nir::read_bytes(&bytes[..cut], Path::new("cut.nir")).unwrap_err().to_string();
        assert!(err.starts_with("cut.nir:"), "cut at {cut}: {err}");
    }
    let err = nir::read_bytes(b"{\"not\": \"hdf5\"}", Path::new("model.json")).unwrap_err().to_string();
    assert!(err.contains("model.json") && err.contains("HDF5"), "{err}");
    let err = nir::read(fixtures().join("missing.nir")).unwrap_err().to_string();
    assert!(err.contains("missing.nir"), "{err}");
}

#[test]
fn unknown_and_unsupported_node_types_are_named() {
    // An unknown type string is refused by the reader, naming the node.
    let mut g = fixture_graph();
    node_mut(&mut g, "lif_1").op = NirNode::Other { kind: "Mystery".into(), fields: Default::default() };
    let bytes = nir::write_bytes(&g).unwrap();
    let err = nir::read_bytes(&bytes, Path::new("m.nir")).unwrap_err().to_string();
    assert!(err.contains("`lif_1`") && err.contains("unknown NIR node type `Mystery`"), "{err}");
    // A NIR type gshn-snn does not run is refused by the import, naming node, type and why.
    let mut g = fixture_graph();
    let full = |v| Value::Floats(NirArray::full(6, v));
    let fields = [("tau_syn", full(2e-4)), ("tau_mem", full(2e-4)), ("r", full(1.0)), ("v_leak", full(0.0)), ("v_threshold", full(1.0)), ("w_in", full(1.0))];
    node_mut(&mut g, "lif_1").op = NirNode::Other { kind: "CubaLIF".into(), fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
    let read = nir::read_bytes(&nir::write_bytes(&g).unwrap(), Path::new("c.nir")).unwrap();
    let err = err_of(&read);
    assert!(err.contains("`lif_1`") && err.contains("CubaLIF") && err.contains("synaptic current") && err.contains("LIF, Flatten"), "{err}");
}

#[test]
fn shapes_that_do_not_chain_are_named() {
    let mut g = fixture_graph();
    let NirNode::Linear { weight } = &mut node_mut(&mut g, "linear_2").op else { panic!() };
    *weight = NirArray::from_f32(vec![5, 4], &[0.5; 20]);
    let err = err_of(&g);
    assert!(err.contains("`linear_2`") && err.contains("takes 4 inputs") && err.contains("gives 6"), "{err}");

    let mut g = fixture_graph();
    let NirNode::Lif { tau, .. } = &mut node_mut(&mut g, "lif_3").op else { panic!() };
    *tau = NirArray::full(3, 2e-4);
    let err = err_of(&g);
    assert!(err.contains("`lif_3`") && err.contains("`tau` has 3 values for 5 neurons"), "{err}");

    let mut g = fixture_graph();
    node_mut(&mut g, "output").op = NirNode::Output { shape: vec![7] };
    assert!(err_of(&g).contains("`output`"), "{}", err_of(&g));

    // Shapes whose size overflows, or a weight whose values do not fill its shape.
    let mut g = fixture_graph();
    node_mut(&mut g, "input").op = NirNode::Input { shape: vec![1 << 40, 1 << 40] };
    assert!(err_of(&g).contains("`input`") && err_of(&g).contains("more than"), "{}", err_of(&g));
    let mut g = fixture_graph();
    let NirNode::Affine { weight, .. } = &mut node_mut(&mut g, "affine_0").op else { panic!() };
    weight.data.truncate(5);
    assert!(err_of(&g).contains("`affine_0`") && err_of(&g).contains("holds 5 values"), "{}", err_of(&g));
}

#[test]
fn nan_and_per_neuron_parameters_are_named() {
    let mut g = fixture_graph();
    let NirNode::Affine { bias, .. } = &mut node_mut(&mut g, "affine_0").op else { panic!() };
    bias.data[2] = f64::NAN;
    let err = err_of(&g);
    assert!(err.contains("`affine_0`") && err.contains("`bias`") && err.contains("element 2 is NaN"), "{err}");

    let mut g = fixture_graph();
    let NirNode::Lif { v_threshold, .. } = &mut node_mut(&mut g, "lif_1").op else { panic!() };
    v_threshold.data[4] = 1.5;
    let err = err_of(&g);
    assert!(err.contains("`lif_1`") && err.contains("`v_threshold`") && err.contains("per-neuron values differ"), "{err}");

    // An edited file whose fields no longer say what the gshn config in its metadata says.
    let mut g = fixture_graph();
    let NirNode::Lif { tau, .. } = &mut node_mut(&mut g, "lif_1").op else { panic!() };
    *tau = NirArray::full(6, 5e-4);
    let err = err_of(&g);
    assert!(err.contains("`lif_1`") && err.contains("gshn_neuron") && err.contains("edited"), "{err}");
}

#[test]
fn branches_loops_and_strays_are_not_a_chain() {
    let mut g = fixture_graph();
    g.edges.push(("lif_3".into(), "affine_0".into()));
    let err = err_of(&g);
    assert!(err.contains("`affine_0` is fed by both `input` and `lif_3`"), "{err}");

    let mut g = fixture_graph();
    g.edges.retain(|(a, _)| a != "lif_3");
    g.edges.push(("lif_3".into(), "linear_2".into()));
    assert!(err_of(&g).contains("fed by both") || err_of(&g).contains("loop"), "{}", err_of(&g));

    let mut g = fixture_graph();
    g.nodes.insert("stray".into(), Entry::Node(Node::new(NirNode::Flatten { start_dim: 0, end_dim: -1, input_type: None })));
    assert!(err_of(&g).contains("`stray` is not on the path"), "{}", err_of(&g));

    let mut g = fixture_graph();
    g.nodes.insert("sub".into(), Entry::Graph(NirGraph::default()));
    assert!(err_of(&g).contains("`sub`") && err_of(&g).contains("NIRGraph"), "{}", err_of(&g));
}

#[test]
fn flatten_nodes_pass_through_and_integer_inputs_are_widened() {
    let mut g = fixture_graph();
    node_mut(&mut g, "input").op = NirNode::Input { shape: vec![2, 4] };
    g.nodes.insert("flat".into(), Entry::Node(Node::new(NirNode::Flatten { start_dim: 0, end_dim: -1, input_type: Some(vec![2, 4]) })));
    g.edges.retain(|(a, _)| a != "input");
    g.edges.push(("input".into(), "flat".into()));
    g.edges.push(("flat".into(), "affine_0".into()));
    let read = nir::read_bytes(&nir::write_bytes(&g).unwrap(), Path::new("f.nir")).unwrap();
    let device = flex();
    let imported = nir::import(&read, &ImportOptions::default(), &device).unwrap();
    assert!(imported.notes.iter().any(|n| n.contains("`flat`")));
    let x = input(6, 3, 8, 5, &device);
    assert_eq!(values(&imported.network.forward(x.clone()).unwrap()), values(&gshn_fixture_net(&device).forward(x).unwrap()));
}

#[test]
fn a_bad_dt_is_refused() {
    let net = gshn_fixture_net(&flex());
    for dt in [0.0, -1e-4, f64::NAN] {
        let err = nir::export(&net, &ExportOptions { dt, allow_lossy: false }).unwrap_err();
        assert!(matches!(err, NirError::BadField { ref field, .. } if field == "dt"), "{err}");
    }
    // τ shorter than the step: the Euler step would overshoot.
    let err = nir::import(&fixture_graph(), &ImportOptions { dt: 1.0 }, &flex()).unwrap_err().to_string();
    assert!(err.contains("`lif_1`") && err.contains("shorter than the step"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever bytes a damaged file holds, reading it returns (an error or a graph), never panics.
    #[test]
    fn damaged_files_never_panic(cut in 0usize..60_000, flips in proptest::collection::vec((0usize..60_000, any::<u8>()), 0..8)) {
        let mut bytes = std::fs::read(fixtures().join("snntorch_net.nir")).unwrap();
        for (at, b) in flips {
            let i = at % bytes.len();
            bytes[i] ^= b;
        }
        bytes.truncate(cut.min(bytes.len()));
        if let Err(e) = nir::read_bytes(&bytes, Path::new("damaged.nir")) {
            let file_level = matches!(e, NirError::Io { .. } | NirError::Hdf5 { .. } | NirError::Layout { .. });
            prop_assert!(!file_level || e.to_string().contains("damaged.nir"), "{}", e);
        }
    }
}
