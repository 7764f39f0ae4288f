//! `generate_video`, `get_video` and `remix_video`: long video jobs that wait inline up to a bound
//! (below the hosts' ~60 s limit), then hand back a job id to come back with.

use crate::error::ErrorCode;
use std::path::Path;
use std::time::{Duration, Instant};

use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::images::{checked_size, required_text};
use super::{ToolError, ToolResult, args, file_link, input_schema, output_schema, success};
use crate::api::types::{VideoJob, VideoRequest, VideoState};
use crate::media::{self, OutputFile};
use crate::models::Capability;
use crate::state::AipassServer;

/// How long a call waits for a job by default, and at most: hosts cancel calls at about 60 s.
const DEFAULT_WAIT: Duration = Duration::from_secs(45);
const MAX_WAIT_SECONDS: u32 = 55;
/// Polling starts fast and slows down to this.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GenerateVideoArgs {
    /// What the video shows.
    pub prompt: String,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Length in seconds, e.g. 4, 8 or 12.
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub seconds: Option<u32>,
    /// Size as WIDTHxHEIGHT, e.g. 1280x720.
    pub size: Option<String>,
    /// Seconds to wait for the video before returning a pending job (0 to 55, default 45).
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub wait_seconds: Option<u32>,
    /// Folder for the file; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GetVideoArgs {
    /// The job id a video tool returned.
    pub video_id: String,
    /// Seconds to wait for completion (0 to 55, default 0: just look).
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub wait_seconds: Option<u32>,
    /// Folder for the file; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RemixVideoArgs {
    /// The finished video to start from.
    pub video_id: String,
    /// What to change.
    pub prompt: String,
    /// Seconds to wait for the new video (0 to 55, default 45).
    #[serde(default, deserialize_with = "args::opt_u32")]
    pub wait_seconds: Option<u32>,
    /// Folder for the file; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct VideoOutput {
    /// pending (call get_video later), completed or failed.
    pub status: String,
    /// The status word AI Pass used (queued, in_progress, …).
    pub upstream_status: String,
    /// Job id for get_video and remix_video.
    pub video_id: String,
    /// Percent done, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// The model used.
    pub model: String,
    /// The saved video once completed; empty while pending.
    pub files: Vec<OutputFile>,
}

#[tool_router(router = video_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "generate_video",
        description = "Start a video from a prompt and wait up to wait_seconds (default 45). Completed: the mp4 is saved and its path returned. Still running: status pending with video_id; call get_video later. Spends AI Pass budget.",
        input_schema = input_schema::<GenerateVideoArgs>(),
        output_schema = output_schema::<VideoOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Generate a video", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn generate_video(&self, call: Call) -> CallToolResult {
        self.run(call, Self::generate_video_impl).await
    }

    #[tool(
        name = "get_video",
        description = "Check a video job by video_id (optionally waiting up to wait_seconds); once completed, the mp4 is saved once and its path returned. Free.",
        input_schema = input_schema::<GetVideoArgs>(),
        output_schema = output_schema::<VideoOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Get a video job", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn get_video(&self, call: Call) -> CallToolResult {
        self.run(call, Self::get_video_impl).await
    }

    #[tool(
        name = "remix_video",
        description = "Make a new video from a finished one (video_id) with a prompt describing the change; waits like generate_video. Spends AI Pass budget.",
        input_schema = input_schema::<RemixVideoArgs>(),
        output_schema = output_schema::<VideoOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Remix a video", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn remix_video(&self, call: Call) -> CallToolResult {
        self.run(call, Self::remix_video_impl).await
    }
}

impl AipassServer {
    async fn generate_video_impl(
        &self,
        args: GenerateVideoArgs,
        call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let prompt = required_text(&args.prompt, "prompt")?;
        let wait = wait_bound(args.wait_seconds, DEFAULT_WAIT)?;
        let size = checked_size(args.size.as_deref())?;
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Capability::Video)
            .await?;
        let request = VideoRequest {
            model: model.clone(),
            prompt: prompt.to_string(),
            seconds: args.seconds.map(|s| s.to_string()),
            size,
        };
        let job = self.state.api.create_video(&request).await?;
        self.follow_job(job, model, wait, &dir, &call).await
    }

    async fn get_video_impl(
        &self,
        args: GetVideoArgs,
        call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let video_id = required_text(&args.video_id, "video_id")?;
        let wait = wait_bound(args.wait_seconds, Duration::ZERO)?;
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let job = self.state.api.get_video(video_id).await?;
        let model = job.model.clone().unwrap_or_default();
        self.follow_job(job, model, wait, &dir, &call).await
    }

    async fn remix_video_impl(
        &self,
        args: RemixVideoArgs,
        call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let video_id = required_text(&args.video_id, "video_id")?;
        let prompt = required_text(&args.prompt, "prompt")?;
        let wait = wait_bound(args.wait_seconds, DEFAULT_WAIT)?;
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let job = self.state.api.remix_video(video_id, prompt).await?;
        let model = job.model.clone().unwrap_or_default();
        self.follow_job(job, model, wait, &dir, &call).await
    }

    /// Polls a job with backoff until it ends or `wait` runs out, reporting progress; a
    /// cancelled call stops polling at once and writes nothing.
    async fn follow_job(
        &self,
        mut job: VideoJob,
        model: String,
        wait: Duration,
        dir: &Path,
        call: &CallScope,
    ) -> ToolResult<CallToolResult> {
        let deadline = Instant::now() + wait;
        let mut interval = Duration::from_millis(250);
        // The developer-key shape has no status on the job: it lives at `/videos/{id}/status`.
        let status_endpoint = job.status.is_empty();
        if status_endpoint {
            job = self.job_status(job).await?;
        }
        while !is_finished(&job) {
            call.progress
                .report(
                    format!(
                        "video {}: {} ({:.0}%)",
                        job.id,
                        job.status,
                        job.progress.unwrap_or(0.0)
                    ),
                    None,
                )
                .await;
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let pause = interval.min(deadline - now);
            tokio::select! {
                _ = call.context.ct.cancelled() => {
                    return Err(ToolError::new(ErrorCode::Cancelled, format!("stopped waiting for video {}; it keeps running (get_video)", job.id)));
                }
                _ = tokio::time::sleep(pause) => {}
            }
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
            job = if status_endpoint {
                self.job_status(job).await?
            } else {
                self.state.api.get_video(&job.id).await?
            };
        }
        let model = job.model.clone().filter(|m| !m.is_empty()).unwrap_or(model);
        match VideoState::of(&job.status) {
            VideoState::Completed => {
                let file = self.download_video(&job, dir).await?;
                let text = format!("Video {} is ready: {}", job.id, file.path);
                let links = vec![file_link(&file)];
                let output = VideoOutput {
                    status: VideoState::Completed.as_str().into(),
                    upstream_status: job.status,
                    video_id: job.id,
                    progress: Some(100.0),
                    model,
                    files: vec![file],
                };
                Ok(success(text, &output, links))
            }
            VideoState::Failed => Err(ToolError {
                code: ErrorCode::UpstreamError,
                message: format!(
                    "video {} failed ({}): {}",
                    job.id,
                    job.status,
                    failure_reason(&job)
                ),
            }),
            VideoState::Pending => {
                let text = format!(
                    "Video {} is still {} ({:.0}%): call get_video with video_id \"{}\" later.",
                    job.id,
                    job.status,
                    job.progress.unwrap_or(0.0),
                    job.id
                );
                let output = VideoOutput {
                    status: VideoState::Pending.as_str().into(),
                    upstream_status: job.status,
                    video_id: job.id,
                    progress: job.progress,
                    model,
                    files: Vec::new(),
                };
                Ok(success(text, &output, Vec::new()))
            }
        }
    }

    /// The job with its status from `/videos/{id}/status`, keeping what the job already said.
    async fn job_status(&self, job: VideoJob) -> ToolResult<VideoJob> {
        let mut status = self.state.api.video_status(&job.id).await?;
        status.id = job.id;
        status.model = status.model.or(job.model);
        if status.status.is_empty() {
            return Err(ToolError {
                code: ErrorCode::UpstreamError,
                message: format!("AI Pass gave no status for video {}", status.id),
            });
        }
        Ok(status)
    }

    /// Downloads a finished video once per process; later calls return the same file. The
    /// file comes from the job's `downloadUrl` when it has one, else from `/content`.
    async fn download_video(&self, job: &VideoJob, dir: &Path) -> ToolResult<OutputFile> {
        let video_id = job.id.as_str();
        let mut downloaded = self.state.videos.lock().await;
        if let Some(file) = downloaded
            .get(video_id)
            .filter(|f| Path::new(&f.path).exists())
        {
            return Ok(file.clone());
        }
        let content = match job.download_url.as_deref() {
            Some(url) => self.state.api.download(url).await?,
            None => self.state.api.video_content(video_id).await?,
        };
        let mime = media::sniff_mime(&content.bytes).unwrap_or("video/mp4");
        // The id comes from upstream: it is cleaned like a prompt before it names a file.
        let file =
            media::save_new_file(dir, &video_file_base(video_id), "mp4", mime, content.bytes)
                .await?;
        downloaded.insert(video_id.to_string(), file.clone());
        Ok(file)
    }
}

/// The file name (without extension) for a video: the id comes from upstream, so it is cleaned
/// like a prompt (letters and digits in dash-joined words), never used as a path.
fn video_file_base(video_id: &str) -> String {
    media::base_name("video", video_id)
}

fn is_finished(job: &VideoJob) -> bool {
    VideoState::of(&job.status) != VideoState::Pending
}

fn failure_reason(job: &VideoJob) -> String {
    job.error
        .as_ref()
        .and_then(|e| {
            e.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .or_else(|| Some(e.to_string()))
        })
        .unwrap_or_else(|| "no reason given".into())
}

fn wait_bound(requested: Option<u32>, default: Duration) -> ToolResult<Duration> {
    match requested {
        None => Ok(default),
        Some(seconds) if seconds <= MAX_WAIT_SECONDS => Ok(Duration::from_secs(seconds.into())),
        Some(_) => Err(ToolError::invalid_input(format!(
            "wait_seconds must be 0 to {MAX_WAIT_SECONDS} (hosts cancel calls at about 60 s); call get_video to keep waiting"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Security issue 14: an upstream video id never becomes a path or carries control bytes.
    #[test]
    fn video_file_names_from_upstream_ids_are_cleaned() {
        for id in [
            "../../x/evil",
            "/etc/passwd",
            "a\\..\\b",
            "vid\n\r\u{0}\u{1b}[31m",
            "..",
            "C:\\Windows\\x",
            "video_abc123",
        ] {
            let name = video_file_base(id);
            assert!(name.starts_with("video-"), "{id:?} -> {name:?}");
            assert!(
                name.chars().all(|c| c.is_alphanumeric() || c == '-'),
                "{id:?} -> {name:?}"
            );
            assert!(!name.contains(".."), "{id:?} -> {name:?}");
        }
        assert!(video_file_base("video_abc123").ends_with("-video-abc123"));
    }
}
