//! Every surrogate: forward exactly Θ(x), backward the analytic derivative — on flex and on
//! wgpu (a peer once shipped surrogates whose gradient was silently zero on one backend).

mod common;

use common::{assert_close, backends, tensor, values};
use gshn_snn::surrogate::{FireCondition, Surrogate};

const XS: [f32; 12] = [-3.0, -1.5, -0.7, -0.3, -0.05, -0.001, 0.001, 0.05, 0.3, 0.7, 1.5, 3.0];

fn all_surrogates() -> Vec<Surrogate> {
    vec![
        Surrogate::atan(),
        Surrogate::ATan { alpha: 5.0 },
        Surrogate::sigmoid(),
        Surrogate::fast_sigmoid(),
        Surrogate::FastSigmoid { slope: 2.0 },
        Surrogate::piecewise_quadratic(),
        Surrogate::PiecewiseQuadratic { alpha: 2.0 },
        Surrogate::StraightThrough,
    ]
}

#[test]
fn surrogate_forward_is_exact_step_and_backward_is_the_formula_on_every_backend() {
    for (backend, device) in backends() {
        let device = device.autodiff();
        for sg in all_surrogates() {
            for cond in [FireCondition::GreaterEqual, FireCondition::Greater] {
                let x = tensor(&XS, [XS.len()], &device).require_grad();
                let s = sg.spike(x.clone(), cond);
                let fwd = values(&s);
                let want_fwd: Vec<f32> = XS.iter().map(|&v| cond.heaviside_scalar(v as f64) as f32).collect();
                assert_eq!(fwd, want_fwd, "{backend} {sg:?}: forward must be exactly 0/1");
                let grads = s.sum().backward();
                let g = values(&x.grad(&grads).expect("gradient exists"));
                let want: Vec<f32> = XS.iter().map(|&v| sg.derivative(v as f64) as f32).collect();
                assert_close(&format!("{backend} {sg:?} gradient"), &g, &want, 1e-5);
                assert!(g.iter().any(|&v| v != 0.0), "{backend} {sg:?}: all-zero gradient");
            }
        }
    }
}

#[test]
fn threshold_condition_differs_exactly_at_zero() {
    for (backend, device) in backends() {
        let x = tensor(&[0.0, -0.0, 1e-7, -1e-7], [4], &device);
        let ge = values(&FireCondition::GreaterEqual.heaviside(x.clone()));
        let gt = values(&FireCondition::Greater.heaviside(x));
        assert_eq!(ge, vec![1.0, 1.0, 1.0, 0.0], "{backend} >=");
        assert_eq!(gt, vec![0.0, 0.0, 1.0, 0.0], "{backend} >");
    }
}

#[test]
fn hand_computed_derivatives_at_zero() {
    // ATan α=2: α/2 = 1; Sigmoid α=4: α/4 = 1; fast sigmoid: 1; quadratic α=1: 1.
    for sg in [Surrogate::atan(), Surrogate::sigmoid(), Surrogate::fast_sigmoid(), Surrogate::piecewise_quadratic()] {
        assert!((sg.derivative(0.0) - 1.0).abs() < 1e-12, "{sg:?}");
    }
    // ATan α=2 at x=1: 1 / (1 + π²).
    let v = Surrogate::atan().derivative(1.0);
    assert!((v - 1.0 / (1.0 + std::f64::consts::PI.powi(2))).abs() < 1e-12);
    // Quadratic is zero outside 1/α.
    assert_eq!(Surrogate::PiecewiseQuadratic { alpha: 2.0 }.derivative(0.6), 0.0);
}

#[test]
fn bad_surrogate_parameters_are_errors() {
    for sg in [Surrogate::ATan { alpha: 0.0 }, Surrogate::Sigmoid { alpha: -1.0 }, Surrogate::FastSigmoid { slope: f64::NAN }] {
        assert!(sg.validate().is_err(), "{sg:?}");
    }
}
