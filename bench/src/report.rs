//! Figures with their budgets, summary statistics, the printed table and the JSON file.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Summary of a sample.
pub struct Stats {
    pub count: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of(mut values: Vec<f64>) -> Stats {
        assert!(!values.is_empty(), "no samples");
        values.sort_by(f64::total_cmp);
        // Nearest rank on the sorted sample.
        let at = |p: f64| values[((values.len() - 1) as f64 * p).round() as usize];
        Stats {
            count: values.len(),
            min: values[0],
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: values[values.len() - 1],
            mean: values.iter().sum::<f64>() / values.len() as f64,
        }
    }

    /// In milliseconds.
    pub fn of_durations(durations: &[Duration]) -> Stats {
        Stats::of(durations.iter().map(|d| d.as_secs_f64() * 1e3).collect())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count, "min": self.min, "median": self.median, "p90": self.p90,
            "p99": self.p99, "max": self.max, "mean": self.mean,
        })
    }
}

/// One headline figure.
pub struct Figure {
    key: String,
    label: String,
    value: f64,
    unit: &'static str,
    /// Upper bound; None = reported without a budget.
    budget: Option<f64>,
}

impl Figure {
    pub fn new(
        key: &str,
        label: &str,
        value: f64,
        unit: &'static str,
        budget: Option<f64>,
    ) -> Self {
        Figure {
            key: key.to_string(),
            label: label.to_string(),
            value,
            unit,
            budget,
        }
    }

    fn met(&self) -> Option<bool> {
        self.budget.map(|b| self.value <= b)
    }
}

pub struct Report {
    binary: String,
    binary_bytes: u64,
    quick: bool,
    figures: Vec<Figure>,
    details: Map<String, Value>,
    load_before: String,
    load_after: String,
    duration: Duration,
}

impl Report {
    pub fn new(binary: &Path, quick: bool) -> Report {
        Report {
            binary: binary.display().to_string(),
            binary_bytes: std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0),
            quick,
            figures: Vec::new(),
            details: Map::new(),
            load_before: load_average(),
            load_after: String::new(),
            duration: Duration::ZERO,
        }
    }

    pub fn figure(&mut self, figure: Figure) {
        let met = match figure.met() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "",
        };
        eprintln!(
            "  {:<64} {:>10} {}",
            figure.label,
            format_value(figure.value, figure.unit),
            met
        );
        self.figures.push(figure);
    }

    pub fn detail(&mut self, key: &str, value: Value, what: &str) {
        self.details
            .insert(key.to_string(), json!({"what": what, "value": value}));
    }

    pub fn finish(&mut self, duration: Duration) {
        self.duration = duration;
        self.load_after = load_average();
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\naipass-mcp benchmark{} — {} ({:.1} MB), {} CPUs, load {} → {}",
            if self.quick { " (quick)" } else { "" },
            self.binary,
            self.binary_bytes as f64 / 1e6,
            cpus(),
            self.load_before,
            self.load_after,
        );
        let _ = writeln!(out, "{:<72} {:>12} {:>12}", "figure", "value", "budget");
        let _ = writeln!(out, "{}", "-".repeat(106));
        for f in &self.figures {
            let budget = f
                .budget
                .map(|b| format!("≤ {}", format_value(b, f.unit)))
                .unwrap_or_default();
            let met = match f.met() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            let _ = writeln!(
                out,
                "{:<72} {:>12} {:>12}  {}",
                f.label,
                format_value(f.value, f.unit),
                budget,
                met
            );
        }
        let _ = writeln!(out, "\nbenchmark took {:.1} s", self.duration.as_secs_f64());
        out
    }

    pub fn to_json(&self) -> Value {
        let figures: Vec<Value> = self
            .figures
            .iter()
            .map(|f| {
                json!({
                    "key": f.key, "label": f.label, "value": f.value, "unit": f.unit,
                    "budget": f.budget, "met": f.met(),
                })
            })
            .collect();
        json!({
            "quick": self.quick,
            "binary": {"path": self.binary, "bytes": self.binary_bytes},
            "machine": {
                "cpus": cpus(),
                "cpu_model": cpu_model(),
                "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|s| s.trim().to_string()).unwrap_or_default(),
                "load_before": self.load_before,
                "load_after": self.load_after,
            },
            "figures": figures,
            "details": self.details,
            "duration_s": self.duration.as_secs_f64(),
        })
    }
}

fn format_value(value: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{value:.3} ms"),
        "MB" => format!("{value:.1} MB"),
        "calls/s" => format!("{value:.0}/s"),
        _ => format!("{value:.3} {unit}"),
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_default()
}

/// The 1-minute load average: other work on the machine skews every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}
