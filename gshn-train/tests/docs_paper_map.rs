//! `docs/paper-map.md` names the code of every row as `crate/src/file.rs::symbol`: each named
//! file exists and defines each named symbol, so the map cannot silently go stale.

use std::path::Path;

#[test]
fn every_code_path_in_the_paper_map_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let map = std::fs::read_to_string(root.join("docs/paper-map.md")).unwrap();
    let mut checked = 0;
    for cell in map.split('`') {
        let Some((file, symbol)) = cell.split_once(".rs") else { continue };
        if !file.starts_with("gshn-") || !file.contains("/src/") {
            continue;
        }
        let path = root.join(format!("{file}.rs"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // `file.rs::Type::method`: every segment is defined in the file.
        for name in symbol.trim_start_matches("::").split("::").filter(|s| !s.is_empty()) {
            let defined = ["fn ", "struct ", "enum ", "trait ", "const ", "type ", "mod "].iter().any(|k| text.contains(&format!("{k}{name}")));
            assert!(defined, "{file}.rs does not define `{name}` (docs/paper-map.md)");
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} code paths found");
}
