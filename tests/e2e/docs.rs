//! Docs and manifest stay in step with the live catalogue.

use std::process::Command;

use serde_json::Value;

fn catalogue_names() -> Vec<String> {
    let output = Command::new(testkit::session::binary())
        .arg("tools")
        .output()
        .unwrap();
    let catalogue: Value = serde_json::from_slice(&output.stdout).unwrap();
    catalogue["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn docs_tools_md_matches_the_live_catalogue() {
    let output = Command::new(testkit::session::binary())
        .args(["tools", "--markdown"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let generated = String::from_utf8(output.stdout).unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tools.md"))
        .unwrap_or_default();
    assert!(
        generated == committed,
        "docs/tools.md is stale: run `cargo run --quiet -- tools --markdown > docs/tools.md`"
    );
    for name in catalogue_names() {
        assert!(
            generated.contains(&format!("## {name}\n")),
            "{name} missing"
        );
    }
}

#[test]
fn manifest_lists_the_same_tools_and_version() {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.json")).unwrap(),
    )
    .unwrap();
    let mut listed: Vec<String> = manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, catalogue_names());
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
}
