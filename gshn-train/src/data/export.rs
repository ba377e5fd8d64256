//! `gshn data shapeworld`: ShapeWorld splits written as PNGs plus COCO-style caption,
//! panoptic and question files.

use std::path::Path;

use crate::data::files::{io_at, DataError};
use crate::data::shapeworld::{answer_vocabulary, categories, ShapeWorldExample, Split};

/// Writes a split under `dir/<split>/`: `images/*.png`, COCO-style `captions.json`,
/// COCO panoptic `panoptic.json` + `panoptic/*.png`, `questions.json` and `negatives.json`.
pub fn write_split(dir: &Path, split: Split, examples: &[ShapeWorldExample]) -> Result<(), DataError> {
    let root = dir.join(split.name());
    for sub in ["images", "panoptic"] {
        let p = root.join(sub);
        std::fs::create_dir_all(&p).map_err(io_at(&p))?;
    }
    let (mut images, mut captions, mut panoptic, mut questions, mut negatives) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, ex) in examples.iter().enumerate() {
        let id = i as u64 + 1;
        let name = format!("{id:06}.png");
        let path = root.join("images").join(&name);
        ex.scene.render().save(&path).map_err(|e| DataError::Io { path: path.clone(), source: std::io::Error::other(e) })?;
        images.push(serde_json::json!({"id": id, "file_name": name, "width": ex.scene.size, "height": ex.scene.size}));
        for (k, c) in ex.captions.iter().enumerate() {
            captions.push(serde_json::json!({"id": id * 10 + k as u64, "image_id": id, "caption": c.text()}));
        }
        let (png, ann) = gshn_seg::panoptic::encode_panoptic(&ex.scene.panoptic(), id, &name, 0)?;
        let p = root.join("panoptic").join(&name);
        std::fs::write(&p, png).map_err(io_at(&p))?;
        panoptic.push(ann);
        for q in &ex.questions {
            questions.push(serde_json::json!({"image_id": id, "question": q.text, "answer": q.answer, "type": q.kind}));
        }
        for n in &ex.negatives {
            negatives.push(serde_json::json!({"image_id": id, "caption": n.text()}));
        }
    }
    let write = |file: &str, v: serde_json::Value| -> Result<(), DataError> {
        let p = root.join(file);
        std::fs::write(&p, v.to_string()).map_err(io_at(&p))
    };
    write("captions.json", serde_json::json!({"images": images, "annotations": captions}))?;
    write("panoptic.json", serde_json::json!({"images": images, "annotations": panoptic, "categories": categories()}))?;
    write("questions.json", serde_json::json!({"answers": answer_vocabulary(), "questions": questions}))?;
    write("negatives.json", serde_json::json!({"negatives": negatives}))?;
    Ok(())
}
