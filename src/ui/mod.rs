//! MCP Apps (`io.modelcontextprotocol/ui`, SEP-1865): the media view, the tool metadata that
//! points at it, and the files it may read. All of it only for hosts that declare the extension
//! (at `initialize`, or per request in the 2026-07-28 era) and only while `AIPASS_UI` is `auto`:
//! every other host sees the catalogue and results exactly as without this module.

pub mod files;

use rmcp::model::{
    ClientCapabilities, JsonObject, ListResourcesResult, MetaObject, ReadResourceResult, Resource,
    ResourceContents, ResourcesCapability, ServerCapabilities, Tool,
};
use serde_json::{Value, json};

/// The extension's identifier in `capabilities.extensions`.
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/ui";
/// The one view this server offers.
pub const VIEW_URI: &str = "ui://aipass/media";
/// The extension's HTML profile.
pub const VIEW_MIME: &str = "text/html;profile=mcp-app";
/// The view: one self-contained file, no network.
pub const VIEW_HTML: &str = include_str!("media.html");

/// Whether a client with these capabilities renders MCP Apps views of our type.
pub fn host_shows_views(capabilities: Option<&ClientCapabilities>) -> bool {
    let Some(ui) = capabilities
        .and_then(|c| c.extensions.as_ref())
        .and_then(|e| e.get(EXTENSION_ID))
    else {
        return false;
    };
    // A host that lists MIME types must list ours; one that lists none takes the default.
    match ui.get("mimeTypes") {
        None => true,
        Some(Value::Array(types)) => types.iter().any(|t| t.as_str() == Some(VIEW_MIME)),
        Some(_) => false,
    }
}

/// The `_meta` of a tool whose results the view shows (the media tools, and the model list and
/// balance as compact tables): written in that tool's own `#[tool(meta = …)]`, so the fact lives
/// beside its name. It points at the view, visible to the model and callable by the view (the
/// refresh button calls `get_video`), with the flat key older hosts read (the SDK's
/// registerAppTool sets both).
pub fn shown_in_view() -> MetaObject {
    let mut meta = MetaObject::default();
    meta.0.insert(
        "ui".into(),
        json!({"resourceUri": VIEW_URI, "visibility": ["model", "app"]}),
    );
    meta.0.insert("ui/resourceUri".into(), json!(VIEW_URI));
    meta
}

/// Whether the view shows this tool's results (its catalogue entry carries [`shown_in_view`]).
pub fn shows_results_of(tool: &Tool) -> bool {
    tool.meta
        .as_ref()
        .is_some_and(|meta| meta.0.contains_key("ui/resourceUri"))
}

/// The catalogue as a host sees it: unchanged for one that shows views; for every other host,
/// without the view's keys, so its catalogue is exactly what it was before MCP Apps.
pub fn for_host(mut tools: Vec<Tool>, shows_views: bool) -> Vec<Tool> {
    if shows_views {
        return tools;
    }
    for tool in &mut tools {
        if let Some(meta) = tool.meta.as_mut() {
            meta.0.remove("ui");
            meta.0.remove("ui/resourceUri");
            if meta.0.is_empty() {
                tool.meta = None;
            }
        }
    }
    tools
}

/// Server capabilities for a host that shows views: resources (the view and the files) and
/// the extension itself.
pub fn add_capabilities(capabilities: &mut ServerCapabilities) {
    capabilities.resources = Some(ResourcesCapability::default());
    capabilities
        .extensions
        .get_or_insert_with(Default::default)
        .insert(EXTENSION_ID.into(), JsonObject::new());
}

/// `resources/list`: the view, then the files written in this session that still exist.
pub fn list_resources() -> ListResourcesResult {
    let view = Resource::new(VIEW_URI, "aipass-media")
        .with_title("AI Pass media")
        .with_description("Shows generated images, speech and video")
        .with_mime_type(VIEW_MIME)
        .with_meta(view_meta());
    let mut all = vec![view];
    all.extend(files::listed());
    ListResourcesResult::with_all_items(all)
}

/// `resources/read` of the view, or `None` for any other URI.
pub fn read_view(uri: &str) -> Option<ReadResourceResult> {
    (uri == VIEW_URI).then(|| {
        ReadResourceResult::new(vec![
            ResourceContents::text(VIEW_HTML, VIEW_URI)
                .with_mime_type(VIEW_MIME)
                .with_meta(view_meta()),
        ])
    })
}

/// The view's own metadata: an empty CSP (no outside origin at all) and a border.
fn view_meta() -> MetaObject {
    let mut meta = MetaObject::default();
    meta.0.insert(
        "ui".into(),
        json!({"csp": {"connectDomains": [], "resourceDomains": []}, "prefersBorder": true}),
    );
    meta
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ExtensionCapabilities;

    fn declaring(settings: Value) -> ClientCapabilities {
        let mut extensions = ExtensionCapabilities::new();
        extensions.insert(
            EXTENSION_ID.into(),
            settings.as_object().cloned().unwrap_or_default(),
        );
        ClientCapabilities::builder()
            .enable_extensions_with(extensions)
            .build()
    }

    #[test]
    fn only_hosts_that_declare_the_extension_with_our_type_show_views() {
        assert!(!host_shows_views(None));
        assert!(!host_shows_views(Some(&ClientCapabilities::default())));
        assert!(host_shows_views(Some(&declaring(json!({})))));
        assert!(host_shows_views(Some(&declaring(
            json!({"mimeTypes": [VIEW_MIME]})
        ))));
        assert!(!host_shows_views(Some(&declaring(
            json!({"mimeTypes": ["text/html"]})
        ))));
        assert!(!host_shows_views(Some(&declaring(
            json!({"mimeTypes": VIEW_MIME})
        ))));
    }

    #[test]
    fn the_view_is_self_contained() {
        assert!(VIEW_HTML.contains("Content-Security-Policy"));
        for outside in ["http://", "https://", "//cdn", "@import"] {
            let hits: Vec<&str> = VIEW_HTML
                .lines()
                .filter(|line| line.contains(outside))
                .collect();
            assert!(hits.is_empty(), "the view refers outside: {hits:?}");
        }
        assert!(read_view(VIEW_URI).is_some());
        assert!(read_view("ui://aipass/other").is_none());
    }
}
