//! COCO panoptic and instance I/O on the real samples and on hand-made files; panoptic
//! quality checked against the `hotcoco` crate.

mod common;

use std::path::Path;

use gshn_seg::image_io::ImageLimits;
use gshn_seg::instances::{instances_to_panoptic, read_instances, InstancesToPanoptic};
use gshn_seg::panoptic::*;
use gshn_seg::pq::PanopticQuality;
use gshn_seg::{SegError, Segmentation, VOID};

fn sample() -> Option<(std::path::PathBuf, PanopticFile)> {
    let dir = common::shared("coco-panoptic-sample")?;
    let file = read_panoptic_json(&dir.join("panoptic_examples.json")).unwrap();
    Some((dir, file))
}

fn read_sample(dir: &Path, ann: &PanopticAnnotation, cats: &[PanopticCategory]) -> Segmentation {
    read_panoptic(&dir.join("panoptic_examples").join(&ann.file_name), ann, cats, &ImageLimits::default()).unwrap()
}

#[test]
fn real_sample_reads_and_round_trips_losslessly() {
    let Some((dir, file)) = sample() else { return };
    assert_eq!(file.annotations.len(), 2);
    for ann in &file.annotations {
        let seg = read_sample(&dir, ann, &file.categories);
        seg.validate().unwrap();
        assert_eq!(seg.len(), ann.segments_info.len());
        for (info, s) in seg.segments.iter().zip(&ann.segments_info) {
            assert_eq!((info.id, info.area, info.bbox), (s.id, s.area, s.bbox), "segment {}", s.id);
        }
        assert!(seg.segments.iter().any(|s| s.is_thing) && seg.segments.iter().any(|s| !s.is_thing));
        let (png, back) = encode_panoptic(&seg, ann.image_id, &ann.file_name, 0).unwrap();
        assert_eq!(&back, ann, "JSON round trip");
        let again = decode_panoptic(&png, &back, &file.categories, &ImageLimits::default()).unwrap();
        assert_eq!(again, seg, "PNG round trip");
    }
}

/// A 4×3 hand-made panoptic pair: ids 7 (2 px), 300 (4 px), 65536 (5 px), 1 void pixel.
fn hand_made() -> (Vec<u8>, PanopticAnnotation, Vec<PanopticCategory>) {
    let ids = [7u32, 7, 300, 300, 65536, 65536, 300, 300, 65536, 65536, 65536, 0];
    let mut img = image::RgbImage::new(4, 3);
    for (p, id) in img.pixels_mut().zip(ids) {
        p.0 = id_to_rgb(id);
    }
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let seg = |id, category_id, area, bbox| PanopticSegment { id, category_id, iscrowd: 0, bbox, area };
    let ann = PanopticAnnotation {
        image_id: 1,
        file_name: "hand.png".into(),
        segments_info: vec![seg(7, 1, 2, [0, 0, 2, 1]), seg(300, 2, 4, [2, 0, 2, 2]), seg(65536, 2, 5, [0, 1, 3, 2])],
    };
    let cats = vec![
        PanopticCategory { id: 1, name: "thing".into(), isthing: 1, color: None, supercategory: None },
        PanopticCategory { id: 2, name: "stuff".into(), isthing: 0, color: None, supercategory: None },
    ];
    (png, ann, cats)
}

#[test]
fn hand_made_pair_decodes_ids_and_void() {
    let (png, ann, cats) = hand_made();
    let seg = decode_panoptic(&png, &ann, &cats, &ImageLimits::default()).unwrap();
    assert_eq!(seg.labels, vec![0, 0, 1, 1, 2, 2, 1, 1, 2, 2, 2, VOID]);
    assert!(seg.segments[0].is_thing && !seg.segments[1].is_thing);
    assert_eq!(seg.segments[2].centroid, [1.0 * 4.0 / 5.0, 1.6]);
    assert_eq!(rgb_to_id(id_to_rgb(65536 + 300)), 65836);
}

#[test]
fn inconsistent_pairs_are_typed_errors() {
    let (png, ann, cats) = hand_made();
    let limits = ImageLimits::default();
    let mut missing = ann.clone();
    missing.segments_info.remove(0);
    let e = decode_panoptic(&png, &missing, &cats, &limits).unwrap_err();
    assert!(matches!(&e, SegError::Inconsistent { reason, .. } if reason.contains("PNG id 7")), "{e}");

    let mut extra = ann.clone();
    extra.segments_info.push(PanopticSegment { id: 99, category_id: 1, iscrowd: 0, bbox: [0, 0, 1, 1], area: 1 });
    let e = decode_panoptic(&png, &extra, &cats, &limits).unwrap_err();
    assert!(matches!(&e, SegError::Inconsistent { reason, .. } if reason.contains("not in the PNG")), "{e}");

    let mut area = ann.clone();
    area.segments_info[1].area = 5;
    let e = decode_panoptic(&png, &area, &cats, &limits).unwrap_err();
    assert!(matches!(&e, SegError::Inconsistent { reason, .. } if reason.contains("area")), "{e}");

    let mut cat = ann.clone();
    cat.segments_info[0].category_id = 42;
    assert!(matches!(decode_panoptic(&png, &cat, &cats, &limits), Err(SegError::Inconsistent { .. })));

    let e = decode_panoptic(&png[..png.len() / 2], &ann, &cats, &limits).unwrap_err();
    assert!(matches!(e, SegError::Decode { .. }), "truncated PNG: {e}");

    let gray = {
        let mut v = Vec::new();
        image::DynamicImage::ImageLuma8(image::GrayImage::new(4, 3)).write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png).unwrap();
        v
    };
    assert!(matches!(decode_panoptic(&gray, &ann, &cats, &limits), Err(SegError::PixelFormat { .. })));
    let small = ImageLimits { max_pixels: 10, ..Default::default() };
    assert!(matches!(decode_panoptic(&png, &ann, &cats, &small), Err(SegError::TooLarge { pixels: 12, limit: 10, .. })));

    let dir = std::env::temp_dir().join(format!("gshn-seg-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"annotations\": [{\"file_name\": 3}]").unwrap();
    assert!(matches!(read_panoptic_json(&bad), Err(SegError::Json { .. })));
    assert!(matches!(read_panoptic_json(&dir.join("absent.json")), Err(SegError::Io { .. })));
    std::fs::remove_dir_all(&dir).ok();
}

/// A prediction made from the ground truth: the first thing shifted right by 3 px, one stuff
/// segment relabelled to another category, one segment dropped to void.
fn perturb(gt: &Segmentation, cats: &[PanopticCategory]) -> Segmentation {
    let mut pred = gt.clone();
    let w = gt.width as usize;
    if let Some(t) = gt.segments.iter().position(|s| s.is_thing && !s.is_crowd) {
        let mut labels = pred.labels.clone();
        for (i, &l) in gt.labels.iter().enumerate() {
            if l == t as u32 && i % w + 3 < w {
                labels[i + 3] = t as u32;
            }
        }
        pred.labels = labels;
    }
    if let Some(s) = gt.segments.iter().position(|s| !s.is_thing) {
        let other = cats.iter().find(|c| c.isthing == 0 && Some(c.id) != gt.segments[s].category_id).unwrap();
        pred.segments[s].category_id = Some(other.id);
    }
    let last = gt.len() as u32 - 1;
    pred.labels.iter_mut().filter(|l| **l == last).for_each(|l| *l = VOID);
    // Recompute the areas and boxes from the new labels, keep ids and categories.
    let mut fresh = Segmentation::from_labels(pred.width, pred.height, pred.labels.clone()).unwrap();
    fresh.segments.truncate(pred.len());
    for (f, p) in fresh.segments.iter_mut().zip(&pred.segments) {
        f.id = p.id;
        f.category_id = p.category_id;
        f.is_thing = p.is_thing;
    }
    fresh
}

#[test]
fn panoptic_quality_matches_hotcoco() {
    let Some((dir, file)) = sample() else { return };
    let tmp = std::env::temp_dir().join(format!("gshn-seg-pq-{}", std::process::id()));
    let (gt_dir, pred_dir) = (tmp.join("gt"), tmp.join("pred"));
    std::fs::create_dir_all(&gt_dir).unwrap();
    std::fs::create_dir_all(&pred_dir).unwrap();
    let mut ours = PanopticQuality::default();
    let (mut gt_anns, mut pred_anns) = (Vec::new(), Vec::new());
    for ann in &file.annotations {
        let gt = read_sample(&dir, ann, &file.categories);
        let pred = perturb(&gt, &file.categories);
        ours.add(&gt, &pred).unwrap();
        for (seg, folder, anns) in [(&gt, &gt_dir, &mut gt_anns), (&pred, &pred_dir, &mut pred_anns)] {
            let (png, a) = encode_panoptic(seg, ann.image_id, &ann.file_name, 0).unwrap();
            std::fs::write(folder.join(&ann.file_name), png).unwrap();
            anns.push(a);
        }
    }
    let write = |anns: Vec<PanopticAnnotation>, name: &str| {
        let images: Vec<_> =
            file.annotations.iter().map(|a| serde_json::json!({"id": a.image_id, "file_name": a.file_name, "width": 1, "height": 1})).collect();
        let json = serde_json::json!({"images": images, "annotations": anns, "categories": file.categories});
        let path = tmp.join(name);
        std::fs::write(&path, json.to_string()).unwrap();
        path
    };
    let (gt_json, pred_json) = (write(gt_anns, "gt.json"), write(pred_anns, "pred.json"));
    let gt = hotcoco::panoptic::PanopticDataset::from_file(&gt_json).unwrap().with_folder(&gt_dir);
    let pred = hotcoco::panoptic::PanopticDataset::from_file(&pred_json).unwrap().with_folder(&pred_dir);
    let mut eval = hotcoco::panoptic::PanopticEval::new(gt, pred);
    eval.run().unwrap();
    let theirs = eval.result().unwrap().stats();
    let mine: Vec<f64> = [None, Some(true), Some(false)]
        .into_iter()
        .flat_map(|t| {
            let s = ours.scores(t);
            [s.pq, s.sq, s.rq]
        })
        .collect();
    eprintln!("ours    {mine:.6?}\nhotcoco {theirs:.6?}");
    for (a, b) in mine.iter().zip(theirs) {
        assert!((a - b).abs() < 1e-9, "PQ/SQ/RQ differ: ours {mine:?}, hotcoco {theirs:?}");
    }
    assert!(mine[0] < 1.0 && mine[0] > 0.5, "the perturbation must cost some PQ: {mine:?}");
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn identical_prediction_has_perfect_quality() {
    let (png, ann, cats) = hand_made();
    let seg = decode_panoptic(&png, &ann, &cats, &ImageLimits::default()).unwrap();
    let mut pq = PanopticQuality::default();
    pq.add(&seg, &seg).unwrap();
    let s = pq.scores(None);
    assert_eq!((s.pq, s.sq, s.rq, s.n), (1.0, 1.0, 1.0, 2));
}

#[test]
fn coco_mini_instances_become_panoptic_tokens() {
    let Some(path) = common::shared("coco-mini/annotations/instances_train2017.json") else { return };
    let coco = read_instances(&path).unwrap();
    assert_eq!(coco.images.len(), 80);
    let mut things = 0;
    for img in &coco.images {
        let anns: Vec<_> = coco.annotations.iter().filter(|a| a.image_id == img.id).collect();
        let seg = instances_to_panoptic(img, &anns, &InstancesToPanoptic::default()).unwrap();
        seg.validate().unwrap();
        assert_eq!(seg.segments.iter().filter(|s| s.is_thing).count(), anns.len());
        let void = seg.labels.iter().filter(|&&l| l == VOID).count();
        assert!(void * 50 < seg.num_pixels(), "{}: {void} void pixels", img.file_name);
        // Annotated boxes contain their segment's visible pixels.
        for (k, a) in anns.iter().enumerate() {
            let (s, b) = (&seg.segments[k], a.bbox.unwrap());
            if s.area > 0 {
                assert!(
                    s.bbox[0] as f64 >= b[0].floor() - 1.0 && (s.bbox[0] + s.bbox[2]) as f64 <= (b[0] + b[2]).ceil() + 1.0,
                    "{}: {:?} vs {:?}",
                    a.id,
                    s.bbox,
                    b
                );
            }
        }
        things += anns.len();
    }
    assert_eq!(things, coco.annotations.len());
}
