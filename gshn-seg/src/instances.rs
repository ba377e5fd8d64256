//! COCO instance annotations (polygons, RLE) to masks, and masks to panoptic tokens.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SegError};
use crate::segmentation::{Segmentation, VOID};

/// An image entry of a COCO file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    /// Image id.
    pub id: u64,
    /// File name.
    pub file_name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A category of a COCO instances file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    /// Category id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Supercategory.
    #[serde(default)]
    pub supercategory: Option<String>,
}

/// RLE counts: compressed (COCO's string) or a plain list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RleCounts {
    /// pycocotools' compressed string.
    Compressed(String),
    /// Alternating run lengths, starting with background.
    Uncompressed(Vec<u64>),
}

/// A segmentation field: polygons or RLE (column-major, `size = [height, width]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InstanceSegmentation {
    /// Polygons `[x1, y1, x2, y2, …]` in pixel coordinates.
    Polygons(Vec<Vec<f64>>),
    /// Run-length encoding.
    Rle {
        /// Run lengths.
        counts: RleCounts,
        /// `[height, width]`.
        size: [u32; 2],
    },
}

/// One instance annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceAnnotation {
    /// Annotation id.
    pub id: u64,
    /// Image id.
    pub image_id: u64,
    /// Category id.
    pub category_id: u32,
    /// The mask.
    pub segmentation: InstanceSegmentation,
    /// 1 for crowd regions.
    #[serde(default)]
    pub iscrowd: u8,
    /// `[x, y, w, h]`.
    #[serde(default)]
    pub bbox: Option<[f64; 4]>,
}

/// An `instances_*.json` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoInstances {
    /// Images.
    pub images: Vec<CocoImage>,
    /// Annotations.
    pub annotations: Vec<InstanceAnnotation>,
    /// Categories.
    pub categories: Vec<CocoCategory>,
}

/// Reads an instances JSON file.
pub fn read_instances(path: &Path) -> Result<CocoInstances> {
    let text = std::fs::read_to_string(path).map_err(|source| SegError::Io { path: path.into(), source })?;
    serde_json::from_str(&text).map_err(|e| SegError::Json { path: Some(path.into()), reason: e.to_string() })
}

/// Decodes pycocotools' compressed RLE string into run lengths.
pub fn decode_rle_string(s: &str) -> std::result::Result<Vec<u64>, String> {
    let bytes = s.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k, mut more) = (0i64, 0u32, true);
        while more {
            let Some(&b) = bytes.get(p) else { return Err("the RLE string ends inside a number".into()) };
            if !(48..48 + 64).contains(&b) {
                return Err(format!("byte {b} is not an RLE character"));
            }
            if k > 12 {
                return Err("an RLE count is too long".into());
            }
            let c = (b - 48) as i64;
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && (c & 0x10) != 0 {
                x |= -1i64 << (5 * k);
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        counts.push(x);
    }
    counts.into_iter().map(|c| u64::try_from(c).map_err(|_| format!("negative run length {c}"))).collect()
}

/// Encodes run lengths as pycocotools' compressed string (`rleToString`): each count, after
/// the third as a difference to the count two before, in 5-bit groups with a continuation
/// bit, offset by 48.
pub fn encode_rle_string(counts: &[u64]) -> String {
    let mut s = String::new();
    for i in 0..counts.len() {
        let mut x = counts[i] as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut c = x & 0x1f;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c as u8 + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// Run lengths (column-major, starting with zeros) of a row-major mask.
pub fn mask_to_rle(mask: &[bool], width: u32, height: u32) -> Vec<u64> {
    let (w, h) = (width as usize, height as usize);
    let mut counts = Vec::new();
    let (mut current, mut run) = (false, 0u64);
    for x in 0..w {
        for y in 0..h {
            let v = mask[y * w + x];
            if v != current {
                counts.push(run);
                current = v;
                run = 0;
            }
            run += 1;
        }
    }
    counts.push(run);
    counts
}

/// Expands run lengths (column-major, starting with zeros) into a row-major mask.
pub fn rle_to_mask(counts: &[u64], width: u32, height: u32) -> std::result::Result<Vec<bool>, String> {
    let n = width as usize * height as usize;
    let total: u64 = counts.iter().sum();
    if total != n as u64 {
        return Err(format!("RLE covers {total} pixels, the image has {n}"));
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
    Ok(mask)
}

/// Fills polygons (even–odd rule, pixel centres `(x + ½, y + ½)`) into a row-major mask.
pub fn polygons_to_mask(polygons: &[Vec<f64>], width: u32, height: u32) -> std::result::Result<Vec<bool>, String> {
    let (w, h) = (width as usize, height as usize);
    let mut mask = vec![false; w * h];
    for (pi, poly) in polygons.iter().enumerate() {
        if poly.len() < 6 || poly.len() % 2 != 0 || poly.iter().any(|v| !v.is_finite()) {
            return Err(format!("polygon {pi} needs an even number (≥ 6) of finite coordinates, has {}", poly.len()));
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
                // Pixels whose centre lies in [x0, x1).
                let start = (pair[0] - 0.5).ceil().max(0.0) as usize;
                let end = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(w);
                for x in start..end {
                    mask[y * w + x] ^= true;
                }
            }
        }
    }
    Ok(mask)
}

/// The mask of one annotation on a `width × height` image.
pub fn annotation_mask(ann: &InstanceAnnotation, width: u32, height: u32) -> Result<Vec<bool>> {
    let bad = |reason: String| SegError::Annotation { id: ann.id, reason };
    match &ann.segmentation {
        InstanceSegmentation::Polygons(p) => polygons_to_mask(p, width, height).map_err(bad),
        InstanceSegmentation::Rle { counts, size } => {
            if *size != [height, width] {
                return Err(bad(format!("RLE size {size:?} differs from the image's [{height}, {width}]")));
            }
            let counts = match counts {
                RleCounts::Compressed(s) => decode_rle_string(s).map_err(bad)?,
                RleCounts::Uncompressed(c) => c.clone(),
            };
            rle_to_mask(&counts, width, height).map_err(bad)
        }
    }
}

/// How instance masks become panoptic tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancesToPanoptic {
    /// Leftover (unannotated) regions smaller than this many pixels become void. Default 32.
    pub min_stuff_area: u64,
}

impl Default for InstancesToPanoptic {
    fn default() -> Self {
        Self { min_stuff_area: 32 }
    }
}

/// Panoptic tokens from an image's instance annotations: masks are painted largest first, so
/// that where instances overlap the smaller one wins (ties: lower annotation id first);
/// every 4-connected region of leftover pixels of at least `min_stuff_area` pixels becomes a
/// background "stuff" segment (no category). Thing segments come first, in annotation order.
pub fn instances_to_panoptic(image: &CocoImage, anns: &[&InstanceAnnotation], opts: &InstancesToPanoptic) -> Result<Segmentation> {
    let (w, h) = (image.width, image.height);
    crate::image_io::check_size(w, h, &Default::default())?;
    let masks: Vec<Vec<bool>> = anns.iter().map(|a| annotation_mask(a, w, h)).collect::<Result<_>>()?;
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
    // Leftover components → stuff.
    let mut next = anns.len() as u32;
    let mut comp = vec![false; n];
    let mut queue = Vec::new();
    for start in 0..n {
        if labels[start] != VOID || comp[start] {
            continue;
        }
        queue.clear();
        queue.push(start);
        comp[start] = true;
        let mut i = 0;
        while i < queue.len() {
            let p = queue[i];
            i += 1;
            let (x, y) = (p % w as usize, p / w as usize);
            let nbrs =
                [(x > 0).then(|| p - 1), (x + 1 < w as usize).then(|| p + 1), (y > 0).then(|| p - w as usize), (y + 1 < h as usize).then(|| p + w as usize)];
            for q in nbrs.into_iter().flatten() {
                if labels[q] == VOID && !comp[q] {
                    comp[q] = true;
                    queue.push(q);
                }
            }
        }
        if queue.len() as u64 >= opts.min_stuff_area {
            for &p in &queue {
                labels[p] = next;
            }
            next += 1;
        }
    }
    let mut seg = Segmentation::from_labels(w, h, labels)?;
    seg.segments.resize(next as usize, crate::segmentation::Extent::default().info(0));
    for (k, info) in seg.segments.iter_mut().enumerate() {
        info.id = k as u32 + 1;
        if let Some(a) = anns.get(k) {
            info.category_id = Some(a.category_id);
            info.is_thing = true;
            info.is_crowd = a.iscrowd == 1;
        }
    }
    Ok(seg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rle_string_round_trip_of_a_known_mask() {
        // Counts [2, 3, 7] on a 3×4 (h×w) image: the first three counts are not deltas,
        // each fits one 5-bit group: '0' + 2, '0' + 3, '0' + 7.
        let counts = decode_rle_string("237").unwrap();
        assert_eq!(counts, vec![2, 3, 7]);
        let m = rle_to_mask(&counts, 4, 3).unwrap();
        // Column-major indices 2,3,4 → (x=0,y=2), (x=1,y=0), (x=1,y=1).
        let on: Vec<usize> = m.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i).collect();
        assert_eq!(on, vec![1, 5, 8]);
        assert!(rle_to_mask(&[2, 3], 4, 3).is_err());
        assert!(decode_rle_string("2\u{7f}").is_err());
        assert_eq!(encode_rle_string(&counts), "237");
        assert_eq!(mask_to_rle(&m, 4, 3), counts);
    }

    #[test]
    fn rle_string_round_trips_long_and_delta_coded_counts() {
        // Large counts need several groups; from the fourth count on, negative deltas occur.
        let counts = vec![0, 1000, 3, 70_000, 2, 5, 900, 1];
        assert_eq!(decode_rle_string(&encode_rle_string(&counts)).unwrap(), counts);
    }

    #[test]
    fn polygon_fill_of_a_square() {
        let m = polygons_to_mask(&[vec![1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0]], 6, 5).unwrap();
        let on: usize = m.iter().filter(|&&b| b).count();
        assert_eq!(on, 3 * 2);
        assert!(m[6 + 1] && m[2 * 6 + 3] && !m[3 * 6 + 1]);
        assert!(polygons_to_mask(&[vec![1.0, 2.0]], 6, 5).is_err());
    }
}
