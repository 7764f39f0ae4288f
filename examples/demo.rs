//! The offline demo: starts the bundled fake AI Pass, runs the real `aipass-mcp` binary over
//! stdio, and calls every tool as an agent would, printing what the agent sees.
//!
//! Run it with `cargo run --example demo` (no account, no network).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use aipass_fake::{FakeConfig, FakeServer};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use testkit::spawn::{Folders, clean_vars, command_of};

type DemoResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> DemoResult<()> {
    let binary = build_server_binary()?;
    let fake = FakeServer::start(FakeConfig::default()).await?;
    let work = std::env::temp_dir().join(format!("aipass-mcp-demo-{}", std::process::id()));
    let output_dir = work.join("output");
    std::fs::create_dir_all(&work)?;
    let token = fake.issue_token("api:access profile:read");

    println!("Fake AI Pass listening on {}", fake.base_url());
    println!("Server binary: {}", binary.display());
    println!("Generated files go to {}\n", output_dir.display());

    // The clean environment the tests give it, outputs in the demo's folder.
    let mut vars = clean_vars(&Folders {
        home: &work,
        config: &work.join("config"),
        output: &output_dir,
    });
    vars.extend(
        [
            ("AIPASS_BASE_URL", fake.base_url()),
            ("AIPASS_ACCESS_TOKEN", token.access_token.clone()),
            ("AIPASS_LOG", "warn".into()),
        ]
        .map(|(key, value)| (key.to_string(), value)),
    );
    let command = tokio::process::Command::from(command_of(&binary, &[], vars, &work));
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::inherit())
        .spawn()?;
    let client = ().serve(transport).await?;

    let info = client.peer_info().ok_or("server sent no info")?;
    let server = info.server_info.as_ref().ok_or("server sent no name")?;
    println!(
        "Connected to {} {} (protocol {})\n",
        server.name, server.version, info.protocol_version
    );
    let tools = client.list_all_tools().await?;
    println!("tools/list: {} tools", tools.len());
    for tool in &tools {
        let description = tool.description.as_deref().unwrap_or("");
        println!("  - {:<15} {}", tool.name, first_sentence(description));
    }
    println!();

    let photo = work.join("photo.png");
    let reference = work.join("reference.png");
    write_sample_png(&photo, 640, 480, 0)?;
    write_sample_png(&reference, 256, 256, 1)?;

    let call = |name: &'static str, arguments: Value| {
        let client = &client;
        async move {
            let Value::Object(arguments) = arguments else {
                unreachable!()
            };
            println!("> {name} {}", Value::Object(arguments.clone()));
            let result = client
                .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
                .await?;
            show(&result);
            DemoResult::Ok(result)
        }
    };

    call("list_models", json!({"capability": "image_edit"})).await?;
    call(
        "chat",
        json!({"prompt": "One tip for better focus?", "system": "You answer briefly."}),
    )
    .await?;
    call(
        "chat",
        json!({"prompt": "What is in this picture?", "images": [photo]}),
    )
    .await?;
    call(
        "generate_image",
        json!({"prompt": "A futuristic city at sunset", "size": "512x512"}),
    )
    .await?;
    call("edit_image", json!({"prompt": "Apply the style of the second image to the first", "images": [photo, reference]})).await?;
    let spoken = call(
        "speak",
        json!({"text": "Hello from your coding agent", "voice": "nova"}),
    )
    .await?;
    let audio = spoken
        .structured_content
        .as_ref()
        .and_then(|s| s["files"][0]["path"].as_str())
        .map(str::to_owned);
    if let Some(audio) = audio {
        call("transcribe", json!({"file": audio})).await?;
    }
    call("embed", json!({"input": ["first text", "second text"]})).await?;
    call("balance", json!({"refresh": true})).await?;
    call("chat", json!({"prompt": "hi", "model": "no-such-model"})).await?;

    client.cancel().await?;
    println!("Done. Files written to {}", output_dir.display());
    Ok(())
}

/// Builds the server binary in this profile (a no-op when it is fresh) and returns its path,
/// next to this example's own folder.
fn build_server_binary() -> DemoResult<PathBuf> {
    let this = std::env::current_exe()?;
    let profile_dir = this
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the target folder")?;
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--bin", "aipass-mcp"]);
    if release {
        build.arg("--release");
    }
    // The build's own output must not mix with the demo's: send it to stderr.
    let status = build.stdout(std::io::stderr()).status()?;
    if !status.success() {
        return Err("building aipass-mcp failed".into());
    }
    Ok(profile_dir.join(format!("aipass-mcp{}", std::env::consts::EXE_SUFFIX)))
}

fn show(result: &CallToolResult) {
    let marker = if result.is_error == Some(true) {
        "error"
    } else {
        "ok"
    };
    for block in &result.content {
        if let Some(text) = block.as_text() {
            println!("  [{marker}] {}", text.text.replace('\n', "\n        "));
        } else if let Some(link) = block.as_resource_link() {
            println!(
                "  [link] {} ({}, {} bytes)",
                link.uri,
                link.mime_type.as_deref().unwrap_or("?"),
                link.size.unwrap_or(0)
            );
        }
    }
    if let Some(structured) = &result.structured_content {
        println!(
            "  structuredContent: {}",
            shorten(&structured.to_string(), 400)
        );
    }
    println!();
}

fn first_sentence(text: &str) -> &str {
    text.split(". ").next().unwrap_or(text)
}

fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let cut = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

fn write_sample_png(path: &Path, width: u32, height: u32, seed: u32) -> DemoResult<()> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            ((x + seed * 80) % 256) as u8,
            ((y * 2) % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    image.save(path)?;
    Ok(())
}
