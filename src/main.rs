//! The `aipass-mcp` command: the stdio MCP server, and subcommands for a person at a terminal.

use std::process::ExitCode;

use aipass_mcp::api::{ApiClient, ApiSettings};
use aipass_mcp::auth;
use aipass_mcp::config::Settings;
use aipass_mcp::server::{AipassServer, ServerOptions, serve_stdio};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

#[derive(Parser)]
#[command(
    name = "aipass-mcp",
    version,
    about = "MCP server for AI Pass: chat, vision, images, speech, transcription and embeddings from one account",
    after_help = "Settings can also be given as environment variables (shown in brackets). \
                  AIPASS_API_KEY (a developer API key) or AIPASS_ACCESS_TOKEN, when set, is used as \
                  the bearer token instead of browser sign-in."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Run the MCP server on stdin/stdout (the default).
    Serve,
    /// Sign in to AI Pass in the browser and store the tokens (on first run, after approving
    /// that aipass-mcp creates its OAuth client on your account).
    Login,
    /// Revoke the stored tokens at AI Pass and delete them.
    Logout {
        /// Also remove the OAuth client id aipass-mcp created and stored on first run (the
        /// next sign-in asks for the setup approval again).
        #[arg(long)]
        forget_client: bool,
    },
    /// Show whether you are signed in, as whom, which OAuth client and where it came from, the
    /// token store and the balance.
    Status,
    /// Print the tool catalogue (the exact tools/list result) as JSON.
    Tools {
        /// Print it as Markdown instead (docs/tools.md).
        #[arg(long)]
        markdown: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report_usage_error(error),
    };
    // stdout is the protocol channel: every log line goes to stderr. A plain level (the usual
    // case, `info` by default) needs no directive parser: that keeps EnvFilter's setup off
    // startup.
    let log = cli.settings.log.trim();
    if let Ok(level) = log.parse::<LevelFilter>() {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    } else {
        let filter = match EnvFilter::try_new(log) {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!(
                    "error: invalid value '{}' for AIPASS_LOG: {e}",
                    cli.settings.log
                );
                return ExitCode::from(2);
            }
        };
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }

    match cli.command.unwrap_or(Command::Serve) {
        Command::Tools { markdown } => print_catalogue(markdown),
        Command::Serve => run_server(cli.settings),
        Command::Login => auth::cli::login(&cli.settings),
        Command::Logout { forget_client } => auth::cli::logout(&cli.settings, forget_client),
        Command::Status => auth::cli::status(&cli.settings),
    }
}

/// Prints clap's message, naming the environment variable behind a bad value (that is where
/// MCP hosts put settings), and exits 2; `--help` and `--version` exit 0.
fn report_usage_error(error: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let _ = error.print();
    if !error.use_stderr() {
        return ExitCode::SUCCESS;
    }
    if matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) && let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg)
    {
        let flag = arg
            .trim_start_matches('-')
            .split([' ', '='])
            .next()
            .unwrap_or("");
        let variable = format!("AIPASS_{}", flag.to_uppercase().replace('-', "_"));
        eprintln!("hint: check the {variable} environment variable (or the --{flag} flag)");
    }
    ExitCode::from(2)
}

fn print_catalogue(markdown: bool) -> ExitCode {
    let tools = AipassServer::catalogue();
    if markdown {
        print!("{}", aipass_mcp::catalogue::markdown(&tools));
        return ExitCode::SUCCESS;
    }
    match serde_json::to_string_pretty(&serde_json::json!({ "tools": tools })) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(settings: Settings) -> ExitCode {
    return_large_buffers_at_once();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut options = match ServerOptions::from_settings(&settings) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // AIPASS_API_KEY or AIPASS_ACCESS_TOKEN when set, else sign-in on first use (no I/O until a
    // call needs it).
    let source = auth::token_source(&settings);
    options.sign_in = source.session().cloned();
    let api_settings = ApiSettings::from_settings(&settings, source.is_api_key());
    let server = AipassServer::new(ApiClient::new(api_settings, source.provider()), options);
    match runtime.block_on(serve_stdio(server)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Answers and decoded images are large buffers that come and go. By default glibc raises the
/// size above which it maps memory for its own each time such a buffer is freed, so later ones
/// land on the heap, which keeps the peak after they are freed and grows with fragments. A fixed
/// threshold (its default value) gives every large buffer back to the system when it is freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_at_once() {
    // SAFETY: mallopt only sets an allocator parameter; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_at_once() {}
