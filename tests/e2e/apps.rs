//! MCP Apps end to end through the binary, in both protocol eras: hosts that declare
//! `io.modelcontextprotocol/ui` get the media view, its tool metadata and this session's files
//! as resources; every other host (and every host with AIPASS_UI=off) sees exactly what it saw
//! before: the same catalogue, no resources, the same results.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use aipass_fake::{FakeConfig, FakeServer};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use testkit::Era;
use testkit::raw::RawServer;

const WAIT: Duration = Duration::from_secs(60);
const VIEW_URI: &str = "ui://aipass/media";
const VIEW_MIME: &str = "text/html;profile=mcp-app";

/// Client capabilities that declare MCP Apps, as the official SDK's hosts send them.
fn ui_capabilities() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": [VIEW_MIME]}}})
}

/// A raw client of the real binary: one era, one set of declared capabilities.
struct Host {
    server: RawServer,
    era: Era,
    capabilities: Value,
    next_id: u64,
    /// The initialize or server/discover result.
    hello: Value,
}

impl Host {
    async fn start(fake: &FakeServer, era: Era, capabilities: Value, env: &[(&str, &str)]) -> Host {
        let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let server = RawServer::with_fake(fake, &env);
        let mut host = Host {
            server,
            era,
            capabilities,
            next_id: 1,
            hello: Value::Null,
        };
        host.hello = match era {
            Era::Initialize => {
                let answer = host.request_raw(
                    "initialize",
                    json!({
                        "protocolVersion": "2025-11-25",
                        "capabilities": host.capabilities,
                        "clientInfo": {"name": "apps-test", "version": "1"}
                    }),
                );
                host.server
                    .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
                host.server.flush();
                answer["result"].clone()
            }
            Era::Discover => host.request("server/discover", json!({}))["result"].clone(),
        };
        assert!(
            host.hello.is_object(),
            "no handshake answer: {}",
            host.hello
        );
        host
    }

    fn request_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.server.call(id, method, params, WAIT)
    }

    /// A request; in the 2026-07-28 era it carries the client's context in `_meta`.
    fn request(&mut self, method: &str, mut params: Value) -> Value {
        if let Era::Discover = self.era {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": self.capabilities,
                "io.modelcontextprotocol/clientInfo": {"name": "apps-test", "version": "1"}
            });
        }
        self.request_raw(method, params)
    }

    fn tools(&mut self) -> Vec<Value> {
        let answer = self.request("tools/list", json!({}));
        answer["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools/list: {answer}"))
            .clone()
    }

    fn call(&mut self, name: &str, arguments: Value) -> Value {
        let answer = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        let result = answer["result"].clone();
        assert_ne!(result["isError"], true, "{name}: {answer}");
        assert!(result.is_object(), "{name}: {answer}");
        result
    }

    /// The `file://` URIs of the result's resource links.
    fn links(result: &Value) -> Vec<String> {
        result["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["type"] == "resource_link")
            .map(|c| c["uri"].as_str().unwrap().to_string())
            .collect()
    }
}

fn plain_catalogue() -> Vec<Value> {
    let output = Command::new(testkit::binary())
        .arg("tools")
        .output()
        .unwrap();
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    value["tools"].as_array().unwrap().clone()
}

async fn fake() -> FakeServer {
    FakeServer::start(FakeConfig::default()).await.unwrap()
}

fn path_of(uri: &str) -> PathBuf {
    url::Url::parse(uri).unwrap().to_file_path().unwrap()
}

/// The same call's result from two sessions, with what must differ between sessions (their
/// output folders, and the time stamps and numbers in file names) made equal.
fn normalised(result: &Value, out_dir: &std::path::Path) -> String {
    let text = result.to_string();
    let out = out_dir.canonicalize().unwrap();
    let text = text.replace(&out.to_string_lossy().into_owned(), "<out>");
    let text = text.replace(
        url::Url::from_file_path(&out).unwrap().as_str(),
        "file://<out>",
    );
    text.chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect()
}

/// An unknown resource: -32002 in 2025-11-25, -32602 (invalid params) from 2026-07-28 on, as
/// rmcp answers in each era; never any file content.
fn assert_not_found(era: Era, answer: &Value) {
    let code = match era {
        Era::Initialize => -32002,
        Era::Discover => -32602,
    };
    assert_eq!(answer["error"]["code"], code, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no such resource"),
        "{answer}"
    );
    assert!(answer.get("result").is_none(), "{answer}");
}

fn assert_method_not_found(answer: &Value) {
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
}

async fn plain_hosts_see_todays_catalogue_and_no_resources(era: Era) {
    let fake = fake().await;
    let mut host = Host::start(&fake, era, json!({}), &[]).await;
    assert_eq!(host.tools(), plain_catalogue());
    let capabilities = &host.hello["capabilities"];
    assert!(capabilities.get("resources").is_none(), "{capabilities}");
    assert!(capabilities.get("extensions").is_none(), "{capabilities}");
    assert_method_not_found(&host.request("resources/list", json!({})));
    assert_method_not_found(&host.request("resources/read", json!({"uri": VIEW_URI})));
}

async fn with_ui_off_a_declaring_host_sees_exactly_what_a_plain_host_sees(era: Era) {
    let fake = fake().await;
    let mut plain = Host::start(&fake, era, json!({}), &[]).await;
    let mut off = Host::start(&fake, era, ui_capabilities(), &[("AIPASS_UI", "off")]).await;
    assert_eq!(off.hello, plain.hello);
    assert_eq!(off.tools(), plain.tools());
    assert_method_not_found(&off.request("resources/list", json!({})));
    assert_method_not_found(&off.request("resources/read", json!({"uri": VIEW_URI})));
    let args = json!({"prompt": "a red fox"});
    let from_plain = plain.call("generate_image", args.clone());
    let from_off = off.call("generate_image", args);
    assert_eq!(
        normalised(&from_off, &off.server.out_dir()),
        normalised(&from_plain, &plain.server.out_dir())
    );
}

async fn declaring_hosts_get_the_view_and_the_view_tools_point_at_it(era: Era) {
    let fake = fake().await;
    let mut host = Host::start(&fake, era, ui_capabilities(), &[]).await;
    let capabilities = &host.hello["capabilities"];
    assert!(capabilities["resources"].is_object(), "{capabilities}");
    assert!(
        capabilities["extensions"]["io.modelcontextprotocol/ui"].is_object(),
        "{capabilities}"
    );

    let plain = plain_catalogue();
    let view_tools = testkit::facts::view_tools();
    // The media tools and the two tables; never a tool without results to show.
    for name in [
        "generate_image",
        "speak",
        "get_video",
        "list_models",
        "balance",
    ] {
        assert!(
            view_tools.iter().any(|t| t == name),
            "{name}: {view_tools:?}"
        );
    }
    assert!(
        !view_tools.iter().any(|t| t == "chat" || t == "embed"),
        "{view_tools:?}"
    );
    let tools = host.tools();
    assert_eq!(tools.len(), plain.len());
    for (tool, plain_tool) in tools.iter().zip(&plain) {
        let name = tool["name"].as_str().unwrap();
        let mut without_meta = tool.clone();
        let meta = without_meta.as_object_mut().unwrap().remove("_meta");
        assert_eq!(&without_meta, plain_tool, "{name} changed beyond _meta");
        if view_tools.iter().any(|t| t == name) {
            let meta = meta.unwrap_or_else(|| panic!("{name} has no _meta"));
            assert_eq!(meta["ui"]["resourceUri"], VIEW_URI, "{name}");
            assert_eq!(meta["ui"]["visibility"], json!(["model", "app"]), "{name}");
            assert_eq!(meta["ui/resourceUri"], VIEW_URI, "{name}");
        } else {
            assert!(meta.is_none(), "{name} should keep no _meta");
        }
    }

    let listed = host.request("resources/list", json!({}));
    let resources = listed["result"]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "{listed}");
    assert_eq!(resources[0]["uri"], VIEW_URI);
    assert_eq!(resources[0]["mimeType"], VIEW_MIME);

    let read = host.request("resources/read", json!({"uri": VIEW_URI}));
    let contents = &read["result"]["contents"][0];
    assert_eq!(contents["mimeType"], VIEW_MIME, "{read}");
    let html = contents["text"].as_str().unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("ui/initialize"));
    assert_eq!(
        contents["_meta"]["ui"]["csp"],
        json!({"connectDomains": [], "resourceDomains": []})
    );
}

async fn the_view_reads_only_files_this_server_wrote_while_they_exist(era: Era) {
    let fake = fake().await;
    let mut host = Host::start(&fake, era, ui_capabilities(), &[]).await;
    let image = host.call("generate_image", json!({"prompt": "a lighthouse", "n": 2}));
    let speech = host.call("speak", json!({"text": "Hello from AI Pass"}));
    let started = host.call(
        "generate_video",
        json!({"prompt": "waves", "wait_seconds": 0}),
    );
    assert_ne!(started["structuredContent"]["status"], "completed");
    assert!(Host::links(&started).is_empty());
    let video_id = started["structuredContent"]["video_id"].clone();
    let mut video = Value::Null;
    for _ in 0..10 {
        video = host.call("get_video", json!({"video_id": video_id}));
        if video["structuredContent"]["status"] == "completed" {
            break;
        }
    }
    assert_eq!(video["structuredContent"]["status"], "completed", "{video}");

    let mut written: Vec<String> = [&image, &speech, &video]
        .iter()
        .flat_map(|r| Host::links(r))
        .collect();
    assert_eq!(written.len(), 4, "{written:?}");
    written.sort();
    let listed = host.request("resources/list", json!({}));
    let mut uris: Vec<String> = listed["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_string())
        .filter(|uri| uri != VIEW_URI)
        .collect();
    uris.sort();
    assert_eq!(uris, written);

    for uri in &written {
        let read = host.request("resources/read", json!({"uri": uri}));
        let contents = &read["result"]["contents"][0];
        let bytes = BASE64
            .decode(
                contents["blob"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{read}")),
            )
            .unwrap();
        assert_eq!(bytes, std::fs::read(path_of(uri)).unwrap(), "{uri}");
        assert!(contents["mimeType"].as_str().unwrap().contains('/'));
    }

    // A file outside the outputs, though it exists and the server may read it.
    let outside = host.server.home.path().join("notes.txt");
    std::fs::write(&outside, "not an output").unwrap();
    let outside_uri = url::Url::from_file_path(outside.canonicalize().unwrap()).unwrap();
    let refused = host.request("resources/read", json!({"uri": outside_uri.as_str()}));
    assert_not_found(era, &refused);
    assert!(!refused.to_string().contains("not an output"));

    // A `..` spelling that leaves the outputs, from a written file's folder.
    let first = path_of(&written[0]);
    let dotted = format!(
        "file://{}/../notes.txt",
        first.parent().unwrap().to_string_lossy()
    );
    let refused = host.request("resources/read", json!({"uri": dotted}));
    assert_not_found(era, &refused);

    // A deleted output: refused and no longer listed.
    std::fs::remove_file(&first).unwrap();
    let gone = host.request("resources/read", json!({"uri": written[0]}));
    assert_not_found(era, &gone);
    let listed = host.request("resources/list", json!({}));
    assert!(!listed.to_string().contains(&written[0]), "{listed}");

    // Still serving after the refusals.
    let read = host.request("resources/read", json!({"uri": written[1]}));
    assert!(read["result"]["contents"][0]["blob"].is_string(), "{read}");
}

async fn results_are_the_same_for_declaring_and_plain_hosts(era: Era) {
    let fake = fake().await;
    let mut plain = Host::start(&fake, era, json!({}), &[]).await;
    let mut ui = Host::start(&fake, era, ui_capabilities(), &[]).await;
    for (tool, args) in [
        ("generate_image", json!({"prompt": "a red fox"})),
        ("speak", json!({"text": "same bytes"})),
        ("list_models", json!({})),
    ] {
        let from_plain = plain.call(tool, args.clone());
        let from_ui = ui.call(tool, args);
        assert_eq!(
            normalised(&from_ui, &ui.server.out_dir()),
            normalised(&from_plain, &plain.server.out_dir()),
            "{tool}"
        );
    }
}

both_eras!(
    plain_hosts_see_todays_catalogue_and_no_resources,
    with_ui_off_a_declaring_host_sees_exactly_what_a_plain_host_sees,
    declaring_hosts_get_the_view_and_the_view_tools_point_at_it,
    the_view_reads_only_files_this_server_wrote_while_they_exist,
    results_are_the_same_for_declaring_and_plain_hosts,
);
