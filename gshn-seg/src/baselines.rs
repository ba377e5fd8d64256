//! The paper's two baselines as segmentations: regular grid patches and boxes.

use crate::error::{invalid, Result};
use crate::segmentation::Segmentation;

/// Cuts a `width × height` image into `rows × cols` near-equal patches (ViT-style tokens).
/// Pixel `(x, y)` belongs to patch `(⌊y·rows/H⌋, ⌊x·cols/W⌋)`; labels run row by row.
pub fn grid_patches(width: u32, height: u32, rows: u32, cols: u32) -> Result<Segmentation> {
    if width == 0 || height == 0 {
        return Err(crate::error::SegError::EmptyImage { width, height });
    }
    if rows == 0 || cols == 0 || rows > height || cols > width {
        return Err(invalid("grid", format!("{rows}×{cols} patches do not fit a {width}×{height} image")));
    }
    let mut labels = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height as u64 {
        let r = (y * rows as u64 / height as u64) as u32;
        for x in 0..width as u64 {
            let c = (x * cols as u64 / width as u64) as u32;
            labels.push(r * cols + c);
        }
    }
    Segmentation::from_labels(width, height, labels)
}

/// Overlapping box tokens (detector-style regions) from `[x, y, w, h]` boxes in pixels
/// (COCO order, fractional edges allowed): a pixel belongs to a box when its centre lies
/// inside. Boxes are clipped to the image; a box covering no pixel is an error.
pub fn boxes(width: u32, height: u32, bboxes: &[[f64; 4]]) -> Result<Segmentation> {
    if width == 0 || height == 0 {
        return Err(crate::error::SegError::EmptyImage { width, height });
    }
    let mut masks = Vec::with_capacity(bboxes.len());
    for (k, b) in bboxes.iter().enumerate() {
        if b.iter().any(|v| !v.is_finite()) || b[2] < 0.0 || b[3] < 0.0 {
            return Err(invalid("boxes", format!("box {k} {b:?} is not a finite [x, y, w, h] with w, h ≥ 0")));
        }
        let mut m = vec![false; width as usize * height as usize];
        let (x0, y0, x1, y1) = (b[0], b[1], b[0] + b[2], b[1] + b[3]);
        let mut any = false;
        for y in 0..height as usize {
            let cy = y as f64 + 0.5;
            if cy < y0 || cy >= y1 {
                continue;
            }
            for x in 0..width as usize {
                let cx = x as f64 + 0.5;
                if cx >= x0 && cx < x1 {
                    m[y * width as usize + x] = true;
                    any = true;
                }
            }
        }
        if !any {
            return Err(invalid("boxes", format!("box {k} {b:?} covers no pixel of the {width}×{height} image")));
        }
        masks.push(m);
    }
    Segmentation::from_masks(width, height, masks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_every_pixel_with_near_equal_patches() {
        let s = grid_patches(10, 7, 2, 3).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s.segments.iter().map(|i| i.area).sum::<u64>(), 70);
        assert_eq!(s.label_at(0, 0), 0);
        assert_eq!(s.label_at(9, 6), 5);
        assert_eq!(s.segments[0].bbox, [0, 0, 4, 4]);
        assert!(grid_patches(4, 4, 5, 1).is_err());
    }

    #[test]
    fn boxes_overlap_and_label_the_smallest() {
        let s = boxes(8, 8, &[[0.0, 0.0, 8.0, 8.0], [2.0, 2.0, 2.0, 2.0]]).unwrap();
        assert!(s.is_overlapping());
        assert_eq!(s.segments[0].area, 64);
        assert_eq!(s.segments[1].area, 4);
        assert_eq!(s.label_at(2, 2), 1);
        assert_eq!(s.label_at(0, 0), 0);
        assert_eq!(s.segments[1].centroid, [2.5, 2.5]);
        assert!(boxes(8, 8, &[[20.0, 20.0, 2.0, 2.0]]).is_err());
    }
}
