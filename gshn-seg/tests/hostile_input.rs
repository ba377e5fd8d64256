//! Hostile input: every bad RLE, polygon, file name, panoptic pair or image is a typed error
//! that names the file (for JSON with its line) or the annotation — never a panic — and
//! memory stays bounded by the input and the pixel limit. A counting global allocator
//! measures the peak of each call; the decoders run with a 1 Mpx limit so the bounds are
//! tight. Results of the compact (run-based) rasteriser are compared with the former
//! full-mask implementation, kept here as the reference.

mod common;
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::path::PathBuf;

use counting_alloc::{peak_during, Counting};
use gshn_seg::image_io::{decode_rgb, read_rgb, ImageLimits};
use gshn_seg::instances::*;
use gshn_seg::panoptic::{decode_panoptic, read_panoptic_in, read_panoptic_json, PanopticAnnotation, PanopticFile};
use gshn_seg::{SegError, SegmentInfo, Segmentation, VOID};
use image::{DynamicImage, GrayImage, RgbImage};
use proptest::prelude::*;
use serde_json::{json, Value};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The pixel limit the decoders run with in these tests.
const LIMIT: u64 = 1 << 20;
const MIB: u64 = 1 << 20;

fn limits() -> ImageLimits {
    ImageLimits { max_pixels: LIMIT, ..Default::default() }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-seg-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn png_of(img: DynamicImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png).unwrap();
    v
}

fn jpeg_of(img: &RgbImage) -> Vec<u8> {
    let mut v = Vec::new();
    DynamicImage::ImageRgb8(img.clone()).write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Jpeg).unwrap();
    v
}

/// The image size a file declares, when its header can be read (outside the measurement).
fn declared_pixels(bytes: &[u8]) -> u64 {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok())
        .map_or(0, |(w, h)| w as u64 * h as u64)
}

/// What decoding may hold: a few copies of the image at 8 bytes per pixel (16-bit RGBA is
/// the widest PNG) when it is within the limit, plus the input and a fixed allowance for
/// decoder state (zlib window, Huffman tables, row buffers).
fn decode_bound(bytes: &[u8]) -> u64 {
    let px = declared_pixels(bytes);
    let px = if px <= LIMIT { px } else { 0 };
    4 * 8 * px + 4 * bytes.len() as u64 + MIB
}

// ---------------------------------------------------------------------------------------
// The former full-mask implementation, the reference for the compact one.

mod reference {
    use super::*;

    pub fn rle_to_mask(counts: &[u64], width: u32, height: u32) -> Option<Vec<bool>> {
        let n = width as usize * height as usize;
        if counts.iter().map(|&c| c as u128).sum::<u128>() != n as u128 {
            return None;
        }
        let mut mask = vec![false; n];
        let mut pos = 0usize;
        for (i, &c) in counts.iter().enumerate() {
            if i % 2 == 1 {
                for j in pos..pos + c as usize {
                    let (x, y) = (j / height as usize, j % height as usize);
                    mask[y * width as usize + x] = true;
                }
            }
            pos += c as usize;
        }
        Some(mask)
    }

    pub fn polygons_to_mask(polygons: &[Vec<f64>], width: u32, height: u32) -> Option<Vec<bool>> {
        let (w, h) = (width as usize, height as usize);
        let mut mask = vec![false; w * h];
        for poly in polygons {
            if poly.len() < 6 || !poly.len().is_multiple_of(2) || poly.iter().any(|v| !v.is_finite()) {
                return None;
            }
            let pts: Vec<(f64, f64)> = poly.chunks_exact(2).map(|c| (c[0], c[1])).collect();
            let mut xs = Vec::new();
            for y in 0..h {
                let cy = y as f64 + 0.5;
                xs.clear();
                for i in 0..pts.len() {
                    let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
                    if (a.1 <= cy && b.1 > cy) || (b.1 <= cy && a.1 > cy) {
                        xs.push(a.0 + (cy - a.1) / (b.1 - a.1) * (b.0 - a.0));
                    }
                }
                xs.sort_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    let start = (pair[0] - 0.5).ceil().max(0.0) as usize;
                    let end = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(w);
                    for x in start..end {
                        mask[y * w + x] ^= true;
                    }
                }
            }
        }
        Some(mask)
    }

    fn mask(ann: &InstanceAnnotation, w: u32, h: u32) -> Option<Vec<bool>> {
        match &ann.segmentation {
            InstanceSegmentation::Polygons(p) => polygons_to_mask(p, w, h),
            InstanceSegmentation::Rle { counts, size } => {
                if *size != [h, w] {
                    return None;
                }
                match counts {
                    RleCounts::Compressed(s) => rle_to_mask(&decode_rle_string(s).ok()?, w, h),
                    RleCounts::Uncompressed(c) => rle_to_mask(c, w, h),
                }
            }
        }
    }

    /// The former `instances_to_panoptic`: one full-size mask per annotation.
    pub fn instances_to_panoptic(image: &CocoImage, anns: &[&InstanceAnnotation], min_stuff_area: u64) -> Option<Segmentation> {
        let (w, h) = (image.width, image.height);
        let masks: Vec<Vec<bool>> = anns.iter().map(|a| mask(a, w, h)).collect::<Option<_>>()?;
        let areas: Vec<usize> = masks.iter().map(|m| m.iter().filter(|&&b| b).count()).collect();
        let mut order: Vec<usize> = (0..anns.len()).collect();
        order.sort_by(|&a, &b| areas[b].cmp(&areas[a]).then(anns[a].id.cmp(&anns[b].id)));
        let n = w as usize * h as usize;
        let mut labels = vec![VOID; n];
        for &k in &order {
            for (l, &on) in labels.iter_mut().zip(&masks[k]) {
                if on {
                    *l = k as u32;
                }
            }
        }
        let (wu, hu) = (w as usize, h as usize);
        let mut next = anns.len() as u32;
        let mut comp = vec![false; n];
        for start in 0..n {
            if labels[start] != VOID || comp[start] {
                continue;
            }
            let mut queue = vec![start];
            comp[start] = true;
            let mut i = 0;
            while i < queue.len() {
                let p = queue[i];
                i += 1;
                let (x, y) = (p % wu, p / wu);
                let nbrs = [(x > 0).then(|| p - 1), (x + 1 < wu).then(|| p + 1), (y > 0).then(|| p - wu), (y + 1 < hu).then(|| p + wu)];
                for q in nbrs.into_iter().flatten() {
                    if labels[q] == VOID && !comp[q] {
                        comp[q] = true;
                        queue.push(q);
                    }
                }
            }
            if queue.len() as u64 >= min_stuff_area {
                for &p in &queue {
                    labels[p] = next;
                }
                next += 1;
            }
        }
        let mut seg = Segmentation::from_labels(w, h, labels).ok()?;
        let empty = SegmentInfo { id: 0, category_id: None, is_thing: false, is_crowd: false, area: 0, bbox: [0; 4], centroid: [0.0; 2] };
        seg.segments.resize(next as usize, empty);
        for (k, info) in seg.segments.iter_mut().enumerate() {
            info.id = k as u32 + 1;
            if let Some(a) = anns.get(k) {
                info.category_id = Some(a.category_id);
                info.is_thing = true;
                info.is_crowd = a.iscrowd == 1;
            }
        }
        Some(seg)
    }
}

// ---------------------------------------------------------------------------------------
// Named cases.

fn rle_annotation(id: u64, counts: RleCounts, size: [u32; 2]) -> InstanceAnnotation {
    InstanceAnnotation { id, image_id: 1, category_id: 1, segmentation: InstanceSegmentation::Rle { counts, size }, iscrowd: 0, bbox: None }
}

fn image_meta(width: u32, height: u32) -> CocoImage {
    CocoImage { id: 1, file_name: "x.png".into(), width, height }
}

/// An instances file with one 4×3 image and one annotation whose segmentation is `seg`.
fn instances_json(file_name: &str, seg: Value) -> String {
    let doc = json!({
        "images": [{"id": 1, "file_name": file_name, "width": 4, "height": 3}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": seg}],
        "categories": [{"id": 1, "name": "thing"}],
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

fn read_instances_text(name: &str, text: &str) -> (PathBuf, gshn_seg::Result<CocoInstances>) {
    let dir = scratch("json");
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = read_instances(&path);
    (path, out)
}

#[test]
fn huge_uncompressed_count_is_an_error_not_a_panic() {
    // Parsed: the error names the file and the line.
    let (path, r) = read_instances_text("huge.json", &instances_json("a.png", json!({"counts": [0, u64::MAX, 5], "size": [3, 4]})));
    let e = r.unwrap_err().to_string();
    assert!(e.contains(&path.display().to_string()) && e.contains("line") && e.contains("runs past the image"), "{e}");
    // Built in code: a typed error naming the annotation.
    for counts in [vec![0, u64::MAX, 5], vec![u64::MAX, u64::MAX], vec![0, 1 << 40]] {
        let ann = rle_annotation(9, RleCounts::Uncompressed(counts.clone()), [3, 4]);
        let e = instances_to_panoptic(&image_meta(4, 3), &[&ann], &Default::default()).unwrap_err();
        assert!(matches!(&e, SegError::Annotation { id: 9, reason } if reason.contains("runs past")), "{counts:?}: {e}");
        assert!(rle_to_mask(&counts, 4, 3).is_err());
    }
}

/// One count as pycocotools' groups, from a signed value (what a hostile writer can emit).
fn groups(mut x: i128, max: usize) -> String {
    let mut s = String::new();
    for _ in 0..max {
        let mut c = (x & 0x1f) as u8;
        x >>= 5;
        let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
        if more {
            c |= 0x20;
        }
        s.push((c + 48) as char);
        if !more {
            break;
        }
    }
    s
}

#[test]
fn overflowing_compressed_count_is_an_error_not_a_panic() {
    // A count above 2^64, a delta that overflows the count two before, a negative count,
    // and a count with more groups than 64 bits hold.
    let above = groups(1i128 << 64, 20);
    let delta = format!("{}{}{}{}", groups(0, 20), groups(u64::MAX as i128, 20), groups(0, 20), groups(1, 20));
    let negative = groups(-5, 20);
    let overlong = format!("{}0", "o".repeat(20));
    for (s, what) in [(&above, "outside"), (&delta, "outside"), (&negative, "outside"), (&overlong, "groups")] {
        let e = decode_rle_string(s).unwrap_err();
        assert!(e.contains(what), "{s}: {e}");
        let (path, r) = read_instances_text("overflow.json", &instances_json("a.png", json!({"counts": s, "size": [3, 4]})));
        let e = r.unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains("line") && e.contains(what), "{e}");
        let ann = rle_annotation(3, RleCounts::Compressed(s.clone()), [3, 4]);
        assert!(matches!(instances_to_panoptic(&image_meta(4, 3), &[&ann], &Default::default()), Err(SegError::Annotation { id: 3, .. })));
    }
}

#[test]
fn runs_past_the_image_and_a_wrong_size_are_errors() {
    for (counts, what) in [(vec![5u64, 8], "runs past the image"), (vec![5, 6], "covers 11 pixels"), (vec![], "covers 0 pixels")] {
        assert!(check_counts(&counts, 4, 3).unwrap_err().contains(what), "{counts:?}");
        let (_, r) = read_instances_text("past.json", &instances_json("a.png", json!({"counts": counts, "size": [3, 4]})));
        let e = r.unwrap_err().to_string();
        assert!(e.contains(what) && e.contains("line"), "{e}");
    }
    let (_, r) = read_instances_text("past.json", &instances_json("a.png", json!({"counts": encode_rle_string(&[5, 8]), "size": [3, 4]})));
    assert!(r.unwrap_err().to_string().contains("runs past the image"));
    // A valid RLE whose size is not the image's.
    let ann = rle_annotation(4, RleCounts::Uncompressed(vec![5, 7]), [3, 4]);
    let e = instances_to_panoptic(&image_meta(3, 4), &[&ann], &Default::default()).unwrap_err().to_string();
    assert!(e.contains("annotation 4") && e.contains("RLE size [3, 4]") && e.contains("[4, 3]"), "{e}");
    // Negative counts and a negative size are parse errors with a line.
    for seg in [json!({"counts": [-1, 13], "size": [3, 4]}), json!({"counts": [12], "size": [-3, 4]})] {
        let (_, r) = read_instances_text("neg.json", &instances_json("a.png", seg));
        assert!(r.unwrap_err().to_string().contains("line"));
    }
    // The image itself must be within the pixel limit.
    let small = InstancesToPanoptic { limits: ImageLimits { max_pixels: 11, knob: "test.knob", ..Default::default() }, ..Default::default() };
    let ann = rle_annotation(4, RleCounts::Uncompressed(vec![5, 7]), [3, 4]);
    let e = instances_to_panoptic(&image_meta(4, 3), &[&ann], &small).unwrap_err().to_string();
    assert!(e.contains("test.knob"), "{e}");
}

#[test]
fn file_names_that_leave_the_data_folder_are_refused() {
    for name in ["../x.png", "/etc/passwd", "images/../../x.png", "C:\\x.png"] {
        // Instances (and captions, which share `CocoImage`).
        let (path, r) = read_instances_text("names.json", &instances_json(name, json!([[0, 0, 2, 0, 2, 2]])));
        let e = r.unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(&path.display().to_string()) && e.contains("line"), "{name}: {e}");
        // Panoptic JSON.
        let dir = scratch("panoptic-names");
        let json_path = dir.join("panoptic.json");
        let doc = json!({"annotations": [{"image_id": 1, "file_name": name, "segments_info": []}], "categories": []});
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let line = 1 + text.lines().position(|l| l.contains("\"file_name\"")).unwrap();
        std::fs::write(&json_path, &text).unwrap();
        let e = read_panoptic_json(&json_path).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(&json_path.display().to_string()) && e.contains(&format!("line {line} ")), "{name}: {e}");
        // An annotation built in code is refused where its name becomes a path.
        let ann = PanopticAnnotation { image_id: 1, file_name: name.into(), segments_info: vec![] };
        let e = read_panoptic_in(&dir, &ann, &[], &limits(), Some(&json_path)).unwrap_err();
        assert!(matches!(&e, SegError::UnsafeFileName { file_name, json: Some(j), .. } if file_name == name && j == &json_path), "{e}");
    }
}

/// A 4096 × 4096 PNG (black, about 16 KB).
fn huge_png() -> Vec<u8> {
    png_of(DynamicImage::ImageLuma8(GrayImage::new(4096, 4096)))
}

#[test]
fn an_image_over_the_pixel_limit_is_refused_before_decoding() {
    let png = huge_png();
    assert!(png.len() < 100_000, "{} bytes", png.len());
    let path = scratch("huge").join("huge.png");
    std::fs::write(&path, &png).unwrap();
    let (r, peak) = peak_during(|| read_rgb(&path, &ImageLimits::default()));
    let e = r.unwrap_err();
    assert!(matches!(&e, SegError::TooLarge { pixels: 16_777_216, limit: 16_000_000, knob: "max_pixels", path: Some(p) } if p == &path), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("raise `max_pixels`"), "{msg}");
    assert!(peak < 4 * png.len() as u64 + MIB, "refused after {peak} bytes: the pixels were decoded");
    let knob = ImageLimits { knob: "--max-pixels", ..Default::default() };
    assert!(read_rgb(&path, &knob).unwrap_err().to_string().contains("raise `--max-pixels`"));
}

fn assert_truncated(bytes: &[u8], name: &str) {
    let dir = scratch("truncated");
    let full = decode_rgb(bytes, &ImageLimits::default()).unwrap();
    assert!(full.width() > 0);
    for cut in [1, 2, 5, 12, bytes.len() / 10, bytes.len() / 2, bytes.len() * 9 / 10] {
        let path = dir.join(format!("cut{cut}-{name}"));
        std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
        let e = read_rgb(&path, &ImageLimits::default()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(&e, SegError::Decode { path: Some(p), .. } if p == &path), "{name} cut {cut}: {msg}");
        assert!(msg.contains(&path.display().to_string()) && msg.contains("truncated"), "{name} cut {cut}: {msg}");
    }
}

#[test]
fn a_truncated_png_is_an_error_naming_the_file() {
    assert_truncated(&std::fs::read(common::here("tests/fixtures/images/astronaut.png")).unwrap(), "astronaut.png");
}

#[test]
fn a_truncated_jpeg_is_an_error_naming_the_file() {
    let Some(dir) = common::shared("coco-mini/train2017") else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let bytes = std::fs::read(&files[0]).unwrap();
    assert_truncated(&bytes, files[0].file_name().unwrap().to_str().unwrap());
}

/// A diagonal strip 3 px wide across the whole image: a tiny area, a full-size bounding box.
fn diagonal(k: usize, side: f64) -> Vec<f64> {
    let x = (k % 97) as f64 * 7.0 - 300.0;
    vec![x, 0.0, x + 3.0, 0.0, x + 3.0 + side, side, x + side, side]
}

#[test]
fn hundreds_of_annotations_on_a_large_image_stay_within_a_memory_bound() {
    let (w, h) = (2000u32, 2000u32);
    let px = w as u64 * h as u64;
    let mut anns = Vec::new();
    for k in 0..300 {
        let seg = InstanceSegmentation::Polygons(vec![diagonal(k, w as f64)]);
        anns.push(InstanceAnnotation { id: k as u64, image_id: 1, category_id: 1, segmentation: seg, iscrowd: 0, bbox: None });
    }
    for k in 0..300u64 {
        // A vertical strip three columns wide: column-major RLE, one run.
        let x = (k * 13) % (w as u64 - 3);
        let counts = vec![x * h as u64, 3 * h as u64, px - (x + 3) * h as u64];
        anns.push(rle_annotation(1000 + k, RleCounts::Uncompressed(counts), [h, w]));
    }
    let refs: Vec<&InstanceAnnotation> = anns.iter().collect();
    let areas: u64 = anns.iter().map(|a| annotation_runs(a, w, h).unwrap().area()).sum();
    let (seg, peak) = peak_during(|| instances_to_panoptic(&image_meta(w, h), &refs, &Default::default()).unwrap());
    seg.validate().unwrap();
    assert_eq!(seg.segments.iter().filter(|s| s.is_thing).count(), 600);
    let bound = 32 * (px + areas) + MIB;
    eprintln!("600 annotations on {w}×{h}: peak {} MiB, bound {} MiB; one full mask each would be {} MiB", peak / MIB, bound / MIB, 600 * px / MIB);
    assert!(peak <= bound, "peak {peak} bytes > bound {bound}");
    assert!(peak < 100 * px, "the peak grows with the annotations: {peak}");

    // The same kind of scene, small enough for the full-mask reference: identical output.
    let (w, h) = (150u32, 120u32);
    let mut small = Vec::new();
    for k in 0..120 {
        let seg = InstanceSegmentation::Polygons(vec![diagonal(k, 200.0).iter().map(|v| v / 4.0 + 40.0).collect()]);
        small.push(InstanceAnnotation {
            id: (k * 7919 % 120) as u64,
            image_id: 1,
            category_id: k as u32,
            segmentation: seg,
            iscrowd: (k % 5 == 0) as u8,
            bbox: None,
        });
    }
    for k in 0..60u64 {
        let x = (k * 11) % (w as u64 - 3);
        let counts = vec![x * h as u64 + k, 2 * h as u64, (w as u64 - x - 2) * h as u64 - k];
        small.push(rle_annotation(500 + k, RleCounts::Compressed(encode_rle_string(&counts)), [h, w]));
    }
    let refs: Vec<&InstanceAnnotation> = small.iter().collect();
    let ours = instances_to_panoptic(&image_meta(w, h), &refs, &Default::default()).unwrap();
    assert_eq!(Some(ours), reference::instances_to_panoptic(&image_meta(w, h), &refs, 32));
}

#[test]
fn coco_mini_instances_match_the_full_mask_reference() {
    let Some(path) = common::shared("coco-mini/annotations/instances_train2017.json") else { return };
    let coco = read_instances(&path).unwrap();
    for img in &coco.images {
        let anns: Vec<_> = coco.annotations.iter().filter(|a| a.image_id == img.id).collect();
        let ours = instances_to_panoptic(img, &anns, &Default::default()).unwrap();
        assert_eq!(Some(ours), reference::instances_to_panoptic(img, &anns, 32), "{}", img.file_name);
    }
}

// ---------------------------------------------------------------------------------------
// Properties.

/// CRC-32 (PNG's), so that hand-made chunks pass the decoder's check.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend(kind);
    v.extend(data);
    let mut crc_in = kind.to_vec();
    crc_in.extend(data);
    v.extend(crc32(&crc_in).to_be_bytes());
    v
}

/// A PNG with a valid header declaring `w × h` (any colour type and depth) and arbitrary
/// image data.
fn png_with_header(w: u32, h: u32, color: u8, depth: u8, data: &[u8], end: bool) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([depth, color, 0, 0, 0]);
    v.extend(chunk(b"IHDR", &ihdr));
    v.extend(chunk(b"IDAT", data));
    if end {
        v.extend(chunk(b"IEND", &[]));
    }
    v
}

/// A real JPEG whose frame header is patched to declare `w × h`, its scan data optionally
/// replaced by arbitrary bytes.
fn jpeg_with_header(w: u16, h: u16, rest: Option<&[u8]>) -> Vec<u8> {
    let mut v = jpeg_of(&RgbImage::from_pixel(16, 16, image::Rgb([200, 30, 90])));
    let sof = v.windows(2).position(|m| m == [0xFF, 0xC0]).expect("a baseline JPEG");
    v[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    v[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    if let Some(rest) = rest {
        let sos = v.windows(2).position(|m| m == [0xFF, 0xDA]).expect("a scan");
        let len = u16::from_be_bytes([v[sos + 2], v[sos + 3]]) as usize;
        v.truncate(sos + 2 + len);
        v.extend(rest);
    }
    v
}

fn dims() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..64, 0u32..3, 1000u32..1100, Just(u32::MAX), any::<u32>()]
}

/// Images as files: random bytes, hand-made headers with any dimensions, and real encoded
/// images (whole or cut anywhere).
fn image_bytes() -> impl Strategy<Value = Vec<u8>> {
    let data = proptest::collection::vec(any::<u8>(), 0..512);
    prop_oneof![
        data.clone(),
        (dims(), dims(), prop::sample::select(vec![0u8, 2, 3, 4, 6]), prop::sample::select(vec![1u8, 2, 4, 8, 16]), data.clone(), any::<bool>())
            .prop_map(|(w, h, c, d, data, end)| png_with_header(w, h, c, d, &data, end)),
        (prop_oneof![1u16..1100, any::<u16>()], prop_oneof![1u16..1100, any::<u16>()], proptest::option::of(data)).prop_map(|(w, h, rest)| jpeg_with_header(
            w,
            h,
            rest.as_deref()
        )),
        (1u32..48, 1u32..48, 0u8..6).prop_map(|(w, h, kind)| {
            let rgb = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 7) as u8, ((x + y) * 3) as u8]));
            match kind {
                0 => jpeg_of(&rgb),
                1 => png_of(DynamicImage::ImageRgb8(rgb)),
                2 => png_of(DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8())),
                3 => png_of(DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb).to_rgba8())),
                4 => png_of(DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(rgb).to_rgb16())),
                _ => png_of(DynamicImage::ImageLumaA8(DynamicImage::ImageRgb8(rgb).to_luma_alpha8())),
            }
        }),
        (1u32..48, 1u32..48, any::<u64>(), any::<bool>(), any::<prop::sample::Index>()).prop_map(|(w, h, seed, jpeg, cut)| {
            let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 5) as u8, (y * 7) as u8, (seed >> ((x + y) % 56)) as u8]));
            let bytes = if jpeg { jpeg_of(&img) } else { png_of(DynamicImage::ImageRgb8(img)) };
            let keep = cut.index(bytes.len() + 1);
            bytes[..keep].to_vec()
        }),
    ]
}

fn coord() -> impl Strategy<Value = f64> {
    prop_oneof![8 => -8.0f64..72.0, 1 => any::<f64>(), 1 => prop::sample::select(vec![0.5, 1e300, -1e300, f64::MAX, f64::MIN_POSITIVE])]
}

fn polygons() -> impl Strategy<Value = Vec<Vec<f64>>> {
    proptest::collection::vec(proptest::collection::vec(coord(), 0..14), 0..4)
}

fn counts() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(prop_oneof![6 => 0u64..40, 1 => any::<u64>(), 1 => Just(u64::MAX)], 0..24)
}

/// Counts that cover a `w × h` image exactly (cut at random points).
fn exact_counts(n: u64, cuts: Vec<u64>) -> Vec<u64> {
    let mut cuts: Vec<u64> = cuts.into_iter().map(|c| c % (n + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in cuts.into_iter().chain([n]) {
        out.push(c - prev);
        prev = c;
    }
    out
}

fn file_name() -> impl Strategy<Value = String> {
    prop_oneof![Just("a.png".to_string()), Just("../x.png".to_string()), Just("/etc/passwd".to_string()), Just(String::new()), "[a-z./\\\\]{0,12}",]
}

/// Any JSON value (keys from the COCO vocabulary, so objects sometimes nearly fit).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[0-o]{0,12}".prop_map(Value::from),
        file_name().prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec!["id", "file_name", "width", "height", "counts", "size", "segmentation", "image_id", "category_id", "area", "bbox"]);
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(keys.clone().prop_map(String::from), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A segmentation field: well-formed polygons or RLE with arbitrary numbers, or any JSON.
fn segmentation_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        polygons()
            .prop_map(|p| json!(p.iter().map(|v| v.iter().map(|x| if x.is_finite() { json!(x) } else { json!(0) }).collect::<Vec<_>>()).collect::<Vec<_>>())),
        (counts(), 0u32..40, 0u32..40).prop_map(|(c, h, w)| json!({"counts": c, "size": [h, w]})),
        (1u32..40, 1u32..40, proptest::collection::vec(any::<u64>(), 0..6))
            .prop_map(|(h, w, cuts)| json!({"counts": exact_counts(h as u64 * w as u64, cuts), "size": [h, w]})),
        ("[0-o]{0,40}", 0u32..40, 0u32..40).prop_map(|(s, h, w)| json!({"counts": s, "size": [h, w]})),
        any_json(),
    ]
}

/// Polygons around a `w × h` image (and sometimes far outside it).
fn polygons_near(w: u32, h: u32) -> impl Strategy<Value = Vec<Vec<f64>>> {
    let c = move |m: u32| prop_oneof![8 => -4.0..m as f64 + 4.0, 1 => -1e9f64..1e9];
    let pt = (c(w), c(h)).prop_map(|(x, y)| vec![x, y]);
    proptest::collection::vec(proptest::collection::vec(pt, 3..7).prop_map(|v| v.concat()), 1..3)
}

/// A segmentation field for a `w × h` image: mostly well-formed (polygons, an RLE of the
/// image's size, plain or compressed), sometimes hostile.
fn segmentation_for(w: u32, h: u32) -> impl Strategy<Value = Value> {
    let n = w as u64 * h as u64;
    let cuts = proptest::collection::vec(any::<u64>(), 0..8);
    prop_oneof![
        3 => polygons_near(w, h).prop_map(|p| json!(p)),
        2 => cuts.clone().prop_map(move |c| json!({"counts": exact_counts(n, c), "size": [h, w]})),
        2 => cuts.prop_map(move |c| json!({"counts": encode_rle_string(&exact_counts(n, c)), "size": [h, w]})),
        1 => segmentation_json(),
    ]
}

/// An instances file with one image: mostly well-formed, with hostile sizes, names,
/// segmentations and categories mixed in.
fn instances_doc() -> impl Strategy<Value = Value> {
    let side = || prop_oneof![12 => 1u32..48, 1 => Just(0u32), 1 => Just(100_000u32)];
    (side(), side(), prop_oneof![6 => Just("a.png".to_string()), 1 => file_name()])
        .prop_flat_map(|(w, h, f)| {
            let ann = (0u64..6, segmentation_for(w, h), any::<bool>(), 0u32..3)
                .prop_map(|(id, seg, crowd, cat)| json!({"id": id, "image_id": 1, "category_id": cat, "iscrowd": crowd as u8, "segmentation": seg}));
            let image = json!({"id": 1, "file_name": f, "width": w, "height": h});
            (Just(image), proptest::collection::vec(ann, 0..8), prop_oneof![4 => Just(json!([])), 1 => any_json()])
        })
        .prop_map(|(image, anns, cats)| json!({"images": [image], "annotations": anns, "categories": cats}))
}

/// A panoptic PNG and its JSON: encoded from a random label map, then (unless `damage` is
/// 0) damaged — an area off by one, a segment missing or unknown, a repeated id, junk in
/// place of the PNG or of `segments_info`, a cut PNG — and named by a random file name.
fn panoptic_case() -> impl Strategy<Value = (Vec<u8>, Value, usize)> {
    let map = (1u32..24, 1u32..24, proptest::collection::vec(0u32..5, 1..8), 1u32..4);
    (
        map,
        prop_oneof![3 => Just(0usize), 7 => 1usize..8],
        prop_oneof![3 => Just("a.png".to_string()), 1 => file_name()],
        image_bytes(),
        any_json(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|((w, h, ids, sy), damage, name, junk_png, junk_json, cut)| {
            let labels: Vec<u32> =
                (0..w * h).map(|i| ids[((i % w) / 3 + (i / w) / sy) as usize % ids.len()]).map(|id| id.checked_sub(1).unwrap_or(VOID)).collect();
            let mut seg = Segmentation::from_labels(w, h, labels).unwrap();
            for (k, s) in seg.segments.iter_mut().enumerate() {
                s.category_id = Some(1 + k as u32 % 2);
            }
            let (mut png, ann) = gshn_seg::panoptic::encode_panoptic(&seg, 1, &name, 1).unwrap();
            let mut ann = serde_json::to_value(&ann).unwrap();
            let infos = ann["segments_info"].as_array_mut().unwrap();
            match damage {
                1 if !infos.is_empty() => infos[0]["area"] = json!(infos[0]["area"].as_u64().unwrap() + 1),
                2 if !infos.is_empty() => drop(infos.remove(0)),
                3 => infos.push(json!({"id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1})),
                4 => png = junk_png,
                5 => ann["segments_info"] = junk_json,
                6 => png.truncate(cut.index(png.len())),
                7 if !infos.is_empty() => {
                    let first = infos[0].clone();
                    infos.push(first)
                }
                _ => {}
            }
            let cats = json!([{"id": 1, "name": "thing", "isthing": 1}, {"id": 2, "name": "stuff", "isthing": 0}]);
            (png, json!({"annotations": [ann], "categories": cats}), damage)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rle_string_decoder_never_panics_and_stays_small(s in prop_oneof!["[0-o]{0,80}", any::<String>()]) {
        let (r, peak) = peak_during(|| decode_rle_string(&s));
        // At most one 8-byte count per character (and a doubling vector).
        prop_assert!(peak <= 16 * s.len() as u64 + 256, "{} bytes for {} characters", peak, s.len());
        if let Ok(c) = r {
            prop_assert_eq!(decode_rle_string(&encode_rle_string(&c)).unwrap(), c);
        }
    }

    #[test]
    fn rle_string_codec_round_trips_every_count(c in proptest::collection::vec(any::<u64>(), 0..24)) {
        prop_assert_eq!(decode_rle_string(&encode_rle_string(&c)).unwrap(), c);
    }

    #[test]
    fn rle_counts_never_panic_and_match_the_reference(c in counts(), w in 0u32..40, h in 0u32..40) {
        let (runs, peak) = peak_during(|| rle_runs(&c, w, h));
        prop_assert!(peak <= 16 * c.len() as u64 + 256, "runs took {} bytes", peak);
        let mask = rle_to_mask(&c, w, h);
        prop_assert_eq!(mask.clone().ok(), reference::rle_to_mask(&c, w, h));
        prop_assert_eq!(runs.is_ok(), mask.is_ok());
        if let Ok(m) = &mask {
            prop_assert_eq!(mask_to_rle(m, w, h).iter().sum::<u64>(), w as u64 * h as u64);
        }
    }

    #[test]
    fn rle_runs_of_a_large_image_need_no_image_sized_memory(w in 500u32..1024, h in 500u32..1024, cuts in proptest::collection::vec(any::<u64>(), 0..40)) {
        let c = exact_counts(w as u64 * h as u64, cuts);
        let (runs, peak) = peak_during(|| rle_runs(&c, w, h));
        let runs = runs.unwrap();
        prop_assert!(peak <= 16 * c.len() as u64 + 256, "{} bytes", peak);
        prop_assert_eq!(runs.area(), c.iter().skip(1).step_by(2).sum::<u64>());
    }

    #[test]
    fn polygon_rasteriser_never_panics_and_matches_the_reference(p in polygons(), w in 1u32..64, h in 1u32..64) {
        let coords: usize = p.iter().map(Vec::len).sum();
        let (runs, peak) = peak_during(|| polygon_runs(&p, w, h));
        let mask = polygons_to_mask(&p, w, h);
        prop_assert_eq!(mask.clone().ok(), reference::polygons_to_mask(&p, w, h));
        if let Ok(r) = runs {
            // Runs, crossings and vertices; never the image.
            prop_assert!(peak <= 64 * (r.num_runs() + coords) as u64 + 1024, "{} bytes, {} runs", peak, r.num_runs());
            prop_assert_eq!(r.area(), mask.unwrap().iter().filter(|&&b| b).count() as u64);
        }
    }

    #[test]
    fn polygons_on_a_large_image_need_no_image_sized_memory(p in polygons(), w in 500u32..1024, h in 500u32..1024) {
        let coords: usize = p.iter().map(Vec::len).sum();
        let (runs, peak) = peak_during(|| polygon_runs(&p, w, h));
        if let Ok(r) = runs {
            prop_assert!(peak <= 64 * (r.num_runs() + coords) as u64 + 1024 && peak < (w * h) as u64, "{} bytes", peak);
        }
    }

    #[test]
    fn instances_json_never_panics_and_stays_bounded(doc in instances_doc(), cut in any::<prop::sample::Index>()) {
        let text = doc.to_string();
        let parsed: Result<CocoInstances, _> = serde_json::from_str(&text);
        // A cut file is a parse error with a line.
        let k = cut.index(text.len());
        if let Err(e) = serde_json::from_slice::<CocoInstances>(&text.as_bytes()[..k]) {
            prop_assert!(e.line() >= 1);
        }
        if let Ok(coco) = parsed {
            let opts = InstancesToPanoptic { limits: limits(), ..Default::default() };
            for img in &coco.images {
                prop_assert!(gshn_seg::paths::file_name_problem(&img.file_name).is_none());
                let anns: Vec<_> = coco.annotations.iter().filter(|a| a.image_id == img.id).collect();
                let px = img.width as u64 * img.height as u64;
                let (r, peak) = peak_during(|| instances_to_panoptic(img, &anns, &opts));
                let px = if px <= LIMIT { px } else { 0 };
                prop_assert!(peak <= 32 * px + 64 * text.len() as u64 + 4096, "{} bytes for {} px", peak, px);
                if let Ok(seg) = &r {
                    seg.validate().unwrap();
                }
                prop_assert_eq!(r.ok(), reference_if_small(img, &anns));
            }
        }
    }

    #[test]
    fn panoptic_reader_never_panics_and_stays_bounded((png, doc, damage) in panoptic_case()) {
        let text = doc.to_string();
        let (parsed, peak) = peak_during(|| serde_json::from_str::<PanopticFile>(&text));
        prop_assert!(peak <= 64 * text.len() as u64 + 4096);
        let name_ok = gshn_seg::paths::file_name_problem(doc["annotations"][0]["file_name"].as_str().unwrap()).is_none();
        if !name_ok {
            prop_assert!(parsed.is_err(), "an unsafe file name was accepted");
        } else if damage != 5 {
            prop_assert!(parsed.is_ok(), "{:?}", parsed.as_ref().err().map(ToString::to_string));
        }
        if let Ok(file) = parsed {
            let ann = &file.annotations[0];
            let (r, peak) = peak_during(|| decode_panoptic(&png, ann, &file.categories, &limits()));
            prop_assert!(peak <= decode_bound(&png), "{} bytes", peak);
            match r {
                Ok(seg) => {
                    seg.validate().unwrap();
                    prop_assert_eq!(seg.len(), ann.segments_info.len());
                }
                Err(e) => prop_assert!(damage != 0, "an undamaged pair fails: {}", e),
            }
        }
    }

    #[test]
    fn image_reader_never_panics_and_stays_bounded(bytes in image_bytes()) {
        let (r, peak) = peak_during(|| decode_rgb(&bytes, &limits()));
        prop_assert!(peak <= decode_bound(&bytes), "{} bytes for {} declared pixels", peak, declared_pixels(&bytes));
        if let Ok(img) = r {
            prop_assert!(img.width() as u64 * img.height() as u64 <= LIMIT);
        }
    }

    #[test]
    fn a_cut_image_is_always_an_error(w in 1u32..40, h in 1u32..40, jpeg in any::<bool>(), cut in any::<prop::sample::Index>()) {
        let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8]));
        let bytes = if jpeg { jpeg_of(&img) } else { png_of(DynamicImage::ImageRgb8(img)) };
        prop_assert!(decode_rgb(&bytes, &limits()).is_ok());
        let keep = cut.index(bytes.len());
        prop_assert!(matches!(decode_rgb(&bytes[..keep], &limits()), Err(SegError::Decode { .. })), "kept {} of {} bytes", keep, bytes.len());
    }
}

/// The reference's output for an image small enough for it (and within the limit), else
/// what ours must give: an error.
fn reference_if_small(img: &CocoImage, anns: &[&InstanceAnnotation]) -> Option<Segmentation> {
    let px = img.width as u64 * img.height as u64;
    if px == 0 || px > LIMIT {
        return None;
    }
    reference::instances_to_panoptic(img, anns, 32)
}

#[test]
fn read_panoptic_in_joins_a_safe_name_below_the_folder() {
    let dir = scratch("panoptic-in");
    let ann = PanopticAnnotation { image_id: 1, file_name: "sub/p.png".into(), segments_info: vec![] };
    let e = read_panoptic_in(&dir, &ann, &[], &limits(), None).unwrap_err();
    assert!(matches!(&e, SegError::Io { path, .. } if path == &dir.join("sub/p.png")), "{e}");
}
