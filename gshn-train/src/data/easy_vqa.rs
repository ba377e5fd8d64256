//! easy-VQA (Victor Zhou, MIT licence; PyPI `easy-vqa` 1.0): 64×64 images of one coloured
//! shape, 38,575 training and 9,673 test questions over 13 answers. `scripts/fetch-data.sh
//! easy-vqa DIR` downloads the wheel with pip, checks its SHA-256 and unpacks it; `data.dir`
//! may point at DIR, DIR/easy_vqa or DIR/easy_vqa/data. There are no ground-truth segments and
//! no captions: tokens come from Felzenszwalb, SLIC or grid patches, and only the VQA head
//! trains. Question types: `shape`, `colour` and `yes/no`, by the answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gshn_seg::image_io::read_rgb;
use gshn_snn::rng::SeedRng;
use image::imageops::{resize, FilterType};
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

use crate::data::files::{io_at, DataError, LoadConfig};
use crate::data::segments::DatasetBuilder;
use crate::dataset::{Dataset, QaItem};

/// How to get the data, for error messages.
pub const FETCH_HINT: &str = " — fetch it with `bash scripts/fetch-data.sh easy-vqa DIR` and set data.dir = \"DIR\"";

/// The folder holding `answers.txt`, `train/` and `test/`.
pub fn data_root(dir: &Path) -> Result<PathBuf, DataError> {
    for cand in [dir.to_path_buf(), dir.join("easy_vqa"), dir.join("easy_vqa").join("data"), dir.join("data")] {
        if cand.join("answers.txt").is_file() {
            return Ok(cand);
        }
    }
    Err(DataError::Missing { what: "easy-VQA (answers.txt)".into(), path: dir.into(), hint: FETCH_HINT.into() })
}

fn kind(answer: &str) -> &'static str {
    match answer {
        "yes" | "no" => "yes/no",
        "circle" | "rectangle" | "triangle" => "shape",
        _ => "colour",
    }
}

/// A split's `questions.json` — `[question, answer, image id]` triples — with each answer
/// looked up in `answers.txt` while parsing, so that an unknown answer is reported at its own
/// line. Yields `(question, answer index, image id)`.
struct Questions<'a>(&'a [String]);

/// One `[question, answer, image id]` triple.
struct Question<'a>(&'a [String]);

/// One answer, as its index in `answers.txt`.
struct Answer<'a>(&'a [String]);

type Triple = (String, usize, u64);

impl<'de> DeserializeSeed<'de> for Questions<'_> {
    type Value = Vec<Triple>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Questions<'_> {
    type Value = Vec<Triple>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of [question, answer, image id]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(t) = seq.next_element_seed(Question(self.0))? {
            out.push(t);
        }
        Ok(out)
    }
}

impl<'de> DeserializeSeed<'de> for Question<'_> {
    type Value = Triple;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Question<'_> {
    type Value = Triple;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("[question, answer, image id]")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let q = seq.next_element::<String>()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let a = seq.next_element_seed(Answer(self.0))?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let id = seq.next_element::<u64>()?.ok_or_else(|| de::Error::invalid_length(2, &self))?;
        Ok((q, a, id))
    }
}

impl<'de> DeserializeSeed<'de> for Answer<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Answer<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an answer listed in answers.txt")
    }
    fn visit_str<E: de::Error>(self, a: &str) -> Result<usize, E> {
        self.0.iter().position(|x| x == a).ok_or_else(|| E::custom(format!("answer `{a}` is not in answers.txt")))
    }
}

/// Reads one split (`train` or `test`): images (squashed to `image_size`) with their
/// questions, at most `limit` images, in image-id order.
pub fn load_split(root: &Path, split: &str, answers: &[String], limit: usize, cfg: &LoadConfig) -> Result<Dataset, DataError> {
    let qpath = root.join(split).join("questions.json");
    let text = std::fs::read_to_string(&qpath).map_err(|_| DataError::Missing {
        what: format!("{split}/questions.json"),
        path: root.into(),
        hint: FETCH_HINT.into(),
    })?;
    let malformed = |e: serde_json::Error| DataError::Malformed { path: qpath.clone(), reason: e.to_string() };
    let mut de = serde_json::Deserializer::from_str(&text);
    let raw = Questions(answers).deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(malformed)?;
    let mut by_image: BTreeMap<u64, Vec<QaItem>> = BTreeMap::new();
    for (q, answer, id) in raw {
        by_image.entry(id).or_default().push(QaItem { kind: kind(&answers[answer]).into(), text: q, answer });
    }
    let side = cfg.image_size;
    let limits = &cfg.limits;
    let mut out = DatasetBuilder::new(&cfg.segments, &cfg.tokens);
    for (id, qs) in by_image.into_iter().take(limit) {
        let p = root.join(split).join("images").join(format!("{id}.png"));
        if !p.is_file() {
            return Err(DataError::Missing {
                what: format!("image {id}.png"),
                path: root.join(split).join("images"),
                hint: " — the download is damaged; fetch it again".into(),
            });
        }
        let img = read_rgb(&p, limits)?;
        let img = if img.dimensions() == (side, side) { img } else { resize(&img, side, side, FilterType::Triangle) };
        out.push(img, None, vec![], vec![], qs).map_err(|e| DataError::Malformed { path: p.clone(), reason: e.to_string() })?;
    }
    Ok(out.finish())
}

/// Training (minus a seeded validation sample), validation and test splits, and the answers.
pub fn load_splits(cfg: &LoadConfig) -> Result<(Dataset, Dataset, Dataset, Vec<String>), DataError> {
    let root = data_root(&cfg.dir.clone())?;
    let answers_path = root.join("answers.txt");
    let answers: Vec<String> =
        std::fs::read_to_string(&answers_path).map_err(io_at(&answers_path))?.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if answers.len() < 2 {
        return Err(DataError::Malformed { path: answers_path, reason: "fewer than two answers".into() });
    }
    if let Some(a) = gshn_seg::paths::first_duplicate(answers.iter().map(String::as_str)) {
        return Err(DataError::Malformed { path: answers_path, reason: format!("duplicate answer `{a}`: each answer must be listed once") });
    }
    let d = cfg;
    let train_all = load_split(&root, "train", &answers, d.train_images + d.val_images, cfg)?;
    let test = load_split(&root, "test", &answers, d.test_images, cfg)?;
    let n = train_all.len();
    if d.val_images >= n {
        return Err(DataError::Unfit(format!("easy-VQA: {n} training images cannot spare {} for validation (lower data.val_images)", d.val_images)));
    }
    let mut order: Vec<usize> = (0..n).collect();
    SeedRng::new(cfg.seed).fork("easy-vqa").fork("split").shuffle(&mut order);
    let (val_idx, train_idx) = order.split_at(d.val_images);
    Ok((train_all.subset(train_idx), train_all.subset(val_idx), test, answers))
}
