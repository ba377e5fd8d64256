//! COCO panoptic format: a PNG whose colour encodes the segment id
//! (`id = R + 256·G + 256²·B`, id 0 = void) plus a JSON `segments_info` list; `isthing`
//! comes from the categories list.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use image::{DynamicImage, RgbImage};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SegError};
use crate::image_io::{decode, ImageLimits};
use crate::segmentation::{Segmentation, VOID};

/// One category of a panoptic data set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanopticCategory {
    /// Category id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// 1 for things, 0 for stuff.
    pub isthing: u8,
    /// Display colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<[u8; 3]>,
    /// Supercategory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

/// One entry of `segments_info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanopticSegment {
    /// Segment id (the PNG colour).
    pub id: u32,
    /// Category id.
    pub category_id: u32,
    /// 1 for crowd regions.
    #[serde(default)]
    pub iscrowd: u8,
    /// `[x, y, w, h]`.
    pub bbox: [u32; 4],
    /// Pixels.
    pub area: u64,
}

/// One image's panoptic annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanopticAnnotation {
    /// Image id.
    pub image_id: u64,
    /// PNG file name, relative to the folder of PNGs (`..` and absolute paths are refused
    /// when parsed, see [`crate::paths`]).
    #[serde(deserialize_with = "crate::paths::deserialize_file_name")]
    pub file_name: String,
    /// The segments.
    pub segments_info: Vec<PanopticSegment>,
}

/// A panoptic JSON file (`annotations` and `categories`; other keys are kept out).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PanopticFile {
    /// Per-image annotations.
    #[serde(default)]
    pub annotations: Vec<PanopticAnnotation>,
    /// Categories (may live in a separate file, see [`read_categories`]).
    #[serde(default)]
    pub categories: Vec<PanopticCategory>,
}

/// Reads a panoptic JSON file.
pub fn read_panoptic_json(path: &Path) -> Result<PanopticFile> {
    let text = std::fs::read_to_string(path).map_err(|source| SegError::Io { path: path.into(), source })?;
    let file: PanopticFile = serde_json::from_str(&text).map_err(|e| SegError::Json { path: Some(path.into()), reason: e.to_string() })?;
    crate::paths::check_unique("image (annotation image_id)", file.annotations.iter().map(|a| a.image_id), path)?;
    crate::paths::check_unique("category", file.categories.iter().map(|c| c.id), path)?;
    for a in &file.annotations {
        crate::paths::check_unique(&format!("segment (image {})", a.image_id), a.segments_info.iter().map(|s| s.id), path)?;
    }
    Ok(file)
}

/// Reads a bare list of categories (`panoptic_coco_categories.json`).
pub fn read_categories(path: &Path) -> Result<Vec<PanopticCategory>> {
    let text = std::fs::read_to_string(path).map_err(|source| SegError::Io { path: path.into(), source })?;
    let cats: Vec<PanopticCategory> = serde_json::from_str(&text).map_err(|e| SegError::Json { path: Some(path.into()), reason: e.to_string() })?;
    crate::paths::check_unique("category", cats.iter().map(|c| c.id), path)?;
    Ok(cats)
}

/// The id a PNG pixel encodes.
pub fn rgb_to_id(p: [u8; 3]) -> u32 {
    p[0] as u32 + 256 * p[1] as u32 + 256 * 256 * p[2] as u32
}

/// The PNG colour of an id.
pub fn id_to_rgb(id: u32) -> [u8; 3] {
    [(id % 256) as u8, ((id / 256) % 256) as u8, ((id / 65536) % 256) as u8]
}

/// Decodes a panoptic PNG with its annotation into a [`Segmentation`] (segments in
/// `segments_info` order). Every PNG id must be in the JSON, every JSON segment in the PNG,
/// every area must match its pixels and every category must be known.
pub fn decode_panoptic(png: &[u8], ann: &PanopticAnnotation, categories: &[PanopticCategory], limits: &ImageLimits) -> Result<Segmentation> {
    let inconsistent = |reason: String| SegError::Inconsistent { file: ann.file_name.clone(), reason };
    let img = match decode(png, limits)? {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => return Err(SegError::PixelFormat { path: None, found: format!("{:?}", other.color()), expected: "a panoptic PNG must be 8-bit RGB" }),
    };
    let cats: HashMap<u32, &PanopticCategory> = categories.iter().map(|c| (c.id, c)).collect();
    let mut index: HashMap<u32, u32> = HashMap::new();
    for (k, s) in ann.segments_info.iter().enumerate() {
        if s.id == 0 {
            return Err(inconsistent("segment id 0 is reserved for void".into()));
        }
        if index.insert(s.id, k as u32).is_some() {
            return Err(inconsistent(format!("segment id {} is listed twice", s.id)));
        }
        if !cats.is_empty() && !cats.contains_key(&s.category_id) {
            return Err(inconsistent(format!("segment {} has unknown category {}", s.id, s.category_id)));
        }
    }
    let (w, h) = img.dimensions();
    let mut labels = Vec::with_capacity(w as usize * h as usize);
    for p in img.pixels() {
        let id = rgb_to_id(p.0);
        if id == 0 {
            labels.push(VOID);
        } else {
            match index.get(&id) {
                Some(&k) => labels.push(k),
                None => return Err(inconsistent(format!("PNG id {id} is not in segments_info"))),
            }
        }
    }
    let mut seg = Segmentation::from_labels(w, h, labels)?;
    seg.segments.resize(ann.segments_info.len(), crate::segmentation::Extent::default().info(0));
    for (k, s) in ann.segments_info.iter().enumerate() {
        let info = &mut seg.segments[k];
        if info.area == 0 {
            return Err(inconsistent(format!("segment {} is in the JSON but not in the PNG", s.id)));
        }
        if info.area != s.area {
            return Err(inconsistent(format!("segment {} has area {} in the JSON but {} pixels", s.id, s.area, info.area)));
        }
        info.id = s.id;
        info.category_id = Some(s.category_id);
        info.is_thing = cats.get(&s.category_id).is_some_and(|c| c.isthing == 1);
        info.is_crowd = s.iscrowd == 1;
    }
    Ok(seg)
}

/// Reads `png_path` with its annotation; errors about the PNG name the file.
pub fn read_panoptic(png_path: &Path, ann: &PanopticAnnotation, categories: &[PanopticCategory], limits: &ImageLimits) -> Result<Segmentation> {
    let bytes = std::fs::read(png_path).map_err(|source| SegError::Io { path: png_path.into(), source })?;
    decode_panoptic(&bytes, ann, categories, limits).map_err(|e| e.in_file(png_path))
}

/// Reads the PNG of `ann` from the folder `png_dir` (its `file_name` must stay inside it,
/// see [`crate::paths`]); `json` is the annotation file, named in errors.
pub fn read_panoptic_in(
    png_dir: &Path,
    ann: &PanopticAnnotation,
    categories: &[PanopticCategory],
    limits: &ImageLimits,
    json: Option<&Path>,
) -> Result<Segmentation> {
    read_panoptic(&crate::paths::join_inside(png_dir, &ann.file_name, json)?, ann, categories, limits)
}

/// Encodes a partition as a panoptic PNG and its annotation. Segments without an annotated
/// category get `default_category`; ids are the segments' ids (which must be distinct and
/// non-zero). Overlapping segmentations cannot be encoded.
pub fn encode_panoptic(seg: &Segmentation, image_id: u64, file_name: &str, default_category: u32) -> Result<(Vec<u8>, PanopticAnnotation)> {
    let inconsistent = |reason: String| SegError::Inconsistent { file: file_name.into(), reason };
    if seg.is_overlapping() {
        return Err(inconsistent("overlapping segments (boxes) have no panoptic encoding".into()));
    }
    let mut seen = HashSet::new();
    for s in &seg.segments {
        if s.id == 0 || s.id >= 1 << 24 || !seen.insert(s.id) {
            return Err(inconsistent(format!("segment id {} is zero, too large or repeated", s.id)));
        }
    }
    let mut img = RgbImage::new(seg.width, seg.height);
    for (p, &l) in img.pixels_mut().zip(&seg.labels) {
        p.0 = if l == VOID { [0, 0, 0] } else { id_to_rgb(seg.segments[l as usize].id) };
    }
    let mut png = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| SegError::Decode { path: None, reason: e.to_string() })?;
    let segments_info = seg
        .segments
        .iter()
        .filter(|s| s.area > 0)
        .map(|s| PanopticSegment { id: s.id, category_id: s.category_id.unwrap_or(default_category), iscrowd: s.is_crowd as u8, bbox: s.bbox, area: s.area })
        .collect();
    Ok((png, PanopticAnnotation { image_id, file_name: file_name.into(), segments_info }))
}
