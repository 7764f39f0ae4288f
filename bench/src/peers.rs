//! `--peers [BIN...]`: aipass-mcp, a bare rmcp stdio server (`bare-rmcp`, built beside the
//! benchmark) and any peer binaries given, measured in the same run: cold start, CPU to idle,
//! idle RSS and `tools/list`, each also as a ratio to the bare server. The subjects take turns
//! run by run and request by request, so the machine's load falls on all of them alike.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::BenchResult;
use crate::report::{Report, Stats};
use crate::stdio::{Launch, Server};

/// The ratios to the bare server issue 18 asks for.
const MAX_COLD_RATIO: f64 = 1.5;
const MAX_RSS_RATIO: f64 = 1.4;
const MAX_LIST_RATIO: f64 = 2.0;

/// One start of a server, read once it is idle after `initialize`.
pub struct ColdSample {
    pub elapsed: Duration,
    pub cpu: Duration,
    pub rss_kb: u64,
    pub anonymous_kb: u64,
    pub pss_kb: u64,
}

/// Starts the server, lets the session settle (the initialized notification, any deferred
/// work), reads its CPU time and memory, and closes it.
pub fn cold_once(launch: &Launch) -> BenchResult<ColdSample> {
    let (server, elapsed) = Server::start(launch)?;
    std::thread::sleep(Duration::from_millis(50));
    let sample = ColdSample {
        elapsed,
        // Read once the server sleeps, so its CPU time is fully accounted.
        cpu: server.cpu_time()?,
        rss_kb: server.status_kb("VmRSS")?,
        anonymous_kb: server.smaps_kb("Anonymous")?,
        pss_kb: server.smaps_kb("Pss")?,
    };
    server.close()?;
    Ok(sample)
}

/// What one subject measured.
struct Subject {
    name: String,
    launch: Launch,
    bytes: u64,
    cold: Vec<ColdSample>,
    list: Vec<Duration>,
    tools: usize,
    list_bytes: usize,
}

impl Subject {
    fn median(&self, of: impl Fn(&ColdSample) -> f64) -> f64 {
        Stats::of(self.cold.iter().map(of).collect()).median
    }
    fn cold_ms(&self) -> f64 {
        self.median(|s| s.elapsed.as_secs_f64() * 1e3)
    }
    fn cpu_ms(&self) -> f64 {
        self.median(|s| s.cpu.as_secs_f64() * 1e3)
    }
    fn rss_mb(&self) -> f64 {
        self.median(|s| s.rss_kb as f64 * 1024.0 / 1e6)
    }
    fn anonymous_mb(&self) -> f64 {
        self.median(|s| s.anonymous_kb as f64 * 1024.0 / 1e6)
    }
    fn list_ms(&self) -> f64 {
        Stats::of_durations(&self.list).median
    }
}

/// Measures `ours`, the bare server and `others` side by side; prints the table with ratios
/// and adds it to the report's JSON (`peers`).
pub fn compare(
    ours: &Launch,
    others: &[PathBuf],
    cold_starts: usize,
    lists: usize,
    report: &mut Report,
) -> BenchResult<()> {
    let bare = crate::binaries::bare_binary()?;
    let mut subjects: Vec<Subject> = Vec::new();
    let mut add = |name: String, binary: &Path| -> BenchResult<()> {
        let binary =
            std::fs::canonicalize(binary).map_err(|e| format!("peer {}: {e}", binary.display()))?;
        subjects.push(Subject {
            name,
            bytes: std::fs::metadata(&binary).map_or(0, |m| m.len()),
            launch: Launch {
                binary,
                ..ours.clone()
            },
            cold: Vec::new(),
            list: Vec::new(),
            tools: 0,
            list_bytes: 0,
        });
        Ok(())
    };
    add("aipass-mcp".into(), &ours.binary)?;
    add("bare rmcp".into(), &bare)?;
    for peer in others {
        let name = peer.file_name().map_or_else(
            || peer.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        add(name, peer)?;
    }

    eprintln!(
        "peers: {} subjects, {cold_starts} cold starts and {lists} tools/list each, in turns…",
        subjects.len()
    );
    const WARMUP: usize = 2;
    for run in 0..cold_starts + WARMUP {
        for subject in &mut subjects {
            let sample = cold_once(&subject.launch)?;
            if run >= WARMUP {
                subject.cold.push(sample);
            }
        }
    }
    let mut sessions = Vec::new();
    for subject in &mut subjects {
        let (mut server, _) = Server::start(&subject.launch)?;
        let (_, first) = server.request("tools/list", "")?;
        subject.tools = first["result"]["tools"].as_array().map_or(0, Vec::len);
        subject.list_bytes = first.to_string().len();
        for _ in 0..30 {
            server.request("tools/list", "")?;
        }
        sessions.push(server);
    }
    for _ in 0..lists {
        for (subject, server) in subjects.iter_mut().zip(&mut sessions) {
            subject.list.push(server.request("tools/list", "")?.0);
        }
    }
    for server in sessions {
        server.close()?;
    }

    eprint!("{}", table(&subjects));
    let rows: Vec<Value> = subjects
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "binary": s.launch.binary.display().to_string(), "bytes": s.bytes,
                "cold_start_ms": s.cold_ms(), "cpu_to_idle_ms": s.cpu_ms(),
                "idle_rss_mb": s.rss_mb(), "idle_anonymous_mb": s.anonymous_mb(),
                "tools_list_ms": s.list_ms(), "tools": s.tools, "tools_list_bytes": s.list_bytes,
            })
        })
        .collect();
    report.detail(
        "peers",
        json!(rows),
        "side by side in one run (medians); the second row is the bare rmcp server",
    );
    Ok(())
}

fn table(subjects: &[Subject]) -> String {
    let bare = &subjects[1];
    let ratio = |ours: f64, floor: f64| if floor > 0.0 { ours / floor } else { 0.0 };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nside by side (medians; × = ratio to the bare rmcp server; targets: cold ≤ \
         {MAX_COLD_RATIO}×, RSS ≤ {MAX_RSS_RATIO}×, tools/list ≤ {MAX_LIST_RATIO}×)"
    );
    let _ = writeln!(
        out,
        "{:<22} {:>8} {:>17} {:>17} {:>17} {:>20} {:>6}",
        "server",
        "size MB",
        "cold start ms",
        "CPU to idle ms",
        "idle RSS MB",
        "tools/list ms",
        "tools"
    );
    for s in subjects {
        let _ = writeln!(
            out,
            "{:<22} {:>8.1} {:>8.2} ({:>5.2}×) {:>8.2} ({:>5.2}×) {:>8.1} ({:>5.2}×) {:>10.3} ({:>5.2}×) {:>6}",
            s.name,
            s.bytes as f64 / 1e6,
            s.cold_ms(),
            ratio(s.cold_ms(), bare.cold_ms()),
            s.cpu_ms(),
            ratio(s.cpu_ms(), bare.cpu_ms()),
            s.rss_mb(),
            ratio(s.rss_mb(), bare.rss_mb()),
            s.list_ms(),
            ratio(s.list_ms(), bare.list_ms()),
            s.tools,
        );
    }
    let ours = &subjects[0];
    let checks = [
        (
            "cold start",
            ratio(ours.cold_ms(), bare.cold_ms()),
            MAX_COLD_RATIO,
        ),
        (
            "idle RSS",
            ratio(ours.rss_mb(), bare.rss_mb()),
            MAX_RSS_RATIO,
        ),
        (
            "tools/list",
            ratio(ours.list_ms(), bare.list_ms()),
            MAX_LIST_RATIO,
        ),
    ];
    for (what, got, target) in checks {
        let verdict = if got <= target { "met" } else { "MISSED" };
        let _ = writeln!(
            out,
            "  aipass-mcp {what}: {got:.2}× (≤ {target}×) {verdict}"
        );
    }
    out
}
