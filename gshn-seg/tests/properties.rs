//! Property tests: partitions cover every pixel exactly once, areas sum to the image,
//! adjacency is symmetric; random bytes never panic the readers.

use gshn_seg::baselines::{boxes, grid_patches};
use gshn_seg::descriptors::{describe, region_adjacency};
use gshn_seg::felzenszwalb::{felzenszwalb, FelzenszwalbParams};
use gshn_seg::image_io::{decode_rgb, ImageLimits};
use gshn_seg::panoptic::{decode_panoptic, encode_panoptic, PanopticAnnotation, PanopticSegment};
use gshn_seg::slic::{slic, SlicParams};
use gshn_seg::{SegError, Segmentation, VOID};
use image::RgbImage;
use proptest::prelude::*;

/// A random image of blocky colour regions (so segmenters find structure).
fn any_image() -> impl Strategy<Value = RgbImage> {
    (4u32..40, 4u32..40, proptest::collection::vec(any::<[u8; 3]>(), 9), any::<u64>()).prop_map(|(w, h, palette, seed)| {
        let mut s = seed | 1;
        RgbImage::from_fn(w, h, |x, y| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let block = ((x * 3 / w) + 3 * (y * 3 / h)) as usize;
            let noise = (s % 9) as u8;
            image::Rgb(palette[block].map(|c| c.saturating_add(noise)))
        })
    })
}

fn check_partition(seg: &Segmentation) -> Result<(), TestCaseError> {
    prop_assert!(seg.labels.iter().all(|&l| l != VOID && (l as usize) < seg.len()), "every pixel in exactly one segment");
    prop_assert_eq!(seg.segments.iter().map(|s| s.area).sum::<u64>(), seg.num_pixels() as u64);
    prop_assert!(seg.segments.iter().all(|s| s.area > 0));
    seg.validate().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let adj = region_adjacency(seg);
    for &(i, j, len) in &adj.edges {
        prop_assert!(i < j && len > 0);
        prop_assert!(adj.neighbours(j).contains(&i) && adj.neighbours(i).contains(&j), "symmetric");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn felzenszwalb_partitions(img in any_image(), scale in 1.0f64..500.0, min_size in 1usize..30) {
        let seg = felzenszwalb(&img, &FelzenszwalbParams { scale, sigma: 0.8, min_size }).unwrap();
        check_partition(&seg)?;
    }

    #[test]
    fn slic_partitions(img in any_image(), n in 1usize..60, compactness in 0.5f64..40.0) {
        let seg = slic(&img, &SlicParams { n_segments: n, compactness, ..Default::default() }).unwrap();
        check_partition(&seg)?;
    }

    #[test]
    fn grid_partitions(w in 1u32..60, h in 1u32..60, r in 1u32..8, c in 1u32..8) {
        prop_assume!(r <= h && c <= w);
        let seg = grid_patches(w, h, r, c).unwrap();
        prop_assert_eq!(seg.len(), (r * c) as usize);
        check_partition(&seg)?;
    }

    #[test]
    fn panoptic_round_trip_partitions(img in any_image()) {
        let mut seg = felzenszwalb(&img, &FelzenszwalbParams::default()).unwrap();
        for s in seg.segments.iter_mut() {
            s.category_id = Some(1);
        }
        let (png, ann) = encode_panoptic(&seg, 1, "x.png", 1).unwrap();
        let back = decode_panoptic(&png, &ann, &[], &ImageLimits::default()).unwrap();
        prop_assert_eq!(&back.labels, &seg.labels);
        check_partition(&back)?;
    }

    #[test]
    fn box_areas_and_descriptors(img in any_image(), bx in proptest::collection::vec((0.0f64..30.0, 0.0f64..30.0, 1.0f64..20.0, 1.0f64..20.0), 1..5)) {
        let (w, h) = img.dimensions();
        let b: Vec<[f64; 4]> = bx.iter().map(|&(x, y, bw, bh)| [x.min(w as f64 - 1.0), y.min(h as f64 - 1.0), bw, bh]).collect();
        let seg = boxes(w, h, &b).unwrap();
        let d = describe(&img, &seg, 4, 4).unwrap();
        for (k, desc) in d.iter().enumerate() {
            prop_assert_eq!(desc.area, seg.mask(k).iter().filter(|&&m| m).count() as u64);
            prop_assert!(desc.mask.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
        let adj = region_adjacency(&seg);
        for &(i, j, _) in &adj.edges {
            prop_assert!(i < j);
        }
    }

    #[test]
    fn random_bytes_never_panic_the_readers(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let limits = ImageLimits { max_pixels: 1 << 20, ..Default::default() };
        let ann = PanopticAnnotation {
            image_id: 1,
            file_name: "fuzz.png".into(),
            segments_info: vec![PanopticSegment { id: 1, category_id: 1, iscrowd: 0, bbox: [0, 0, 1, 1], area: 1 }],
        };
        let _ = decode_panoptic(&bytes, &ann, &[], &limits);
        let _ = decode_rgb(&bytes, &limits);
        // A PNG signature followed by garbage must be a decode error, not a panic.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(&bytes);
        prop_assert!(decode_panoptic(&png, &ann, &[], &limits).is_err());
    }
}

fn png_of(img: image::DynamicImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png).unwrap();
    v
}

#[test]
fn bad_images_are_typed_errors() {
    let limits = ImageLimits::default();
    assert!(matches!(decode_rgb(b"not an image", &limits), Err(SegError::Decode { .. })));
    let ok = png_of(image::DynamicImage::ImageRgb8(RgbImage::new(8, 8)));
    assert!(matches!(decode_rgb(&ok[..ok.len() - 20], &limits), Err(SegError::Decode { .. })), "truncated");
    assert!(matches!(decode_rgb(&[], &limits), Err(SegError::Decode { .. })), "empty file");
    let big = ImageLimits { max_pixels: 63, ..Default::default() };
    assert!(matches!(decode_rgb(&ok, &big), Err(SegError::TooLarge { pixels: 64, limit: 63, .. })));

    // Grayscale, RGBA and 16-bit images are converted by default and refused when strict.
    let strict = ImageLimits { convert_to_rgb8: false, ..Default::default() };
    let gray = png_of(image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(3, 2, image::Luma([7]))));
    let rgba = png_of(image::DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(3, 2, image::Rgba([1, 2, 3, 4]))));
    let deep = png_of(image::DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(3, 2, image::Rgb([65535u16, 0, 257]))));
    assert_eq!(decode_rgb(&gray, &limits).unwrap().get_pixel(0, 0).0, [7, 7, 7]);
    assert_eq!(decode_rgb(&rgba, &limits).unwrap().get_pixel(0, 0).0, [1, 2, 3]);
    assert_eq!(decode_rgb(&deep, &limits).unwrap().get_pixel(0, 0).0, [255, 0, 1]);
    for b in [&gray, &rgba, &deep] {
        assert!(matches!(decode_rgb(b, &strict), Err(SegError::PixelFormat { .. })));
    }

    // Zero-size images and bad parameters.
    assert!(matches!(felzenszwalb(&RgbImage::new(0, 5), &FelzenszwalbParams::default()), Err(SegError::EmptyImage { .. })));
    assert!(matches!(slic(&RgbImage::new(5, 0), &SlicParams::default()), Err(SegError::EmptyImage { .. })));
    assert!(matches!(grid_patches(0, 3, 1, 1), Err(SegError::EmptyImage { .. })));
    let img = RgbImage::new(4, 4);
    assert!(matches!(felzenszwalb(&img, &FelzenszwalbParams { scale: -1.0, ..Default::default() }), Err(SegError::InvalidParameter { name: "scale", .. })));
    assert!(matches!(slic(&img, &SlicParams { n_segments: 0, ..Default::default() }), Err(SegError::InvalidParameter { .. })));
    assert!(matches!(slic(&img, &SlicParams { compactness: f64::NAN, ..Default::default() }), Err(SegError::InvalidParameter { .. })));
}
