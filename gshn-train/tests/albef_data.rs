//! SNLI-VE and NLVR² in ALBEF's json format, on small folders made here: hypotheses grouped
//! per image, statements per pair with their left/right swap, and errors that name the file,
//! the line or the entry for a wrong label, a pair with one image and a missing image.

use std::path::{Path, PathBuf};

use gshn_train::cli::experiment::{DataSource, ExperimentConfig};
use gshn_train::cli::train::load_data;
use gshn_train::data::albef::swap_left_right;
use gshn_train::data::SegmentSource;
use image::{Rgb, RgbImage};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gshn-albef-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(d.join("images")).unwrap();
    d
}

fn cfg(source: DataSource, dir: &Path) -> ExperimentConfig {
    let mut c = ExperimentConfig::default();
    c.data.source = source;
    c.data.dir = Some(dir.to_path_buf());
    (c.data.train_images, c.data.val_images, c.data.test_images) = (10, 10, 10);
    c.data.segments.source = SegmentSource::Grid;
    c.train.batch_size = 2;
    c.train.stl_steps = 0;
    c
}

/// `n` 48×40 images `img{i}.png` (a coloured box on grey) under `dir/images`.
fn images(dir: &Path, n: usize) {
    for i in 0..n {
        let mut img = RgbImage::from_pixel(48, 40, Rgb([120, 120, 120]));
        for y in 5..20 {
            for x in 3 * i as u32..3 * i as u32 + 12 {
                img.put_pixel(x, y, Rgb([200, 40 * i as u8, 30]));
            }
        }
        img.save(dir.join("images").join(format!("img{i}.png"))).unwrap();
    }
}

fn write(dir: &Path, name: &str, rows: serde_json::Value) {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(&rows).unwrap()).unwrap();
}

fn ve_rows(images: &[usize]) -> serde_json::Value {
    let labels = ["entailment", "neutral", "contradiction"];
    serde_json::Value::Array(
        images
            .iter()
            .enumerate()
            .flat_map(|(k, &i)| {
                (0..2).map(move |j| serde_json::json!({"image": format!("img{i}.png"), "sentence": format!("sentence {k} {j}"), "label": labels[(k + j) % 3]}))
            })
            .collect(),
    )
}

#[test]
fn snli_ve_groups_hypotheses_per_image_with_albef_label_order() {
    let dir = scratch("ve");
    images(&dir, 6);
    write(&dir, "ve_train.json", ve_rows(&[0, 1, 2, 3]));
    write(&dir, "ve_dev.json", ve_rows(&[4]));
    write(&dir, "ve_test.json", ve_rows(&[4, 5]));
    let mut c = cfg(DataSource::SnliVe, &dir);
    c.model.loss.entailment = 1.0;
    let data = load_data(&c).unwrap();
    assert_eq!((data.train.len(), data.val.len(), data.test.len()), (4, 1, 2));
    let first = &data.train[0];
    assert_eq!(first.hypotheses.len(), 2);
    assert_eq!((first.hypotheses[0].answer, first.hypotheses[1].answer), (2, 1), "entailment 2, neutral 1 (ALBEF's order)");
    assert_eq!(first.image.dimensions(), (64, 64), "squashed to data.image_size");
    assert!(data.train.has_hypotheses() && !data.train.has_captions());
    assert!(data.vocab.len() > 3, "the hypotheses' words make the vocabulary");
}

#[test]
fn nlvr2_pairs_carry_their_statements_and_the_swapped_words() {
    let dir = scratch("nlvr");
    images(&dir, 6);
    let rows = |pairs: &[(usize, usize)]| {
        serde_json::Value::Array(
            pairs
                .iter()
                .map(|&(a, b)| {
                    serde_json::json!({"images": [format!("img{a}.png"), format!("img{b}.png")], "sentence": "The left image has more dogs than the right image.", "label": if a < b { "True" } else { "False" }})
                })
                .collect(),
        )
    };
    write(&dir, "nlvr_train.json", rows(&[(0, 1), (1, 0), (2, 3), (0, 1)]));
    write(&dir, "nlvr_dev.json", rows(&[(4, 5)]));
    write(&dir, "nlvr_test.json", rows(&[(4, 5), (5, 4)]));
    let mut c = cfg(DataSource::Nlvr2, &dir);
    c.model.loss.nlvr = 1.0;
    let data = load_data(&c).unwrap();
    assert_eq!((data.train.len(), data.val.len(), data.test.len()), (3, 1, 2), "rows of one pair form one example");
    let p = &data.train[0];
    assert_eq!(p.statements.len(), 2);
    assert_eq!(p.statements[0].answer, 1);
    assert_eq!(p.statements[0].swapped, "The right image has more dogs than the left image.");
    assert!(p.partner.as_ref().is_some_and(|q| q.tokens.n > 0) && data.train.has_statements());
    assert_eq!(swap_left_right("Left of the right; bright lefty"), "Right of the left; bright lefty");
}

#[test]
fn bad_files_are_refused_naming_the_file_and_place() {
    let dir = scratch("bad");
    images(&dir, 3);
    for f in ["ve_dev.json", "ve_test.json"] {
        write(&dir, f, ve_rows(&[0]));
    }
    write(
        &dir,
        "ve_train.json",
        serde_json::json!([{"image": "img0.png", "sentence": "a", "label": "entailment"}, {"image": "img1.png", "sentence": "b", "label": "maybe"}]),
    );
    let err = load_data(&cfg(DataSource::SnliVe, &dir)).err().expect("a wrong label").to_string();
    assert!(err.contains("ve_train.json") && err.contains("maybe") && err.contains("line"), "{err}");

    write(
        &dir,
        "ve_train.json",
        serde_json::json!([{"image": "img0.png", "sentence": "a", "label": "entailment"}, {"image": "nowhere.png", "sentence": "b", "label": "neutral"}]),
    );
    let err = load_data(&cfg(DataSource::SnliVe, &dir)).err().expect("a missing image").to_string();
    assert!(err.contains("nowhere.png") && err.contains("entry 1") && err.contains("ve_train.json"), "{err}");

    for f in ["nlvr_dev.json", "nlvr_test.json"] {
        write(&dir, f, serde_json::json!([{"images": ["img0.png", "img1.png"], "sentence": "s", "label": "True"}]));
    }
    write(&dir, "nlvr_train.json", serde_json::json!([{"images": ["img0.png"], "sentence": "s", "label": "True"}]));
    let err = load_data(&cfg(DataSource::Nlvr2, &dir)).err().expect("a pair with one image").to_string();
    assert!(err.contains("nlvr_train.json") && err.contains("length 1") && err.contains("line"), "{err}");

    write(&dir, "nlvr_train.json", serde_json::json!([{"images": ["img0.png", "img1.png"], "sentence": "s", "label": "yes"}]));
    let err = load_data(&cfg(DataSource::Nlvr2, &dir)).err().expect("a wrong truth word").to_string();
    assert!(err.contains("nlvr_train.json") && err.contains("yes"), "{err}");

    std::fs::remove_file(dir.join("nlvr_train.json")).unwrap();
    let err = load_data(&cfg(DataSource::Nlvr2, &dir)).err().expect("a missing file").to_string();
    assert!(err.contains("nlvr_train.json") && err.contains("ALBEF"), "{err}");

    let mut c = cfg(DataSource::Nlvr2, &dir);
    c.data.segments.source = SegmentSource::Panoptic;
    let err = c.validate().expect_err("no ground-truth segments").to_string();
    assert!(err.contains("data.segments.source"), "{err}");
}
