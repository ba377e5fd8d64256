//! The fused neuron on flex: Rust over f32 slices, rayon over chunks of neurons.
//!
//! A `[T, N]` tensor is row-major, so one neuron's steps are `N` apart. Each rayon task takes
//! a chunk of `CHUNK` neighbouring neurons and runs the time loop outside the loop over them:
//! every read and write is a contiguous run of the chunk's row, the state (`V`, `S`, carried
//! gradients) is a chunk-long array that stays in L1, and the inner loop has no dependency
//! between neurons.

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::TensorData;
use rayon::prelude::*;

use super::ops::{FusedNeuronOps, LeakGain, StartState};
use super::{Charge, FusedSpec};
use crate::neuron::base::{ResetMode, ResetTiming};
use crate::surrogate::FireCondition;

/// Neurons per rayon task: 4 KiB per row, a few rows and the state in L1.
const CHUNK: usize = 1024;

/// A `[rows, n]` row-major buffer cut into column chunks: `[chunk][row]` slices.
fn columns(buf: &mut [f32], n: usize) -> Vec<Vec<&mut [f32]>> {
    let chunks = n.div_ceil(CHUNK);
    let rows = buf.len() / n.max(1);
    let mut cols: Vec<Vec<&mut [f32]>> = (0..chunks).map(|_| Vec::with_capacity(rows)).collect();
    if n == 0 {
        return cols;
    }
    for row in buf.chunks_mut(n) {
        for (c, piece) in row.chunks_mut(CHUNK).enumerate() {
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

/// The scalar constants of one run.
#[derive(Clone, Copy)]
struct Consts {
    charge: Charge,
    k: f32,
    rest: f32,
    thr: f32,
    vr: f32,
    reset: ResetMode,
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
            greater_equal: spec.fire == FireCondition::GreaterEqual,
        }
    }

    /// `H = f(u, x)`, the f32 operations of the unfused charge in the same order.
    #[inline(always)]
    fn charge(&self, u: f32, x: f32) -> f32 {
        match self.charge {
            Charge::If => u + x,
            Charge::Tau { tau, decay_input: true } => u + (x - (u - self.rest)) / tau,
            Charge::Tau { tau, decay_input: false } => (u - (u - self.rest) / tau) + x,
            Charge::Beta { beta } => u * beta + x,
            Charge::Learned { decay_input: true } => u + (x - (u - self.rest)) * self.k,
            Charge::Learned { decay_input: false } => (u - (u - self.rest) * self.k) + x,
        }
    }

    /// `∂H/∂k` (PLIF).
    #[inline(always)]
    fn charge_dk(&self, u: f32, x: f32) -> f32 {
        match self.charge {
            Charge::Learned { decay_input: true } => x - (u - self.rest),
            _ => -(u - self.rest),
        }
    }

    /// `Θ(y − V_th)`.
    #[inline(always)]
    fn fire(&self, y: f32) -> bool {
        let z = y - self.thr;
        if self.greater_equal {
            z >= 0.0
        } else {
            z > 0.0
        }
    }

    /// The reset of `h` after a spike (`s = 1`); without a spike the value is `h`.
    #[inline(always)]
    fn reset_spiked(&self, h: f32) -> f32 {
        match self.reset {
            ResetMode::Hard => self.vr,
            ResetMode::Soft => h - self.thr,
            ResetMode::None => h,
        }
    }

    /// `R(h, s)`.
    #[inline(always)]
    fn reset(&self, h: f32, s: bool) -> f32 {
        if s {
            self.reset_spiked(h)
        } else {
            h
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

/// The per-chunk output slices of the forward.
struct ForwardChunk<'a> {
    start: usize,
    spikes: Vec<&'a mut [f32]>,
    membrane: Vec<&'a mut [f32]>,
    h: Vec<&'a mut [f32]>,
}

/// Reads the `[1, N]` start state (or a fresh one) and PLIF's `k`.
fn read_aux(start: &StartState<Flex>, gain: &LeakGain<Flex>) -> (Option<(Vec<f32>, Vec<f32>)>, f32) {
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

impl FusedNeuronOps for Flex {
    fn neuron_multi_forward(x: FloatTensor<Self>, start: StartState<Self>, gain: LeakGain<Self>, spec: FusedSpec) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [t_len, n] = x.shape().dims::<2>();
        let xs = values(&x);
        let (start, k) = read_aux(&start, &gain);
        let c = Consts::new(&spec, k);
        let delayed = spec.timing == ResetTiming::Delayed;

        let mut out = vec![0.0f32; spec.out_rows() * t_len * n];
        let mut hbuf = vec![0.0f32; if spec.save_h { t_len * n } else { 1 }];
        let (spk, mem) = out.split_at_mut(t_len * n);
        let spk_cols = columns(spk, n);
        let mut mem_cols = if spec.with_membrane { columns(mem, n) } else { Vec::new() };
        let mut h_cols = if spec.save_h { columns(&mut hbuf, n) } else { Vec::new() };
        let chunks: Vec<ForwardChunk> = spk_cols
            .into_iter()
            .enumerate()
            .map(|(i, spikes)| ForwardChunk {
                start: i * CHUNK,
                spikes,
                membrane: if spec.with_membrane { std::mem::take(&mut mem_cols[i]) } else { Vec::new() },
                h: if spec.save_h { std::mem::take(&mut h_cols[i]) } else { Vec::new() },
            })
            .collect();

        let xs: &[f32] = &xs;
        let start = start.as_ref();
        chunks.into_par_iter().for_each(|mut chunk| {
            let len = chunk.spikes[0].len();
            let lo = chunk.start;
            let (mut v, mut sp): (Vec<f32>, Vec<bool>) = match start {
                None => (vec![c.initial_v(); len], vec![false; len]),
                Some((v0, s0)) => (v0[lo..lo + len].to_vec(), s0[lo..lo + len].iter().map(|&s| s != 0.0).collect()),
            };
            for t in 0..t_len {
                let xr = &xs[t * n + lo..t * n + lo + len];
                let spikes = &mut *chunk.spikes[t];
                if !delayed {
                    for j in 0..len {
                        let h = c.charge(v[j], xr[j]);
                        let s = c.fire(h);
                        let vn = c.reset(h, s);
                        spikes[j] = if s { 1.0 } else { 0.0 };
                        if spec.save_h {
                            chunk.h[t][j] = h;
                        }
                        if spec.with_membrane {
                            chunk.membrane[t][j] = vn;
                        }
                        v[j] = vn;
                    }
                } else {
                    for j in 0..len {
                        let m = match c.reset {
                            ResetMode::Hard => c.charge(c.reset(v[j], sp[j]), xr[j]),
                            _ => c.reset(c.charge(v[j], xr[j]), sp[j]),
                        };
                        let s = c.fire(m);
                        spikes[j] = if s { 1.0 } else { 0.0 };
                        if spec.save_h {
                            chunk.h[t][j] = m;
                        }
                        if spec.with_membrane {
                            chunk.membrane[t][j] = m;
                        }
                        v[j] = m;
                        sp[j] = s;
                    }
                }
            }
        });
        let h_shape = if spec.save_h { [t_len, n] } else { [1, 1] };
        (tensor(out, [spec.out_rows() * t_len, n]), tensor(hbuf, h_shape))
    }

    fn neuron_multi_backward(
        x: FloatTensor<Self>,
        h: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        start: StartState<Self>,
        gain: LeakGain<Self>,
        spec: FusedSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [t_len, n] = h.shape().dims::<2>();
        let plif = matches!(spec.charge, Charge::Learned { .. });
        let read_x = matches!(spec.charge, Charge::Learned { decay_input: true });
        let xs = if read_x { values(&x) } else { std::borrow::Cow::Borrowed(&[][..]) };
        let hs = values(&h);
        let gs = values(&grad);
        let (start, k) = read_aux(&start, &gain);
        let given = start.is_some();
        let c = Consts::new(&spec, k);
        let (a, b) = spec.charge.partials(k);
        let delayed = spec.timing == ResetTiming::Delayed;

        let rows = spec.aux_rows(given);
        let mut gx = vec![0.0f32; t_len * n];
        let mut aux = vec![0.0f32; rows * n];
        let gx_cols = columns(&mut gx, n);
        let mut aux_cols = columns(&mut aux, n);
        let chunks: Vec<(usize, Vec<&mut [f32]>, Vec<&mut [f32]>)> =
            gx_cols.into_iter().enumerate().map(|(i, g)| (i * CHUNK, g, std::mem::take(&mut aux_cols[i]))).collect();

        let (xs, hs, gs): (&[f32], &[f32], &[f32]) = (&xs, &hs, &gs);
        let start = start.as_ref();
        let with_mem = spec.with_membrane;
        chunks.into_par_iter().for_each(|(lo, mut gxc, mut auxc)| {
            let len = gxc[0].len();
            // The state before step t, as the forward saw it: (V[t−1], S[t−1]).
            let prev = |t: usize, j: usize| -> (f32, bool) {
                if t > 0 {
                    let y = hs[(t - 1) * n + lo + j];
                    let s = c.fire(y);
                    (if delayed { y } else { c.reset(y, s) }, s)
                } else {
                    match start {
                        Some((v0, s0)) => (v0[lo + j], s0[lo + j] != 0.0),
                        None => (c.initial_v(), false),
                    }
                }
            };
            let mut carry_v = vec![0.0f32; len];
            let mut carry_s = vec![0.0f32; len];
            let mut gk = vec![0.0f32; len];
            for t in (0..t_len).rev() {
                let row = t * n + lo;
                let hr = &hs[row..row + len];
                let g_spk = &gs[row..row + len];
                let g_mem = if with_mem { &gs[t_len * n + row..t_len * n + row + len] } else { &[][..] };
                let out = &mut *gxc[t];
                for j in 0..len {
                    let y = hr[j];
                    let z = y - c.thr;
                    let s = c.fire(y);
                    let sg = spec.surrogate_derivative(z);
                    let gm = if with_mem { g_mem[j] } else { 0.0 };
                    if !delayed {
                        let dv = gm + carry_v[j];
                        let (dvdh, dvds) = match c.reset {
                            ResetMode::Hard => (if s { 0.0 } else { 1.0 }, c.vr - y),
                            ResetMode::Soft => (1.0, -c.thr),
                            ResetMode::None => (1.0, 0.0),
                        };
                        let dvds = if spec.detach_reset { 0.0 } else { dvds };
                        let ds = g_spk[j] + dv * dvds;
                        let dh = dv * dvdh + ds * sg;
                        out[j] = dh * b;
                        if plif {
                            let u = prev(t, j).0;
                            let xv = if read_x { xs[row + j] } else { 0.0 };
                            gk[j] += dh * c.charge_dk(u, xv);
                        }
                        carry_v[j] = dh * a;
                    } else {
                        let ds = g_spk[j] + carry_s[j];
                        let dm = gm + carry_v[j] + ds * sg;
                        out[j] = dm * b;
                        let (vp, sp) = prev(t, j);
                        let xv = if read_x { xs[row + j] } else { 0.0 };
                        match c.reset {
                            ResetMode::Hard => {
                                let u = c.reset(vp, sp);
                                let du = dm * a;
                                if plif {
                                    gk[j] += dm * c.charge_dk(u, xv);
                                }
                                carry_v[j] = if sp { 0.0 } else { du };
                                carry_s[j] = if spec.detach_reset { 0.0 } else { du * (c.vr - vp) };
                            }
                            ResetMode::Soft | ResetMode::None => {
                                if plif {
                                    gk[j] += dm * c.charge_dk(vp, xv);
                                }
                                carry_v[j] = dm * a;
                                carry_s[j] = if spec.detach_reset || c.reset == ResetMode::None { 0.0 } else { -c.thr * dm };
                            }
                        }
                    }
                }
            }
            let mut r = 0;
            if given {
                auxc[0].copy_from_slice(&carry_v);
                auxc[1].copy_from_slice(&carry_s);
                r = 2;
            }
            if plif {
                auxc[r].copy_from_slice(&gk);
            }
        });
        (tensor(gx, [t_len, n]), tensor(aux, [rows, n]))
    }
}
