//! File names taken from annotation files (`file_name` in COCO captions, instances and
//! panoptic JSON) resolve inside the data folder: a name with a `..` component, an absolute
//! path, a drive prefix (`C:`) or an empty name is refused. `/` and `\` both count as
//! separators, so a name is judged the same on every platform. The check is lexical:
//! symbolic links inside the data folder are followed (the folder's owner placed them).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::error::{Result, SegError};

/// Why `name` may not be joined to a data folder, or `None` when it may.
pub fn file_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.contains('\0') {
        return Some("it contains a NUL byte");
    }
    if name.starts_with(['/', '\\']) || Path::new(name).has_root() {
        return Some("it is an absolute path; file names must be relative to the data folder");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Some("it starts with a drive prefix; file names must be relative to the data folder");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Some("it has a `..` component, which would leave the data folder");
    }
    None
}

/// Checks a file name from an annotation file; the error names the file name and, when
/// given, the annotation file.
pub fn check_file_name(name: &str, json: Option<&Path>) -> Result<()> {
    match file_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(SegError::UnsafeFileName { file_name: name.into(), json: json.map(Path::to_path_buf), reason: reason.into() }),
    }
}

/// `dir/name` for a file name from an annotation file `json`, refusing names that would
/// leave `dir` (see the module docs).
pub fn join_inside(dir: &Path, name: &str, json: Option<&Path>) -> Result<PathBuf> {
    check_file_name(name, json)?;
    Ok(dir.join(name))
}

/// Serde `deserialize_with` for `file_name` fields: an unsafe name is a parse error, which
/// `serde_json` reports with its line and column.
pub(crate) fn deserialize_file_name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let name = String::deserialize(d)?;
    match file_name_problem(&name) {
        None => Ok(name),
        Some(reason) => Err(serde::de::Error::custom(format!("file_name `{name}` is refused: {reason}"))),
    }
}

/// The first id that `ids` lists twice, or `None`. COCO files key images, annotations,
/// categories and segments by id: a repeated id would merge two records silently.
pub fn first_duplicate<T: Ord + Copy>(ids: impl IntoIterator<Item = T>) -> Option<T> {
    let mut seen = std::collections::BTreeSet::new();
    ids.into_iter().find(|&id| !seen.insert(id))
}

/// A [`crate::SegError::Json`] about `path` when `ids` (of `what`, e.g. "image") repeat one.
pub fn check_unique<T: Ord + Copy + std::fmt::Display>(what: &str, ids: impl IntoIterator<Item = T>, path: &Path) -> crate::Result<()> {
    match first_duplicate(ids) {
        Some(id) => Err(crate::SegError::Json { path: Some(path.into()), reason: format!("duplicate {what} id {id}: each id must name one record") }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names_pass_and_escapes_are_refused() {
        for ok in ["000000142238.jpg", "train2017/a.jpg", "./a.png", "a..b.png", "..a.png"] {
            assert_eq!(file_name_problem(ok), None, "{ok}");
        }
        for bad in ["", "../x.png", "a/../../x.png", "a\\..\\x.png", "/etc/passwd", "\\\\server\\x", "C:x.png", "c:\\x.png", "a\0b"] {
            assert!(file_name_problem(bad).is_some(), "{bad:?}");
        }
        let e = join_inside(Path::new("/data"), "../x.png", Some(Path::new("/data/ann.json"))).unwrap_err().to_string();
        assert!(e.contains("../x.png") && e.contains("/data/ann.json") && e.contains(".."), "{e}");
        assert_eq!(join_inside(Path::new("/data"), "a/b.png", None).unwrap(), Path::new("/data/a/b.png"));
    }

    #[test]
    fn a_repeated_id_is_found_and_named() {
        assert_eq!(super::first_duplicate([3u64, 1, 4, 1, 5]), Some(1));
        assert_eq!(super::first_duplicate([3u64, 1, 4]), None);
        let err = super::check_unique("image", [7u64, 7], std::path::Path::new("captions.json")).unwrap_err().to_string();
        assert!(err.contains("duplicate image id 7") && err.contains("captions.json"), "{err}");
    }
}
