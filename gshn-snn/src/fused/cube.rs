//! The fused neuron as CubeCL kernels (WGPU and the other CubeCL runtimes): one thread per
//! neuron loops over the `T` steps, reading and writing one element per row, so the threads
//! of a warp touch neighbouring addresses. The model, reset, surrogate and outputs are
//! compile-time parameters: each combination compiles to its own branch-free kernel.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn::backend::TensorMetadata;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeBackend;
use cubecl::calculate_cube_count_elemwise;
use cubecl::prelude::*;

use super::ops::{FusedNeuronOps, LeakGain, StartState};
use super::{Charge, FusedSpec};
use crate::neuron::base::{ResetMode, ResetTiming};
use crate::surrogate::{FireCondition, Surrogate};

/// The charge equation, at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChargeCode {
    If,
    TauDecay,
    TauNoDecay,
    Beta,
    LearnedDecay,
    LearnedNoDecay,
}

/// The reset, at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetCode {
    Hard,
    Soft,
    None,
}

/// The surrogate derivative, at compile time (its sharpness is a runtime scalar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SurrogateCode {
    ATan,
    Sigmoid,
    FastSigmoid,
    PiecewiseQuadratic,
    StraightThrough,
}

/// `H = f(u, x)`: the f32 operations of the unfused charge in the same order. `coef` is τ or
/// β, `k` PLIF's gain.
#[cube]
fn charge<F: Float>(u: F, x: F, coef: F, k: F, rest: F, #[comptime] code: ChargeCode) -> F {
    match code {
        ChargeCode::If => u + x,
        ChargeCode::TauDecay => u + (x - (u - rest)) / coef,
        ChargeCode::TauNoDecay => (u - (u - rest) / coef) + x,
        ChargeCode::Beta => u * coef + x,
        ChargeCode::LearnedDecay => u + (x - (u - rest)) * k,
        ChargeCode::LearnedNoDecay => (u - (u - rest) * k) + x,
    }
}

/// `∂H/∂k` (PLIF).
#[cube]
fn charge_dk<F: Float>(u: F, x: F, rest: F, #[comptime] code: ChargeCode) -> F {
    match code {
        ChargeCode::LearnedDecay => x - (u - rest),
        _ => F::new(0.0_f32) - (u - rest),
    }
}

/// `Θ(y − V_th)`.
#[cube]
fn fire<F: Float>(y: F, thr: F, #[comptime] greater_equal: bool) -> bool {
    let z = y - thr;
    if greater_equal {
        z >= F::new(0.0_f32)
    } else {
        z > F::new(0.0_f32)
    }
}

/// `R(h, s)`.
#[cube]
fn reset<F: Float>(h: F, s: bool, thr: F, vr: F, #[comptime] code: ResetCode) -> F {
    match code {
        ResetCode::Hard => select(s, vr, h),
        ResetCode::Soft => select(s, h - thr, h),
        ResetCode::None => h,
    }
}

/// The surrogate derivative `σ'(z)`; `p` is α (or the fast sigmoid's slope).
#[cube]
fn surrogate<F: Float>(z: F, p: F, #[comptime] code: SurrogateCode) -> F {
    let one = F::new(1.0_f32);
    match code {
        SurrogateCode::ATan => {
            let u = F::new(core::f32::consts::FRAC_PI_2) * p * z;
            p / F::new(2.0_f32) / (one + u * u)
        }
        SurrogateCode::Sigmoid => {
            let s = one / (one + F::exp(F::new(0.0_f32) - p * z));
            p * s * (one - s)
        }
        SurrogateCode::FastSigmoid => {
            let d = one + p * F::abs(z);
            one / (d * d)
        }
        SurrogateCode::PiecewiseQuadratic => {
            let az = F::abs(z);
            select(az <= one / p, p - p * p * az, F::new(0.0_f32))
        }
        SurrogateCode::StraightThrough => one,
    }
}

/// The forward pass: `out` gets the spikes (rows `0..T`) and with `membrane` the membrane
/// trace (rows `T..2T`); with `save_h`, `h` gets the value compared with the threshold.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn forward_kernel<F: Float>(
    x: &Tensor<F>,
    v0: &Tensor<F>,
    s0: &Tensor<F>,
    k: &Tensor<F>,
    out: &mut Tensor<F>,
    h: &mut Tensor<F>,
    thr: f32,
    vr: f32,
    rest: f32,
    coef: f32,
    init: f32,
    #[comptime] charge_code: ChargeCode,
    #[comptime] reset_code: ResetCode,
    #[comptime] delayed: bool,
    #[comptime] greater_equal: bool,
    #[comptime] given: bool,
    #[comptime] learned: bool,
    #[comptime] membrane: bool,
    #[comptime] save_h: bool,
    #[define(F)] _dtype: ElemType,
) {
    let n = x.shape(1);
    let steps = x.shape(0);
    let i = ABSOLUTE_POS;
    if i >= n {
        terminate!();
    }
    let thr = F::cast_from(thr);
    let vr = F::cast_from(vr);
    let rest = F::cast_from(rest);
    let coef = F::cast_from(coef);
    let init = F::cast_from(init);
    let kk = if learned { k[0] } else { F::new(0.0_f32) };
    let mut v = init;
    let mut sp = false;
    if given {
        v = v0[i];
        sp = s0[i] != F::new(0.0_f32);
    }
    for t in 0..steps {
        let xi = x[t * n + i];
        let (y, s, vn) = if delayed {
            let y = if comptime![reset_code == ResetCode::Hard] {
                charge::<F>(reset::<F>(v, sp, thr, vr, reset_code), xi, coef, kk, rest, charge_code)
            } else {
                reset::<F>(charge::<F>(v, xi, coef, kk, rest, charge_code), sp, thr, vr, reset_code)
            };
            (y, fire::<F>(y, thr, greater_equal), y)
        } else {
            let y = charge::<F>(v, xi, coef, kk, rest, charge_code);
            let s = fire::<F>(y, thr, greater_equal);
            (y, s, reset::<F>(y, s, thr, vr, reset_code))
        };
        if delayed {
            sp = s;
        }
        v = vn;
        out[t * n + i] = select(s, F::new(1.0_f32), F::new(0.0_f32));
        if membrane {
            out[(steps + t) * n + i] = vn;
        }
        if save_h {
            h[t * n + i] = y;
        }
    }
}

/// The backward pass (see `flex.rs` for the same sweep in Rust): `gx` gets `∂L/∂x`, `aux` the
/// start-state gradients (given) and the per-neuron partial `∂L/∂k` (learned).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
fn backward_kernel<F: Float>(
    x: &Tensor<F>,
    h: &Tensor<F>,
    grad: &Tensor<F>,
    v0: &Tensor<F>,
    s0: &Tensor<F>,
    k: &Tensor<F>,
    gx: &mut Tensor<F>,
    aux: &mut Tensor<F>,
    thr: f32,
    vr: f32,
    rest: f32,
    init: f32,
    a_fixed: f32,
    b_fixed: f32,
    p: f32,
    #[comptime] charge_code: ChargeCode,
    #[comptime] reset_code: ResetCode,
    #[comptime] surrogate_code: SurrogateCode,
    #[comptime] delayed: bool,
    #[comptime] greater_equal: bool,
    #[comptime] detach: bool,
    #[comptime] given: bool,
    #[comptime] learned: bool,
    #[comptime] read_x: bool,
    #[comptime] membrane: bool,
    #[define(F)] _dtype: ElemType,
) {
    let n = h.shape(1);
    let steps = h.shape(0);
    let i = ABSOLUTE_POS;
    if i >= n {
        terminate!();
    }
    let zero = F::new(0.0_f32);
    let one = F::new(1.0_f32);
    let thr = F::cast_from(thr);
    let vr = F::cast_from(vr);
    let rest = F::cast_from(rest);
    let init = F::cast_from(init);
    let a_fixed = F::cast_from(a_fixed);
    let b_fixed = F::cast_from(b_fixed);
    let p = F::cast_from(p);
    let kk = if learned { k[0] } else { zero };
    let a = if learned { one - kk } else { a_fixed };
    let b = if comptime![charge_code == ChargeCode::LearnedDecay] { kk } else { b_fixed };
    // The state before step 0.
    let mut v_start = init;
    let mut s_start = false;
    if given {
        v_start = v0[i];
        s_start = s0[i] != zero;
    }
    let mut carry_v = zero;
    let mut carry_s = zero;
    let mut gk = zero;
    let mut y = h[(steps - 1) * n + i];
    for r in 0..steps {
        let t = steps - 1 - r;
        // The state the forward saw before step t: (V[t−1], S[t−1]) from H[t−1], or the start.
        let mut y_prev = zero;
        let mut v_prev = v_start;
        let mut s_prev = s_start;
        if t > 0 {
            y_prev = h[(t - 1) * n + i];
            s_prev = fire::<F>(y_prev, thr, greater_equal);
            if delayed {
                v_prev = y_prev;
            } else {
                v_prev = reset::<F>(y_prev, s_prev, thr, vr, reset_code);
            }
        }
        let z = y - thr;
        let s = fire::<F>(y, thr, greater_equal);
        let sg = surrogate::<F>(z, p, surrogate_code);
        let mut g_mem = zero;
        if membrane {
            g_mem = grad[(steps + t) * n + i];
        }
        let g_spk = grad[t * n + i];
        let mut xi = zero;
        if read_x {
            xi = x[t * n + i];
        }
        if delayed {
            let ds = g_spk + carry_s;
            let dm = g_mem + carry_v + ds * sg;
            gx[t * n + i] = dm * b;
            if comptime![reset_code == ResetCode::Hard] {
                let u = reset::<F>(v_prev, s_prev, thr, vr, reset_code);
                let du = dm * a;
                if learned {
                    gk += dm * charge_dk::<F>(u, xi, rest, charge_code);
                }
                carry_v = select(s_prev, zero, du);
                if detach {
                    carry_s = zero;
                } else {
                    carry_s = du * (vr - v_prev);
                }
            } else {
                if learned {
                    gk += dm * charge_dk::<F>(v_prev, xi, rest, charge_code);
                }
                carry_v = dm * a;
                if comptime![detach || reset_code == ResetCode::None] {
                    carry_s = zero;
                } else {
                    carry_s = zero - thr * dm;
                }
            }
        } else {
            let dv = g_mem + carry_v;
            let mut dvdh = one;
            let mut dvds = zero;
            if comptime![reset_code == ResetCode::Hard] {
                dvdh = select(s, zero, one);
                dvds = vr - y;
            }
            if comptime![reset_code == ResetCode::Soft] {
                dvds = zero - thr;
            }
            if detach {
                dvds = zero;
            }
            let ds = g_spk + dv * dvds;
            let dh = dv * dvdh + ds * sg;
            gx[t * n + i] = dh * b;
            if learned {
                gk += dh * charge_dk::<F>(v_prev, xi, rest, charge_code);
            }
            carry_v = dh * a;
        }
        y = y_prev;
    }
    if given {
        aux[i] = carry_v;
        aux[n + i] = carry_s;
        if learned {
            aux[2 * n + i] = gk;
        }
    } else if learned {
        aux[i] = gk;
    }
}

fn charge_code(charge: Charge) -> (ChargeCode, f32) {
    match charge {
        Charge::If => (ChargeCode::If, 0.0),
        Charge::Tau { tau, decay_input: true } => (ChargeCode::TauDecay, tau),
        Charge::Tau { tau, decay_input: false } => (ChargeCode::TauNoDecay, tau),
        Charge::Beta { beta } => (ChargeCode::Beta, beta),
        Charge::Learned { decay_input: true } => (ChargeCode::LearnedDecay, 0.0),
        Charge::Learned { decay_input: false } => (ChargeCode::LearnedNoDecay, 0.0),
    }
}

fn reset_code(reset: ResetMode) -> ResetCode {
    match reset {
        ResetMode::Hard => ResetCode::Hard,
        ResetMode::Soft => ResetCode::Soft,
        ResetMode::None => ResetCode::None,
    }
}

fn surrogate_code(surrogate: Surrogate) -> (SurrogateCode, f32) {
    match surrogate {
        Surrogate::ATan { alpha } => (SurrogateCode::ATan, alpha as f32),
        Surrogate::Sigmoid { alpha } => (SurrogateCode::Sigmoid, alpha as f32),
        Surrogate::FastSigmoid { slope } => (SurrogateCode::FastSigmoid, slope as f32),
        Surrogate::PiecewiseQuadratic { alpha } => (SurrogateCode::PiecewiseQuadratic, alpha as f32),
        Surrogate::StraightThrough => (SurrogateCode::StraightThrough, 0.0),
    }
}

fn initial_v(spec: &FusedSpec) -> f32 {
    match spec.reset {
        ResetMode::Hard => spec.reset_value,
        _ => 0.0,
    }
}

fn empty(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), shape.into(), like.dtype)
}

/// The start state and gain as kernel arguments (`[1]` placeholders where absent).
fn aux_inputs(like: &CubeTensor, start: StartState<CubeBackend>, gain: LeakGain<CubeBackend>) -> (CubeTensor, CubeTensor, bool, CubeTensor, bool) {
    let (v0, s0, given) = match start {
        StartState::Fresh => (empty(like, [1]), empty(like, [1]), false),
        StartState::Given { v, s } => (into_contiguous(v), into_contiguous(s), true),
    };
    let (k, learned) = match gain {
        LeakGain::Fixed => (empty(like, [1]), false),
        LeakGain::Learned(k) => (into_contiguous(k), true),
    };
    (v0, s0, given, k, learned)
}

impl FusedNeuronOps for CubeBackend {
    fn neuron_multi_forward(x: FloatTensor<Self>, start: StartState<Self>, gain: LeakGain<Self>, spec: FusedSpec) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let x = into_contiguous(x);
        let [t, n] = x.shape().dims::<2>();
        let out = empty(&x, [spec.out_rows() * t, n]);
        let h = empty(&x, if spec.save_h { [t, n] } else { [1, 1] });
        if n == 0 || t == 0 {
            return (out, h);
        }
        let (v0, s0, given, k, learned) = aux_inputs(&x, start, gain);
        let (code, coef) = charge_code(spec.charge);
        let client = x.client.clone();
        let dtype = x.dtype;
        let cube_dim = CubeDim::new(&client, n);
        let cube_count = calculate_cube_count_elemwise(&client, n, cube_dim);
        forward_kernel::launch(
            &client,
            cube_count,
            cube_dim,
            x.into_tensor_arg(),
            v0.into_tensor_arg(),
            s0.into_tensor_arg(),
            k.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            h.clone().into_tensor_arg(),
            spec.threshold,
            spec.reset_value,
            spec.rest,
            coef,
            initial_v(&spec),
            code,
            reset_code(spec.reset),
            spec.timing == ResetTiming::Delayed,
            spec.fire == FireCondition::GreaterEqual,
            given,
            learned,
            spec.with_membrane,
            spec.save_h,
            dtype_to_storage_type(dtype),
        );
        (out, h)
    }

    fn neuron_multi_backward(
        x: FloatTensor<Self>,
        h: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        start: StartState<Self>,
        gain: LeakGain<Self>,
        spec: FusedSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let h = into_contiguous(h);
        let grad = into_contiguous(grad);
        let read_x = matches!(spec.charge, Charge::Learned { decay_input: true });
        let x = if read_x { into_contiguous(x) } else { empty(&h, [1]) };
        let [t, n] = h.shape().dims::<2>();
        let given = matches!(start, StartState::Given { .. });
        let gx = empty(&h, [t, n]);
        let aux = empty(&h, [spec.aux_rows(given), n]);
        if n == 0 || t == 0 {
            return (gx, aux);
        }
        let (v0, s0, given, k, learned) = aux_inputs(&h, start, gain);
        let (code, _) = charge_code(spec.charge);
        let (a, b) = spec.charge.partials(0.0);
        let (sur, p) = surrogate_code(spec.surrogate);
        let client = h.client.clone();
        let dtype = h.dtype;
        let cube_dim = CubeDim::new(&client, n);
        let cube_count = calculate_cube_count_elemwise(&client, n, cube_dim);
        backward_kernel::launch(
            &client,
            cube_count,
            cube_dim,
            x.into_tensor_arg(),
            h.into_tensor_arg(),
            grad.into_tensor_arg(),
            v0.into_tensor_arg(),
            s0.into_tensor_arg(),
            k.into_tensor_arg(),
            gx.clone().into_tensor_arg(),
            aux.clone().into_tensor_arg(),
            spec.threshold,
            spec.reset_value,
            spec.rest,
            initial_v(&spec),
            a,
            b,
            p,
            code,
            reset_code(spec.reset),
            sur,
            spec.timing == ResetTiming::Delayed,
            spec.fire == FireCondition::GreaterEqual,
            spec.detach_reset,
            given,
            learned,
            read_x,
            spec.with_membrane,
            dtype_to_storage_type(dtype),
        );
        (gx, aux)
    }
}
