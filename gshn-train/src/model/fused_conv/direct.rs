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
//! gradient on the output grid with zeros in the dropped columns. The vector loops run over
//! tiles of output rows ([`ROWS`], [`DOT_ROWS`]) × eight pixels, so that each input vector
//! loaded serves every output row of the tile its kernel rows reach. Each loop has two versions:
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

/// Output rows per pass of the vector loops: each input vector loaded feeds up to three
/// output rows (its kernel rows), so a pass of `R` rows loads `3·(R + 2)` input vectors for
/// `9·R` multiply-adds, where one row at a time loads nine for nine. Four rows keep the
/// accumulators, the nine weights and one loaded vector within the sixteen vector registers.
const ROWS: usize = 4;

/// Output rows per pass of [`dot9`]'s vector loop: its nine accumulators and one gradient
/// vector per row share the registers (measured: four rows spilled accumulators to the
/// stack; two ran faster than three).
const DOT_ROWS: usize = 2;

/// `out[r·wp + x] += Σ_t w[t] · src[r·wp + x + off[t]]` for every output pixel (`r < h`,
/// `x < w`); the dropped columns of `out` are left as they are.
pub(super) fn stencil(out: &mut [f32], src: &[f32], w: &[f32; 9], grid: &Grid) {
    assert!(src.len() >= grid.len() && out.len() >= grid.out_len(), "stencil: source or output too short");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for; the lengths are checked.
        return unsafe { stencil_fma(out, src, w, grid) };
    }
    stencil_plain(out, src, w, grid)
}

/// `[Σ_{r<h, x<w} g[r·wp + x] · src[r·wp + x + off[t]]]_t` (`g` on the output grid; its
/// dropped columns are not read).
pub(super) fn dot9(g: &[f32], src: &[f32], grid: &Grid) -> [f32; 9] {
    assert!(src.len() >= grid.len() && g.len() >= grid.out_len(), "dot9: source or gradient too short");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for; the lengths are checked.
        return unsafe { dot9_fma(g, src, grid) };
    }
    dot9_plain(g, src, grid)
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

/// `r·wp + x` without the dev profile's overflow checks, which in the tiles' unrolled index
/// arithmetic cost more than the multiply-adds (the callers keep every index inside a plane).
#[inline(always)]
fn at(r: usize, wp: usize, x: usize) -> usize {
    r.wrapping_mul(wp).wrapping_add(x)
}

/// Eight output pixels in each of `R` rows, `r0..r0 + R`, columns `x..x + 8`, of [`stencil`]:
/// input row `r0 + j` (`j < R + 2`) at column shift `kx` is loaded once and added to output
/// rows `j − ky` for the kernel rows `ky` that reach it.
///
/// # Safety
/// AVX2 and FMA; `r0 + R ≤ h`, `x + 8 ≤ w`, and the slices as [`stencil`] checks them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn stencil_tile<const R: usize>(out: *mut f32, src: *const f32, wv: &[std::arch::x86_64::__m256; 9], wp: usize, r0: usize, x: usize) {
    use std::arch::x86_64::*;
    // SAFETY (every access): rows < h + 2 of a plane of `(h + 2)·wp + 2` floats and columns
    // `x + kx + 7 ≤ w + 1 < wp + 2`; output rows < h and columns `x + 7 < w`.
    unsafe {
        let (out, src) = (out.wrapping_add(at(r0, wp, x)), src.wrapping_add(at(r0, wp, x)));
        let mut acc: [__m256; R] = std::array::from_fn(|i| load8(out.wrapping_add(at(i, wp, 0))));
        for j in 0..R + 2 {
            for kx in 0..3 {
                let v = load8(src.wrapping_add(at(j, wp, kx)));
                for ky in 0..3 {
                    if j >= ky && j - ky < R {
                        acc[j - ky] = _mm256_fmadd_ps(wv[3 * ky + kx], v, acc[j - ky]);
                    }
                }
            }
        }
        for (i, a) in acc.into_iter().enumerate() {
            store8(out.wrapping_add(at(i, wp, 0)), a);
        }
    }
}

/// [`stencil`] with AVX2 and FMA: tiles of [`ROWS`] rows × eight pixels, the nine weights
/// broadcast in registers; the last `h mod ROWS` rows one at a time, the last `w mod 8`
/// columns in scalar arithmetic.
///
/// # Safety
/// The CPU must have AVX2 and FMA; the lengths as [`stencil`] checks them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn stencil_fma(out: &mut [f32], src: &[f32], w: &[f32; 9], grid: &Grid) {
    use std::arch::x86_64::*;
    let Grid { h, w: width, wp } = *grid;
    let wide = width / 8 * 8;
    let wv: [__m256; 9] = std::array::from_fn(|t| _mm256_set1_ps(w[t]));
    let (o, s) = (out.as_mut_ptr(), src.as_ptr());
    let mut r0 = 0;
    while r0 < h {
        let step = if r0 + ROWS <= h { ROWS } else { 1 };
        for x in (0..wide).step_by(8) {
            // SAFETY: r0 + step ≤ h and x + 8 ≤ w.
            unsafe {
                if step == ROWS {
                    stencil_tile::<ROWS>(o, s, &wv, wp, r0, x)
                } else {
                    stencil_tile::<1>(o, s, &wv, wp, r0, x)
                }
            }
        }
        for r in r0..r0 + step {
            for x in wide..width {
                let q = r * wp + x;
                let mut acc = out[q];
                for t in 0..9 {
                    acc = w[t].mul_add(src[q + (t / 3) * wp + t % 3], acc);
                }
                out[q] = acc;
            }
        }
        r0 += step;
    }
}

/// The nine sums of [`dot9`] over `R` rows, `r0..r0 + R`, columns `x..x + 8`: the rows'
/// gradient vectors in registers, each input vector loaded once for the kernel rows it meets.
///
/// # Safety
/// AVX2 and FMA; `r0 + R ≤ h`, `x + 8 ≤ w`, and the slices as [`dot9`] checks them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot9_tile<const R: usize>(acc: &mut [std::arch::x86_64::__m256; 9], g: *const f32, src: *const f32, wp: usize, r0: usize, x: usize) {
    use std::arch::x86_64::*;
    // SAFETY (every access): as in `stencil_tile`.
    unsafe {
        let (g, src) = (g.wrapping_add(at(r0, wp, x)), src.wrapping_add(at(r0, wp, x)));
        let gv: [__m256; R] = std::array::from_fn(|i| load8(g.wrapping_add(at(i, wp, 0))));
        for j in 0..R + 2 {
            for kx in 0..3 {
                let v = load8(src.wrapping_add(at(j, wp, kx)));
                for ky in 0..3 {
                    if j >= ky && j - ky < R {
                        acc[3 * ky + kx] = _mm256_fmadd_ps(gv[j - ky], v, acc[3 * ky + kx]);
                    }
                }
            }
        }
    }
}

/// [`dot9`] with AVX2 and FMA: nine eight-lane accumulators over tiles of [`DOT_ROWS`] rows ×
/// eight pixels, summed lane by lane at the end, then the scalar columns (a fixed order: the
/// result does not depend on the thread count).
///
/// # Safety
/// The CPU must have AVX2 and FMA; the lengths as [`dot9`] checks them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot9_fma(g: &[f32], src: &[f32], grid: &Grid) -> [f32; 9] {
    use std::arch::x86_64::*;
    let Grid { h, w: width, wp } = *grid;
    let wide = width / 8 * 8;
    let (gp, s) = (g.as_ptr(), src.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 9];
    let mut r0 = 0;
    while r0 < h {
        let step = if r0 + DOT_ROWS <= h { DOT_ROWS } else { 1 };
        for x in (0..wide).step_by(8) {
            // SAFETY: r0 + step ≤ h and x + 8 ≤ w.
            unsafe {
                if step == DOT_ROWS {
                    dot9_tile::<DOT_ROWS>(&mut acc, gp, s, wp, r0, x)
                } else {
                    dot9_tile::<1>(&mut acc, gp, s, wp, r0, x)
                }
            }
        }
        r0 += step;
    }
    std::array::from_fn(|t| {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds eight floats.
        unsafe { store8(lanes.as_mut_ptr(), acc[t]) };
        let mut sum = lanes.iter().sum::<f32>();
        let off = (t / 3) * wp + t % 3;
        for r in 0..h {
            for x in wide..width {
                let q = r * wp + x;
                sum = g[q].mul_add(src[q + off], sum);
            }
        }
        sum
    })
}

/// [`stencil`] for CPUs without AVX2 and FMA.
fn stencil_plain(out: &mut [f32], src: &[f32], w: &[f32; 9], grid: &Grid) {
    let off = grid.offsets();
    for r in 0..grid.h {
        for q in r * grid.wp..r * grid.wp + grid.w {
            let mut acc = out[q];
            for t in 0..9 {
                acc += w[t] * src[q + off[t]];
            }
            out[q] = acc;
        }
    }
}

/// [`dot9`] for CPUs without AVX2 and FMA.
fn dot9_plain(g: &[f32], src: &[f32], grid: &Grid) -> [f32; 9] {
    let off = grid.offsets();
    std::array::from_fn(|t| {
        let mut sum = 0.0f32;
        for r in 0..grid.h {
            for q in r * grid.wp..r * grid.wp + grid.w {
                sum += g[q] * src[q + off[t]];
            }
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
    /// CPU has it, and the plain one) against a naive loop, at sizes that are and are not
    /// multiples of the vector width and of the rows per pass; the dropped columns of the
    /// output are left alone and those of the gradient are not read.
    #[test]
    fn stencil_and_dot9_match_a_naive_loop() {
        for (h, w) in [(1, 1), (3, 5), (4, 6), (7, 9), (5, 8), (9, 17), (16, 16)] {
            let grid = Grid::new(h, w);
            let off = grid.offsets();
            let src = values(grid.len(), 1);
            let weights: [f32; 9] = values(9, 2).try_into().unwrap();
            let start = values(grid.out_len(), 3);
            let inside = |q: usize| q % grid.wp < w;
            let naive: Vec<f32> =
                (0..grid.out_len()).map(|q| if inside(q) { start[q] + (0..9).map(|t| weights[t] * src[q + off[t]]).sum::<f32>() } else { start[q] }).collect();
            let (mut fast, mut plain) = (start.clone(), start.clone());
            stencil(&mut fast, &src, &weights, &grid);
            stencil_plain(&mut plain, &src, &weights, &grid);
            for (i, ((a, b), c)) in fast.iter().zip(&plain).zip(&naive).enumerate() {
                assert!((a - c).abs() < 1e-5 && (b - c).abs() < 1e-5, "stencil {h}×{w} [{i}]: {a} / {b} vs {c}");
            }
            // NaN in the dropped columns: a sum that read one would be NaN.
            let g: Vec<f32> = values(grid.out_len(), 4).into_iter().enumerate().map(|(q, v)| if inside(q) { v } else { f32::NAN }).collect();
            let naive: Vec<f32> = (0..9).map(|t| (0..g.len()).filter(|&q| inside(q)).map(|q| g[q] * src[q + off[t]]).sum::<f32>()).collect();
            let (fast, plain) = (dot9(&g, &src, &grid), dot9_plain(&g, &src, &grid));
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
    #[should_panic(expected = "source or output too short")]
    fn a_short_source_is_refused() {
        let grid = Grid::new(4, 4);
        let mut out = vec![0.0; grid.out_len()];
        stencil(&mut out, &vec![0.0; grid.len() - 1], &[1.0; 9], &grid);
    }
}
