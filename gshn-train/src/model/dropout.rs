//! Dropout whose mask is drawn fast on flex. Burn's `Dropout` draws its Bernoulli mask one
//! element at a time through a distribution sampler over ChaCha (`TensorData::random`): in the
//! scratch text encoder's training step that took more than half of the forward (measured with
//! `examples/model_parts`, docs/performance.md). Here the same layer, on flex, takes one
//! 48-bit seed from Burn's seeded RNG per call and hashes each element's index with it:
//!
//! ```text
//! m_i = 1/(1 − p)  if  h(i, seed) < (1 − p)·2³²  else 0,      y = x ⊙ m
//! ```
//!
//! — the same keep probability and scaling as Burn's `x ⊙ Bernoulli(1 − p) · 1/(1 − p)` (the
//! same bits where an element is kept), another random stream. The seed comes from the
//! device's RNG, which the trainer seeds per step, so a run still repeats bit for bit and
//! resumes exactly. Elsewhere (WGPU, whose RNG runs on the device, and builds without flex)
//! it is Burn's `Dropout::forward`.

use burn::nn::Dropout;
use burn::tensor::{Distribution, Tensor, TensorData};

/// `Dropout::forward` with the fast mask on flex (see the module's doc). Identity outside
/// training (the layer's training flag off, or a device without autodiff) and at `p = 0`,
/// as Burn's.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let device = x.device();
    if !super::fused_conv::on_flex(&device) {
        return layer.forward(x);
    }
    let seed = draw_seed(&device);
    let shape = x.shape();
    let mask = keep_mask(shape.num_elements(), 1.0 - layer.prob, seed);
    x * Tensor::from_data(TensorData::new(mask, shape), &device)
}

/// 48 bits from the device's RNG: two uniform floats' 24-bit mantissas.
fn draw_seed(device: &burn::tensor::Device) -> u64 {
    let u = Tensor::<1>::random([2], Distribution::Default, device).into_data().try_into_vec::<f32>().expect("the device's RNG gives f32");
    let bits = |v: f32| ((v.clamp(0.0, 1.0) * (1u32 << 24) as f32) as u64).min((1 << 24) - 1);
    bits(u[0]) << 24 | bits(u[1])
}

/// Chris Wellons' `lowbias32` integer hash (bias ≈ 0.17 of an ideal hash's).
#[inline(always)]
fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// `len` mask values: `1/keep` where `h(i) < keep·2³²`, else 0, with
/// `h(i) = lowbias32(lowbias32(i ⊕ s₀) ⊕ s₁)` for the seed's two halves (plain integer
/// arithmetic over a slice, which the compiler vectorises; eight lanes with AVX2 where the
/// CPU has it, checked at run time).
pub fn keep_mask(len: usize, keep: f64, seed: u64) -> Vec<f32> {
    assert!(keep > 0.0 && keep <= 1.0, "keep probability {keep} not in (0, 1]");
    if keep == 1.0 {
        return vec![1.0; len];
    }
    let threshold = (keep * 4_294_967_296.0) as u32;
    let scale = (1.0 / keep) as f32;
    let (s0, s1) = (seed as u32, (seed >> 32) as u32 ^ 0x9e37_79b9);
    let mut mask = vec![0.0f32; len];
    for (chunk, block) in mask.chunks_mut(1 << 20).zip(0u64..) {
        // The element index past 2²⁰ enters through the base, past 2³² through the seed.
        let s1 = s1 ^ lowbias32((block >> 12) as u32);
        let base = (block as u32) << 20;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            unsafe { fill_avx2(chunk, base, s0, s1, threshold, scale) };
            continue;
        }
        fill(chunk, base, s0, s1, threshold, scale);
    }
    mask
}

/// [`fill`] compiled for AVX2 (eight hashes per instruction).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(chunk: &mut [f32], base: u32, s0: u32, s1: u32, threshold: u32, scale: f32) {
    fill(chunk, base, s0, s1, threshold, scale)
}

/// One chunk of [`keep_mask`], element `i` of it being element `base + i` of the mask.
#[inline(always)]
fn fill(chunk: &mut [f32], base: u32, s0: u32, s1: u32, threshold: u32, scale: f32) {
    for (i, m) in chunk.iter_mut().enumerate() {
        let h = lowbias32(lowbias32((base | i as u32) ^ s0) ^ s1);
        *m = if h < threshold { scale } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_keeps_the_share_asked_for_and_scales_it() {
        for keep in [0.9, 0.5, 0.1] {
            let mask = keep_mask(200_000, keep, 7);
            let kept = mask.iter().filter(|&&m| m != 0.0).count() as f64 / mask.len() as f64;
            // Binomial standard error at n = 2·10⁵ is at most 0.0012.
            assert!((kept - keep).abs() < 0.006, "keep {keep}: kept {kept}");
            assert!(mask.iter().all(|&m| m == 0.0 || m == (1.0 / keep) as f32));
            // Mean of the mask ≈ 1: the layer keeps the input's expectation.
            let mean = mask.iter().map(|&m| m as f64).sum::<f64>() / mask.len() as f64;
            assert!((mean - 1.0).abs() < 0.02, "keep {keep}: mean {mean}");
        }
        assert!(keep_mask(1000, 1.0, 3).iter().all(|&m| m == 1.0));
    }

    #[test]
    fn seeds_give_different_masks_and_the_same_seed_the_same() {
        let (a, b) = (keep_mask(4096, 0.5, 1), keep_mask(4096, 0.5, 2));
        assert_eq!(a, keep_mask(4096, 0.5, 1));
        let same = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64;
        assert!((same - 0.5).abs() < 0.05, "two seeds agree on {same} of the elements");
        // Neighbouring elements are not correlated: P(both kept) ≈ keep².
        let both = a.windows(2).filter(|w| w[0] != 0.0 && w[1] != 0.0).count() as f64 / (a.len() - 1) as f64;
        assert!((both - 0.25).abs() < 0.03, "neighbours both kept {both}");
    }
}
