//! aipass-bench: starts the fake AI Pass in-process, drives the release `aipass-mcp` binary over
//! stdio with hand-written JSON-RPC lines, and reports startup, memory, latency, per-call
//! overhead, throughput and peak memory with big media, each beside its budget.
//!
//! Run it with `cargo run --release -p aipass-bench` (add `-- --quick` for a short smoke run).
//! It builds `target/release/aipass-mcp` first, prints a table and writes `target/bench.json`.
//! Method and results: docs/performance.md.

mod binaries;
mod direct;
mod fsync;
mod noise;
mod peers;
mod report;
mod stdio;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aipass_fake::{FakeConfig, FakeServer, Fault, FaultKind};
use base64::Engine;
use serde_json::{Value, json};

use binaries::{server_binary, target_dir};
use direct::{CHAT_MODEL, CHAT_PROMPT, Direct, EMBED_MODEL, Endpoint, embed_text};
use report::{Figure, Report, Stats};
use stdio::{Launch, Server};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How many of each measurement.
struct Counts {
    cold_starts: usize,
    list: usize,
    calls: usize,
    throughput_calls: usize,
    warmup: usize,
}

impl Counts {
    fn new(quick: bool) -> Counts {
        if quick {
            Counts {
                cold_starts: 5,
                list: 100,
                calls: 100,
                throughput_calls: 200,
                warmup: 5,
            }
        } else {
            Counts {
                cold_starts: 20,
                list: 1000,
                calls: 1000,
                throughput_calls: 2000,
                warmup: 30,
            }
        }
    }
}

/// Input of the edit test (under the server's 20 MiB input limit).
const EDIT_INPUT_BYTES: usize = 20_000_000;
/// Image inside the `b64_json` answer of the generation test.
const GENERATED_IMAGE_BYTES: usize = 10_000_000;
const CONCURRENCY: [usize; 2] = [8, 32];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aipass-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> BenchResult<()> {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "usage: cargo run --release -p aipass-bench [-- [--quick] [--json PATH] [--only LIST] [--peers [BIN...]]]\n\
             Builds target/release/aipass-mcp (or uses $AIPASS_MCP_BIN), benchmarks it against the\n\
             in-process fake AI Pass and writes target/bench.json.\n\
             --quick      fewer runs (a smoke test, not figures to quote)\n\
             --only LIST  some of: cold,list,calls,throughput,edit,vision,generate,peers\n\
             --peers BIN… also aipass-mcp beside a bare rmcp server and each BIN, with ratios\n\
             AIPASS_BENCH_WRAP='valgrind --tool=callgrind' puts a profiler in front of the server."
        );
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    // `--peers` and the binaries after it (up to the next option).
    let peers: Option<Vec<PathBuf>> = args.iter().position(|a| a == "--peers").map(|i| {
        args[i + 1..]
            .iter()
            .take_while(|a| !a.starts_with("--"))
            .map(PathBuf::from)
            .collect()
    });
    let counts = Counts::new(quick);
    let target_dir = target_dir()?;
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir.join("bench.json"));
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: the bench itself is a debug build; its client side is slower than it should be. \
             Use `cargo run --release -p aipass-bench`."
        );
    }
    let binary = server_binary(&target_dir)?;
    eprintln!("server binary: {}", binary.display());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fake = runtime.block_on(FakeServer::start(FakeConfig::default()))?;
    // Thousands of paid calls: lift the budget so none is refused.
    fake.set_budget(1.0e9, 0.0);
    let token = fake.issue_token("api:access profile:read").access_token;
    let work = tempfile::Builder::new().prefix("aipass-bench-").tempdir()?;
    let launch = Launch {
        binary: binary.clone(),
        base_url: fake.base_url(),
        access_token: token.clone(),
        work: work.path().to_path_buf(),
        wrapper: std::env::var("AIPASS_BENCH_WRAP")
            .map(|w| w.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
    };
    if !launch.wrapper.is_empty() {
        eprintln!(
            "warning: AIPASS_BENCH_WRAP is set: the figures measure the wrapper too (profiling run)"
        );
    }
    // The direct baseline runs as the server runs: reqwest on a current-thread runtime of its
    // own (on this thread), not on the fake's workers.
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let direct = Arc::new(Direct::new(&fake.base_url(), &token)?);
    let mut report = Report::new(&binary, quick);

    if wanted(&only, "cold") {
        eprintln!("cold start and idle memory ({} runs)…", counts.cold_starts);
        cold_start(&launch, &counts, &mut report)?;
    }
    let session = ["list", "calls", "throughput"];
    if session.iter().any(|s| wanted(&only, s)) {
        let (mut server, _) = Server::start(&launch)?;
        if wanted(&only, "list") {
            eprintln!("tools/list latency…");
            list_latency(&mut server, &counts, &mut report)?;
        }
        if wanted(&only, "calls") {
            eprintln!("per-call overhead…");
            per_call(
                &mut server,
                &client_runtime,
                &direct,
                &launch,
                &counts,
                &mut report,
            )?;
        }
        if wanted(&only, "throughput") {
            eprintln!("throughput…");
            throughput(&mut server, &client_runtime, &direct, &counts, &mut report)?;
        }
        report.detail(
            "rss_after_load_kb",
            json!(server.status_kb("VmRSS")?),
            "RSS of the session server after all the calls above",
        );
        server.close()?;
    }
    if wanted(&only, "edit") {
        eprintln!("peak memory with a 20 MB edit input…");
        edit_peak(&launch, &mut report)?;
    }
    if wanted(&only, "vision") {
        eprintln!("peak memory with a 20 MB vision input…");
        vision_peak(&launch, &mut report)?;
    }
    if wanted(&only, "generate") {
        eprintln!("peak memory with a 10 MB generated image…");
        generate_peak(&launch, &fake, &mut report)?;
    }

    if let Some(peers) = &peers {
        peers::compare(&launch, peers, counts.cold_starts, counts.list, &mut report)?;
    }

    report.finish(started.elapsed());
    print!("{}", report.table());
    let json = serde_json::to_string_pretty(&report.to_json())?;
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&json_path, json + "\n")?;
    println!("\nJSON: {}", json_path.display());
    Ok(())
}

/// Whether `--only` (empty = everything) names this section.
fn wanted(only: &[String], section: &str) -> bool {
    only.is_empty() || only.iter().any(|s| s == section)
}

fn cold_start(launch: &Launch, counts: &Counts, report: &mut Report) -> BenchResult<()> {
    const WARMUP: usize = 2;
    let mut times = Vec::new();
    let mut floor = Vec::new();
    let mut cpu = Vec::new();
    let mut rss = Vec::new();
    let mut anonymous = Vec::new();
    let mut pss = Vec::new();
    for run in 0..counts.cold_starts + WARMUP {
        let sample = peers::cold_once(launch)?;
        let echo = stdio::echo_floor()?;
        if run >= WARMUP {
            times.push(sample.elapsed);
            cpu.push(sample.cpu);
            floor.push(echo);
            rss.push(sample.rss_kb as f64);
            anonymous.push(sample.anonymous_kb as f64);
            pss.push(sample.pss_kb as f64);
        }
    }
    let times = Stats::of_durations(&times);
    let floor = Stats::of_durations(&floor);
    let cpu = Stats::of_durations(&cpu);
    let rss = Stats::of(rss);
    let anonymous = Stats::of(anonymous);
    let pss = Stats::of(pss);
    report.figure(Figure::new(
        "cold_start_ms",
        "cold start: spawn → initialize response (median)",
        times.median,
        "ms",
        Some(5.0),
    ));
    report.figure(Figure::new(
        "cold_start_cpu_ms",
        "  CPU time of the server until idle after initialize (median)",
        cpu.median,
        "ms",
        None,
    ));
    report.figure(Figure::new(
        "spawn_floor_ms",
        "  reference: spawn → line echoed by `head -n 1` (median)",
        floor.median,
        "ms",
        None,
    ));
    report.figure(Figure::new(
        "idle_rss_mb",
        "idle RSS after initialize (median)",
        rss.median * 1024.0 / 1e6,
        "MB",
        Some(8.0),
    ));
    report.figure(Figure::new(
        "idle_anonymous_mb",
        "  of which private (anonymous: heap, stacks, relocated data)",
        anonymous.median * 1024.0 / 1e6,
        "MB",
        None,
    ));
    report.detail(
        "cold_start_ms",
        times.to_json(),
        "spawn → initialize response",
    );
    report.detail(
        "cold_start_cpu_ms",
        cpu.to_json(),
        "CPU time (schedstat) of the server from exec to idle after initialize",
    );
    report.detail(
        "spawn_floor_ms",
        floor.to_json(),
        "spawn → one line echoed by head -n 1",
    );
    report.detail(
        "idle_rss_kb",
        rss.to_json(),
        "VmRSS 50 ms after initialize, kB",
    );
    report.detail(
        "idle_anonymous_kb",
        anonymous.to_json(),
        "Anonymous in smaps_rollup: memory no other process shares, kB",
    );
    report.detail(
        "idle_pss_kb",
        pss.to_json(),
        "Pss in smaps_rollup: RSS with shared pages divided among their users, kB",
    );
    Ok(())
}

fn list_latency(server: &mut Server, counts: &Counts, report: &mut Report) -> BenchResult<()> {
    let mut ping = Vec::with_capacity(counts.list);
    for _ in 0..counts.warmup {
        server.request("tools/list", "")?;
        server.request("ping", "")?;
    }
    let (_, first) = server.request("tools/list", "")?;
    let tools = first["result"]["tools"].as_array().map_or(0, Vec::len);
    let list_bytes = first.to_string().len();
    let mut list = Vec::with_capacity(counts.list);
    for _ in 0..counts.list {
        list.push(server.request("tools/list", "")?.0);
        ping.push(server.request("ping", "")?.0);
    }
    let list = Stats::of_durations(&list);
    let ping = Stats::of_durations(&ping);
    report.figure(Figure::new(
        "tools_list_median_ms",
        "tools/list latency (median)",
        list.median,
        "ms",
        Some(0.1),
    ));
    report.figure(Figure::new(
        "tools_list_p99_ms",
        "tools/list latency (p99)",
        list.p99,
        "ms",
        None,
    ));
    report.figure(Figure::new(
        "ping_median_ms",
        "ping round trip (median; the stdio floor)",
        ping.median,
        "ms",
        None,
    ));
    report.detail("tools_list_ms", list.to_json(), "tools/list round trip");
    report.detail(
        "tools_list_response",
        json!({"tools": tools, "bytes": list_bytes}),
        "size of one tools/list response line",
    );
    report.detail("ping_ms", ping.to_json(), "ping round trip");
    Ok(())
}

/// Call `i` as a tool call and as the baseline's request.
type MakeCall<'a> = dyn Fn(usize) -> (Value, Endpoint) + 'a;

/// Through the server and direct (and a durable save without the server, when `floor` is
/// given), alternating call by call so all see the same machine load.
fn interleaved(
    server: &mut Server,
    runtime: &tokio::runtime::Runtime,
    direct: &Direct,
    tool: &str,
    make: &MakeCall<'_>,
    counts: &Counts,
    mut floor: Option<&mut fsync::Floor<'_>>,
) -> BenchResult<(Stats, Stats, Option<Stats>)> {
    let (count, warmup) = (counts.calls, counts.warmup);
    let mut through = Vec::with_capacity(count);
    let mut straight = Vec::with_capacity(count);
    let mut saves = Vec::with_capacity(count);
    for i in 0..count + warmup {
        let (arguments, endpoint) = make(i);
        let (elapsed, _) = server.call_tool(tool, &arguments)?;
        let started = Instant::now();
        runtime.block_on(direct.send(&endpoint))?;
        let direct_elapsed = started.elapsed();
        let save = match floor.as_mut() {
            Some(floor) => Some(floor.sample()?),
            None => None,
        };
        if i >= warmup {
            through.push(elapsed);
            straight.push(direct_elapsed);
            saves.extend(save);
        }
    }
    Ok((
        Stats::of_durations(&through),
        Stats::of_durations(&straight),
        (!saves.is_empty()).then(|| Stats::of_durations(&saves)),
    ))
}

/// Embed call `i` into `dir`: a new text (so a new file name) each call.
fn embed_call(dir: &Path) -> impl Fn(usize) -> (Value, Endpoint) + '_ {
    move |i| {
        let text = embed_text(i);
        (
            json!({"input": text, "model": EMBED_MODEL, "output_dir": dir}),
            Endpoint::Embeddings(text),
        )
    }
}

fn per_call(
    server: &mut Server,
    runtime: &tokio::runtime::Runtime,
    direct: &Direct,
    launch: &Launch,
    counts: &Counts,
    report: &mut Report,
) -> BenchResult<()> {
    let disk_dir = launch.work.join("embed-out");
    // The same on tmpfs, where fsync costs nothing.
    let shm = Path::new("/dev/shm");
    let shm_dir = match shm.is_dir().then(|| {
        tempfile::Builder::new()
            .prefix("aipass-bench-")
            .tempdir_in(shm)
    }) {
        Some(Ok(dir)) => Some(dir),
        _ => None,
    };
    let chat = |_: usize| {
        (
            json!({"prompt": CHAT_PROMPT, "model": CHAT_MODEL}),
            Endpoint::Chat,
        )
    };
    let embed_disk = embed_call(&disk_dir);
    let embed_shm = shm_dir.as_ref().map(|dir| embed_call(dir.path()));
    let mut cases: Vec<(&str, &str, &str, &MakeCall<'_>, Option<f64>)> = vec![(
        "embed",
        "embed",
        "embed (file in the temp dir)",
        &embed_disk,
        // Set after the run: the fsync floor measured there + 0.2 ms.
        None,
    )];
    if let Some(embed_shm) = &embed_shm {
        cases.push((
            "embed_tmpfs",
            "embed",
            "embed (file on tmpfs)",
            embed_shm,
            None,
        ));
    }
    cases.push(("chat", "chat", "chat (streamed)", &chat, Some(0.2)));
    for (key, tool, label, make, mut budget) in cases {
        // The embed folder's durable-save floor, sampled between the calls that use it.
        let mut floor = (key == "embed").then(|| fsync::Floor::beside(&disk_dir));
        let (through, straight, saves) =
            interleaved(server, runtime, direct, tool, make, counts, floor.as_mut())?;
        let floor = match (floor, saves) {
            (Some(floor), Some(saves)) => Some((saves, floor.finish()?)),
            _ => None,
        };
        if let Some((floor, _)) = &floor {
            budget = Some(floor.median + 0.2);
        }
        report.figure(Figure::new(
            &format!("{key}_overhead_ms"),
            &format!("per-call overhead, {label}: median server − median direct"),
            through.median - straight.median,
            "ms",
            budget,
        ));
        report.detail(
            &format!("{key}_through_server_ms"),
            through.to_json(),
            "tools/call round trip over stdio",
        );
        report.detail(
            &format!("{key}_direct_ms"),
            straight.to_json(),
            "the same HTTP request sent straight to the fake",
        );
        if let Some((floor, bytes)) = floor {
            fsync::report(report, &floor, bytes);
        }
    }
    Ok(())
}

fn throughput(
    server: &mut Server,
    runtime: &tokio::runtime::Runtime,
    direct: &Arc<Direct>,
    counts: &Counts,
    report: &mut Report,
) -> BenchResult<()> {
    let params = json!({"name": "chat", "arguments": {"prompt": CHAT_PROMPT, "model": CHAT_MODEL}})
        .to_string();
    for concurrency in CONCURRENCY {
        let total = counts.throughput_calls;
        // Warm-up batch: opens the connections this much concurrency needs, on both paths.
        server.pipelined("tools/call", &params, concurrency * 4, concurrency)?;
        runtime.block_on(direct.throughput(&Endpoint::Chat, concurrency * 4, concurrency));
        let (elapsed, failures) = server.pipelined("tools/call", &params, total, concurrency)?;
        if failures > 0 {
            return Err(format!("{failures} of {total} chat calls failed at {concurrency}").into());
        }
        let through = total as f64 / elapsed.as_secs_f64();
        let (elapsed, failures) =
            runtime.block_on(direct.throughput(&Endpoint::Chat, total, concurrency));
        if failures > 0 {
            return Err(format!("{failures} of {total} direct chat requests failed").into());
        }
        let straight = total as f64 / elapsed.as_secs_f64();
        report.figure(Figure::new(
            &format!("throughput_chat_c{concurrency}"),
            &format!("throughput, chat, {concurrency} concurrent (direct: {straight:.0}/s)"),
            through,
            "calls/s",
            None,
        ));
        report.detail(
            &format!("throughput_chat_c{concurrency}"),
            json!({"through_server_per_s": through, "direct_per_s": straight, "calls": total}),
            "calls per second, the whole batch over its wall time",
        );
    }
    Ok(())
}

fn edit_peak(launch: &Launch, report: &mut Report) -> BenchResult<()> {
    let png = noise::noise_png(EDIT_INPUT_BYTES, 0x5eed)?;
    let path = launch.work.join("noise-20mb.png");
    std::fs::write(&path, &png)?;
    let (mut server, _) = Server::start(launch)?;
    std::thread::sleep(Duration::from_millis(50));
    let before_kb = server.status_kb("VmRSS")?;
    let (elapsed, structured) = server.call_tool(
        "edit_image",
        &json!({
            "prompt": "make it blue",
            "images": [path],
            "model": "nano-banana-2-edit",
            "size": "1024x1024",
        }),
    )?;
    let peak_kb = server.status_kb("VmHWM")?;
    let after_kb = server.status_kb("VmRSS")?;
    server.close()?;
    std::fs::remove_file(&path)?;
    if structured["files"].as_array().is_none_or(Vec::is_empty) {
        return Err("edit_image saved no file".into());
    }
    let peak_bytes = peak_kb as f64 * 1024.0;
    report.figure(Figure::new(
        "edit_peak_rss_mb",
        &format!(
            "peak RSS, edit_image with a {:.1} MB input",
            png.len() as f64 / 1e6
        ),
        peak_bytes / 1e6,
        "MB",
        Some(3.0 * png.len() as f64 / 1e6),
    ));
    report.detail(
        "edit_image",
        json!({
            "input_bytes": png.len(),
            "rss_before_kb": before_kb,
            "peak_rss_kb": peak_kb,
            "rss_after_kb": after_kb,
            "peak_over_input": peak_bytes / png.len() as f64,
            "call_ms": elapsed.as_secs_f64() * 1e3,
        }),
        "VmHWM of a fresh server after one edit_image call",
    );
    Ok(())
}

fn vision_peak(launch: &Launch, report: &mut Report) -> BenchResult<()> {
    let png = noise::noise_png(EDIT_INPUT_BYTES, 0xc0ffee)?;
    let path = launch.work.join("noise-vision.png");
    std::fs::write(&path, &png)?;
    let (mut server, _) = Server::start(launch)?;
    std::thread::sleep(Duration::from_millis(50));
    let before_kb = server.status_kb("VmRSS")?;
    let (elapsed, _) = server.call_tool(
        "chat",
        &json!({"prompt": "What is in this picture?", "model": CHAT_MODEL, "images": [path]}),
    )?;
    let peak_kb = server.status_kb("VmHWM")?;
    server.close()?;
    std::fs::remove_file(&path)?;
    let peak_bytes = peak_kb as f64 * 1024.0;
    report.figure(Figure::new(
        "vision_peak_rss_mb",
        &format!(
            "peak RSS, chat with a {:.1} MB image (shrunk for vision)",
            png.len() as f64 / 1e6
        ),
        peak_bytes / 1e6,
        "MB",
        // Issue 18: at most 3× the input.
        Some(3.0 * png.len() as f64 / 1e6),
    ));
    report.detail(
        "vision_chat",
        json!({
            "input_bytes": png.len(),
            "rss_before_kb": before_kb,
            "peak_rss_kb": peak_kb,
            "peak_over_input": peak_bytes / png.len() as f64,
            "call_ms": elapsed.as_secs_f64() * 1e3,
        }),
        "VmHWM of a fresh server after one chat call with one image",
    );
    Ok(())
}

fn generate_peak(launch: &Launch, fake: &FakeServer, report: &mut Report) -> BenchResult<()> {
    // The fake's own images are gradients (a 4096x4096 one is about 0.6 MB), so a documented
    // fault answers instead: a 200 whose body is a generation result holding a real 10 MB PNG.
    let png = noise::noise_png(GENERATED_IMAGE_BYTES, 0xfeed)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let body = json!({"created": 0, "data": [{"b64_json": b64, "revised_prompt": "noise"}]});
    let answer_bytes = body.to_string().len();
    fake.inject_fault(
        Fault::new(FaultKind::Status {
            status: 200,
            retry_after: None,
            body: Some(body),
        })
        .on("POST", "/v1/images/generations"),
    );
    let (mut server, _) = Server::start(launch)?;
    std::thread::sleep(Duration::from_millis(50));
    let before_kb = server.status_kb("VmRSS")?;
    let (elapsed, structured) = server.call_tool(
        "generate_image",
        &json!({"prompt": "noise", "model": "imagen-4-ultra"}),
    )?;
    let peak_kb = server.status_kb("VmHWM")?;
    let after_kb = server.status_kb("VmRSS")?;
    server.close()?;
    fake.clear_faults();
    let saved = structured["files"][0]["bytes"].as_u64().unwrap_or(0);
    if saved != png.len() as u64 {
        return Err(format!(
            "generate_image saved {saved} bytes, expected the {} of the answer",
            png.len()
        )
        .into());
    }
    let peak_bytes = peak_kb as f64 * 1024.0;
    report.figure(Figure::new(
        "generate_peak_rss_mb",
        &format!(
            "peak RSS, generate_image receiving a {:.1} MB image ({:.1} MB of JSON)",
            png.len() as f64 / 1e6,
            answer_bytes as f64 / 1e6
        ),
        peak_bytes / 1e6,
        "MB",
        // Issue 18: at most 3× the image.
        Some(3.0 * png.len() as f64 / 1e6),
    ));
    report.detail(
        "generate_image",
        json!({
            "image_bytes": png.len(),
            "answer_bytes": answer_bytes,
            "rss_before_kb": before_kb,
            "peak_rss_kb": peak_kb,
            "rss_after_kb": after_kb,
            "peak_over_image": peak_bytes / png.len() as f64,
            "call_ms": elapsed.as_secs_f64() * 1e3,
        }),
        "VmHWM of a fresh server after one generate_image call",
    );
    Ok(())
}
