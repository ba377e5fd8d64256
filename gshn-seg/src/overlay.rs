//! Pictures of segmentations: segment colours blended over the image, boundaries, segment
//! indices and, optionally, adjacency edges between centroids.

use image::{Rgb, RgbImage};

use crate::descriptors::Adjacency;
use crate::error::{invalid, Result};
use crate::segmentation::{Segmentation, VOID};

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayStyle {
    /// Opacity of the segment colours over the image, in `[0, 1]`. Default 0.45.
    pub alpha: f32,
    /// Draw segment boundaries in white. Default true.
    pub boundaries: bool,
    /// Write each segment's index at its centroid. Default true.
    pub ids: bool,
    /// Integer scale of the digits (1 = 3×5 pixels). Default 0 (chosen from the image size).
    pub font_scale: u32,
}

impl Default for OverlayStyle {
    fn default() -> Self {
        Self { alpha: 0.45, boundaries: true, ids: true, font_scale: 0 }
    }
}

/// A distinct, stable colour for segment `k` (golden-ratio hue walk).
pub fn segment_colour(k: usize) -> [u8; 3] {
    let h = (k as f64 * 0.618_033_988_75).fract() * 6.0;
    let (s, v) = (0.75, 0.95);
    let i = h.floor() as i32;
    let f = h - i as f64;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match i {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b].map(|c| (c * 255.0).round() as u8)
}

const DIGITS: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b111, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// Writes `text` (digits only) centred at `(cx, cy)`, white on a dark outline.
pub fn draw_number(img: &mut RgbImage, cx: f64, cy: f64, n: usize, scale: u32) {
    let text = n.to_string();
    let s = scale.max(1) as i64;
    let (tw, th) = ((text.len() as i64 * 4 - 1) * s, 5 * s);
    let (x0, y0) = (cx.round() as i64 - tw / 2, cy.round() as i64 - th / 2);
    let (w, h) = (img.width() as i64, img.height() as i64);
    for pass in 0..2 {
        for (ci, ch) in text.bytes().enumerate() {
            let glyph = DIGITS[(ch - b'0') as usize];
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) == 0 {
                        continue;
                    }
                    for dy in 0..s {
                        for dx in 0..s {
                            let x = x0 + (ci as i64 * 4 + col) * s + dx;
                            let y = y0 + row as i64 * s + dy;
                            let spots: &[(i64, i64)] = if pass == 0 { &[(-1, 0), (1, 0), (0, -1), (0, 1)] } else { &[(0, 0)] };
                            for &(ox, oy) in spots {
                                let (px, py) = (x + ox, y + oy);
                                if px >= 0 && py >= 0 && px < w && py < h {
                                    let c = if pass == 0 { [0, 0, 0] } else { [255, 255, 255] };
                                    img.put_pixel(px as u32, py as u32, Rgb(c));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Draws a straight line (Bresenham) of `colour`.
pub fn draw_line(img: &mut RgbImage, a: [f64; 2], b: [f64; 2], colour: [u8; 3]) {
    let (mut x0, mut y0) = (a[0].round() as i64, a[1].round() as i64);
    let (x1, y1) = (b[0].round() as i64, b[1].round() as i64);
    let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
    let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
    let mut err = dx + dy;
    loop {
        if x0 >= 0 && y0 >= 0 && (x0 as u32) < img.width() && (y0 as u32) < img.height() {
            img.put_pixel(x0 as u32, y0 as u32, Rgb(colour));
        }
        if x0 == x1 && y0 == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x0 += sx;
        }
        if e2 <= dx {
            err += dx;
            y0 += sy;
        }
    }
}

/// The overlay picture of `seg` on `img`, with `edges` drawn between centroids if given.
pub fn overlay(img: &RgbImage, seg: &Segmentation, style: &OverlayStyle, edges: Option<&Adjacency>) -> Result<RgbImage> {
    if img.dimensions() != (seg.width, seg.height) {
        return Err(invalid("image", format!("{:?} differs from the segmentation's {}×{}", img.dimensions(), seg.width, seg.height)));
    }
    if !(0.0..=1.0).contains(&style.alpha) {
        return Err(invalid("alpha", format!("must lie in [0, 1], got {}", style.alpha)));
    }
    let (w, h) = (seg.width as usize, seg.height as usize);
    let mut out = img.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let l = seg.labels[i];
        if l != VOID {
            let c = segment_colour(l as usize);
            for (v, &cv) in p.0.iter_mut().zip(&c) {
                *v = (*v as f32 * (1.0 - style.alpha) + cv as f32 * style.alpha).round() as u8;
            }
        }
        if style.boundaries {
            let (x, y) = (i % w, i / w);
            let differs = (x + 1 < w && seg.labels[i + 1] != l) || (y + 1 < h && seg.labels[i + w] != l);
            if differs {
                p.0 = [255, 255, 255];
            }
        }
    }
    if let Some(adj) = edges {
        for &(i, j, _) in &adj.edges {
            let (a, b) = (seg.segments[i as usize].centroid, seg.segments[j as usize].centroid);
            draw_line(&mut out, a, b, [255, 220, 0]);
        }
    }
    if style.ids {
        let scale = if style.font_scale > 0 { style.font_scale } else { (w.min(h) as u32 / 200).max(1) };
        for (k, s) in seg.segments.iter().enumerate() {
            if s.area > 0 {
                draw_number(&mut out, s.centroid[0], s.centroid[1], k, scale);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_colours_segments_and_draws_boundaries() {
        let img = RgbImage::from_pixel(20, 10, Rgb([0, 0, 0]));
        let seg = crate::baselines::grid_patches(20, 10, 1, 2).unwrap();
        let style = OverlayStyle { ids: false, ..Default::default() };
        let out = overlay(&img, &seg, &style, None).unwrap();
        assert_eq!(out.get_pixel(9, 5).0, [255, 255, 255], "boundary between the patches");
        assert_ne!(out.get_pixel(2, 2).0, out.get_pixel(17, 2).0, "distinct colours");
        assert_ne!(segment_colour(0), segment_colour(1));
        let bad = overlay(&RgbImage::new(3, 3), &seg, &style, None);
        assert!(bad.is_err());
    }
}
