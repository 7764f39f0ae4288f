//! One version everywhere: `aipass-mcp --version`, the server info a client sees in both protocol
//! eras, Cargo.toml, manifest.json (the Claude Desktop bundle), the npm launcher's package.json
//! (and the platform packages it depends on), pyproject.toml (the wheel) and server.json (the
//! MCP registry entry) must all agree.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// `version = "…"` of the `[package]` table, read from Cargo.toml itself (not only through
/// `CARGO_PKG_VERSION`, so the test also catches a file edited without a rebuild of this test).
fn cargo_toml_version() -> String {
    toml_version("Cargo.toml", "[package]")
}

/// `version = "…"` of one table of a TOML file in the repository.
fn toml_version(file: &str, table: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut in_table = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == table;
        } else if in_table && let Some(rest) = line.strip_prefix("version") {
            let value = rest
                .trim_start()
                .strip_prefix('=')
                .expect("version = \"…\"")
                .trim();
            return value.trim_matches('"').to_string();
        }
    }
    panic!("no version in the {table} table of {file}");
}

fn manifest_version() -> String {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["version"]
        .as_str()
        .expect("manifest.json has a version")
        .to_string()
}

fn repo_json(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every version the packages declare, each with where it was read, for one comparison.
fn package_versions() -> Vec<(String, String)> {
    let mut versions = Vec::new();
    let launcher = repo_json("npm/aipass-mcp/package.json");
    let text = |v: &Value| v.as_str().expect("a version string").to_string();
    versions.push((
        "npm/aipass-mcp/package.json version".into(),
        text(&launcher["version"]),
    ));
    let platforms = launcher["optionalDependencies"]
        .as_object()
        .expect("the launcher has optionalDependencies");
    assert_eq!(platforms.len(), 5, "one platform package per target");
    for (name, version) in platforms {
        versions.push((format!("npm optionalDependencies {name}"), text(version)));
    }
    versions.push((
        "pyproject.toml [project] version".into(),
        toml_version("pyproject.toml", "[project]"),
    ));
    let server = repo_json("server.json");
    versions.push(("server.json version".into(), text(&server["version"])));
    for package in server["packages"].as_array().expect("server.json packages") {
        versions.push((
            format!("server.json {} package", package["registryType"]),
            text(&package["version"]),
        ));
    }
    versions
}

/// Sends one request line to a fresh server and returns its answer to it.
fn first_answer(request: Value) -> Value {
    let mut child = Command::new(testkit::binary())
        .arg("serve")
        .env("AIPASS_LOG", "error")
        .env_remove("AIPASS_ACCESS_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{request}").unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(message) = serde_json::from_str::<Value>(&line)
                && message.get("id") == Some(&json!(1))
            {
                let _ = tx.send(message);
                break;
            }
        }
    });
    let answer = rx.recv_timeout(Duration::from_secs(30));
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    answer.expect("the server answered within 30 s")
}

#[test]
fn version_flag_cargo_toml_manifest_and_server_info_agree() {
    let cargo = cargo_toml_version();
    assert_eq!(cargo, env!("CARGO_PKG_VERSION"));

    let output = Command::new(testkit::binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        format!("aipass-mcp {cargo}"),
        "--version"
    );

    assert_eq!(manifest_version(), cargo, "manifest.json version");
    for (place, version) in package_versions() {
        assert_eq!(version, cargo, "{place}");
    }

    let initialized = first_answer(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "version-test", "version": "1"}
        }
    }));
    let info = &initialized["result"]["serverInfo"];
    assert_eq!(info["name"], "aipass-mcp", "{initialized}");
    assert_eq!(
        info["version"],
        cargo.as_str(),
        "initialize serverInfo: {initialized}"
    );

    let discovered = first_answer(json!({
        "jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": {"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "version-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {}
        }}
    }));
    let info = &discovered["result"]["_meta"]["io.modelcontextprotocol/serverInfo"];
    assert_eq!(info["name"], "aipass-mcp", "{discovered}");
    assert_eq!(
        info["version"],
        cargo.as_str(),
        "server/discover serverInfo: {discovered}"
    );
}
