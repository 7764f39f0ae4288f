//! Shared in-memory state of one fake server: tokens, budget, counters, faults, files, video jobs.

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::agent_registry::AgentAuth;
use crate::error::ApiError;
use crate::faults::{Fault, FaultKind};
use crate::tokens::TokenStore;
use crate::types::{Consent, FakeClient, FakeConfig, RecordedRequest, Stats, TokenPair};
use crate::video_job::VideoJob;

/// How many requests `requests()` keeps.
const MAX_RECORDED: usize = 200;
/// How many generated files stay downloadable (a long demo must not grow without bound).
const MAX_FILES: usize = 256;

/// Cheap-to-clone handle on the shared state.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub(crate) struct Shared {
    pub config: FakeConfig,
    pub base_url: String,
    pub tokens: Mutex<TokenStore>,
    pub budget: Mutex<Budget>,
    pub stats: Mutex<Stats>,
    pub requests: Mutex<VecDeque<RecordedRequest>>,
    pub faults: Mutex<Vec<Fault>>,
    pub consent: Mutex<Consent>,
    pub stream_delay: Mutex<Duration>,
    pub files: Mutex<FileStore>,
    pub videos: Mutex<HashMap<String, VideoJob>>,
    pub log_requests: AtomicBool,
    pub agent_auth: Mutex<AgentAuth>,
}

impl AppState {
    pub fn new(config: FakeConfig, base_url: String) -> AppState {
        let budget = Budget::new(config.max_budget, 0.0);
        AppState(Arc::new(Shared {
            config,
            base_url,
            tokens: Mutex::new(TokenStore::default()),
            budget: Mutex::new(budget),
            stats: Mutex::new(Stats::default()),
            requests: Mutex::new(VecDeque::new()),
            faults: Mutex::new(Vec::new()),
            consent: Mutex::new(Consent::Approve),
            stream_delay: Mutex::new(Duration::ZERO),
            files: Mutex::new(FileStore::default()),
            videos: Mutex::new(HashMap::new()),
            log_requests: AtomicBool::new(false),
            agent_auth: Mutex::new(AgentAuth::default()),
        }))
    }

    /// A token pair for the first registered client, as if the user had signed in.
    pub fn issue_token(&self, scope: &str) -> TokenPair {
        let client_id = self
            .config
            .clients
            .first()
            .map(|c| c.client_id.clone())
            .unwrap_or_else(|| "aipass-mcp-demo".into());
        self.tokens
            .lock()
            .unwrap()
            .issue(&client_id, scope, self.config.access_token_ttl)
    }

    /// A registered client: one from the config, or one `ensure` created and nobody deleted.
    pub fn client(&self, client_id: &str) -> Option<FakeClient> {
        self.config
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
            .cloned()
            .or_else(|| self.agent_auth.lock().unwrap().active_client(client_id))
    }

    pub fn record(&self, request: RecordedRequest) {
        let mut requests = self.requests.lock().unwrap();
        if requests.len() == MAX_RECORDED {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    pub fn count_closed_early(&self) {
        self.stats.lock().unwrap().connections_closed_early += 1;
    }

    /// Holds `usd` of the budget for one request; refunded unless committed.
    pub fn reserve(&self, usd: f64) -> Result<Reservation, ApiError> {
        let micros = to_micros(usd);
        self.budget.lock().unwrap().take(micros)?;
        Ok(Reservation {
            state: self.clone(),
            micros,
            committed: false,
        })
    }

    /// Like [`AppState::store_file`], but the URL names `localhost` instead of `127.0.0.1`: another
    /// origin for the client (a provider's CDN), served by the same listener.
    pub fn store_foreign_file(&self, extension: &str, data: Vec<u8>) -> String {
        self.store_file(extension, data)
            .replacen("://127.0.0.1:", "://localhost:", 1)
    }

    /// Takes one hit of the first matching fault whose kind passes `wanted`.
    pub fn take_fault(
        &self,
        method: &str,
        path: &str,
        wanted: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap();
        let index = faults
            .iter()
            .position(|f| f.matches(method, path) && wanted(&f.kind))?;
        let fault = &mut faults[index];
        fault.count -= 1;
        let kind = fault.kind.clone();
        if fault.count == 0 {
            faults.remove(index);
        }
        Some(kind)
    }

    /// Keeps `png` for download and returns its public URL.
    pub fn store_file(&self, extension: &str, data: Vec<u8>) -> String {
        let name = format!("{}.{extension}", crate::tokens::random_id(12));
        self.files.lock().unwrap().insert(name.clone(), data.into());
        format!("{}/_fake/files/{name}", self.base_url)
    }
}

/// Budget kept in whole micro-dollars so sums never drift.
pub(crate) struct Budget {
    max: i64,
    total: i64,
    /// No limit at all (the service then answers `maxBudget: null`).
    unlimited: bool,
}

impl Budget {
    fn new(max_usd: f64, total_usd: f64) -> Budget {
        Budget {
            max: to_micros(max_usd),
            total: to_micros(total_usd),
            unlimited: false,
        }
    }

    pub fn set(&mut self, max_usd: f64, total_usd: f64) {
        *self = Budget::new(max_usd, total_usd);
    }

    /// No budget limit from now on; spending is still counted.
    pub fn set_unlimited(&mut self) {
        self.unlimited = true;
    }

    pub fn is_unlimited(&self) -> bool {
        self.unlimited
    }

    fn remaining(&self) -> i64 {
        (self.max - self.total).max(0)
    }

    fn take(&mut self, micros: i64) -> Result<(), ApiError> {
        if !self.unlimited && self.remaining() < micros {
            return Err(ApiError::budget_exceeded(
                from_micros(self.remaining()),
                from_micros(micros),
            ));
        }
        self.total += micros;
        Ok(())
    }

    /// (totalCost, maxBudget, remainingBudget) in USD.
    pub fn summary(&self) -> (f64, f64, f64) {
        (
            from_micros(self.total),
            from_micros(self.max),
            from_micros(self.remaining()),
        )
    }
}

fn to_micros(usd: f64) -> i64 {
    (usd * 1_000_000.0).round() as i64
}

fn from_micros(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

/// A budget hold: taken up front so concurrent calls cannot overspend, given back on failure.
pub(crate) struct Reservation {
    state: AppState,
    micros: i64,
    committed: bool,
}

impl Reservation {
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.committed {
            self.state.budget.lock().unwrap().total -= self.micros;
        }
    }
}

/// Generated images handed out as URLs, oldest dropped first.
#[derive(Default)]
pub(crate) struct FileStore {
    files: HashMap<String, Bytes>,
    order: VecDeque<String>,
}

impl FileStore {
    fn insert(&mut self, name: String, data: Bytes) {
        if self.order.len() == MAX_FILES
            && let Some(old) = self.order.pop_front()
        {
            self.files.remove(&old);
        }
        self.order.push_back(name.clone());
        self.files.insert(name, data);
    }

    pub fn get(&self, name: &str) -> Option<Bytes> {
        self.files.get(name).cloned()
    }
}
