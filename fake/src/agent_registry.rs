//! The agent-auth data of the fake (one user): device requests, setup grants, the clients
//! `ensure` created, and the scripted [`DeviceUser`] who answers the approval page. The
//! handlers in `agent_auth.rs` act on it.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::types::{AgentAuthStats, FakeClient};

/// What the user does when they open an approval link, and how the poll answers look.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceUser {
    /// The user's answer on the approval page.
    pub answer: DeviceAnswer,
    /// Polls answered `authorization_pending` after the answer was given, before it shows.
    pub pending_polls: u32,
    /// The next this-many polls answer `slow_down` (the interval grows by 5 s each time).
    pub slow_down_polls: u32,
    /// `interval` (seconds) of new device requests.
    pub interval: u64,
    /// `expiresIn` (seconds) of new device requests.
    pub expires_in: u64,
    /// Hold the answer of every `ensure` after the client was created (a lost answer or a crash
    /// of the caller in between), until this is set to false again.
    pub hold_ensure: bool,
}

impl Default for DeviceUser {
    fn default() -> Self {
        DeviceUser {
            answer: DeviceAnswer::Approve,
            pending_polls: 0,
            slow_down_polls: 0,
            interval: 1,
            expires_in: 600,
            hold_ensure: false,
        }
    }
}

/// The user's answer on the approval page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAnswer {
    /// Approves the request.
    #[default]
    Approve,
    /// Denies it (`access_denied`).
    Deny,
    /// Never answers: the request runs out (`expired_token`).
    Ignore,
}

/// One device request.
pub(crate) struct Device {
    pub(crate) user_code: String,
    pub(crate) fingerprint: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) expires_at: Instant,
    pub(crate) interval: Duration,
    pub(crate) last_poll: Option<Instant>,
    pub(crate) answer: Option<DeviceAnswer>,
    pub(crate) pending_left: u32,
    /// The grant issued on approval; later polls answer the same one.
    pub(crate) grant: Option<String>,
}

/// One setup grant.
pub(crate) struct Grant {
    pub(crate) fingerprint: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) revoked: bool,
}

/// A client created by `ensure`.
#[derive(Clone)]
pub(crate) struct Created {
    pub(crate) client_id: String,
    pub(crate) name: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) runtime_scopes: Vec<String>,
    pub(crate) active: bool,
}

/// All agent-auth state of the fake (one user).
#[derive(Default)]
pub(crate) struct AgentAuth {
    pub user: DeviceUser,
    pub stats: AgentAuthStats,
    pub(crate) devices: HashMap<String, Device>,
    pub(crate) grants: HashMap<String, Grant>,
    /// Created clients by (fingerprint, idempotency key).
    pub(crate) created: HashMap<(String, String), Created>,
    pub(crate) secrets: BTreeSet<String>,
}

impl AgentAuth {
    /// Device codes and grants issued (for leak checks).
    pub fn secrets(&self) -> impl Iterator<Item = &String> {
        self.secrets.iter()
    }

    /// Marks a created client deleted (as the developer panel does); true when it existed.
    pub fn delete_client(&mut self, client_id: &str) -> bool {
        let mut found = false;
        for client in self.created.values_mut() {
            if client.client_id == client_id {
                client.active = false;
                found = true;
            }
        }
        found
    }

    /// The created client with this id, if it is still active.
    pub fn active_client(&self, client_id: &str) -> Option<FakeClient> {
        self.created
            .values()
            .find(|c| c.client_id == client_id && c.active)
            .map(|c| FakeClient {
                client_id: c.client_id.clone(),
                redirect_uris: c.redirect_uris.clone(),
            })
    }
}
