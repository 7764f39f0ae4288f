//! Counting answers whose client went away before they were finished.

use crate::state::AppState;

/// Counts `connections_closed_early` if dropped before `finish()`: a slow or streaming answer
/// whose client went away (hyper drops the future or body when the socket closes).
pub(crate) struct ClosedEarlyGuard {
    state: AppState,
    finished: bool,
}

impl ClosedEarlyGuard {
    pub fn new(state: AppState) -> ClosedEarlyGuard {
        ClosedEarlyGuard {
            state,
            finished: false,
        }
    }

    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for ClosedEarlyGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.count_closed_early();
        }
    }
}
