//! ShapeWorld: deterministic per seed, every caption and answer true of its image (checked
//! on the rendered pixels), every negative false, exact panoptic ground truth, hold-outs.

use gshn_train::data::export::write_split;
use gshn_train::data::shapeworld::*;

fn examples(n: usize) -> Vec<ShapeWorldExample> {
    generate(&ShapeWorldConfig::default(), 7, Split::Test, n)
}

#[test]
fn generation_is_deterministic_per_seed_and_split() {
    let cfg = ShapeWorldConfig::default();
    assert_eq!(generate(&cfg, 3, Split::Train, 20), generate(&cfg, 3, Split::Train, 20));
    assert_ne!(generate(&cfg, 3, Split::Train, 20), generate(&cfg, 4, Split::Train, 20));
    assert_ne!(generate(&cfg, 3, Split::Train, 20), generate(&cfg, 3, Split::Val, 20));
    let a = generate(&cfg, 3, Split::Train, 5)[0].scene.render();
    let b = generate(&cfg, 3, Split::Train, 5)[0].scene.render();
    assert_eq!(a, b, "pixels repeat bit for bit");
}

#[test]
fn captions_hold_negatives_fail_and_answers_are_right() {
    let vocab = answer_vocabulary();
    for ex in examples(300) {
        let s = &ex.scene;
        assert!((1..=6).contains(&s.things.len()));
        assert_eq!(ex.captions.len(), 5, "{:?}", ex.captions);
        for c in &ex.captions {
            assert!(c.holds(s), "false caption `{}`", c.text());
        }
        assert!(!ex.negatives.is_empty());
        for n in &ex.negatives {
            assert!(!n.holds(s), "true negative `{}`", n.text());
        }
        for q in &ex.questions {
            assert!(vocab.contains(&q.answer), "{q:?}");
            if q.kind == QuestionType::Count {
                let shape = SHAPES.iter().position(|x| q.text.contains(&format!("{x}s"))).unwrap();
                assert_eq!(q.answer, s.things.iter().filter(|t| t.shape == shape).count().to_string());
            }
        }
    }
}

#[test]
fn rendered_pixels_and_panoptic_ground_truth_agree_with_the_scene() {
    for ex in examples(100) {
        let s = &ex.scene;
        let img = s.render();
        let seg = s.panoptic();
        seg.validate().unwrap();
        assert!(seg.labels.iter().all(|&l| (l as usize) < seg.len()), "every pixel in one segment");
        assert_eq!(seg.len(), s.things.len() + 2);
        for (k, t) in s.things.iter().enumerate() {
            let info = &seg.segments[k];
            assert!(info.is_thing && info.category_id == Some(t.shape as u32 + 1));
            assert!(info.area > 10, "{} visible", t.phrase());
            // Every pixel of the thing's segment has the thing's colour.
            for (i, &l) in seg.labels.iter().enumerate() {
                if l == k as u32 {
                    let p = img.get_pixel(i as u32 % s.size, i as u32 / s.size).0;
                    assert_eq!(p, COLOURS[t.colour].1);
                }
            }
            // The rendered centroid is close to the scene's centre (relations rely on it).
            let d = ((info.centroid[0] + 0.5 - t.centre[0]).powi(2) + (info.centroid[1] + 0.5 - t.centre[1]).powi(2)).sqrt();
            assert!(d < 3.0, "{}: centroid {:?} vs centre {:?}", t.phrase(), info.centroid, t.centre);
        }
        assert!(!seg.segments[s.things.len()].is_thing && !seg.segments[s.things.len() + 1].is_thing);
    }
}

#[test]
fn holdout_pairs_never_appear_in_training() {
    let cfg = ShapeWorldConfig { holdout: vec![("red".into(), "triangle".into())], ..Default::default() };
    let red = COLOURS.iter().position(|c| c.0 == "red").unwrap();
    let tri = SHAPES.iter().position(|s| *s == "triangle").unwrap();
    let has = |exs: &[ShapeWorldExample]| exs.iter().any(|e| e.scene.things.iter().any(|t| t.colour == red && t.shape == tri));
    assert!(!has(&generate(&cfg, 1, Split::Train, 300)));
    assert!(has(&generate(&cfg, 1, Split::Test, 300)));
}

#[test]
fn export_writes_coco_style_files_that_gshn_seg_reads_back() {
    let dir = std::env::temp_dir().join(format!("gshn-shapeworld-{}", std::process::id()));
    let exs = examples(4);
    write_split(&dir, Split::Test, &exs).unwrap();
    let root = dir.join("test");
    let caps: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("captions.json")).unwrap()).unwrap();
    assert_eq!(caps["annotations"].as_array().unwrap().len(), 20);
    let pan = gshn_seg::panoptic::read_panoptic_json(&root.join("panoptic.json")).unwrap();
    for (ann, ex) in pan.annotations.iter().zip(&exs) {
        let seg = gshn_seg::panoptic::read_panoptic(&root.join("panoptic").join(&ann.file_name), ann, &pan.categories, &Default::default()).unwrap();
        assert_eq!(seg.labels, ex.scene.panoptic().labels);
        let img = image::open(root.join("images").join(&ann.file_name)).unwrap().to_rgb8();
        assert_eq!(img, ex.scene.render());
    }
    let q: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(root.join("questions.json")).unwrap()).unwrap();
    assert_eq!(q["answers"].as_array().unwrap().len(), 18);
    std::fs::remove_dir_all(&dir).ok();
}
