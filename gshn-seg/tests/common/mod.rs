//! Test helpers: paths to the shared COCO fixtures.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data/<rel>` from the repository root, or `None` (with a SKIP note) when absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} is absent (the shared COCO fixtures live beside the repository)", p.display());
        None
    }
}

/// A path inside this crate.
pub fn here(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}
