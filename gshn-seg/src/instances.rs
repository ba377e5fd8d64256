//! COCO instance annotations (polygons, RLE) to masks, and masks to panoptic tokens.
//!
//! Hostile files are refused with typed errors, never a panic: while an instances file is
//! parsed, every `file_name` must stay inside the data folder ([`crate::paths`]) and every
//! RLE must decode and cover exactly its `size` (checked arithmetic, [`crate::rle`]) — those
//! errors carry the JSON line and column. An annotation's pixels are kept as runs
//! ([`MaskRuns`]), so that [`instances_to_panoptic`] needs memory for the image's label map
//! plus the annotations' areas, not one full-size mask per annotation.

use std::borrow::Cow;
use std::path::Path;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SegError};
use crate::image_io::ImageLimits;
pub use crate::raster::{polygon_runs, polygons_to_mask};
pub use crate::rle::{check_counts, decode_rle_string, encode_rle_string, mask_to_rle, rle_runs, rle_to_mask, MaskRuns};
use crate::segmentation::{Segmentation, VOID};

/// An image entry of a COCO file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    /// Image id.
    pub id: u64,
    /// File name, relative to the data folder (`..` and absolute paths are refused when
    /// parsed, see [`crate::paths`]).
    #[serde(deserialize_with = "crate::paths::deserialize_file_name")]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RleCounts {
    /// pycocotools' compressed string.
    Compressed(String),
    /// Alternating run lengths, starting with background.
    Uncompressed(Vec<u64>),
}

/// A segmentation field: polygons or RLE (column-major, `size = [height, width]`). When
/// parsed, an RLE must decode and its runs must cover exactly `height × width` pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

impl<'de> Deserialize<'de> for RleCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RleCounts;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("RLE counts: a compressed string or a list of non-negative run lengths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<RleCounts, E> {
                Ok(RleCounts::Compressed(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<RleCounts, A::Error> {
                Vec::<u64>::deserialize(SeqAccessDeserializer::new(seq)).map(RleCounts::Uncompressed)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for InstanceSegmentation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Rle {
            counts: RleCounts,
            size: [u32; 2],
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InstanceSegmentation;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("polygons (a list of coordinate lists) or an RLE object {counts, size}")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<InstanceSegmentation, A::Error> {
                Vec::<Vec<f64>>::deserialize(SeqAccessDeserializer::new(seq)).map(InstanceSegmentation::Polygons)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<InstanceSegmentation, A::Error> {
                let Rle { counts, size } = Rle::deserialize(MapAccessDeserializer::new(map))?;
                let runs = match &counts {
                    RleCounts::Compressed(s) => Cow::Owned(decode_rle_string(s).map_err(|e| de::Error::custom(format!("bad RLE counts: {e}")))?),
                    RleCounts::Uncompressed(c) => Cow::Borrowed(c),
                };
                check_counts(&runs, size[1], size[0]).map_err(|e| de::Error::custom(format!("bad RLE: {e}")))?;
                Ok(InstanceSegmentation::Rle { counts, size })
            }
        }
        d.deserialize_any(V)
    }
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
    let file: CocoInstances = serde_json::from_str(&text).map_err(|e| SegError::Json { path: Some(path.into()), reason: e.to_string() })?;
    crate::paths::check_unique("image", file.images.iter().map(|i| i.id), path)?;
    crate::paths::check_unique("annotation", file.annotations.iter().map(|a| a.id), path)?;
    crate::paths::check_unique("category", file.categories.iter().map(|c| c.id), path)?;
    Ok(file)
}

/// The pixels of one annotation on a `width × height` image, as runs (memory proportional
/// to the annotation, not the image). An RLE's `size` must be the image's `[height, width]`.
pub fn annotation_runs(ann: &InstanceAnnotation, width: u32, height: u32) -> Result<MaskRuns> {
    let bad = |reason: String| SegError::Annotation { id: ann.id, reason };
    match &ann.segmentation {
        InstanceSegmentation::Polygons(p) => polygon_runs(p, width, height).map_err(bad),
        InstanceSegmentation::Rle { counts, size } => {
            if *size != [height, width] {
                return Err(bad(format!("RLE size {size:?} differs from the image's [{height}, {width}]")));
            }
            match counts {
                RleCounts::Compressed(s) => rle_runs(&decode_rle_string(s).map_err(bad)?, width, height),
                RleCounts::Uncompressed(c) => rle_runs(c, width, height),
            }
            .map_err(bad)
        }
    }
}

/// The full row-major mask of one annotation on a `width × height` image (the caller bounds
/// the image size; [`annotation_runs`] keeps it compact).
pub fn annotation_mask(ann: &InstanceAnnotation, width: u32, height: u32) -> Result<Vec<bool>> {
    Ok(annotation_runs(ann, width, height)?.to_mask())
}

/// How instance masks become panoptic tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancesToPanoptic {
    /// Leftover (unannotated) regions smaller than this many pixels become void. Default 32.
    pub min_stuff_area: u64,
    /// The largest image (`width × height` of the [`CocoImage`]) accepted; the label map
    /// takes about 13 bytes per pixel while it is built. Default [`ImageLimits::default`].
    pub limits: ImageLimits,
}

impl Default for InstancesToPanoptic {
    fn default() -> Self {
        Self { min_stuff_area: 32, limits: ImageLimits::default() }
    }
}

/// Panoptic tokens from an image's instance annotations: masks are painted largest first, so
/// that where instances overlap the smaller one wins (ties: lower annotation id first);
/// every 4-connected region of leftover pixels of at least `min_stuff_area` pixels becomes a
/// background "stuff" segment (no category). Thing segments come first, in annotation order.
///
/// Peak memory is O(width × height + Σ annotation areas): the masks are kept as runs.
pub fn instances_to_panoptic(image: &CocoImage, anns: &[&InstanceAnnotation], opts: &InstancesToPanoptic) -> Result<Segmentation> {
    let (w, h) = (image.width, image.height);
    crate::image_io::check_size(w, h, &opts.limits)?;
    let masks: Vec<MaskRuns> = anns.iter().map(|a| annotation_runs(a, w, h)).collect::<Result<_>>()?;
    let areas: Vec<u64> = masks.iter().map(MaskRuns::area).collect();
    let mut order: Vec<usize> = (0..anns.len()).collect();
    order.sort_by(|&a, &b| areas[b].cmp(&areas[a]).then(anns[a].id.cmp(&anns[b].id)));
    let n = w as usize * h as usize;
    let mut labels = vec![VOID; n];
    for &k in &order {
        masks[k].paint(&mut labels, k as u32);
    }
    drop(masks);
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
