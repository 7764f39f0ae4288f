//! The floor `aipass-bench --peers` compares with: a bare rmcp stdio server with one trivial
//! tool, written as rmcp's own documentation shows, on the server's rmcp version and features
//! and, like the server, on a current-thread tokio runtime. It logs nothing and reads no
//! settings: whatever aipass-mcp costs beyond this is its own.

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{ServiceExt, schemars, tool, tool_router};
use serde::{Deserialize, Serialize};

struct Bare;

#[derive(Deserialize, schemars::JsonSchema, Default)]
struct EchoArgs {
    /// Any text.
    text: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct EchoOutput {
    /// The same text.
    text: String,
}

#[tool_router(server_handler)]
impl Bare {
    #[tool(name = "echo", description = "Returns its text.")]
    fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> Json<EchoOutput> {
        Json(EchoOutput { text })
    }
}

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let served = runtime.block_on(async {
        // The non-blocking pipes aipass-mcp uses (no blocking-pool thread for stdin/stdout).
        let running = Bare.serve(rmcp::transport::stdio_pipes()).await?;
        running.waiting().await?;
        Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
    });
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare-rmcp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
