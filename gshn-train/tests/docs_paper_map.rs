//! `docs/paper-map.md` names the code of every row as `crate/src/file.rs::symbol`: each named
//! file exists and defines each named symbol, so the map cannot silently go stale. The module
//! table of `docs/architecture.md` is checked the same way, by name.

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

/// `docs/architecture.md`'s module table: each row's files (`model/gshn.rs`, relative to
/// `gshn-train/src`, or a `crate/src/…` path) exist, and every name the row says they hold
/// occurs in them as a whole word (a definition, a field, or a symbol of the equation they
/// implement), so a renamed or removed item shows up here.
#[test]
fn every_module_row_of_the_architecture_page_names_what_its_files_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let page = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let word = |text: &str, name: &str| {
        text.match_indices(name).any(|(i, _)| {
            let before = text[..i].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            let after = text[i + name.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            before && after
        })
    };
    let ticked = |cell: &str| cell.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>();
    let mut rows = 0;
    for line in page.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').collect();
        let files: Vec<String> = ticked(cells[1]).into_iter().filter(|f| f.ends_with(".rs")).collect();
        if files.is_empty() {
            continue;
        }
        let mut text = String::new();
        for f in &files {
            let path = if f.starts_with("gshn-") { root.join(f) } else { root.join("gshn-train/src").join(f) };
            text += &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("docs/architecture.md names {f}: {}: {e}", path.display()));
        }
        for name in ticked(cells[2]).into_iter().filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_')) {
            assert!(word(&text, &name), "docs/architecture.md: {files:?} do not hold `{name}`");
        }
        rows += 1;
    }
    assert!(rows > 15, "only {rows} module rows found");
}
