//! The config-file form of neurons and surrogates: names with defaults, one-key tables with
//! partial fields, round trips through TOML and JSON, and errors that name the bad field.

use gshn_snn::neuron::{IfConfig, Leak, LifConfig, NeuronBaseConfig, NeuronConfig, PlifConfig, ResetMode};
use gshn_snn::Surrogate;
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Holder {
    neuron: NeuronConfig,
}

fn parse(text: &str) -> Result<NeuronConfig, String> {
    toml::from_str::<Holder>(text).map(|h| h.neuron).map_err(|e| e.to_string())
}

#[test]
fn a_name_gives_every_default_and_a_table_sets_single_fields() {
    assert_eq!(parse("neuron = \"lif\"").unwrap(), NeuronConfig::Lif(LifConfig::new()));
    assert_eq!(parse("neuron = \"if\"").unwrap(), NeuronConfig::If(IfConfig::new()));
    assert_eq!(parse("neuron = \"plif\"").unwrap(), NeuronConfig::Plif(PlifConfig::new()));
    let lif = parse("[neuron.lif]\ntau = 3\nthreshold = 0.5\nreset = \"soft\"\nsurrogate = \"sigmoid\"\n").unwrap();
    let want = LifConfig::new()
        .with_leak(Leak::Tau { tau: 3.0, decay_input: true })
        .with_base(NeuronBaseConfig::new().with_threshold(0.5).with_reset(ResetMode::Soft).with_surrogate(Surrogate::sigmoid()));
    assert_eq!(lif, NeuronConfig::Lif(want));
    let beta = parse("[neuron.lif]\nbeta = 0.9\n").unwrap();
    assert_eq!(beta, NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Beta { beta: 0.9 })));
    let plif = parse("[neuron.plif]\ninit_tau = 4.0\nsurrogate = { atan = { alpha = 3.0 } }\n").unwrap();
    assert_eq!(
        plif,
        NeuronConfig::Plif(PlifConfig::new().with_init_tau(4.0).with_base(NeuronBaseConfig::new().with_surrogate(Surrogate::ATan { alpha: 3.0 })))
    );
}

#[test]
fn every_config_round_trips_through_toml_and_json() {
    let all = [
        NeuronConfig::If(IfConfig::new().with_base(NeuronBaseConfig::snntorch())),
        NeuronConfig::Lif(LifConfig::snntorch(0.8)),
        NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Tau { tau: 5.0, decay_input: false })),
        NeuronConfig::Plif(PlifConfig::new().with_decay_input(false).with_base(NeuronBaseConfig::new().with_surrogate(Surrogate::StraightThrough))),
        NeuronConfig::Lif(LifConfig::new().with_base(NeuronBaseConfig::new().with_surrogate(Surrogate::FastSigmoid { slope: 10.0 }))),
        NeuronConfig::Lif(LifConfig::new().with_base(NeuronBaseConfig::new().with_surrogate(Surrogate::PiecewiseQuadratic { alpha: 2.0 }))),
    ];
    for n in all {
        let h = Holder { neuron: n };
        let text = toml::to_string(&h).unwrap();
        assert_eq!(toml::from_str::<Holder>(&text).unwrap(), h, "{text}");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), h, "{json}");
    }
}

#[test]
fn bad_tables_name_the_field_and_the_choices() {
    let err = parse("neuron = \"hodgkin\"").unwrap_err();
    assert!(err.contains("hodgkin") && err.contains("if, lif, plif"), "{err}");
    let err = parse("[neuron.lif]\ntua = 3\n").unwrap_err();
    assert!(err.contains("tua"), "{err}");
    let err = parse("[neuron.plif]\ntau = 3\n").unwrap_err();
    assert!(err.contains("`tau`") && err.contains("init_tau"), "{err}");
    let err = parse("[neuron.if]\ntau = 3\n").unwrap_err();
    assert!(err.contains("`tau`") && err.contains("if neuron"), "{err}");
    let err = parse("[neuron.lif]\ntau = 3\nbeta = 0.5\n").unwrap_err();
    assert!(err.contains("beta") && err.contains("not both"), "{err}");
    let err = parse("[neuron.lif]\nsurrogate = \"tanh\"\n").unwrap_err();
    assert!(err.contains("tanh") && err.contains("fast-sigmoid"), "{err}");
    let err = parse("[neuron.lif]\nsurrogate = { sigmoid = { slope = 3.0 } }\n").unwrap_err();
    assert!(err.contains("slope"), "{err}");
    let err = parse("[neuron.lif]\nreset = \"hardest\"\n").unwrap_err();
    assert!(err.contains("hardest"), "{err}");
    let err = parse("[neuron]\nlif = {}\nif = {}\n").unwrap_err();
    assert!(err.contains("both"), "{err}");
}
