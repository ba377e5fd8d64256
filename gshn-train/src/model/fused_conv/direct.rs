//! The direct 3×3 path of the fused convolution on flex (the backbone's layers): no patch
//! matrix and no gemm, but a 9-tap stencil over zero-padded planes, vectorised over the
//! pixels. With the plane padded by one pixel and its rows `w + 2` long, tap `t = 3·ky + kx`
//! of output pixel `q = oy·(w + 2) + ox` reads the padded input at `q + off[t]`,
//! `off[t] = ky·(w + 2) + kx`; the two extra columns of each output row are computed and
//! dropped. The three passes are the same two loops:
//!
//! ```text
//! forward    out_o  += Σ_t W[o, c, t] · xpad_c[q + off[t]]          (stencil, per (o, c))
//! ∂L/∂x      dx_c   += Σ_t W[o, c, 8 − t] · gpad_o[q + off[t]]      (stencil, flipped kernel)
//! ∂L/∂W      W[o, c, t] = Σ_q gpad_o[q + w + 3] · xpad_c[q + off[t]]  (nine dot products)
//! ```
//!
//! `gpad_o` is `∂L/∂y ⊙ [y > 0]` padded like the input; read from `w + 3` on it is the
//! gradient on the output grid with zeros in the dropped columns. Each loop has two versions:
//! AVX2/FMA intrinsics where the CPU has them (checked at run time, as the gemm crate does),
//! and plain loops for other CPUs (tested against each other and a naive loop).

/// The padded geometry of an `h × w` plane.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    /// Rows and columns of the plane.
    pub h: usize,
    pub w: usize,
    /// Padded row length, `w + 2`.
    pub wp: usize,
}

impl Grid {
    pub fn new(h: usize, w: usize) -> Self {
        Self { h, w, wp: w + 2 }
    }

    /// Floats of a padded plane: `h + 2` rows and two trailing zeros, which the last
    /// output row's dropped columns read.
    pub fn len(&self) -> usize {
        (self.h + 2) * self.wp + 2
    }

    /// Floats of the output grid, `h` rows of `w + 2`.
    pub fn out_len(&self) -> usize {
        self.h * self.wp
    }

    /// The nine taps' offsets.
    pub fn offsets(&self) -> [usize; 9] {
        std::array::from_fn(|t| (t / 3) * self.wp + t % 3)
    }

    /// Writes `plane` (`h × w`) into `dst` (`len()`) inside a zero border.
    pub fn pad(&self, plane: &[f32], dst: &mut [f32]) {
        dst.fill(0.0);
        for (r, row) in plane.chunks_exact(self.w).enumerate() {
            dst[(r + 1) * self.wp + 1..][..self.w].copy_from_slice(row);
        }
    }

    /// Where the output grid starts on a padded plane (the gradient read for `∂L/∂W`).
    pub fn interior(&self) -> usize {
        self.wp + 1
    }
}

/// The largest of the nine offsets (the kernels' bound on how far past `q` they read).
fn max_offset(off: &[usize; 9]) -> usize {
    off.iter().copied().max().unwrap_or(0)
}

/// `out[q] += Σ_t w[t] · src[q + off[t]]` for every `q < out.len()`.
pub(super) fn stencil(out: &mut [f32], src: &[f32], w: &[f32; 9], off: &[usize; 9]) {
    assert!(src.len() >= out.len() + max_offset(off), "stencil: source too short");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { stencil_fma(out, src, w, off) };
    }
    stencil_plain(out, src, w, off)
}

/// `[Σ_q g[q] · src[q + off[t]]]_t`.
pub(super) fn dot9(g: &[f32], src: &[f32], off: &[usize; 9]) -> [f32; 9] {
    assert!(src.len() >= g.len() + max_offset(off), "dot9: source too short");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { dot9_fma(g, src, off) };
    }
    dot9_plain(g, src, off)
}

/// Eight floats from `p` as a vector. A plain dereference of `[f32; 8]` rather than
/// `_mm256_loadu_ps` or `ptr::add`, whose precondition checks the dev profile's debug
/// assertions compile in (measured: they, not the arithmetic, took most of the loop's time);
/// the compiler makes it one unaligned vector load.
///
/// # Safety
/// `p..p + 8` must be readable floats.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
    // SAFETY: the caller's; `[f32; 8]` and `__m256` have the same size.
    unsafe { std::mem::transmute::<[f32; 8], std::arch::x86_64::__m256>(*p.cast::<[f32; 8]>()) }
}

/// Stores a vector's eight floats at `p` (see [`load8`]).
///
/// # Safety
/// `p..p + 8` must be writable floats.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn store8(p: *mut f32, v: std::arch::x86_64::__m256) {
    // SAFETY: the caller's; `[f32; 8]` and `__m256` have the same size.
    unsafe { *p.cast::<[f32; 8]>() = std::mem::transmute::<std::arch::x86_64::__m256, [f32; 8]>(v) };
}

/// [`stencil`] with AVX2 and FMA: eight output pixels per step, the nine weights broadcast
/// in registers.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `src.len() ≥ out.len() + max(off)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn stencil_fma(out: &mut [f32], src: &[f32], w: &[f32; 9], off: &[usize; 9]) {
    use std::arch::x86_64::*;
    let n = out.len();
    let full = n / 8 * 8;
    let o = out.as_mut_ptr();
    let taps: [*const f32; 9] = std::array::from_fn(|t| src.as_ptr().wrapping_add(off[t]));
    let wv: [__m256; 9] = std::array::from_fn(|t| _mm256_set1_ps(w[t]));
    let mut q = 0;
    while q < full {
        // SAFETY: q + 8 ≤ n, and q + off[t] + 8 ≤ n + max(off) ≤ src.len().
        unsafe {
            let mut acc = load8(o.wrapping_add(q));
            for t in 0..9 {
                acc = _mm256_fmadd_ps(wv[t], load8(taps[t].wrapping_add(q)), acc);
            }
            store8(o.wrapping_add(q), acc);
        }
        q += 8;
    }
    for q in full..n {
        let mut acc = out[q];
        for t in 0..9 {
            acc = w[t].mul_add(src[q + off[t]], acc);
        }
        out[q] = acc;
    }
}

/// [`dot9`] with AVX2 and FMA: nine eight-lane accumulators, summed lane by lane at the end
/// (a fixed order: the result does not depend on the thread count).
///
/// # Safety
/// The CPU must have AVX2 and FMA; `src.len() ≥ g.len() + max(off)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot9_fma(g: &[f32], src: &[f32], off: &[usize; 9]) -> [f32; 9] {
    use std::arch::x86_64::*;
    let n = g.len();
    let full = n / 8 * 8;
    let gp = g.as_ptr();
    let taps: [*const f32; 9] = std::array::from_fn(|t| src.as_ptr().wrapping_add(off[t]));
    let mut acc = [_mm256_setzero_ps(); 9];
    let mut q = 0;
    while q < full {
        // SAFETY: q + 8 ≤ n, and q + off[t] + 8 ≤ n + max(off) ≤ src.len().
        unsafe {
            let gv = load8(gp.wrapping_add(q));
            for t in 0..9 {
                acc[t] = _mm256_fmadd_ps(gv, load8(taps[t].wrapping_add(q)), acc[t]);
            }
        }
        q += 8;
    }
    std::array::from_fn(|t| {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds eight floats.
        unsafe { store8(lanes.as_mut_ptr(), acc[t]) };
        let mut sum = lanes.iter().sum::<f32>();
        for q in full..n {
            sum = g[q].mul_add(src[q + off[t]], sum);
        }
        sum
    })
}

/// [`stencil`] for CPUs without AVX2 and FMA.
fn stencil_plain(out: &mut [f32], src: &[f32], w: &[f32; 9], off: &[usize; 9]) {
    let n = out.len();
    let s: [&[f32]; 9] = std::array::from_fn(|t| &src[off[t]..off[t] + n]);
    for q in 0..n {
        let mut acc = out[q];
        for t in 0..9 {
            acc += w[t] * s[t][q];
        }
        out[q] = acc;
    }
}

/// [`dot9`] for CPUs without AVX2 and FMA.
fn dot9_plain(g: &[f32], src: &[f32], off: &[usize; 9]) -> [f32; 9] {
    const LANES: usize = 8;
    let n = g.len();
    let s: [&[f32]; 9] = std::array::from_fn(|t| &src[off[t]..off[t] + n]);
    // Eight partial sums per tap, one per lane (a fixed order: the result does not depend on
    // the thread count), summed at the end.
    let mut acc = [[0.0f32; LANES]; 9];
    let full = n / LANES * LANES;
    for base in (0..full).step_by(LANES) {
        let gv: &[f32; LANES] = g[base..base + LANES].try_into().expect("eight lanes");
        for t in 0..9 {
            let xv: &[f32; LANES] = s[t][base..base + LANES].try_into().expect("eight lanes");
            for l in 0..LANES {
                acc[t][l] += gv[l] * xv[l];
            }
        }
    }
    std::array::from_fn(|t| {
        let mut sum = acc[t].iter().sum::<f32>();
        for q in full..n {
            sum += g[q] * s[t][q];
        }
        sum
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in [−1, 1) from a small LCG.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Every variant of the two loops (the dispatched one, which is the AVX2/FMA one where the
    /// CPU has it, and the plain one) against a naive loop, at lengths that are and are not
    /// multiples of the vector width.
    #[test]
    fn stencil_and_dot9_match_a_naive_loop() {
        for (h, w) in [(1, 1), (3, 5), (4, 6), (7, 9), (16, 16)] {
            let grid = Grid::new(h, w);
            let off = grid.offsets();
            let src = values(grid.len(), 1);
            let weights: [f32; 9] = values(9, 2).try_into().unwrap();
            let start = values(grid.out_len(), 3);
            let naive: Vec<f32> = (0..grid.out_len()).map(|q| start[q] + (0..9).map(|t| weights[t] * src[q + off[t]]).sum::<f32>()).collect();
            let (mut fast, mut plain) = (start.clone(), start.clone());
            stencil(&mut fast, &src, &weights, &off);
            stencil_plain(&mut plain, &src, &weights, &off);
            for (i, ((a, b), c)) in fast.iter().zip(&plain).zip(&naive).enumerate() {
                assert!((a - c).abs() < 1e-5 && (b - c).abs() < 1e-5, "stencil {h}×{w} [{i}]: {a} / {b} vs {c}");
            }
            let g = values(grid.out_len(), 4);
            let naive: Vec<f32> = (0..9).map(|t| (0..g.len()).map(|q| g[q] * src[q + off[t]]).sum::<f32>()).collect();
            let (fast, plain) = (dot9(&g, &src, &off), dot9_plain(&g, &src, &off));
            for t in 0..9 {
                assert!(
                    (fast[t] - naive[t]).abs() < 1e-4 && (plain[t] - naive[t]).abs() < 1e-4,
                    "dot9 {h}×{w} tap {t}: {} / {} vs {}",
                    fast[t],
                    plain[t],
                    naive[t]
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "source too short")]
    fn a_short_source_is_refused() {
        let grid = Grid::new(4, 4);
        let mut out = vec![0.0; grid.out_len()];
        stencil(&mut out, &vec![0.0; grid.len() - 1], &[1.0; 9], &grid.offsets());
    }
}
