//! Starting the real `aipass-mcp` binary: where it is, the clean environment every run gets,
//! capturing its stderr, and the two protocol eras a client can speak.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rmcp::ClientLifecycleMode;
use rmcp::model::ProtocolVersion;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The server binary: `$AIPASS_MCP_BIN`, else `aipass-mcp` in the profile folder of the running
/// executable (`target/<profile>/deps/<test>` and `target/<profile>/examples/<demo>` both sit
/// one folder below it). Cargo builds the binary before it runs the integration tests.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AIPASS_MCP_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    let name = format!("aipass-mcp{}", std::env::consts::EXE_SUFFIX);
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(&name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no {name} next to {} (set AIPASS_MCP_BIN)", exe.display()))
}

/// Where one run keeps its files. The server gets nothing from the test's own environment but
/// `PATH`: no real HOME, no keyring, no token, no proxy.
pub struct Folders<'a> {
    pub home: &'a Path,
    pub config: &'a Path,
    pub output: &'a Path,
}

/// The clean environment every run starts from (tests add their own variables after it).
pub fn clean_vars(folders: &Folders) -> Vec<(String, String)> {
    let path = |p: &Path| p.display().to_string();
    vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("HOME".into(), path(folders.home)),
        ("AIPASS_CONFIG_DIR".into(), path(folders.config)),
        ("AIPASS_OUTPUT_DIR".into(), path(folders.output)),
        ("AIPASS_TOKEN_STORE".into(), "file".into()),
        // Sign-in must never open a real browser.
        ("AIPASS_BROWSER".into(), "none".into()),
    ]
}

/// [`clean_vars`] for one folder holding it all: HOME, `config/` and `out/`.
pub fn clean_vars_in(dir: &Path) -> Vec<(String, String)> {
    clean_vars(&Folders {
        home: dir,
        config: &dir.join("config"),
        output: &dir.join("out"),
    })
}

/// The [`binary`] (behind `wrapper`, e.g. `dbus-run-session --`, when not empty) with exactly
/// `vars`, run in `work_dir`.
pub fn command(
    wrapper: &[String],
    vars: impl IntoIterator<Item = (String, String)>,
    work_dir: &Path,
) -> std::process::Command {
    command_of(&binary(), wrapper, vars, work_dir)
}

/// As [`command`], for a server binary found elsewhere (the demo builds its own, the bench a
/// release one).
pub fn command_of(
    binary: &Path,
    wrapper: &[String],
    vars: impl IntoIterator<Item = (String, String)>,
    work_dir: &Path,
) -> std::process::Command {
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut command = std::process::Command::new(first);
            command.args(rest).arg(binary);
            command
        }
        None => std::process::Command::new(binary),
    };
    command.env_clear().envs(vars).current_dir(work_dir);
    command
}

/// Collects everything `pipe` yields into a shared string, in a background task.
pub fn capture(mut pipe: impl AsyncRead + Unpin + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// The two protocol eras the server must speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25: `initialize` handshake.
    Initialize,
    /// 2026-07-28: `server/discover`, then self-contained requests.
    Discover,
}

impl Era {
    pub fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Era::Initialize => ClientLifecycleMode::Initialize,
            Era::Discover => ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        }
    }
}

/// Generates one `#[tokio::test]` per era from an `async fn(Era)`.
#[macro_export]
macro_rules! both_eras {
    ($($name:ident),* $(,)?) => {
        mod initialize_era {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Era::Initialize).await;
                }
            )*
        }
        mod discover_era {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Era::Discover).await;
                }
            )*
        }
    };
}
