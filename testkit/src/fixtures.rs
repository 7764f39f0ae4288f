//! Sample files the tests hand to the server and helpers that read its results.

use std::path::{Path, PathBuf};

use rmcp::model::CallToolResult;
use serde_json::Value;

/// All text blocks of a result, joined.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A PNG whose pixels vary, so it does not compress to nothing.
pub fn write_png(path: &Path, width: u32, height: u32) {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([((x * 7) ^ (y * 13)) as u8, (x * y) as u8, (x + y * 3) as u8])
    });
    image.save(path).expect("write png");
}

/// Paths listed in a result's `files`, checked to exist, be absolute and have the stated size.
pub fn files(structured: &Value) -> Vec<PathBuf> {
    structured["files"]
        .as_array()
        .expect("files is a list")
        .iter()
        .map(|file| {
            let path = PathBuf::from(file["path"].as_str().expect("path"));
            assert!(path.is_absolute(), "{path:?} is not absolute");
            let size = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{path:?}: {e}"))
                .len();
            assert_eq!(Some(size), file["bytes"].as_u64(), "{path:?} size");
            path
        })
        .collect()
}

/// Files in `dir` (none when it does not exist).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Permission bits of a file (`0o600` for a token file).
pub fn path_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Peak resident memory of a process so far (`VmHWM` in /proc/<pid>/status), in KiB; None where
/// there is no /proc (not Linux).
pub fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}
