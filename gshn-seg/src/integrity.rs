//! Truncation checks for PNG and JPEG files. The `image` crate decodes a JPEG that stops
//! early without an error (the missing blocks come out grey), so a cut download would
//! become a silently damaged training image. These checks walk the files' structure — PNG
//! chunks up to `IEND`, JPEG segments and entropy-coded scans up to the end-of-image marker
//! `0xFFD9` — with bounds-checked arithmetic and no allocation; bytes after the end are
//! ignored, as decoders do.

/// Checks that a PNG file holds every chunk up to and including `IEND`.
pub fn check_png_complete(bytes: &[u8]) -> Result<(), String> {
    const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) {
        return Err("not a PNG file (no PNG signature)".into());
    }
    let mut p = SIGNATURE.len();
    loop {
        let Some(header) = bytes.get(p..p + 8) else {
            return Err(format!("truncated PNG: the file ends at byte {} before the IEND chunk", bytes.len()));
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        // Length, type, data, CRC.
        let end = p.checked_add(12).and_then(|e| e.checked_add(len));
        if end.is_none_or(|e| e > bytes.len()) {
            return Err(format!(
                "truncated PNG: the file ends at byte {}, inside chunk `{}` that starts at byte {p} (no complete IEND chunk)",
                bytes.len(),
                String::from_utf8_lossy(kind)
            ));
        }
        if kind == b"IEND" {
            return Ok(());
        }
        p = end.unwrap_or(bytes.len());
    }
}

/// Checks that a JPEG file reaches its end-of-image marker `0xFFD9`: segments are skipped by
/// their lengths (so an embedded thumbnail's marker does not count), and scans are read up to
/// the next marker that is not a stuffed byte or a restart marker.
pub fn check_jpeg_complete(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err("not a JPEG file (no start-of-image marker)".into());
    }
    let truncated = |where_: &str| Err(format!("truncated JPEG: the file ends {where_} at byte {} (no end-of-image marker 0xFFD9)", bytes.len()));
    let mut p = 2;
    loop {
        // The next marker: 0xFF, any fill bytes 0xFF, then the marker code. Stray bytes
        // between segments are skipped, as decoders do.
        while p < bytes.len() && bytes[p] != 0xFF {
            p += 1;
        }
        while p < bytes.len() && bytes[p] == 0xFF {
            p += 1;
        }
        let Some(&code) = bytes.get(p) else { return truncated("between segments") };
        p += 1;
        match code {
            0xD9 => return Ok(()),
            // Standalone markers: start of image, TEM, restarts.
            0xD8 | 0x01 | 0xD0..=0xD7 => {}
            _ => {
                let Some(len) = bytes.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize) else {
                    return truncated(&format!("inside the header of segment 0xFF{code:02X}"));
                };
                if len < 2 {
                    return Err(format!("corrupt JPEG: segment 0xFF{code:02X} at byte {} has length {len}", p - 2));
                }
                p += len;
                if p > bytes.len() {
                    return truncated(&format!("inside segment 0xFF{code:02X}"));
                }
                if code == 0xDA {
                    match scan_end(bytes, p) {
                        Some(q) => p = q,
                        None => return truncated("inside the image data"),
                    }
                }
            }
        }
    }
}

/// The position of the first marker after entropy-coded data starting at `p` (0xFF followed
/// by anything but a stuffed 0x00, a fill 0xFF or a restart marker), or `None` at the end.
fn scan_end(bytes: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let ff = p + bytes.get(p..)?.iter().position(|&b| b == 0xFF)?;
        let mut q = ff + 1;
        while bytes.get(q) == Some(&0xFF) {
            q += 1;
        }
        match bytes.get(q)? {
            0x00 | 0xD0..=0xD7 => p = q + 1,
            _ => return Some(q - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_structures() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend([0, 0, 0, 0]);
        png.extend(b"IEND");
        png.extend([0xAE, 0x42, 0x60, 0x82]);
        assert!(check_png_complete(&png).is_ok());
        for cut in 1..=png.len() {
            assert!(check_png_complete(&png[..png.len() - cut]).is_err(), "cut {cut}");
        }
        // SOI, an APP0 segment holding a stray EOI, SOS, data with a stuffed byte and a
        // restart marker, EOI.
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0xFF, 0xD9, 0xFF, 0xDA, 0, 2, 1, 0xFF, 0, 2, 0xFF, 0xD3, 3, 0xFF, 0xD9];
        assert!(check_jpeg_complete(&jpeg).is_ok());
        for cut in 1..=jpeg.len() {
            assert!(check_jpeg_complete(&jpeg[..jpeg.len() - cut]).is_err(), "cut {cut}");
        }
        assert!(check_jpeg_complete(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0xFF, 0xD9]).is_err(), "length < 2");
    }
}
