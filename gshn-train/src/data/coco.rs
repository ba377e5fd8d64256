//! COCO-style folders: `annotations/captions_*.json` (required), `annotations/instances_*.json`
//! (optional; panoptic and box tokens need it) and the images, wherever below the folder their
//! `file_name`s are found. Images are squashed to `data.image_size` squared; panoptic tokens
//! are the instances rasterised at full size (leftover regions become stuff segments, as in
//! `gshn-seg`) and then resampled to the same size. The split is a seeded permutation of the
//! images: test first, then validation, then training.
//!
//! Hostile folders give typed errors naming the file (and for JSON the line): a `file_name`
//! with `..` or an absolute path, a malformed or inconsistent annotation, an image larger than
//! `data.max_pixels` (refused before decoding), a truncated PNG or JPEG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gshn_seg::image_io::read_rgb;
use gshn_seg::instances::{instances_to_panoptic, read_instances, InstanceAnnotation, InstancesToPanoptic};
use gshn_seg::paths::join_inside;
use gshn_seg::{SegError, Segmentation};
use gshn_snn::rng::SeedRng;
use image::imageops::{resize, FilterType};
use serde::Deserialize;

use crate::data::files::{io_at, DataError, LoadConfig};
use crate::data::segments::DatasetBuilder;
use crate::dataset::Dataset;

#[derive(Deserialize)]
struct CaptionFile {
    images: Vec<gshn_seg::instances::CocoImage>,
    annotations: Vec<CaptionAnnotation>,
}

#[derive(Deserialize)]
struct CaptionAnnotation {
    /// COCO gives every caption an id; files without one are accepted.
    #[serde(default)]
    id: Option<u64>,
    image_id: u64,
    caption: String,
}

fn find_one(dir: &Path, prefix: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix) && n.ends_with(".json")))
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Where the image files are: the folder itself or any folder one or two levels below it.
/// A `file_name` that would leave those folders (`..`, an absolute path) is refused, naming
/// the annotation file `json`.
fn image_path(root: &Path, file_name: &str, dirs: &[PathBuf], json: &Path) -> Result<Option<PathBuf>, SegError> {
    for d in std::iter::once(root).chain(dirs.iter().map(PathBuf::as_path)) {
        let p = join_inside(d, file_name, Some(json))?;
        if p.is_file() {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// A gshn-seg error about an annotation file as a [`DataError::Malformed`] naming it (its
/// own message carries the JSON line where there is one).
fn malformed(path: &Path) -> impl FnOnce(SegError) -> DataError + '_ {
    move |e| {
        let reason = match e {
            SegError::Json { reason, .. } => reason,
            other => other.to_string(),
        };
        DataError::Malformed { path: path.to_path_buf(), reason }
    }
}

fn subdirs(root: &Path) -> Vec<PathBuf> {
    let list = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d).map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect()).unwrap_or_default();
        v.sort();
        v
    };
    let first = list(root);
    let mut all = first.clone();
    for d in &first {
        all.extend(list(d));
    }
    all
}

/// Nearest-neighbour resampling of a label map to `w × h` (overlapping masks are flattened
/// to their labels).
pub fn resample(seg: &Segmentation, w: u32, h: u32) -> gshn_seg::Result<Segmentation> {
    let mut labels: Vec<u32> = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h as u64 {
        let sy = ((y * 2 + 1) * seg.height as u64 / (2 * h as u64)).min(seg.height as u64 - 1);
        for x in 0..w as u64 {
            let sx = ((x * 2 + 1) * seg.width as u64 / (2 * w as u64)).min(seg.width as u64 - 1);
            labels.push(seg.labels[(sy * seg.width as u64 + sx) as usize]);
        }
    }
    // Keep the segments that survive, numbered densely.
    Segmentation::relabel_sequential(&mut labels);
    Segmentation::from_labels(w, h, labels)
}

/// Reads a COCO-style folder into one data set of all its captioned images (in image-id
/// order).
pub fn load(dir: &Path, cfg: &LoadConfig) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Missing {
            what: "the COCO data folder (data.dir)".into(),
            path: dir.into(),
            hint: " — point data.dir at a folder with annotations/captions_*.json and the images".into(),
        });
    }
    let ann_dir = if dir.join("annotations").is_dir() { dir.join("annotations") } else { dir.to_path_buf() };
    let captions_path =
        find_one(&ann_dir, "captions").ok_or_else(|| DataError::Missing { what: "captions_*.json".into(), path: ann_dir.clone(), hint: String::new() })?;
    let text = std::fs::read_to_string(&captions_path).map_err(io_at(&captions_path))?;
    let captions: CaptionFile = serde_json::from_str(&text).map_err(|e| DataError::Malformed { path: captions_path.clone(), reason: e.to_string() })?;
    gshn_seg::paths::check_unique("image", captions.images.iter().map(|i| i.id), &captions_path).map_err(malformed(&captions_path))?;
    gshn_seg::paths::check_unique("caption", captions.annotations.iter().filter_map(|a| a.id), &captions_path).map_err(malformed(&captions_path))?;
    let instances_path = find_one(&ann_dir, "instances");
    let instances = match &instances_path {
        Some(p) => Some(read_instances(p).map_err(malformed(p))?),
        None => None,
    };
    let needs_gt = cfg.segments.needs_reference();
    if needs_gt && instances.is_none() {
        let source = format!("{:?}", cfg.segments.source).to_lowercase();
        return Err(DataError::Missing {
            what: "instances_*.json".into(),
            path: ann_dir.clone(),
            hint: format!(
                " — data.segments.source = \"{source}\" needs ground-truth instances; set data.segments.source to felzenszwalb, slic or grid without it"
            ),
        });
    }
    let mut by_image: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for a in captions.annotations {
        by_image.entry(a.image_id).or_default().push(a.caption.trim().to_string());
    }
    let mut anns: BTreeMap<u64, Vec<&InstanceAnnotation>> = BTreeMap::new();
    if let Some(inst) = &instances {
        for a in &inst.annotations {
            anns.entry(a.image_id).or_default().push(a);
        }
    }
    let dirs = subdirs(dir);
    let side = cfg.image_size;
    let mut images = captions.images;
    images.sort_by_key(|i| i.id);
    let limits = &cfg.limits;
    let to_panoptic = InstancesToPanoptic { limits: limits.clone(), ..Default::default() };
    let mut out = DatasetBuilder::new(&cfg.segments, &cfg.tokens);
    for im in images {
        let Some(caps) = by_image.remove(&im.id) else { continue };
        let path = image_path(dir, &im.file_name, &dirs, &captions_path).map_err(malformed(&captions_path))?.ok_or_else(|| DataError::Missing {
            what: format!("image {} (file_name in {})", im.file_name, captions_path.display()),
            path: dir.into(),
            hint: " (searched the folder and two levels below it)".into(),
        })?;
        let full = read_rgb(&path, limits)?;
        let small = resize(&full, side, side, FilterType::Triangle);
        let reference = match (&instances_path, needs_gt) {
            (Some(inst_path), true) => {
                let meta = gshn_seg::instances::CocoImage { width: full.width(), height: full.height(), ..im.clone() };
                let seg = instances_to_panoptic(&meta, anns.get(&im.id).map(Vec::as_slice).unwrap_or(&[]), &to_panoptic)
                    .map_err(|e| DataError::Malformed { path: inst_path.clone(), reason: format!("image {} ({}): {e}", im.id, path.display()) })?;
                Some(resample(&seg, side, side)?)
            }
            _ => None,
        };
        out.push(small, reference.as_ref(), caps, vec![], vec![]).map_err(|e| DataError::Malformed { path: path.clone(), reason: e.to_string() })?;
    }
    let out = out.finish();
    if out.is_empty() {
        return Err(DataError::Unfit(format!("no captioned image found in {}", dir.display())));
    }
    Ok(out)
}

/// Splits a data set by a seeded permutation: `(train, val, test)` with the configured sizes
/// (training gets the rest, at most `train_images`).
pub fn split(all: Dataset, cfg: &LoadConfig, label: &str) -> Result<(Dataset, Dataset, Dataset), DataError> {
    let n = all.len();
    let (nt, nv) = (cfg.test_images, cfg.val_images);
    if nt + nv >= n {
        return Err(DataError::Unfit(format!(
            "{label}: {n} images cannot give {nt} test + {nv} validation images and a training set (lower data.test_images or data.val_images)"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    SeedRng::new(cfg.seed).fork(label).fork("split").shuffle(&mut order);
    let train_end = (nt + nv + cfg.train_images).min(n);
    Ok((all.subset(&order[nt + nv..train_end]), all.subset(&order[nt..nt + nv]), all.subset(&order[..nt])))
}

/// The three splits of `cfg.dir`; no VQA answers.
pub fn load_splits(cfg: &LoadConfig) -> Result<(Dataset, Dataset, Dataset, Vec<String>), DataError> {
    let dir = cfg.dir.clone();
    let (train, val, test) = split(load(&dir, cfg)?, cfg, "coco")?;
    Ok((train, val, test, vec![]))
}
