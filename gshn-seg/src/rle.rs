//! COCO run-length encoding: pycocotools' compressed string codec, run lengths to and from
//! masks, and [`MaskRuns`], the compact form an annotation's pixels are kept in.
//!
//! Everything here uses checked arithmetic: a count that overflows, a count with more 5-bit
//! groups than 64 bits can hold, or runs that do not cover the image exactly are errors,
//! never a panic or a wrapped value.

/// Most 5-bit groups one count of a compressed RLE string may have: 14 groups carry 70
/// bits, enough for any difference of two 64-bit counts.
pub const MAX_GROUPS: u32 = 14;

/// Decodes pycocotools' compressed RLE string into run lengths.
pub fn decode_rle_string(s: &str) -> Result<Vec<u64>, String> {
    let bytes = s.as_bytes();
    let mut counts: Vec<u64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let start = p;
        let (mut x, mut k, mut more) = (0i128, 0u32, true);
        while more {
            let Some(&b) = bytes.get(p) else { return Err(format!("the RLE string ends inside the count that starts at character {start}")) };
            if !(48..48 + 64).contains(&b) {
                return Err(format!("byte {b} at character {p} is not an RLE character"));
            }
            if k >= MAX_GROUPS {
                return Err(format!("the count at character {start} has more than {MAX_GROUPS} groups, more than a 64-bit count can hold"));
            }
            let c = (b - 48) as i128;
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && (c & 0x10) != 0 {
                x |= -1i128 << (5 * k);
            }
        }
        // From the fourth count on, a count is stored as the difference to the one two
        // before (pycocotools' `if (m > 2) x += cnts[m - 2]`).
        if counts.len() > 2 {
            x += counts[counts.len() - 2] as i128;
        }
        let c = u64::try_from(x).map_err(|_| format!("count {} (at character {start}) is {x}, outside 0..=2^64-1", counts.len()))?;
        counts.push(c);
    }
    Ok(counts)
}

/// Encodes run lengths as pycocotools' compressed string (`rleToString`): each count, after
/// the third as a difference to the count two before, in 5-bit groups with a continuation
/// bit, offset by 48.
pub fn encode_rle_string(counts: &[u64]) -> String {
    let mut s = String::new();
    for i in 0..counts.len() {
        let mut x = counts[i] as i128;
        if i > 2 {
            x -= counts[i - 2] as i128;
        }
        loop {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// Checks that run lengths cover exactly `width × height` pixels; the sum is checked, so
/// counts that overflow 64 bits are an error too.
pub fn check_counts(counts: &[u64], width: u32, height: u32) -> Result<(), String> {
    let n = width as u64 * height as u64;
    let mut total = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        total = match total.checked_add(c) {
            Some(t) if t <= n => t,
            _ => return Err(format!("the RLE runs past the image: the counts up to count {i} cover more than its {height}×{width} = {n} pixels")),
        };
    }
    if total != n {
        return Err(format!("the RLE covers {total} pixels, its {height}×{width} image has {n}"));
    }
    Ok(())
}

/// Run lengths (column-major, starting with zeros) of a row-major mask.
///
/// # Panics
///
/// If `mask` has fewer than `width × height` values.
pub fn mask_to_rle(mask: &[bool], width: u32, height: u32) -> Vec<u64> {
    let (w, h) = (width as usize, height as usize);
    let mut counts = Vec::new();
    let (mut current, mut run) = (false, 0u64);
    for x in 0..w {
        for y in 0..h {
            let v = mask[y * w + x];
            if v != current {
                counts.push(run);
                current = v;
                run = 0;
            }
            run += 1;
        }
    }
    counts.push(run);
    counts
}

/// Expands run lengths (column-major, starting with zeros) into a row-major mask of
/// `width × height` values (the caller bounds the image size).
pub fn rle_to_mask(counts: &[u64], width: u32, height: u32) -> Result<Vec<bool>, String> {
    Ok(rle_runs(counts, width, height)?.to_mask())
}

/// The foreground runs of an RLE (column-major, starting with zeros), without expanding it:
/// memory proportional to the number of counts.
pub fn rle_runs(counts: &[u64], width: u32, height: u32) -> Result<MaskRuns, String> {
    check_counts(counts, width, height)?;
    let mut runs = Vec::with_capacity(counts.len() / 2);
    let mut pos = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if i % 2 == 1 && c > 0 {
            runs.push((pos, c));
        }
        pos += c; // bounded by check_counts
    }
    Ok(MaskRuns { width, height, column_major: true, runs })
}

/// One annotation's pixels as runs of consecutive pixel indices — row-major (from polygons)
/// or column-major (from RLE) — so that memory grows with the runs, at most with the
/// annotation's area, never with the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskRuns {
    width: u32,
    height: u32,
    column_major: bool,
    /// `(start, length)`: disjoint, increasing, non-empty, inside the image.
    runs: Vec<(u64, u64)>,
}

impl MaskRuns {
    /// Runs of row-major pixel indices; `runs` must be disjoint, increasing, non-empty and
    /// inside the image (the rasteriser's output).
    pub(crate) fn row_major(width: u32, height: u32, runs: Vec<(u64, u64)>) -> Self {
        debug_assert!(runs.windows(2).all(|r| r[0].0 + r[0].1 <= r[1].0));
        debug_assert!(runs.last().is_none_or(|&(s, l)| s + l <= width as u64 * height as u64));
        Self { width, height, column_major: false, runs }
    }

    /// Image width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Image height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Number of runs.
    pub fn num_runs(&self) -> usize {
        self.runs.len()
    }

    /// Pixels in the mask.
    pub fn area(&self) -> u64 {
        self.runs.iter().map(|r| r.1).sum()
    }

    /// The row-major index of every pixel in the mask (in run order).
    pub fn pixels(&self) -> impl Iterator<Item = usize> + '_ {
        let (w, h) = (self.width as u64, self.height as u64);
        let column_major = self.column_major;
        self.runs.iter().flat_map(move |&(s, l)| (s..s + l).map(move |j| if column_major { ((j % h) * w + j / h) as usize } else { j as usize }))
    }

    /// Sets `labels[i] = value` for every pixel `i` of the mask (`labels` row-major, of the
    /// mask's image size).
    ///
    /// # Panics
    ///
    /// If `labels` has fewer than `width × height` values.
    pub fn paint<T: Copy>(&self, labels: &mut [T], value: T) {
        if self.column_major {
            for i in self.pixels() {
                labels[i] = value;
            }
        } else {
            for &(s, l) in &self.runs {
                labels[s as usize..(s + l) as usize].fill(value);
            }
        }
    }

    /// The full row-major mask (`width × height` values).
    pub fn to_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.width as usize * self.height as usize];
        self.paint(&mut mask, true);
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rle_string_round_trip_of_a_known_mask() {
        // Counts [2, 3, 7] on a 3×4 (h×w) image: the first three counts are not deltas,
        // each fits one 5-bit group: '0' + 2, '0' + 3, '0' + 7.
        let counts = decode_rle_string("237").unwrap();
        assert_eq!(counts, vec![2, 3, 7]);
        let m = rle_to_mask(&counts, 4, 3).unwrap();
        // Column-major indices 2,3,4 → (x=0,y=2), (x=1,y=0), (x=1,y=1).
        let on: Vec<usize> = m.iter().enumerate().filter(|(_, &b)| b).map(|(i, _)| i).collect();
        assert_eq!(on, vec![1, 5, 8]);
        assert!(rle_to_mask(&[2, 3], 4, 3).is_err());
        assert!(decode_rle_string("2\u{7f}").is_err());
        assert_eq!(encode_rle_string(&counts), "237");
        assert_eq!(mask_to_rle(&m, 4, 3), counts);
    }

    #[test]
    fn rle_string_round_trips_long_and_delta_coded_counts() {
        // Large counts need several groups; from the fourth count on, negative deltas occur.
        let counts = vec![0, 1000, 3, 70_000, 2, 5, 900, 1];
        assert_eq!(decode_rle_string(&encode_rle_string(&counts)).unwrap(), counts);
        let extreme = vec![u64::MAX, 0, 0, u64::MAX, 0, u64::MAX, 1];
        assert_eq!(decode_rle_string(&encode_rle_string(&extreme)).unwrap(), extreme);
    }

    #[test]
    fn overflowing_and_overlong_counts_are_errors() {
        // 15 continuation groups: more than a count can hold.
        let long = format!("{}0", "o".repeat(15));
        assert!(decode_rle_string(&long).unwrap_err().contains("groups"));
        // A negative first count.
        assert!(decode_rle_string("@").unwrap_err().contains("outside"));
        // Counts whose sum overflows 64 bits, and runs past the image.
        assert!(check_counts(&[u64::MAX, 2], 4, 3).unwrap_err().contains("runs past"));
        assert!(check_counts(&[5, 8], 4, 3).unwrap_err().contains("runs past"));
        assert!(check_counts(&[5, 6], 4, 3).unwrap_err().contains("covers 11"));
        assert!(rle_runs(&[0, 12], 4, 3).is_ok());
    }
}
