//! The fused neuron on flex: Rust over f32 slices, rayon over chunks of neurons.
//!
//! A `[T, N]` tensor is row-major, so one neuron's steps are `N` apart. Each rayon task takes
//! a chunk of neighbouring neurons and runs the time loop outside the loop over them: every
//! read and write is a contiguous run of the chunk's row, the state (`V`, `S`, the carried
//! gradients) is a chunk-long array in L1, and each inner loop is one straight, vectorisable
//! pass (the model, reset, fire condition and surrogate are chosen per row, outside it).
//!
//! Memory: the forward writes the spikes (and the membrane when asked) and saves nothing but
//! a reference to its input; the backward recomputes each chunk's `H[t]` from the input into a
//! chunk-local buffer (a few dozen KiB) before its reverse sweep, and writes `∂L/∂x` over the
//! incoming gradient when that buffer is its own. One new `[T, N]` buffer per pass: fresh
//! allocations of that size cost page faults on every use.

use std::mem::MaybeUninit;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::ops::{FusedNeuronOps, LeakGain, StartState};
use super::{Charge, FusedSpec};
use crate::neuron::base::{ResetMode, ResetTiming};
use crate::surrogate::{FireCondition, Surrogate};

/// Neurons per rayon task for `t_len` steps: the recomputed `H` of a chunk, `t_len × chunk`
/// floats, stays within about 64 KiB; at most 1024 and at least 64 neurons.
fn chunk_len(t_len: usize) -> usize {
    (16384 / t_len.max(1)).clamp(64, 1024) / 16 * 16
}

/// A `[rows, n]` row-major buffer cut into column chunks: `[chunk][row]` slices.
fn columns<T>(buf: &mut [T], n: usize, chunk: usize) -> Vec<Vec<&mut [T]>> {
    let chunks = n.div_ceil(chunk);
    let rows = buf.len().checked_div(n).unwrap_or(0);
    let mut cols: Vec<Vec<&mut [T]>> = (0..chunks).map(|_| Vec::with_capacity(rows)).collect();
    if n == 0 {
        return cols;
    }
    for row in buf.chunks_mut(n) {
        for (c, piece) in row.chunks_mut(chunk).enumerate() {
            cols[c].push(piece);
        }
    }
    cols
}

/// The values of a flex tensor, contiguous.
fn values(t: &FloatTensor<Flex>) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("the fused neuron runs on f32").to_vec()),
    }
}

fn tensor(values: Vec<f32>, shape: [usize; 2]) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(values, shape), &Default::default())
}

/// A vector of `len` floats that the caller writes in full before reading.
fn uninit(len: usize) -> Vec<MaybeUninit<f32>> {
    let mut v = Vec::with_capacity(len);
    huge_pages(&mut v);
    // SAFETY: `MaybeUninit` needs no initialisation.
    unsafe { v.set_len(len) };
    v
}

/// Asks Linux to back a large, not yet touched allocation with transparent huge pages
/// (`MADV_HUGEPAGE`, honoured where THP is `always` or `madvise`). A fresh buffer of many
/// megabytes otherwise costs one page fault per 4 KiB on first write — on a VM, as much time
/// as the kernel itself (measured in docs/performance.md). A hint only: errors are ignored.
fn huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < 2 * HUGE {
            return;
        }
        let start = v.as_mut_ptr() as usize;
        let (lo, hi) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
        if hi > lo {
            // SAFETY: the range lies inside this vector's own allocation; the advice changes
            // how it is backed, not its contents or validity.
            unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// # Safety
/// Every element must have been written.
unsafe fn assume_init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: same layout, same allocation; the caller vouches for the contents.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut f32, v.len(), v.capacity()) }
}

fn write(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        d.write(s);
    }
}

/// The scalar constants of one run.
#[derive(Clone, Copy)]
struct Consts {
    charge: Charge,
    k: f32,
    rest: f32,
    thr: f32,
    vr: f32,
    reset: ResetMode,
    delayed: bool,
    greater_equal: bool,
}

impl Consts {
    fn new(spec: &FusedSpec, k: f32) -> Self {
        Self {
            charge: spec.charge,
            k,
            rest: spec.rest,
            thr: spec.threshold,
            vr: spec.reset_value,
            reset: spec.reset,
            delayed: spec.timing == ResetTiming::Delayed,
            greater_equal: spec.fire == FireCondition::GreaterEqual,
        }
    }

    /// The membrane a fresh neuron starts from.
    fn initial_v(&self) -> f32 {
        match self.reset {
            ResetMode::Hard => self.vr,
            _ => 0.0,
        }
    }
}

/// Binds `$f` to the charge `H = f(u, x)` — the f32 operations of the unfused charge, in the
/// same order, so the spikes match exactly — and evaluates `$body` once per model, so that
/// every loop inside it is compiled for one model.
macro_rules! with_charge {
    ($c:expr, $f:ident => $body:expr) => {{
        let (r, k) = ($c.rest, $c.k);
        match $c.charge {
            Charge::If => {
                let $f = |u: f32, x: f32| u + x;
                $body
            }
            Charge::Tau { tau, decay_input: true } => {
                let $f = move |u: f32, x: f32| u + (x - (u - r)) / tau;
                $body
            }
            Charge::Tau { tau, decay_input: false } => {
                let $f = move |u: f32, x: f32| (u - (u - r) / tau) + x;
                $body
            }
            Charge::Beta { beta } => {
                let $f = move |u: f32, x: f32| u * beta + x;
                $body
            }
            Charge::Learned { decay_input: true } => {
                let $f = move |u: f32, x: f32| u + (x - (u - r)) * k;
                $body
            }
            Charge::Learned { decay_input: false } => {
                let $f = move |u: f32, x: f32| (u - (u - r) * k) + x;
                $body
            }
        }
    }};
}

/// `S = Θ(y − V_th)` as 0/1.
#[inline(always)]
fn fire(y: f32, thr: f32, greater_equal: bool) -> f32 {
    let z = y - thr;
    let s = if greater_equal { z >= 0.0 } else { z > 0.0 };
    if s {
        1.0
    } else {
        0.0
    }
}

/// A chunk's state between steps, `(V, S)`, and the last step's `H` and `S`.
struct Row {
    v: Vec<f32>,
    sp: Vec<f32>,
    hh: Vec<f32>,
    ss: Vec<f32>,
}

/// One time step of a chunk: `hh ← H[t]` (the value compared with the threshold), `ss ← S[t]`,
/// and the state `(v, sp)` moved on, as the unfused step computes them.
#[inline(always)]
fn step_row<C: Fn(f32, f32) -> f32>(ch: C, c: &Consts, ge: bool, x: &[f32], row: &mut Row) {
    let Row { v, sp, hh, ss } = row;
    let (thr, vr) = (c.thr, c.vr);
    if !c.delayed {
        for (((h, s), &vv), &xx) in hh.iter_mut().zip(ss.iter_mut()).zip(v.iter()).zip(x) {
            let y = ch(vv, xx);
            *h = y;
            *s = fire(y, thr, ge);
        }
        match c.reset {
            // The unfused formula, branch-free: exactly `vr` or `h` for s ∈ {0, 1}.
            ResetMode::Hard => v.iter_mut().zip(hh.iter()).zip(ss.iter()).for_each(|((vv, &h), &s)| *vv = h * (1.0 - s) + s * vr),
            ResetMode::Soft => v.iter_mut().zip(hh.iter()).zip(ss.iter()).for_each(|((vv, &h), &s)| *vv = h - s * thr),
            ResetMode::None => v.copy_from_slice(hh),
        }
    } else {
        match c.reset {
            // A reset to a value clears the membrane before the charge...
            ResetMode::Hard => {
                for (((h, &vv), &p), &xx) in hh.iter_mut().zip(v.iter()).zip(sp.iter()).zip(x) {
                    *h = ch(vv * (1.0 - p) + p * vr, xx);
                }
            }
            // ...a subtraction comes after it.
            ResetMode::Soft => {
                for (((h, &vv), &p), &xx) in hh.iter_mut().zip(v.iter()).zip(sp.iter()).zip(x) {
                    *h = ch(vv, xx) - p * thr;
                }
            }
            ResetMode::None => {
                for ((h, &vv), &xx) in hh.iter_mut().zip(v.iter()).zip(x) {
                    *h = ch(vv, xx);
                }
            }
        }
        for (s, &h) in ss.iter_mut().zip(hh.iter()) {
            *s = fire(h, thr, ge);
        }
        v.copy_from_slice(hh);
        sp.copy_from_slice(ss);
    }
}

/// The start state `(V₀, S₀)`, each `N` long.
type Start = (Vec<f32>, Vec<f32>);

/// Where a chunk lies in the `[T, N]` input: neurons `lo..lo + len` of `n`, over `t_len` steps.
#[derive(Clone, Copy)]
struct Span {
    n: usize,
    t_len: usize,
    lo: usize,
    len: usize,
}

impl Span {
    /// The chunk's part of row `t`.
    fn row(&self, t: usize) -> std::ops::Range<usize> {
        t * self.n + self.lo..t * self.n + self.lo + self.len
    }
}

/// Runs one chunk forward from `start` over every step, calling `emit(t, H[t], S[t], V[t])`.
fn run_chunk(c: &Consts, x: &[f32], span: Span, start: Option<&Start>, mut emit: impl FnMut(usize, &[f32], &[f32], &[f32])) {
    let (lo, len) = (span.lo, span.len);
    let (v, sp) = match start {
        None => (vec![c.initial_v(); len], vec![0.0f32; len]),
        Some((v0, s0)) => (v0[lo..lo + len].to_vec(), s0[lo..lo + len].iter().map(|&s| if s != 0.0 { 1.0 } else { 0.0 }).collect()),
    };
    let mut row = Row { v, sp, hh: vec![0.0f32; len], ss: vec![0.0f32; len] };
    let ge = c.greater_equal;
    with_charge!(c, ch => {
        for t in 0..span.t_len {
            let xr = &x[span.row(t)];
            if ge {
                step_row(ch, c, true, xr, &mut row);
            } else {
                step_row(ch, c, false, xr, &mut row);
            }
            emit(t, &row.hh, &row.ss, &row.v);
        }
    })
}

/// Binds `$f` to the surrogate derivative `σ'(z)` and evaluates `$body` once per surrogate.
macro_rules! with_surrogate {
    ($s:expr, $f:ident => $body:expr) => {{
        match $s {
            Surrogate::ATan { alpha } => {
                let alpha = alpha as f32;
                let scale = core::f32::consts::FRAC_PI_2 * alpha;
                let half = alpha / 2.0;
                let $f = move |z: f32| {
                    let u = scale * z;
                    half / (1.0 + u * u)
                };
                $body
            }
            Surrogate::Sigmoid { alpha } => {
                let alpha = alpha as f32;
                let $f = move |z: f32| {
                    let s = 1.0 / (1.0 + (-alpha * z).exp());
                    alpha * s * (1.0 - s)
                };
                $body
            }
            Surrogate::FastSigmoid { slope } => {
                let slope = slope as f32;
                let $f = move |z: f32| {
                    let d = 1.0 + slope * z.abs();
                    1.0 / (d * d)
                };
                $body
            }
            Surrogate::PiecewiseQuadratic { alpha } => {
                let alpha = alpha as f32;
                let $f = move |z: f32| if z.abs() <= 1.0 / alpha { alpha - alpha * alpha * z.abs() } else { 0.0 };
                $body
            }
            Surrogate::StraightThrough => {
                let $f = |_: f32| 1.0f32;
                $body
            }
        }
    }};
}

/// Reads the `[1, N]` start state (or a fresh one) and PLIF's `k`.
fn read_aux(start: &StartState<Flex>, gain: &LeakGain<Flex>) -> (Option<Start>, f32) {
    let start = match start {
        StartState::Fresh => None,
        StartState::Given { v, s } => Some((values(v).into_owned(), values(s).into_owned())),
    };
    let k = match gain {
        LeakGain::Fixed => 0.0,
        LeakGain::Learned(k) => values(k)[0],
    };
    (start, k)
}

/// The forward's output rows of one chunk.
struct ForwardChunk<'a> {
    lo: usize,
    spikes: Vec<&'a mut [MaybeUninit<f32>]>,
    membrane: Vec<&'a mut [MaybeUninit<f32>]>,
}

/// The backward's output rows of one chunk: `∂L/∂x` (over `∂L/∂S`) and the aux rows.
struct BackwardChunk<'a> {
    lo: usize,
    grad: Vec<&'a mut [f32]>,
    aux: Vec<&'a mut [f32]>,
}

/// The reverse sweep's per-chunk scratch.
#[derive(Default)]
struct Scratch {
    h: Vec<f32>,
    sg: Vec<f32>,
    s: Vec<f32>,
    prev_v: Vec<f32>,
    prev_s: Vec<f32>,
    d: Vec<f32>,
    carry_v: Vec<f32>,
    carry_s: Vec<f32>,
    gk: Vec<f32>,
    zeros: Vec<f32>,
}

fn reset_to(buf: &mut Vec<f32>, len: usize, value: f32) {
    buf.clear();
    buf.resize(len, value);
}

impl FusedNeuronOps for Flex {
    fn neuron_multi_forward(x: FloatTensor<Self>, start: StartState<Self>, gain: LeakGain<Self>, spec: FusedSpec) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [t_len, n] = x.shape().dims::<2>();
        let xs = values(&x);
        let (start, k) = read_aux(&start, &gain);
        let c = Consts::new(&spec, k);
        let chunk = chunk_len(t_len);

        let mut out = uninit(spec.out_rows() * t_len * n);
        let (spk, mem) = out.split_at_mut(t_len * n);
        let mut mem_cols = if spec.with_membrane { columns(mem, n, chunk) } else { Vec::new() };
        let chunks: Vec<ForwardChunk> = columns(spk, n, chunk)
            .into_iter()
            .enumerate()
            .map(|(i, spikes)| ForwardChunk { lo: i * chunk, spikes, membrane: mem_cols.get_mut(i).map(std::mem::take).unwrap_or_default() })
            .collect();

        let xs: &[f32] = &xs;
        let start = start.as_ref();
        chunks.into_par_iter().for_each(|mut ch| {
            let len = ch.spikes[0].len();
            run_chunk(&c, xs, Span { n, t_len, lo: ch.lo, len }, start, |t, _h, s, v| {
                write(ch.spikes[t], s);
                if spec.with_membrane {
                    write(ch.membrane[t], v);
                }
            });
        });
        // SAFETY: every chunk wrote its spikes row (and membrane row) at every step.
        let out = unsafe { assume_init(out) };
        // H[t] is recomputed by the backward from `x`: nothing to save.
        (tensor(out, [spec.out_rows() * t_len, n]), tensor(vec![0.0], [1, 1]))
    }

    fn neuron_multi_backward(
        x: FloatTensor<Self>,
        _h: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        start: StartState<Self>,
        gain: LeakGain<Self>,
        spec: FusedSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [t_len, n] = x.shape().dims::<2>();
        let xs = values(&x);
        let (start, k) = read_aux(&start, &gain);
        let given = start.is_some();
        let c = Consts::new(&spec, k);
        let plif = matches!(spec.charge, Charge::Learned { .. });
        let (a, b) = spec.charge.partials(k);
        let chunk = chunk_len(t_len);
        let tn = t_len * n;

        // ∂L/∂x is written over ∂L/∂S when the incoming gradient is an unshared, contiguous
        // [T, N] buffer (as Burn's backward hands it over); otherwise over a copy.
        let mut grad = grad;
        let in_place = !spec.with_membrane && grad.is_unique() && grad.layout().contiguous_offsets() == Some((0, tn)) && grad.bytes().len() == tn * 4;
        let (mut gx_owned, g_mem): (Vec<f32>, Vec<f32>) = if in_place {
            (Vec::new(), Vec::new())
        } else {
            let g = values(&grad);
            let g_mem = if spec.with_membrane { g[tn..2 * tn].to_vec() } else { Vec::new() };
            (g[..tn].to_vec(), g_mem)
        };
        let gx: &mut [f32] = if in_place { grad.try_storage_mut::<f32>().expect("checked unique") } else { &mut gx_owned };

        let rows = spec.aux_rows(given);
        let mut aux = vec![0.0f32; rows * n];
        let mut aux_cols = columns(&mut aux, n, chunk);
        let chunks: Vec<BackwardChunk> = columns(gx, n, chunk)
            .into_iter()
            .enumerate()
            .map(|(i, grad)| BackwardChunk { lo: i * chunk, grad, aux: std::mem::take(&mut aux_cols[i]) })
            .collect();

        let xs: &[f32] = &xs;
        let g_mem: &[f32] = &g_mem;
        let start = start.as_ref();
        let (thr, vr, ge) = (c.thr, c.vr, c.greater_equal);
        chunks.into_par_iter().for_each_init(Scratch::default, |sc, BackwardChunk { lo, grad: mut gcols, aux: mut auxc }| {
            let len = gcols[0].len();
            // Recompute H[t] for the chunk.
            sc.h.resize(t_len * len, 0.0);
            let hbuf = &mut sc.h;
            run_chunk(&c, xs, Span { n, t_len, lo, len }, start, |t, h, _s, _v| hbuf[t * len..(t + 1) * len].copy_from_slice(h));
            reset_to(&mut sc.carry_v, len, 0.0);
            reset_to(&mut sc.carry_s, len, 0.0);
            reset_to(&mut sc.gk, len, 0.0);
            reset_to(&mut sc.zeros, len, 0.0);
            reset_to(&mut sc.sg, len, 0.0);
            reset_to(&mut sc.s, len, 0.0);
            reset_to(&mut sc.d, len, 0.0);
            let need_prev = c.delayed || plif;
            for t in (0..t_len).rev() {
                let h = &sc.h[t * len..(t + 1) * len];
                // σ'(H − V_th) and S.
                with_surrogate!(spec.surrogate, sgf => {
                    for ((g, s), &y) in sc.sg.iter_mut().zip(sc.s.iter_mut()).zip(h) {
                        *g = sgf(y - thr);
                        *s = fire(y, thr, ge);
                    }
                });
                // The state before step t: (V[t−1], S[t−1]).
                if need_prev {
                    if t > 0 {
                        let hp = &sc.h[(t - 1) * len..t * len];
                        sc.prev_s.clear();
                        sc.prev_s.extend(hp.iter().map(|&y| fire(y, thr, ge)));
                        sc.prev_v.clear();
                        if c.delayed {
                            sc.prev_v.extend_from_slice(hp);
                        } else {
                            let it = hp.iter().zip(&sc.prev_s);
                            match c.reset {
                                ResetMode::Hard => sc.prev_v.extend(it.map(|(&y, &s)| y * (1.0 - s) + s * vr)),
                                ResetMode::Soft => sc.prev_v.extend(it.map(|(&y, &s)| y - s * thr)),
                                ResetMode::None => sc.prev_v.extend_from_slice(hp),
                            }
                        }
                    } else {
                        match start {
                            Some((v0, s0)) => {
                                sc.prev_v.clear();
                                sc.prev_v.extend_from_slice(&v0[lo..lo + len]);
                                sc.prev_s.clear();
                                sc.prev_s.extend(s0[lo..lo + len].iter().map(|&s| if s != 0.0 { 1.0 } else { 0.0 }));
                            }
                            None => {
                                reset_to(&mut sc.prev_v, len, c.initial_v());
                                reset_to(&mut sc.prev_s, len, 0.0);
                            }
                        }
                    }
                }
                let gm: &[f32] = if spec.with_membrane { &g_mem[t * n + lo..t * n + lo + len] } else { &sc.zeros };
                let g = &mut *gcols[t];
                let detach = spec.detach_reset;
                if !c.delayed {
                    // dV = gV + carry; dS = gS + dV·∂R/∂S; dH = dV·∂R/∂H + dS·σ'.
                    let it = g.iter_mut().zip(gm).zip(sc.carry_v.iter_mut()).zip(&sc.sg).zip(&sc.s).zip(h).zip(sc.d.iter_mut());
                    match (c.reset, detach) {
                        (ResetMode::Hard, false) => it.for_each(|((((((g, &gm), cv), &sg), &s), &y), d)| {
                            let dv = gm + *cv;
                            let ds = *g + dv * (vr - y);
                            let dh = dv * (1.0 - s) + ds * sg;
                            *g = dh * b;
                            *cv = dh * a;
                            *d = dh;
                        }),
                        (ResetMode::Hard, true) => it.for_each(|((((((g, &gm), cv), &sg), &s), _), d)| {
                            let dv = gm + *cv;
                            let dh = dv * (1.0 - s) + *g * sg;
                            *g = dh * b;
                            *cv = dh * a;
                            *d = dh;
                        }),
                        (ResetMode::Soft, false) => it.for_each(|((((((g, &gm), cv), &sg), _), _), d)| {
                            let dv = gm + *cv;
                            let ds = *g - dv * thr;
                            let dh = dv + ds * sg;
                            *g = dh * b;
                            *cv = dh * a;
                            *d = dh;
                        }),
                        (ResetMode::Soft, true) | (ResetMode::None, _) => it.for_each(|((((((g, &gm), cv), &sg), _), _), d)| {
                            let dv = gm + *cv;
                            let dh = dv + *g * sg;
                            *g = dh * b;
                            *cv = dh * a;
                            *d = dh;
                        }),
                    }
                    // PLIF: ∂L/∂k += dH·∂H/∂k at u = V[t−1].
                    if plif {
                        let xr = &xs[t * n + lo..t * n + lo + len];
                        accumulate_gk(&c, &mut sc.gk, &sc.d, &sc.prev_v, xr);
                    }
                } else {
                    // dS = gS + carry_s; dM = gM + carry_v + dS·σ'.
                    let it = g
                        .iter_mut()
                        .zip(gm)
                        .zip(sc.carry_v.iter_mut())
                        .zip(sc.carry_s.iter_mut())
                        .zip(&sc.sg)
                        .zip(&sc.prev_v)
                        .zip(&sc.prev_s)
                        .zip(sc.d.iter_mut());
                    match (c.reset, detach) {
                        (ResetMode::Hard, _) => it.for_each(|(((((((g, &gm), cv), cs), &sg), &vp), &sp), d)| {
                            let ds = *g + *cs;
                            let dm = gm + *cv + ds * sg;
                            *g = dm * b;
                            let du = dm * a;
                            *cv = du * (1.0 - sp);
                            *cs = if detach { 0.0 } else { du * (vr - vp) };
                            *d = dm;
                        }),
                        (ResetMode::Soft, false) => it.for_each(|(((((((g, &gm), cv), cs), &sg), _), _), d)| {
                            let ds = *g + *cs;
                            let dm = gm + *cv + ds * sg;
                            *g = dm * b;
                            *cv = dm * a;
                            *cs = -thr * dm;
                            *d = dm;
                        }),
                        (ResetMode::Soft, true) | (ResetMode::None, _) => it.for_each(|(((((((g, &gm), cv), cs), &sg), _), _), d)| {
                            let ds = *g + *cs;
                            let dm = gm + *cv + ds * sg;
                            *g = dm * b;
                            *cv = dm * a;
                            *cs = 0.0;
                            *d = dm;
                        }),
                    }
                    if plif {
                        // The charge saw u = R(V[t−1], S[t−1]) for a hard reset, else V[t−1].
                        if c.reset == ResetMode::Hard {
                            for (v, &s) in sc.prev_v.iter_mut().zip(&sc.prev_s) {
                                *v = *v * (1.0 - s) + s * vr;
                            }
                        }
                        let xr = &xs[t * n + lo..t * n + lo + len];
                        accumulate_gk(&c, &mut sc.gk, &sc.d, &sc.prev_v, xr);
                    }
                }
            }
            let mut r = 0;
            if given {
                auxc[0].copy_from_slice(&sc.carry_v);
                auxc[1].copy_from_slice(&sc.carry_s);
                r = 2;
            }
            if plif {
                auxc[r].copy_from_slice(&sc.gk);
            }
        });
        let gx = if in_place { grad } else { tensor(gx_owned, [t_len, n]) };
        (gx, tensor(aux, [rows, n]))
    }
}

/// `gk += d·∂H/∂k(u, x)`, PLIF's `∂H/∂k` being `x − (u − V_rest)` with `decay_input`, else
/// `−(u − V_rest)`.
fn accumulate_gk(c: &Consts, gk: &mut [f32], d: &[f32], u: &[f32], x: &[f32]) {
    let r = c.rest;
    match c.charge {
        Charge::Learned { decay_input: true } => gk.iter_mut().zip(d).zip(u).zip(x).for_each(|(((g, &d), &u), &x)| *g += d * (x - (u - r))),
        _ => gk.iter_mut().zip(d).zip(u).for_each(|((g, &d), &u)| *g -= d * (u - r)),
    }
}
