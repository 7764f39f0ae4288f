//! `aipass-fake` binary: serves the fake API, prints its base URL as the only stdout line, and
//! exits when killed or when stdin reaches EOF (so it dies with the process that started it).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use aipass_fake::{FakeClient, FakeConfig, FakeServer};
use clap::Parser;

/// A strict fake of the AI Pass REST API, for tests and the offline demo.
#[derive(Parser, Debug)]
#[command(name = "aipass-fake", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Register this OAuth client instead of the default `aipass-mcp-demo`.
    #[arg(long)]
    client_id: Option<String>,
    /// Redirect URI(s) registered for the client (repeatable; default http://127.0.0.1:47821/callback).
    #[arg(long)]
    redirect_uri: Vec<String>,
    /// Starting budget in USD.
    #[arg(long, default_value_t = 10.0)]
    max_budget: f64,
    /// Access-token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Keep running when stdin reaches EOF (for `aipass-fake &` in scripts, where stdin is /dev/null).
    #[arg(long)]
    ignore_stdin: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut config = FakeConfig {
        access_token_ttl: Duration::from_secs(args.token_ttl),
        max_budget: args.max_budget,
        ..FakeConfig::default()
    };
    if args.client_id.is_some() || !args.redirect_uri.is_empty() {
        let default = config.clients.remove(0);
        config.clients = vec![FakeClient {
            client_id: args.client_id.unwrap_or(default.client_id),
            redirect_uris: if args.redirect_uri.is_empty() {
                default.redirect_uris
            } else {
                args.redirect_uri
            },
        }];
    }

    let server = FakeServer::start_on(SocketAddr::new(args.host, args.port), config).await?;
    server.set_request_log(true);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", server.base_url())?;
    stdout.flush()?;

    if args.ignore_stdin {
        std::future::pending::<()>().await;
    }
    // A blocking reader thread: tokio's stdin needs a feature and would not notice EOF any sooner.
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 1024];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = eof_tx.send(());
    });
    let _ = eof_rx.await;
    eprintln!("aipass-fake: stdin closed, shutting down");
    drop(server);
    Ok(())
}
