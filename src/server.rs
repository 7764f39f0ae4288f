//! The MCP server: its identity and instructions, the MCP handler (tools through
//! `catalogue::router`, the MCP Apps view for hosts that show it), and serving over stdio.

use rmcp::RoleServer;
use rmcp::model::{
    CacheScope, CustomRequest, CustomResult, DiscoverResult, ErrorCode, ErrorData, Implementation,
    InitializeRequestParams, InitializeResult, ListResourcesRequestMethod, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestMethod,
    ReadResourceRequestParams, ReadResourceResponse, ResultType, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ServerHandler, ServiceExt, tool_handler};

use crate::line_cap::{LineCap, MAX_MESSAGE_BYTES, TOO_LARGE_METHOD};
pub use crate::state::{AipassServer, ServerOptions};
use crate::transport::{SharedWriter, TolerantTransport};

/// What agents are told once, at initialize; the error codes come from [`ErrorCode::ALL`].
fn instructions() -> String {
    let codes: Vec<&str> = crate::error::ErrorCode::ALL
        .iter()
        .map(|code| code.as_str())
        .collect();
    format!(
        "AI Pass gives you many AI models through one account: chat (with vision), image \
         generation and editing, video, speech, transcription and embeddings. Call list_models to \
         see what is available; every tool picks a suitable model when you omit `model`. Paid tools \
         spend the user's AI Pass budget (see balance). Generated files are saved to disk and \
         returned as absolute paths in `files`; pass `output_dir` to choose the folder. If a result \
         starts with auth_required, show the user the sign-in URL it gives. Errors start with a \
         stable code ({}).",
        codes.join(", ")
    )
}

impl AipassServer {
    /// Whether this request comes from a host that shows the view (see `ui`).
    fn shows_views(&self, context: &RequestContext<RoleServer>) -> bool {
        self.state.ui && crate::ui::host_shows_views(context.client_capabilities().as_ref())
    }
}

#[tool_handler(router = crate::catalogue::router())]
impl ServerHandler for AipassServer {
    /// rmcp's own initialize, plus: a client that declares URL elicitation will be asked to show
    /// the sign-in link (`tools::sign_in`), so the session does not open a browser as well.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        context.peer.set_peer_info(request.clone());
        let result = self.negotiate_initialize(&request)?;
        let shows_links = request
            .capabilities
            .elicitation
            .as_ref()
            .is_some_and(|e| e.url.is_some());
        if let Some(session) = &self.state.sign_in_session
            && shows_links
        {
            session.let_the_host_show_the_link();
        }
        let mut result = result;
        if self.state.ui && crate::ui::host_shows_views(Some(&request.capabilities)) {
            crate::ui::add_capabilities(&mut result.capabilities);
        }
        Ok(result)
    }

    /// `server/discover` (2026-07-28): as rmcp's, plus the view's capabilities for a host that
    /// declares MCP Apps in the request.
    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        let mut result = DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        );
        if self.shows_views(&context) {
            crate::ui::add_capabilities(&mut result.capabilities);
        }
        Ok(result)
    }

    /// As the `tool_handler` macro's, with the view's metadata for hosts that show it.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let supports_cache_hints = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        // Built and serialised once per variant; the transport writes those bytes.
        let tools = crate::tools_list::tools(self.shows_views(&context));
        Ok(ListToolsResult {
            result_type: Some(ResultType::COMPLETE),
            tools,
            meta: None,
            next_cursor: None,
            ttl_ms: supports_cache_hints.then_some(0),
            cache_scope: supports_cache_hints.then_some(CacheScope::Public),
        })
    }

    /// The view and this session's files, for hosts that show the view; for others, as before
    /// (no resources at all).
    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if !self.shows_views(&context) {
            return Err(ErrorData::method_not_found::<ListResourcesRequestMethod>());
        }
        Ok(crate::ui::list_resources())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        if !self.shows_views(&context) {
            return Err(ErrorData::method_not_found::<ReadResourceRequestMethod>());
        }
        match crate::ui::read_view(&request.uri) {
            Some(view) => Ok(view.into()),
            None => crate::ui::files::read(&request.uri).map(Into::into),
        }
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("aipass-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("AI Pass")
                    .with_website_url("https://aipass.one"),
            )
            .with_instructions(instructions())
    }

    /// Answers the stand-in for a message over the size limit (see `line_cap`).
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        if request.method != TOO_LARGE_METHOD {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let bytes = request
            .params
            .as_ref()
            .and_then(|p| p.get("bytes"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_default();
        Err(ErrorData::invalid_request(
            format!(
                "the message is {bytes} bytes, over the {MAX_MESSAGE_BYTES}-byte limit for one \
                 message; pass large inputs as file paths or http(s) URLs, not data: URIs"
            ),
            None,
        ))
    }
}

/// Serves MCP over stdin/stdout until the client leaves. A client that leaves before
/// initializing is a normal end, not an error.
pub async fn serve_stdio(server: AipassServer) -> anyhow_like::Result<()> {
    let (reader, writer) = rmcp::transport::stdio_pipes();
    // LineCap cuts long lines first (and answers them); rmcp's own cap stays as a backstop.
    let reader = LineCap::new(reader, MAX_MESSAGE_BYTES);
    let supported = ServerHandler::supported_protocol_versions(&server).into_owned();
    // One writer for rmcp's lines and the cached tools/list lines (see `transport`).
    let writer = SharedWriter::new(writer);
    let out = writer.handle();
    let transport = TolerantTransport::new(
        rmcp::transport::async_rw::AsyncRwTransport::new_server(reader, writer)
            .with_max_line_length(MAX_MESSAGE_BYTES + 1),
        supported,
        out,
    );
    match server.serve(transport).await {
        Ok(running) => {
            running.waiting().await?;
            Ok(())
        }
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A boxed error, enough for `main` to report.
pub mod anyhow_like {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}
