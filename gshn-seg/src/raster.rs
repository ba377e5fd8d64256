//! COCO polygons to pixel runs: even–odd fill at pixel centres `(x + ½, y + ½)`, and where
//! an annotation's polygons overlap, their fills combine by exclusive or. Only the rows a
//! polygon spans are visited, and the result is a [`MaskRuns`] — memory grows with the
//! filled pixels and the number of vertices, never with the image.

use crate::rle::MaskRuns;

/// One polygon's vertices and the rows whose centres it may cross.
struct Polygon {
    pts: Vec<(f64, f64)>,
    rows: std::ops::Range<usize>,
}

/// The first row whose centre `y + ½` is at or above `v`, clamped to `0..=h`.
fn row_at(v: f64, h: usize) -> usize {
    (v - 0.5).ceil().clamp(0.0, h as f64) as usize
}

/// Checks one polygon (an even number, ≥ 6, of finite coordinates) and finds its rows.
fn polygon(pi: usize, poly: &[f64], h: usize) -> Result<Polygon, String> {
    if poly.len() < 6 || !poly.len().is_multiple_of(2) || poly.iter().any(|v| !v.is_finite()) {
        return Err(format!("polygon {pi} needs an even number (≥ 6) of finite coordinates, has {}", poly.len()));
    }
    let pts: Vec<(f64, f64)> = poly.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    let (lo, hi) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    // A centre cy is crossed only when lo ≤ cy < hi.
    Ok(Polygon { pts, rows: row_at(lo, h)..row_at(hi, h) })
}

/// Appends to `events` the pixel ranges `[start, end)` (clamped to `0..w`) whose centres lie
/// inside `poly` on the row with centre `cy`, as toggle positions.
fn row_events(poly: &Polygon, cy: f64, w: usize, xs: &mut Vec<f64>, events: &mut Vec<usize>) {
    xs.clear();
    let pts = &poly.pts;
    for i in 0..pts.len() {
        let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
        if (a.1 <= cy && b.1 > cy) || (b.1 <= cy && a.1 > cy) {
            xs.push(a.0 + (cy - a.1) / (b.1 - a.1) * (b.0 - a.0));
        }
    }
    xs.sort_by(f64::total_cmp);
    for pair in xs.chunks_exact(2) {
        // Pixels whose centre lies in [x0, x1).
        let start = ((pair[0] - 0.5).ceil().max(0.0) as usize).min(w);
        let end = ((pair[1] - 0.5).ceil().max(0.0) as usize).min(w);
        if start < end {
            events.push(start);
            events.push(end);
        }
    }
}

/// Fills polygons `[x1, y1, x2, y2, …]` (pixel coordinates) on a `width × height` image into
/// row-major runs.
pub fn polygon_runs(polygons: &[Vec<f64>], width: u32, height: u32) -> Result<MaskRuns, String> {
    let (w, h) = (width as usize, height as usize);
    let polys: Vec<Polygon> = polygons.iter().enumerate().map(|(pi, p)| polygon(pi, p, h)).collect::<Result<_, _>>()?;
    let first = polys.iter().map(|p| p.rows.start).min().unwrap_or(0);
    let last = polys.iter().map(|p| p.rows.end).max().unwrap_or(0);
    let (mut runs, mut xs, mut events): (Vec<(u64, u64)>, Vec<f64>, Vec<usize>) = (Vec::new(), Vec::new(), Vec::new());
    for y in first..last {
        let cy = y as f64 + 0.5;
        events.clear();
        for p in polys.iter().filter(|p| p.rows.contains(&y)) {
            row_events(p, cy, w, &mut xs, &mut events);
        }
        // Each range toggles its pixels: the filled pixels are where an odd number of ranges
        // overlap, i.e. between the sorted toggle positions 0–1, 2–3, …
        events.sort_unstable();
        let row = (y * w) as u64;
        for pair in events.chunks_exact(2) {
            let (s, e) = (row + pair[0] as u64, row + pair[1] as u64);
            if s == e {
                continue;
            }
            match runs.last_mut() {
                Some(last) if last.0 + last.1 == s => last.1 += e - s,
                _ => runs.push((s, e - s)),
            }
        }
    }
    Ok(MaskRuns::row_major(width, height, runs))
}

/// Fills polygons (even–odd rule, pixel centres `(x + ½, y + ½)`) into a row-major mask of
/// `width × height` values (the caller bounds the image size).
pub fn polygons_to_mask(polygons: &[Vec<f64>], width: u32, height: u32) -> Result<Vec<bool>, String> {
    Ok(polygon_runs(polygons, width, height)?.to_mask())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_fill_of_a_square() {
        let m = polygons_to_mask(&[vec![1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0]], 6, 5).unwrap();
        let on: usize = m.iter().filter(|&&b| b).count();
        assert_eq!(on, 3 * 2);
        assert!(m[6 + 1] && m[2 * 6 + 3] && !m[3 * 6 + 1]);
        assert!(polygons_to_mask(&[vec![1.0, 2.0]], 6, 5).is_err());
    }

    #[test]
    fn overlapping_polygons_combine_by_exclusive_or() {
        let a = vec![0.0, 0.0, 4.0, 0.0, 4.0, 1.0, 0.0, 1.0];
        let b = vec![2.0, 0.0, 6.0, 0.0, 6.0, 1.0, 2.0, 1.0];
        let m = polygons_to_mask(&[a, b], 6, 1).unwrap();
        assert_eq!(m, vec![true, true, false, false, true, true]);
        // Far outside the image: no pixels, no huge loops.
        let far = vec![-1e300, -1e300, 1e300, -1e300, 1e300, -1e299];
        assert_eq!(polygon_runs(&[far], 6, 5).unwrap().area(), 0);
    }
}
