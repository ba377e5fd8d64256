//! The real visual-entailment and NLVR² data in ALBEF's json files, over a folder of images.
//!
//! * **SNLI-VE** (`data.source = "snli-ve"`): `ve_train.json`, `ve_dev.json`, `ve_test.json`,
//!   each a list of `{"image": "NAME.jpg", "sentence": "...", "label": "entailment" |
//!   "neutral" | "contradiction"}` (ALBEF's files; Flickr30k images).
//! * **NLVR²** (`data.source = "nlvr2"`): `nlvr_train.json`, `nlvr_dev.json`,
//!   `nlvr_test.json`, each a list of `{"images": ["LEFT.png", "RIGHT.png"], "sentence":
//!   "...", "label": "True" | "False"}`.
//!
//! Images are looked up under `data.dir/images/` (or `data.dir` itself), squashed to
//! `data.image_size` and cut into segments by `data.segments` (Felzenszwalb, SLIC or grid:
//! the files carry no segmentation). The hypotheses of one image (the statements of one
//! pair) become one example; the dev split is the validation split. A wrong label, a pair
//! with one image or a missing field is an error naming the file, line and column; a missing
//! image names the image and the entry that asked for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gshn_seg::image_io::read_rgb;
use image::imageops::{resize, FilterType};
use image::RgbImage;
use serde::Deserialize;

use crate::data::files::{DataError, LoadConfig};
use crate::data::segments::DatasetBuilder;
use crate::dataset::{Dataset, Example, PairStatement, QaItem};

/// ALBEF's SNLI-VE label words, in class order (contradiction 0, neutral 1, entailment 2).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum VeLabel {
    Contradiction,
    Neutral,
    Entailment,
}

/// One SNLI-VE row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VeRow {
    image: String,
    sentence: String,
    label: VeLabel,
}

/// NLVR²'s truth words.
#[derive(Debug, Clone, Copy, Deserialize)]
enum NlvrLabel {
    #[serde(rename = "True")]
    True,
    #[serde(rename = "False")]
    False,
}

/// One NLVR² row: exactly two images.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NlvrRow {
    images: [String; 2],
    sentence: String,
    label: NlvrLabel,
}

/// `text` with the words "left" and "right" exchanged (BLIP's NLVR² augmentation swaps the
/// images and these words together).
pub fn swap_left_right(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let swapped = match word.as_str() {
            "left" => "right",
            "right" => "left",
            "Left" => "Right",
            "Right" => "Left",
            w => w,
        };
        out.push_str(swapped);
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn read_rows<T: for<'de> Deserialize<'de>>(path: &Path, hint: &str) -> Result<Vec<T>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|_| DataError::Missing {
        what: format!("{}", path.file_name().unwrap_or_default().to_string_lossy()),
        path: path.parent().unwrap_or(Path::new(".")).into(),
        hint: hint.into(),
    })?;
    let rows: Vec<T> = serde_json::from_str(&text).map_err(|e| DataError::Malformed { path: path.into(), reason: e.to_string() })?;
    Ok(rows)
}

/// The folder the image names are relative to: `dir/images` when it exists, else `dir`.
fn image_root(dir: &Path) -> PathBuf {
    let images = dir.join("images");
    if images.is_dir() {
        images
    } else {
        dir.to_path_buf()
    }
}

fn load_image(root: &Path, name: &str, file: &Path, entry: usize, cfg: &LoadConfig) -> Result<RgbImage, DataError> {
    let p = root.join(name);
    if !p.is_file() {
        return Err(DataError::Missing { what: format!("image `{name}` (entry {entry} of {})", file.display()), path: root.into(), hint: String::new() });
    }
    let img = read_rgb(&p, &cfg.limits)?;
    let side = cfg.image_size;
    Ok(if img.dimensions() == (side, side) { img } else { resize(&img, side, side, FilterType::Triangle) })
}

/// One segment over the whole image: a placeholder that `DatasetBuilder::push_example`
/// replaces with the configured segments.
fn blank(image: &RgbImage) -> Result<gshn_seg::Segmentation, DataError> {
    Ok(gshn_seg::Segmentation::from_labels(image.width(), image.height(), vec![0; (image.width() * image.height()) as usize])?)
}

const VE_HINT: &str = " — SNLI-VE in ALBEF's format: data.dir holds ve_train.json, ve_dev.json, ve_test.json and the images (in images/ or beside them)";
const NLVR_HINT: &str = " — NLVR² in ALBEF's format: data.dir holds nlvr_train.json, nlvr_dev.json, nlvr_test.json and the images (in images/ or beside them)";

/// One SNLI-VE split: the first `limit` images (in file order) with their hypotheses.
pub fn load_ve_split(dir: &Path, file: &str, limit: usize, cfg: &LoadConfig) -> Result<Dataset, DataError> {
    let path = dir.join(file);
    let rows: Vec<VeRow> = read_rows(&path, VE_HINT)?;
    let mut order: Vec<String> = vec![];
    let mut by_image: BTreeMap<String, (usize, Vec<QaItem>)> = BTreeMap::new();
    for (i, r) in rows.into_iter().enumerate() {
        let e = by_image.entry(r.image.clone()).or_insert_with(|| {
            order.push(r.image.clone());
            (i, vec![])
        });
        e.1.push(QaItem { kind: "all".into(), text: r.sentence, answer: r.label as usize });
    }
    let root = image_root(dir);
    let mut out = DatasetBuilder::new(&cfg.segments, &cfg.tokens);
    for name in order.into_iter().take(limit) {
        let (entry, hypotheses) = by_image.remove(&name).expect("listed");
        let image = load_image(&root, &name, &path, entry, cfg)?;
        let segmentation = blank(&image)?;
        let example = Example { hypotheses, ..Example::image_only(image, segmentation) };
        out.push_example(example, None).map_err(|e| DataError::Malformed { path: root.join(&name), reason: e.to_string() })?;
    }
    Ok(out.finish())
}

/// One NLVR² split: the first `limit` image pairs (in file order) with their statements.
pub fn load_nlvr_split(dir: &Path, file: &str, limit: usize, cfg: &LoadConfig) -> Result<Dataset, DataError> {
    let path = dir.join(file);
    let rows: Vec<NlvrRow> = read_rows(&path, NLVR_HINT)?;
    let mut order: Vec<[String; 2]> = vec![];
    let mut by_pair: BTreeMap<[String; 2], (usize, Vec<PairStatement>)> = BTreeMap::new();
    for (i, r) in rows.into_iter().enumerate() {
        let e = by_pair.entry(r.images.clone()).or_insert_with(|| {
            order.push(r.images.clone());
            (i, vec![])
        });
        let answer = matches!(r.label, NlvrLabel::True) as usize;
        e.1.push(PairStatement { kind: "all".into(), swapped: swap_left_right(&r.sentence), text: r.sentence, answer });
    }
    let root = image_root(dir);
    let mut out = DatasetBuilder::new(&cfg.segments, &cfg.tokens);
    for pair in order.into_iter().take(limit) {
        let (entry, statements) = by_pair.remove(&pair).expect("listed");
        let left = load_image(&root, &pair[0], &path, entry, cfg)?;
        let right = load_image(&root, &pair[1], &path, entry, cfg)?;
        let (sl, sr) = (blank(&left)?, blank(&right)?);
        let example = Example { statements, partner: Some(Box::new(Example::image_only(right, sr))), ..Example::image_only(left, sl) };
        out.push_example(example, None).map_err(|e| DataError::Malformed { path: root.join(&pair[0]), reason: e.to_string() })?;
    }
    Ok(out.finish())
}

/// Training, validation and test splits from ALBEF's three files `names` (train, dev, test)
/// read by `load`, capped at `data.train_images` etc., and no VQA answers.
fn splits(cfg: &LoadConfig, names: [&str; 3], load: Loader) -> Result<(Dataset, Dataset, Dataset, Vec<String>), DataError> {
    let dir = cfg.dir.clone();
    let d = cfg;
    Ok((load(&dir, names[0], d.train_images, cfg)?, load(&dir, names[1], d.val_images, cfg)?, load(&dir, names[2], d.test_images, cfg)?, vec![]))
}

/// A split loader: folder, file, most examples, experiment.
type Loader = fn(&Path, &str, usize, &LoadConfig) -> Result<Dataset, DataError>;

/// SNLI-VE's training, validation (ALBEF's dev file) and test splits.
pub fn load_ve_splits(cfg: &LoadConfig) -> Result<(Dataset, Dataset, Dataset, Vec<String>), DataError> {
    splits(cfg, ["ve_train.json", "ve_dev.json", "ve_test.json"], load_ve_split)
}

/// NLVR²'s training, validation (ALBEF's dev file) and test splits.
pub fn load_nlvr_splits(cfg: &LoadConfig) -> Result<(Dataset, Dataset, Dataset, Vec<String>), DataError> {
    splits(cfg, ["nlvr_train.json", "nlvr_dev.json", "nlvr_test.json"], load_nlvr_split)
}
