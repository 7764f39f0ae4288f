//! One video job and how it moves on: each poll advances it a step (queued → 33 → 66 → done),
//! and a prompt with the word "fail" ends as a failed job.

use serde_json::{Value, json};

use crate::clock::unix_now;

/// Polls it takes to finish: queued → 33 → 66 → done.
const LAST_STEP: u8 = 3;

#[derive(Clone)]
pub(crate) struct VideoJob {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) prompt: String,
    pub(crate) seconds: String,
    pub(crate) size: String,
    pub(crate) created_at: u64,
    pub(crate) completed_at: Option<u64>,
    pub(crate) step: u8,
    pub(crate) remixed_from: Option<String>,
}

impl VideoJob {
    /// A prompt with the word "fail" in it ends as a failed job.
    pub(crate) fn fails(&self) -> bool {
        self.prompt
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case("fail"))
    }

    /// One poll's worth of progress.
    pub(crate) fn advance(&mut self) {
        if self.step < LAST_STEP {
            self.step += 1;
            if self.completed() {
                self.completed_at = Some(unix_now());
            }
        }
    }

    pub(crate) fn completed(&self) -> bool {
        self.step >= LAST_STEP && !self.fails()
    }

    pub(crate) fn to_json(&self) -> Value {
        let (status, progress) = match self.step {
            0 => ("queued", 0),
            1 => ("in_progress", 33),
            2 => ("in_progress", 66),
            _ if self.fails() => ("failed", 66),
            _ => ("completed", 100),
        };
        let mut job = json!({
            "id": self.id,
            "object": "video",
            "model": self.model,
            "status": status,
            "progress": progress,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "seconds": self.seconds,
            "size": self.size,
            "prompt": self.prompt,
            "remixed_from_video_id": self.remixed_from,
        });
        if status == "failed" {
            job["error"] = json!({
                "code": "generation_failed",
                "message": "The video could not be generated (the prompt asked the fake to fail)",
            });
        }
        job
    }
}
