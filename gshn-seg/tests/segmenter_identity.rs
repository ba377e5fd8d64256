//! The optimised Felzenszwalb and SLIC give exactly the label maps of the straightforward
//! implementations they replaced (kept verbatim in `reference/mod.rs`): on the committed
//! fixture images (at their size and upscaled to 512 × 512, the benchmark's size) and on
//! random images of several kinds and sizes, over a spread of parameters.

mod common;
mod reference;

use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::image_io::{read_rgb, ImageLimits};
use gshn_seg::slic::{slic, SlicParams};
use image::RgbImage;

/// xorshift64*, so the random images are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random images: white noise, few-colour noise (many exactly tied edge weights), blocks
/// plus noise, smooth gradients, a constant image, and narrow bands of one or two colours.
fn random_image(kind: u64, w: u32, h: u32, rng: &mut Rng) -> RgbImage {
    let palette: Vec<[u8; 3]> = (0..6).map(|_| [0; 3].map(|_: u8| rng.below(256) as u8)).collect();
    let (gx, gy) = (rng.below(7) as u32 + 1, rng.below(7) as u32 + 1);
    let c0 = palette[0];
    RgbImage::from_fn(w, h, |x, y| {
        let px = match kind % 6 {
            0 => [0; 3].map(|_: u8| rng.below(256) as u8),
            1 => palette[rng.below(3) as usize],
            2 => {
                let block = ((x * gx / w) + 3 * (y * gy / h)) as usize % palette.len();
                let n = rng.below(12) as u8;
                palette[block].map(|c| c.saturating_add(n))
            }
            3 => [((x * 255) / w.max(2)) as u8, ((y * 255) / h.max(2)) as u8, (((x + y) * 127) / (w + h)) as u8],
            4 => c0,
            _ => palette[((x / gx + y / gy) % 2) as usize],
        };
        image::Rgb(px)
    })
}

fn fh_params() -> Vec<FelzenszwalbParams> {
    let mut out = vec![FelzenszwalbParams::default(), FelzenszwalbParams { scale: 100.0, sigma: 0.8, min_size: 50 }];
    for (scale, sigma, min_size) in [(1.0, 0.0, 0), (500.0, 2.0, 20), (30.0, 0.3, 5), (1e4, 1.3, 1)] {
        out.push(FelzenszwalbParams { scale, sigma, min_size });
    }
    out
}

fn slic_params() -> Vec<SlicParams> {
    let d = SlicParams::default();
    vec![
        d,
        SlicParams { n_segments: 1, ..d },
        SlicParams { n_segments: 400, compactness: 0.5, ..d },
        SlicParams { n_segments: 37, compactness: 100.0, sigma: 1.0, ..d },
        SlicParams { n_segments: 25, convert2lab: false, max_iter: 3, ..d },
        SlicParams { n_segments: 60, enforce_connectivity: false, ..d },
        SlicParams { n_segments: 10, max_iter: 0, min_size_factor: 0.0, max_size_factor: 0.5, ..d },
        SlicParams { n_segments: 1_000_000, ..d },
    ]
}

fn check(img: &RgbImage, what: &str) {
    for p in fh_params() {
        let ours = felzenszwalb(img, &p).unwrap();
        let theirs = reference::felzenszwalb(img, &p);
        assert!(ours.labels == theirs, "{what}: Felzenszwalb {p:?} differs from the reference");
    }
    for p in slic_params() {
        let ours = slic(img, &p).unwrap();
        let theirs = reference::slic(img, &p);
        assert!(ours.labels == theirs, "{what}: SLIC {p:?} differs from the reference");
    }
}

#[test]
fn fixture_images_segment_exactly_as_before() {
    for name in ["astronaut", "chelsea", "coffee"] {
        let img = read_rgb(&common::here(&format!("tests/fixtures/images/{name}.png")), &ImageLimits::default()).unwrap();
        check(&img, name);
    }
}

#[test]
fn benchmark_sized_images_segment_exactly_as_before() {
    // The benchmark's settings on 512 × 512 versions of the fixtures.
    let fh = FelzenszwalbParams { scale: 100.0, sigma: 0.8, min_size: 50 };
    for name in ["astronaut", "coffee"] {
        let img = read_rgb(&common::here(&format!("tests/fixtures/images/{name}.png")), &ImageLimits::default()).unwrap();
        let img = image::imageops::resize(&img, 512, 512, image::imageops::FilterType::Triangle);
        assert!(felzenszwalb(&img, &fh).unwrap().labels == reference::felzenszwalb(&img, &fh), "{name} 512²: Felzenszwalb");
        let sl = SlicParams::default();
        assert!(slic(&img, &sl).unwrap().labels == reference::slic(&img, &sl), "{name} 512²: SLIC");
    }
}

#[test]
fn random_images_segment_exactly_as_before() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sizes = [(1, 1), (1, 9), (9, 1), (2, 2), (3, 17), (31, 7), (64, 48), (97, 101)];
    for (i, &(w, h)) in sizes.iter().enumerate() {
        for kind in 0..6 {
            let img = random_image(kind + i as u64, w, h, &mut rng);
            check(&img, &format!("{w}×{h} kind {}", (kind + i as u64) % 6));
        }
    }
}
