//! The binaries the benchmark measures: `target/release/aipass-mcp` (or `$AIPASS_MCP_BIN`) and
//! `bare-rmcp`, each built first when cargo is at hand, so the figures describe the current source.

use std::path::{Path, PathBuf};

use crate::BenchResult;

/// `target/`: two levels above this executable (`target/<profile>/aipass-bench`).
pub fn target_dir() -> BenchResult<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| "cannot find the target folder".into())
}

/// `$AIPASS_MCP_BIN`, else `target/release/aipass-mcp`, built now when cargo is at hand (as it
/// is under `cargo run`), so the figures always describe the current source.
pub fn server_binary(target_dir: &Path) -> BenchResult<PathBuf> {
    if let Some(path) = std::env::var_os("AIPASS_MCP_BIN") {
        // Absolute: the server runs in a scratch folder.
        return Ok(std::fs::canonicalize(&path)
            .map_err(|e| format!("AIPASS_MCP_BIN={}: {e}", Path::new(&path).display()))?);
    }
    let binary = target_dir
        .join("release")
        .join(format!("aipass-mcp{}", std::env::consts::EXE_SUFFIX));
    match std::env::var_os("CARGO") {
        Some(cargo) => {
            eprintln!("building the release server (cargo build --release -p aipass-mcp)…");
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .ok_or("no workspace folder")?;
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "--release",
                    "-p",
                    "aipass-mcp",
                    "--bin",
                    "aipass-mcp",
                ])
                .current_dir(workspace)
                .stdout(std::io::stderr())
                .status()?;
            if !status.success() {
                return Err("building the release aipass-mcp failed".into());
            }
        }
        None if !binary.exists() => {
            return Err(format!(
                "{} is missing: run `cargo build --release -p aipass-mcp` (or set AIPASS_MCP_BIN)",
                binary.display()
            )
            .into());
        }
        None => {}
    }
    Ok(binary)
}

/// `bare-rmcp` beside this executable, built now when cargo is at hand (as under `cargo run`,
/// which builds only the benchmark itself).
pub fn bare_binary() -> BenchResult<PathBuf> {
    let exe = std::env::current_exe()?;
    let binary = exe
        .with_file_name(format!("bare-rmcp{}", std::env::consts::EXE_SUFFIX))
        .to_path_buf();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("no workspace folder")?;
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", "aipass-bench", "--bin", "bare-rmcp"]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build
            .current_dir(workspace)
            .stdout(std::io::stderr())
            .status()?;
        if !status.success() {
            return Err("building bare-rmcp failed".into());
        }
    }
    if !binary.exists() {
        return Err(format!(
            "{} is missing: run `cargo build --release -p aipass-bench`",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}
