//! A minimal MCP client over the server's stdin/stdout: hand-written JSON-RPC lines, blocking
//! pipes, nothing between the clock and the pipe but one `write` and one `read_line`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `initialize` request every session starts with (2025-11-25 era).
const INITIALIZE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","#,
    r#""capabilities":{},"clientInfo":{"name":"aipass-bench","version":"0.1.0"}}}"#,
    "\n"
);
const INITIALIZED: &str = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

/// How to start the server binary.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    pub base_url: String,
    pub access_token: String,
    /// Scratch folder: HOME, working directory, outputs, the server's stderr.
    pub work: PathBuf,
    /// A command put in front of the binary, for profiling (`valgrind --tool=callgrind`);
    /// from `AIPASS_BENCH_WRAP`. Timings and memory figures are then the wrapper's too.
    pub wrapper: Vec<String>,
}

impl Launch {
    pub fn stderr_log(&self) -> PathBuf {
        self.work.join("server-stderr.log")
    }

    /// A clean environment, as an MCP host gives it: no keyring session bus, no proxies.
    fn command(&self) -> io::Result<Command> {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_log())?;
        // The tests' clean environment (HOME, config and output folders, file token store, no
        // browser), plus the fake's address and a token it issued.
        let mut vars = testkit::spawn::clean_vars_in(&self.work);
        vars.extend([
            ("AIPASS_BASE_URL".to_string(), self.base_url.clone()),
            ("AIPASS_ACCESS_TOKEN".to_string(), self.access_token.clone()),
            (
                "AIPASS_CLIENT_ID".to_string(),
                "aipass-mcp-demo".to_string(),
            ),
        ]);
        let mut command = testkit::spawn::command_of(&self.binary, &self.wrapper, vars, &self.work);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        Ok(command)
    }
}

/// A running server with an initialized session.
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    line: String,
    stderr_log: PathBuf,
}

impl Server {
    /// Spawns the server and sends `initialize`; the duration is spawn → the response line read.
    pub fn start(launch: &Launch) -> io::Result<(Server, Duration)> {
        let mut command = launch.command()?;
        let started = Instant::now();
        let mut child = command.spawn()?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        stdin.write_all(INITIALIZE.as_bytes())?;
        let mut stdout = BufReader::with_capacity(1 << 16, stdout);
        let mut line = String::new();
        let mut read = stdout.read_line(&mut line)?;
        // A profiler in front (AIPASS_BENCH_WRAP) may print its own lines first.
        while read > 0 && !line.starts_with('{') {
            line.clear();
            read = stdout.read_line(&mut line)?;
        }
        let elapsed = started.elapsed();
        let mut server = Server {
            child,
            stdin: Some(stdin),
            stdout,
            next_id: 1,
            line,
            stderr_log: launch.stderr_log(),
        };
        if read == 0 || !server.line.contains("\"result\"") {
            return Err(server.failure(&format!(
                "no initialize result (got {:?})",
                server.line.trim()
            )));
        }
        server.send_raw(INITIALIZED)?;
        Ok((server, elapsed))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`, …).
    pub fn status_kb(&self, field: &str) -> io::Result<u64> {
        proc_status_kb(self.pid(), field)
    }

    /// CPU time the server's main thread has used so far (`/proc/<pid>/schedstat`), which
    /// unlike wall time does not grow with the machine's load.
    pub fn cpu_time(&self) -> io::Result<Duration> {
        let text = std::fs::read_to_string(format!("/proc/{}/schedstat", self.pid()))?;
        let ns = text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other("unreadable schedstat"))?;
        Ok(Duration::from_nanos(ns))
    }

    /// A field of `/proc/<pid>/smaps_rollup` in kB (`Pss`, `Anonymous`, …).
    pub fn smaps_kb(&self, field: &str) -> io::Result<u64> {
        proc_kb(self.pid(), "smaps_rollup", field)
    }

    fn send_raw(&mut self, line: &str) -> io::Result<()> {
        let stdin = self.stdin.as_mut().expect("stdin open until close");
        stdin.write_all(line.as_bytes())
    }

    fn request_line(&mut self, method: &str, params: &str) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let line = if params.is_empty() {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\"}}\n")
        } else {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":{params}}}\n"
            )
        };
        (id, line)
    }

    /// One request, one response. The duration runs from just before the write to just after
    /// the response line is read; checking the response happens after the clock stops.
    pub fn request(&mut self, method: &str, params: &str) -> io::Result<(Duration, Value)> {
        let (id, line) = self.request_line(method, params);
        let started = Instant::now();
        self.send_raw(&line)?;
        loop {
            self.line.clear();
            if self.stdout.read_line(&mut self.line)? == 0 {
                return Err(self.failure(&format!("the server closed stdout during {method}")));
            }
            let elapsed = started.elapsed();
            let message: Value = serde_json::from_str(&self.line)
                .map_err(|e| self.failure(&format!("unparsable line from the server ({e})")))?;
            if message.get("id").and_then(Value::as_u64) == Some(id)
                && message.get("method").is_none()
            {
                if let Some(error) = message.get("error") {
                    return Err(self.failure(&format!("{method}: JSON-RPC error {error}")));
                }
                return Ok((elapsed, message));
            }
            // A notification (progress, log): not ours, keep reading.
        }
    }

    /// A `tools/call` that must succeed; returns its duration and `structuredContent`.
    pub fn call_tool(&mut self, name: &str, arguments: &Value) -> io::Result<(Duration, Value)> {
        let params = serde_json::json!({"name": name, "arguments": arguments}).to_string();
        let (elapsed, response) = self.request("tools/call", &params)?;
        let result = &response["result"];
        if result["isError"] == Value::Bool(true) {
            return Err(self.failure(&format!("{name} failed: {}", result["content"])));
        }
        Ok((elapsed, result["structuredContent"].clone()))
    }

    /// `total` calls with `concurrency` of them in flight at once over the one stdio session.
    /// Returns the wall time from the first write to the last response and the failed calls.
    pub fn pipelined(
        &mut self,
        method: &str,
        params: &str,
        total: usize,
        concurrency: usize,
    ) -> io::Result<(Duration, usize)> {
        let lines: Vec<String> = (0..total)
            .map(|_| self.request_line(method, params).1)
            .collect();
        let stdout = &mut self.stdout;
        let stdin = self.stdin.as_mut().expect("stdin open until close");
        std::thread::scope(|scope| {
            let (done_tx, done_rx) = mpsc::channel::<bool>();
            let reader = scope.spawn(move || -> io::Result<()> {
                let mut line = String::new();
                let mut answered = 0;
                while answered < total {
                    line.clear();
                    if stdout.read_line(&mut line)? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed stdout",
                        ));
                    }
                    let message: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if message.get("id").is_none() || message.get("method").is_some() {
                        continue;
                    }
                    answered += 1;
                    let ok = message.get("error").is_none()
                        && message["result"]["isError"] != Value::Bool(true);
                    if done_tx.send(ok).is_err() {
                        break;
                    }
                }
                Ok(())
            });
            let started = Instant::now();
            let mut sent = 0;
            let mut failures = 0;
            let mut write_error = None;
            while sent < concurrency.min(total) {
                if let Err(e) = stdin.write_all(lines[sent].as_bytes()) {
                    write_error = Some(e);
                    break;
                }
                sent += 1;
            }
            let mut answered = 0;
            while write_error.is_none() && answered < total {
                let Ok(ok) = done_rx.recv() else { break };
                answered += 1;
                failures += usize::from(!ok);
                if sent < total {
                    if let Err(e) = stdin.write_all(lines[sent].as_bytes()) {
                        write_error = Some(e);
                        break;
                    }
                    sent += 1;
                }
            }
            let elapsed = started.elapsed();
            drop(done_rx);
            if let Some(e) = write_error {
                return Err(e);
            }
            reader
                .join()
                .map_err(|_| io::Error::other("reader thread panicked"))??;
            Ok((elapsed, failures))
        })
    }

    /// Closes stdin (the server's signal to leave) and waits for it to exit.
    pub fn close(mut self) -> io::Result<()> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Err(io::Error::other(
                    "the server did not exit within 5 s of stdin closing",
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// An error that carries the end of the server's stderr.
    fn failure(&self, what: &str) -> io::Error {
        io::Error::other(format!(
            "{what}\n--- server stderr (last lines) ---\n{}",
            tail(&self.stderr_log, 20)
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A field of `/proc/<pid>/status` in kB; the peak (`VmHWM`) is testkit's own reading.
pub fn proc_status_kb(pid: u32, field: &str) -> io::Result<u64> {
    if field == "VmHWM" {
        return testkit::fixtures::peak_memory_kib(pid)
            .ok_or_else(|| io::Error::other(format!("no VmHWM in /proc/{pid}/status")));
    }
    proc_kb(pid, "status", field)
}

/// A `Field:  123 kB` line of a `/proc/<pid>/` file (`status`, `smaps_rollup`).
fn proc_kb(pid: u32, file: &str, field: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}"))?;
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| io::Error::other(format!("no {field} in /proc/{pid}/{file}")))
}

/// The reference floor on this machine: spawn → one line echoed back by `head -n 1`, a small
/// C program, with the same pipes and clock as [`Server::start`].
pub fn echo_floor() -> io::Result<Duration> {
    let mut command = Command::new("head");
    command
        .args(["-n", "1"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    stdin.write_all(INITIALIZE.as_bytes())?;
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let elapsed = started.elapsed();
    drop(stdin);
    child.wait()?;
    if line.is_empty() {
        return Err(io::Error::other("head echoed nothing"));
    }
    Ok(elapsed)
}

fn tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return String::from("(no stderr log)");
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
