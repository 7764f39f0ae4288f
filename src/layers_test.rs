//! The house of layers, checked: every file under `src/` imports only from its own floor or
//! below (the floors of src/lib.rs and docs/development.md), and no two files import each other
//! round a circle. Reads the source as text (`crate::x`, `super::x`), outside `#[cfg(test)]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → floor (1 = the binary, 6 = the bottom).
const FLOORS: &[(&str, u8)] = &[
    ("main", 1),
    ("auth::cli", 1),
    ("server", 2),
    ("line_cap", 2),
    ("transport", 2),
    ("catalogue", 2),
    ("tools_list", 2),
    ("tools", 3),
    ("state", 4),
    ("models", 4),
    ("media", 4),
    ("saved_files", 4),
    ("written_files", 4),
    ("free_names", 4),
    ("file_scope", 4),
    ("fetch", 4),
    ("preview", 4),
    ("ui", 4),
    ("image_limits", 4),
    ("downscale", 4),
    ("api", 5),
    ("auth", 5),
    ("error", 6),
    ("config", 6),
    ("net_policy", 6),
    ("folder_check", 6),
    ("tls", 6),
];

fn floor(module: &str) -> u8 {
    FLOORS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, floor)| *floor)
        .unwrap_or_else(|| {
            panic!("{module} has no floor: add it to FLOORS and docs/development.md")
        })
}

/// Every source file as its module path (`api/send`, `tools`, …) and its non-test text.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&root).unwrap().with_extension("");
                let mut key = relative.to_string_lossy().replace('\\', "/");
                if let Some(parent) = key.strip_suffix("/mod") {
                    key = parent.to_string();
                }
                if key == "lib" || key.ends_with("_test") || key.contains("/tests") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code: String = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap()
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .map(|line| format!("{line}\n"))
                    .collect();
                files.insert(key, code);
            }
        }
    }
    files
}

/// The top-level module a file belongs to, for its floor.
fn top(file: &str) -> &str {
    if file == "auth/cli" {
        return "auth::cli";
    }
    file.split('/').next().unwrap()
}

/// The files a file imports: `crate::a::b` → `a/b` if that is a file, else `a`; `super::x`
/// resolved against the file's folder.
fn imports(file: &str, code: &str, files: &BTreeMap<String, String>) -> BTreeSet<String> {
    let folder = file.rsplit_once('/').map(|(f, _)| f).unwrap_or("");
    let resolve = |path: String| -> Option<String> {
        if files.contains_key(&path) {
            return Some(path);
        }
        let mut parts: Vec<&str> = path.split('/').collect();
        while parts.len() > 1 {
            parts.pop();
            let shorter = parts.join("/");
            if files.contains_key(&shorter) {
                return Some(shorter);
            }
        }
        files.contains_key(parts[0]).then(|| parts[0].to_string())
    };
    let mut found = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", String::new()),
        ("super::", format!("{folder}/")),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let words: Vec<&str> = rest
                .split("::")
                .take(2)
                .map(|w| {
                    w.split(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                        .next()
                        .unwrap()
                })
                .take_while(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                continue;
            }
            let path = format!("{base}{}", words.join("/"));
            let path = path.trim_start_matches('/').to_string();
            if let Some(target) = resolve(path)
                && target != file
            {
                found.insert(target);
            }
        }
    }
    found
}

#[test]
fn imports_point_down_or_sideways_only() {
    let files = sources();
    let mut upward = Vec::new();
    for (file, code) in &files {
        for target in imports(file, code, &files) {
            let same_module = top(&target) == top(file) || (file == "auth/cli" && target == "auth");
            if !same_module && floor(top(&target)) < floor(top(file)) {
                upward.push(format!("{file} -> {target}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up: {upward:#?}");
}

#[test]
fn no_two_files_import_each_other_round_a_circle() {
    let files = sources();
    let graph: BTreeMap<&String, BTreeSet<String>> = files
        .iter()
        .map(|(file, code)| (file, imports(file, code, &files)))
        .collect();
    // A circle exists if some file reaches itself.
    let mut circles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut next: Vec<&String> = graph[start].iter().collect();
        while let Some(file) = next.pop() {
            if file == *start {
                circles.push((*start).clone());
                break;
            }
            if seen.insert(file.clone()) {
                next.extend(graph.get(file).into_iter().flatten());
            }
        }
    }
    assert!(circles.is_empty(), "files on an import circle: {circles:?}");
}

#[test]
fn the_check_sees_an_upward_import_and_a_circle() {
    let mut files = BTreeMap::new();
    files.insert(
        "api".to_string(),
        "use crate::tools::ToolError;".to_string(),
    );
    files.insert(
        "tools".to_string(),
        "use crate::api::ApiClient;".to_string(),
    );
    let api = imports("api", &files["api"], &files);
    assert_eq!(api, BTreeSet::from(["tools".to_string()]));
    assert!(floor(top("tools")) < floor(top("api")));
    assert!(imports("tools", &files["tools"], &files).contains("api"));
}
