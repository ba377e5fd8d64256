//! Property tests of the neuron models (proptest) and hand-computed cases.

mod common;

use burn::tensor::Tensor;
use common::{flex, tensor, values};
use gshn_snn::neuron::*;
use gshn_snn::surrogate::FireCondition;
use gshn_snn::SnnError;
use proptest::prelude::*;

fn any_neuron() -> impl Strategy<Value = NeuronConfig> {
    let reset = prop_oneof![Just(ResetMode::Hard), Just(ResetMode::Soft), Just(ResetMode::None)];
    let timing = prop_oneof![Just(ResetTiming::Immediate), Just(ResetTiming::Delayed)];
    (0usize..3, reset, timing, 0.2f64..2.0, 1.0f64..8.0, any::<bool>()).prop_map(|(kind, reset, timing, th, tau, di)| {
        let base = NeuronBaseConfig::new().with_threshold(th).with_reset(reset).with_reset_timing(timing);
        match kind {
            0 => NeuronConfig::If(IfConfig::new().with_base(base)),
            1 => NeuronConfig::Lif(LifConfig::new().with_leak(Leak::Tau { tau, decay_input: di }).with_base(base)),
            _ => NeuronConfig::Plif(PlifConfig::new().with_init_tau(tau.max(1.5)).with_decay_input(di).with_base(base)),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spikes_are_zero_or_one(cfg in any_neuron(), xs in proptest::collection::vec(-3.0f32..3.0, 4 * 6)) {
        let device = flex();
        let n = cfg.init(&device).unwrap();
        let s = n.forward(tensor(&xs, [4, 2, 3], &device)).unwrap();
        prop_assert_eq!(s.dims(), [4, 2, 3]);
        prop_assert!(values(&s).iter().all(|&v| v == 0.0 || v == 1.0));
    }

    #[test]
    fn zero_input_never_spikes(cfg in any_neuron(), t in 1usize..12) {
        let device = flex();
        let n = cfg.init(&device).unwrap();
        let s = n.forward(Tensor::<2>::zeros([t, 5], &device)).unwrap();
        prop_assert!(values(&s).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn if_neuron_with_constant_input_fires_at_the_analytic_period(c in 0.05f32..1.0, t in 1usize..40) {
        // Hard reset to 0, threshold 1: V climbs by c per step and fires when k·c ≥ 1, so the
        // period is ⌈1/c⌉ and spikes land on steps p−1, 2p−1, … (0-based).
        let ratio = 1.0 / c as f64;
        prop_assume!((ratio - ratio.round()).abs() > 1e-3);
        let period = ratio.ceil() as usize;
        let device = flex();
        let n = IfConfig::new().init(&device).unwrap();
        let s = values(&n.forward(Tensor::<2>::full([t, 1], c, &device)).unwrap());
        for (i, v) in s.iter().enumerate() {
            let want = if (i + 1) % period == 0 { 1.0 } else { 0.0 };
            prop_assert_eq!(*v, want, "step {} period {}", i, period);
        }
    }

    #[test]
    fn soft_reset_subtracts_the_threshold(xs in proptest::collection::vec(-1.0f32..2.5, 10 * 3), th in 0.3f64..2.0) {
        // IF + soft reset: V[t] = V[t−1] + X[t] − V_th·S[t].
        let device = flex();
        let n = IfConfig::new()
            .with_base(NeuronBaseConfig::new().with_reset(ResetMode::Soft).with_threshold(th))
            .init(&device).unwrap();
        let out = n.forward_multi(tensor(&xs, [10, 3], &device), None).unwrap();
        let (s, v) = (values(&out.spikes), values(&out.membrane));
        for t in 0..10 {
            for j in 0..3 {
                let prev = if t == 0 { 0.0 } else { v[(t - 1) * 3 + j] };
                let before = prev + xs[t * 3 + j];
                let want = before - th as f32 * s[t * 3 + j];
                prop_assert!((v[t * 3 + j] - want).abs() < 1e-5, "t {} j {}: {} vs {}", t, j, v[t * 3 + j], want);
                let fired = before >= th as f32;
                prop_assert_eq!(s[t * 3 + j] == 1.0, fired);
            }
        }
    }

    #[test]
    fn single_step_and_multi_step_agree(cfg in any_neuron(), xs in proptest::collection::vec(-2.0f32..3.0, 6 * 4)) {
        let device = flex();
        let n = cfg.init(&device).unwrap();
        let multi = values(&n.forward(tensor(&xs, [6, 4], &device)).unwrap());
        let mut state = n.init_state::<1>([4], &device);
        let mut single = Vec::new();
        for t in 0..6 {
            let (s, next) = n.step(tensor(&xs[t * 4..(t + 1) * 4], [4], &device), state).unwrap();
            single.extend(values(&s));
            state = next;
        }
        prop_assert_eq!(multi, single);
    }
}

#[test]
fn lif_hand_computed_trace() {
    // τ = 2, decay_input, hard reset 0, V_th = 1, x = 1.5 constant:
    // H1 = 0 + (1.5 − 0)/2 = 0.75 → no spike, V1 = 0.75
    // H2 = 0.75 + (1.5 − 0.75)/2 = 1.125 → spike, V2 = 0
    // H3 = 0.75 → no spike.
    let device = flex();
    let lif = LifConfig::new().init(&device).unwrap();
    let out = lif.forward_multi(Tensor::<2>::full([3, 1], 1.5, &device), None).unwrap();
    assert_eq!(values(&out.spikes), vec![0.0, 1.0, 0.0]);
    assert_eq!(values(&out.membrane), vec![0.75, 0.0, 0.75]);
}

#[test]
fn snntorch_style_delayed_hard_reset_keeps_the_next_input() {
    // β = 0.5, hard reset to 0 delayed (snnTorch "zero"): M1 = 1.2 → spike;
    // M2 = 0.5·(1.2·(1 − 1)) + 1.2 = 1.2 → spike again.
    let device = flex();
    let base = NeuronBaseConfig::snntorch().with_reset(ResetMode::Hard);
    let lif = LifConfig::new().with_leak(Leak::Beta { beta: 0.5 }).with_base(base).init(&device).unwrap();
    let out = lif.forward_multi(Tensor::<2>::full([2, 1], 1.2, &device), None).unwrap();
    assert_eq!(values(&out.spikes), vec![1.0, 1.0]);
    let m = values(&out.membrane);
    assert!((m[0] - 1.2).abs() < 1e-6 && (m[1] - 1.2).abs() < 1e-6, "{m:?}");
}

#[test]
fn fire_condition_at_exactly_the_threshold() {
    let device = flex();
    for (cond, want) in [(FireCondition::GreaterEqual, 1.0), (FireCondition::Greater, 0.0)] {
        let n = IfConfig::new().with_base(NeuronBaseConfig::new().with_fire_condition(cond)).init(&device).unwrap();
        let s = values(&n.forward(Tensor::<2>::full([1, 1], 1.0, &device)).unwrap());
        assert_eq!(s, vec![want], "{cond:?}");
    }
}

#[test]
fn multi_step_state_continues_a_run() {
    let device = flex();
    let lif = LifConfig::new().init(&device).unwrap();
    let xs: Vec<f32> = (0..8 * 3).map(|i| ((i * 37 % 11) as f32) / 5.0).collect();
    let whole = values(&lif.forward(tensor(&xs, [8, 3], &device)).unwrap());
    let first = lif.forward_multi(tensor(&xs[..12], [4, 3], &device), None).unwrap();
    let second = lif.forward_multi(tensor(&xs[12..], [4, 3], &device), Some(first.state)).unwrap();
    let mut joined = values(&first.spikes);
    joined.extend(values(&second.spikes));
    assert_eq!(whole, joined);
}

#[test]
fn bad_configurations_are_clear_errors() {
    let device = flex();
    let e = LifConfig::new().with_leak(Leak::Tau { tau: -2.0, decay_input: true }).init(&device).unwrap_err();
    assert!(matches!(e, SnnError::InvalidParameter { name: "tau", .. }), "{e}");
    assert!(e.to_string().contains("tau"));
    let e = LifConfig::new().with_leak(Leak::Beta { beta: 1.5 }).init(&device).unwrap_err();
    assert!(matches!(e, SnnError::InvalidParameter { name: "beta", .. }));
    let e = PlifConfig::new().with_init_tau(1.0).init(&device).unwrap_err();
    assert!(matches!(e, SnnError::InvalidParameter { name: "init_tau", .. }));
    let e = IfConfig::new().with_base(NeuronBaseConfig::new().with_threshold(f64::INFINITY)).init(&device).unwrap_err();
    assert!(matches!(e, SnnError::InvalidParameter { name: "threshold", .. }));
    let e = IfConfig::new().with_base(NeuronBaseConfig::new().with_reset_value(1.0)).init(&device).unwrap_err();
    assert!(matches!(e, SnnError::InvalidParameter { name: "reset_value", .. }));

    let lif = LifConfig::new().init(&device).unwrap();
    assert_eq!(lif.forward(Tensor::<2>::zeros([0, 3], &device)).unwrap_err(), SnnError::ZeroTimeSteps);
    let state = lif.init_state::<1>([3], &device);
    let e = lif.step(Tensor::<1>::zeros([4], &device), state).unwrap_err();
    assert!(matches!(e, SnnError::ShapeMismatch(_)), "{e}");
    let wrong = lif.init_state::<2>([1, 5], &device);
    assert!(matches!(lif.forward_multi(Tensor::<2>::zeros([2, 3], &device), Some(wrong)), Err(SnnError::ShapeMismatch(_))));
}

#[test]
fn configs_round_trip_through_json() {
    let cfg = NeuronConfig::Plif(PlifConfig::new().with_init_tau(3.0));
    let json = serde_json::to_string(&cfg).unwrap();
    let back: NeuronConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(cfg, back);
}
