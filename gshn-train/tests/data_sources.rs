//! The COCO-style and easy-VQA loaders on small folders made here (and on
//! `../shared/data/coco-mini` when present), with clear errors for missing folders, damaged
//! downloads and malformed annotation files; the segment perturbations (merge, erode) of the
//! tokens grid's controls, by hand and as properties.

use std::path::{Path, PathBuf};

use gshn_seg::{Segmentation, VOID};
use gshn_train::cli::experiment::{DataSource, ExperimentConfig};
use gshn_train::data::coco;
use gshn_train::data::easy_vqa;
use gshn_train::data::segments::{perturb, segment, SegmentsConfig};
use gshn_train::data::DataError;
use gshn_train::data::SegmentSource as TokenSource;
use image::{Rgb, RgbImage};
use proptest::prelude::*;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-data-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cfg(source: DataSource, dir: &Path, tokens: TokenSource, sizes: (usize, usize, usize)) -> ExperimentConfig {
    let mut c = ExperimentConfig::default();
    c.data.source = source;
    c.data.dir = Some(dir.to_path_buf());
    (c.data.train_images, c.data.val_images, c.data.test_images) = sizes;
    c.data.segments.source = tokens;
    c.train.batch_size = 2;
    c
}

/// A COCO folder of `n` 40×30 images, each a red box on grey, two captions each, one box
/// instance each (a polygon).
fn make_coco(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("annotations")).unwrap();
    std::fs::create_dir_all(dir.join("images/train")).unwrap();
    let (mut images, mut caps, mut anns) = (vec![], vec![], vec![]);
    for i in 0..n {
        let mut img = RgbImage::from_pixel(40, 30, Rgb([120, 120, 120]));
        let x0 = 4 + 3 * i as u32;
        for y in 8..20 {
            for x in x0..x0 + 10 {
                img.put_pixel(x, y, Rgb([220, 30, 30]));
            }
        }
        let name = format!("{:012}.png", i + 1);
        img.save(dir.join("images/train").join(&name)).unwrap();
        images.push(serde_json::json!({"id": i + 1, "file_name": name, "width": 40, "height": 30}));
        caps.push(serde_json::json!({"id": 10 * i, "image_id": i + 1, "caption": format!("a red box at {i}")}));
        caps.push(serde_json::json!({"id": 10 * i + 1, "image_id": i + 1, "caption": "a red square on grey"}));
        let (a, b) = (x0 as f64, (x0 + 10) as f64);
        anns.push(serde_json::json!({"id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0, "bbox": [a, 8.0, 10.0, 12.0], "segmentation": [[a, 8.0, b, 8.0, b, 20.0, a, 20.0]]}));
    }
    let cats = serde_json::json!([{"id": 1, "name": "box"}]);
    std::fs::write(dir.join("annotations/captions_train.json"), serde_json::json!({"images": images, "annotations": caps}).to_string()).unwrap();
    std::fs::write(dir.join("annotations/instances_train.json"), serde_json::json!({"images": images, "annotations": anns, "categories": cats}).to_string())
        .unwrap();
}

#[test]
fn coco_folders_load_with_panoptic_or_weight_free_tokens() {
    let dir = scratch("coco");
    make_coco(&dir, 6);
    let c = cfg(DataSource::Coco, &dir, TokenSource::Panoptic, (10, 1, 2));
    let all = coco::load(&dir, &c.load_config()).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].captions, vec!["a red box at 0".to_string(), "a red square on grey".to_string()]);
    assert_eq!(all[0].image.dimensions(), (64, 64));
    // The box and the grey background around it: two tokens, joined by an edge.
    assert_eq!(all[0].tokens.n, 2, "{:?}", all[0].segmentation.segments);
    assert_eq!(all[0].tokens.edges.src.len(), 2);
    let (train, val, test) = coco::split(all, &c.load_config(), "coco").unwrap();
    assert_eq!((train.len(), val.len(), test.len()), (3, 1, 2));
    let slic = coco::load(&dir, &cfg(DataSource::Coco, &dir, TokenSource::Slic, (10, 1, 2)).load_config()).unwrap();
    assert!(slic[0].tokens.n >= 2);
    // Through the training entry point: the splits and a caption vocabulary.
    let data = gshn_train::cli::train::load_data(&c).unwrap();
    assert!(data.vocab.encode("red box").iter().all(|&id| id > 1));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn coco_errors_name_the_problem() {
    let dir = scratch("coco-bad");
    let c = |d: &Path| cfg(DataSource::Coco, d, TokenSource::Panoptic, (10, 1, 2));
    let missing = dir.join("nowhere");
    let err = coco::load(&missing, &c(&missing).load_config()).unwrap_err();
    assert!(matches!(&err, DataError::Missing { .. }), "{err}");
    make_coco(&dir, 3);
    std::fs::write(dir.join("annotations/captions_train.json"), "{\"images\": [}").unwrap();
    let err = coco::load(&dir, &c(&dir).load_config()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(&err, DataError::Malformed { .. }) && msg.contains("captions_train.json") && msg.contains("line 1"), "{msg}");
    make_coco(&dir, 3);
    std::fs::remove_file(dir.join("images/train/000000000002.png")).unwrap();
    let msg = coco::load(&dir, &c(&dir).load_config()).unwrap_err().to_string();
    assert!(msg.contains("000000000002.png"), "{msg}");
    // Panoptic tokens without instances: told to use weight-free tokens.
    make_coco(&dir, 3);
    std::fs::remove_file(dir.join("annotations/instances_train.json")).unwrap();
    let msg = coco::load(&dir, &c(&dir).load_config()).unwrap_err().to_string();
    assert!(msg.contains("instances_*.json") && msg.contains("felzenszwalb"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn coco_mini_from_shared_data_when_present() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/coco-mini");
    if !dir.is_dir() {
        eprintln!("SKIP: {} is absent", dir.display());
        return;
    }
    let c = cfg(DataSource::Coco, &dir, TokenSource::Panoptic, (60, 0, 20));
    let all = coco::load(&dir, &c.load_config()).unwrap();
    assert_eq!(all.len(), 80);
    assert_eq!(all.items.iter().map(|p| p.captions.len()).sum::<usize>(), 400);
    assert!(all.items.iter().all(|p| p.tokens.n >= 1));
    let mean = all.items.iter().map(|p| p.tokens.n).sum::<usize>() as f64 / 80.0;
    assert!(mean > 3.0, "instances plus stuff regions: {mean} tokens per image");
}

/// An easy-VQA folder laid out as the wheel unpacks: easy_vqa/data/{answers.txt, train, test}.
fn make_easy_vqa(dir: &Path) -> PathBuf {
    let root = dir.join("easy_vqa/data");
    std::fs::write(dir.join("placeholder"), "").unwrap();
    std::fs::create_dir_all(root.join("train/images")).unwrap();
    std::fs::create_dir_all(root.join("test/images")).unwrap();
    std::fs::write(root.join("answers.txt"), "circle\nred\nblue\nyes\nno\nrectangle\n").unwrap();
    for (split, n) in [("train", 5), ("test", 2)] {
        let mut qs = vec![];
        for i in 0..n {
            let mut img = RgbImage::from_pixel(64, 64, Rgb([255, 255, 255]));
            for y in 20..40 {
                for x in 20..40 {
                    img.put_pixel(x, y, if i % 2 == 0 { Rgb([220, 0, 0]) } else { Rgb([0, 0, 220]) });
                }
            }
            img.save(root.join(split).join("images").join(format!("{i}.png"))).unwrap();
            qs.push(serde_json::json!(["what color is the shape?", if i % 2 == 0 { "red" } else { "blue" }, i]));
            qs.push(serde_json::json!(["is there a rectangle?", "yes", i]));
            qs.push(serde_json::json!(["what shape is this?", "rectangle", i]));
        }
        std::fs::write(root.join(split).join("questions.json"), serde_json::Value::Array(qs).to_string()).unwrap();
    }
    root
}

#[test]
fn easy_vqa_loads_questions_by_type_and_says_how_to_fetch_it() {
    let dir = scratch("evqa");
    let root = make_easy_vqa(&dir);
    let c = cfg(DataSource::EasyVqa, &dir, TokenSource::Felzenszwalb, (4, 1, 10));
    let (train, val, test, answers) = easy_vqa::load_splits(&c.load_config()).unwrap();
    assert_eq!((train.len(), val.len(), test.len()), (4, 1, 2));
    assert_eq!(answers.len(), 6);
    let q = &test[1].questions;
    assert_eq!(q.len(), 3);
    assert_eq!((q[0].kind.as_str(), answers[q[0].answer].as_str()), ("colour", "blue"));
    assert_eq!((q[1].kind.as_str(), answers[q[1].answer].as_str()), ("yes/no", "yes"));
    assert_eq!((q[2].kind.as_str(), answers[q[2].answer].as_str()), ("shape", "rectangle"));
    assert!(test.items.iter().all(|p| p.captions.is_empty()));
    assert!(test.items.iter().all(|p| p.tokens.n >= 2), "Felzenszwalb finds the square and the background");
    // No ground-truth segments: panoptic tokens are refused.
    let err = easy_vqa::load_splits(&cfg(DataSource::EasyVqa, &dir, TokenSource::Panoptic, (4, 1, 10)).load_config()).unwrap_err().to_string();
    assert!(err.contains("ground-truth"), "{err}");
    // STL needs captions; easy-VQA has none.
    let mut stl = c.clone();
    stl.train.stl_steps = 5;
    let err = gshn_train::cli::train::load_data(&stl).err().unwrap().to_string();
    assert!(err.contains("stl_steps = 0"), "{err}");
    // An answer listed twice is refused by name.
    std::fs::write(root.join("answers.txt"), "circle\nred\nblue\nyes\nno\nred\n").unwrap();
    let err = easy_vqa::load_splits(&c.load_config()).unwrap_err().to_string();
    assert!(err.contains("duplicate answer `red`") && err.contains("answers.txt"), "{err}");
    std::fs::write(root.join("answers.txt"), "circle\nred\nblue\nyes\nno\nrectangle\n").unwrap();
    // A damaged download and a missing one.
    std::fs::remove_file(root.join("train/images/3.png")).unwrap();
    let err = easy_vqa::load_splits(&c.load_config()).unwrap_err().to_string();
    assert!(err.contains("3.png") && err.contains("damaged"), "{err}");
    let err = easy_vqa::load_splits(&cfg(DataSource::EasyVqa, &dir.join("none"), TokenSource::Slic, (4, 1, 10)).load_config()).unwrap_err().to_string();
    assert!(err.contains("scripts/fetch-data.sh easy-vqa"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn without_captions_the_text_encoder_is_counted_per_question() {
    let dir = scratch("evqa-energy");
    make_easy_vqa(&dir);
    let mut c = cfg(DataSource::EasyVqa, &dir, TokenSource::Felzenszwalb, (4, 1, 10));
    (c.train.steps, c.train.stl_steps, c.train.eval_every, c.train.checkpoint_every, c.train.log_every) = (2, 0, 2, 2, 1);
    let out = dir.join("run");
    let device = burn::tensor::Device::flex().autodiff();
    let r = gshn_train::cli::train::run(&c, &device, &gshn_train::cli::train::RunOptions { out, resume: false, stop_after: None, progress: false }).unwrap();
    let test = r.test.unwrap();
    assert!(test.tasks.retrieval.is_none() && test.tasks.vqa.is_some());
    // The embeddings layer reads `len × width` values: len is the mean question length.
    let qs: Vec<&str> = r.data.test.items.iter().flat_map(|p| p.questions.iter().map(|q| q.text.as_str())).collect();
    let len = qs.iter().map(|q| r.batcher.vocab.encode(q).len().min(r.batcher.max_text)).sum::<usize>() as f64 / qs.len() as f64;
    let emb = &test.energy.text_layers[0];
    assert!(len > 3.0 && (emb.acs - len * c.model.text.width as f64).abs() < 1e-6, "{} vs {len}", emb.acs);
    assert!(test.energy.text_pj > 0.0 && test.markdown().contains("text encoder energy / question"), "{}", test.markdown());
    std::fs::remove_dir_all(&dir).ok();
}

/// Rewrites one JSON file of a COCO folder through `edit`, pretty-printed (one value a line,
/// so that errors point at a line of their own).
fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// The line of `path` that holds `needle`, 1-based.
fn line_of(path: &Path, needle: &str) -> usize {
    1 + std::fs::read_to_string(path).unwrap().lines().position(|l| l.contains(needle)).unwrap()
}

#[test]
fn coco_refuses_file_names_that_leave_the_folder() {
    let dir = scratch("coco-names");
    let c = cfg(DataSource::Coco, &dir, TokenSource::Panoptic, (10, 1, 2));
    // A real image where `../` would find it: it must not be read.
    let outside = dir.parent().unwrap().join(format!("gshn-outside-{}.png", std::process::id()));
    RgbImage::from_pixel(40, 30, Rgb([1, 2, 3])).save(&outside).unwrap();
    let escape = format!("../{}", outside.file_name().unwrap().to_str().unwrap());
    for name in [escape.as_str(), "/etc/passwd", outside.to_str().unwrap()] {
        make_coco(&dir, 3);
        let captions = dir.join("annotations/captions_train.json");
        edit_json(&captions, |v| v["images"][1]["file_name"] = name.into());
        let err = coco::load(&dir, &c.load_config()).unwrap_err();
        let msg = err.to_string();
        let line = line_of(&captions, name);
        assert!(matches!(&err, DataError::Malformed { .. }), "{msg}");
        assert!(msg.contains(name) && msg.contains("captions_train.json") && msg.contains(&format!("line {line} ")), "{msg}");
        // Only in the instances file: refused too.
        make_coco(&dir, 3);
        let instances = dir.join("annotations/instances_train.json");
        edit_json(&instances, |v| v["images"][0]["file_name"] = name.into());
        let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
        assert!(msg.contains(name) && msg.contains("instances_train.json") && msg.contains(&format!("line {} ", line_of(&instances, name))), "{msg}");
    }
    std::fs::remove_file(&outside).ok();
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn coco_bad_rle_names_the_instances_file_and_the_line() {
    let dir = scratch("coco-rle");
    let c = cfg(DataSource::Coco, &dir, TokenSource::Panoptic, (10, 1, 2));
    let instances = dir.join("annotations/instances_train.json");
    // A count that would overflow, and a count string with more groups than 64 bits hold.
    for (counts, what) in [(serde_json::json!([0, u64::MAX, 5]), "runs past the image"), (serde_json::json!("oooooooooooooooo0"), "groups")] {
        make_coco(&dir, 3);
        edit_json(&instances, |v| v["annotations"][1]["segmentation"] = serde_json::json!({"counts": counts, "size": [30, 40]}));
        let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
        assert!(msg.contains("instances_train.json") && msg.contains(what) && msg.contains("line"), "{msg}");
    }
    // A well-formed RLE whose size is not its image's: names the file, the image and the
    // annotation.
    make_coco(&dir, 3);
    edit_json(&instances, |v| v["annotations"][1]["segmentation"] = serde_json::json!({"counts": [600, 600], "size": [40, 30]}));
    let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
    assert!(msg.contains("instances_train.json") && msg.contains("annotation 2") && msg.contains("000000000002.png") && msg.contains("RLE size"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn coco_images_over_data_max_pixels_are_refused_before_segmentation() {
    let dir = scratch("coco-big");
    make_coco(&dir, 3);
    // The images have 40 × 30 = 1200 pixels.
    let mut c = cfg(DataSource::Coco, &dir, TokenSource::Felzenszwalb, (10, 1, 2));
    c.data.max_pixels = 1199;
    let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
    assert!(msg.contains("raise `data.max_pixels`") && msg.contains("000000000001.png") && msg.contains("1200 pixels"), "{msg}");
    c.data.max_pixels = 1200;
    assert_eq!(coco::load(&dir, &c.load_config()).unwrap().len(), 3);
    // A 16 KB PNG of 4096 × 4096 under the default limit.
    image::GrayImage::new(4096, 4096).save(dir.join("images/train/000000000002.png")).unwrap();
    let c = cfg(DataSource::Coco, &dir, TokenSource::Panoptic, (10, 1, 2));
    let t = std::time::Instant::now();
    let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
    assert!(msg.contains("raise `data.max_pixels`") && msg.contains("000000000002.png") && msg.contains("16777216 pixels"), "{msg}");
    assert!(t.elapsed().as_secs_f64() < 5.0, "refused only after {:?}", t.elapsed());
    // The field is validated and spelled out in the default config.
    let mut bad = ExperimentConfig::default();
    bad.data.max_pixels = 0;
    assert!(bad.validate().unwrap_err().to_string().contains("data.max_pixels"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/shapeworld.toml");
    assert_eq!(ExperimentConfig::load(&root, &[]).unwrap().data.max_pixels, ExperimentConfig::default().data.max_pixels);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn truncated_images_are_errors_naming_the_file() {
    let dir = scratch("coco-cut");
    make_coco(&dir, 3);
    let c = cfg(DataSource::Coco, &dir, TokenSource::Felzenszwalb, (10, 1, 2));
    let img = dir.join("images/train/000000000003.png");
    let bytes = std::fs::read(&img).unwrap();
    std::fs::write(&img, &bytes[..bytes.len() - 6]).unwrap();
    let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
    assert!(msg.contains(&img.display().to_string()) && msg.contains("truncated"), "{msg}");
    // A real COCO JPEG, cut, when the shared data is present.
    let jpeg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/coco-mini/train2017/000000000790.jpg");
    if jpeg.is_file() {
        let bytes = std::fs::read(&jpeg).unwrap();
        let cut = dir.join("images/train/cut.jpg");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        edit_json(&dir.join("annotations/captions_train.json"), |v| v["images"][2]["file_name"] = "cut.jpg".into());
        let msg = coco::load(&dir, &c.load_config()).unwrap_err().to_string();
        assert!(msg.contains(&cut.display().to_string()) && msg.contains("truncated JPEG"), "{msg}");
    } else {
        eprintln!("SKIP: {} is absent (the JPEG half of this test)", jpeg.display());
    }
    // easy-VQA: a cut image, an image over the limit, an unknown answer with its line.
    let dir = scratch("evqa-hostile");
    let root = make_easy_vqa(&dir);
    let mut c = cfg(DataSource::EasyVqa, &dir, TokenSource::Felzenszwalb, (4, 1, 10));
    let img = root.join("train/images/1.png");
    let good = std::fs::read(&img).unwrap();
    std::fs::write(&img, &good[..good.len() / 2]).unwrap();
    let msg = easy_vqa::load_splits(&c.load_config()).unwrap_err().to_string();
    assert!(msg.contains(&img.display().to_string()) && msg.contains("truncated"), "{msg}");
    std::fs::write(&img, &good).unwrap();
    c.data.max_pixels = 64 * 64 - 1;
    let msg = easy_vqa::load_splits(&c.load_config()).unwrap_err().to_string();
    assert!(msg.contains("raise `data.max_pixels`") && msg.contains("0.png"), "{msg}");
    c.data.max_pixels = 64 * 64;
    let questions = root.join("test/questions.json");
    let mut qs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&questions).unwrap()).unwrap();
    qs[4][1] = "purple".into();
    std::fs::write(&questions, serde_json::to_string_pretty(&qs).unwrap()).unwrap();
    let msg = easy_vqa::load_splits(&c.load_config()).unwrap_err().to_string();
    assert!(msg.contains("questions.json") && msg.contains("`purple`") && msg.contains(&format!("line {} ", line_of(&questions, "purple"))), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

fn labels_of(seg: &Segmentation) -> Vec<u32> {
    seg.labels.clone()
}

#[test]
fn erosion_by_hand_leaves_the_border_band_to_no_segment_and_keeps_thin_segments() {
    // 6×3: left half label 0, right half label 1.
    let l: Vec<u32> = (0..18).map(|i| u32::from(i % 6 >= 3)).collect();
    let seg = Segmentation::from_labels(6, 3, l).unwrap();
    let out = perturb(&seg, 0.0, 1).unwrap();
    let v = VOID;
    // Columns 2 and 3 touch the other segment within 1 px; image borders do not erode.
    assert_eq!(labels_of(&out), [0, 0, v, v, 1, 1].repeat(3));
    assert_eq!(out.len(), 2);
    assert_eq!((out.segments[0].area, out.segments[1].area), (6, 6));
    // A one-pixel-wide stripe would vanish: it keeps its pixels, its neighbours erode.
    let l: Vec<u32> = (0..15).map(|i| [0, 0, 1, 2, 2][i % 5]).collect();
    let out = perturb(&Segmentation::from_labels(5, 3, l).unwrap(), 0.0, 1).unwrap();
    assert_eq!(labels_of(&out), [0, v, 1, v, 2].repeat(3));
}

#[test]
fn merging_every_segment_joins_a_strip_into_one_and_zero_changes_nothing() {
    let l: Vec<u32> = (0..12).map(|i| (i % 6 / 2) as u32).collect();
    let seg = Segmentation::from_labels(6, 2, l).unwrap();
    assert_eq!(perturb(&seg, 1.0, 0).unwrap().len(), 1, "each merges into a neighbour: one group");
    assert_eq!(labels_of(&perturb(&seg, 0.0, 0).unwrap()), labels_of(&seg));
    // Through the configured segmenter: panoptic with the perturbation, the same each time.
    let img = RgbImage::new(6, 2);
    let cfg = SegmentsConfig { merge: 0.5, erode: 0, ..Default::default() };
    let a = segment(&img, Some(&seg), &cfg).unwrap();
    assert_eq!(labels_of(&a), labels_of(&segment(&img, Some(&seg), &cfg).unwrap()), "deterministic");
    assert_eq!(labels_of(&segment(&img, Some(&seg), &SegmentsConfig::default()).unwrap()), labels_of(&seg), "off by default");
}

#[test]
fn perturbations_are_validated_by_name() {
    let bad = SegmentsConfig { merge: 1.5, ..Default::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("merge"));
    let bad = SegmentsConfig { erode: 65, ..Default::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("erode"));
    let bad = SegmentsConfig { source: TokenSource::Boxes, erode: 1, ..Default::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("box tokens"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// A perturbed partition is coarser than the original (two pixels of one original segment
    /// that both keep a segment share it), has no more segments, loses no segment to erosion
    /// without a merge, and a pixel left to no segment was within `erode` of another label.
    #[test]
    fn perturbed_segments_are_coarser_and_eroded_only_near_borders(
        w in 1u32..9, h in 1u32..9, seed in any::<u64>(), k in 1u32..5, merge in 0.0f64..=1.0, erode in 0u32..3,
    ) {
        let n = (w * h) as usize;
        let mut x = seed;
        let labels: Vec<u32> = (0..n).map(|_| { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); ((x >> 33) % k as u64) as u32 }).collect();
        let mut l = labels.clone();
        Segmentation::relabel_sequential(&mut l);
        let seg = Segmentation::from_labels(w, h, l.clone()).unwrap();
        let out = perturb(&seg, merge, erode).unwrap();
        prop_assert!(out.len() <= seg.len());
        let mut map = std::collections::HashMap::new();
        for (i, (&a, &b)) in l.iter().zip(&out.labels).enumerate() {
            if b == VOID {
                let (px, py) = (i % w as usize, i / w as usize);
                let e = erode as usize;
                let near = (py.saturating_sub(e)..(py + e + 1).min(h as usize))
                    .any(|yy| (px.saturating_sub(e)..(px + e + 1).min(w as usize)).any(|xx| l[yy * w as usize + xx] != a));
                prop_assert!(near, "pixel {i} left to no segment far from any border");
            } else {
                prop_assert_eq!(*map.entry(a).or_insert(b), b, "original segment {} split", a);
            }
        }
        if merge == 0.0 {
            prop_assert_eq!(out.segments.iter().filter(|s| s.area > 0).count(), seg.len(), "erosion keeps every segment");
        }
    }
}
