//! `speak` (text to speech, saved to a file) and `transcribe` (speech to text).

use crate::error::ErrorCode;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::call::{Call, CallScope};
use super::images::required_text;
use super::{ToolError, ToolResult, file_link, input_schema, output_schema, success};
use crate::api::Upload;
use crate::api::types::{SpeechRequest, TranscriptionRequest};
use crate::media::{self, OutputFile};
use crate::models::Capability;
use crate::preview;
use crate::state::AipassServer;

/// Longest text one speech request takes (the usual upstream limit).
const MAX_SPEECH_CHARS: usize = 4096;

#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    #[default]
    Mp3,
    Wav,
    Opus,
    Aac,
    Flac,
    Pcm,
}

impl AudioFormat {
    fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Wav => "wav",
            AudioFormat::Opus => "opus",
            AudioFormat::Aac => "aac",
            AudioFormat::Flac => "flac",
            AudioFormat::Pcm => "pcm",
        }
    }

    fn mime_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Opus => "audio/ogg",
            AudioFormat::Aac => "audio/aac",
            AudioFormat::Flac => "audio/flac",
            AudioFormat::Pcm => "audio/pcm",
        }
    }

    fn extension(self) -> &'static str {
        self.as_str()
    }
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SpeakArgs {
    /// The text to speak (up to 4096 characters).
    pub text: String,
    /// Voice name, e.g. alloy, echo, fable, onyx, nova, shimmer (default alloy).
    pub voice: Option<String>,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Audio format (default mp3).
    pub format: Option<AudioFormat>,
    /// Folder for the file; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct SpeakOutput {
    /// The saved audio file.
    pub files: Vec<OutputFile>,
    /// The model used.
    pub model: String,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TranscribeArgs {
    /// The audio: a local path or an http(s) URL (mp3, wav, flac, ogg/opus, m4a, webm; up to 25 MB).
    pub file: String,
    /// Model id; omitted = a suitable one from list_models.
    pub model: Option<String>,
    /// Spoken language as an ISO-639-1 code, e.g. en; omitted = detected.
    pub language: Option<String>,
    /// Folder for a long transcript's file; default AIPASS_OUTPUT_DIR.
    pub output_dir: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct TranscribeOutput {
    /// The transcript (its beginning, when it was long and saved to a file).
    pub text: String,
    /// The model used.
    pub model: String,
    /// A long transcript's full text, as a .txt file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<OutputFile>,
}

/// Transcripts longer than this go to a file, with this much shown inline.
const LONG_TRANSCRIPT_CHARS: usize = 20_000;
const INLINE_TRANSCRIPT_CHARS: usize = 2_000;

#[tool_router(router = audio_router, vis = "pub(crate)")]
impl AipassServer {
    #[tool(
        name = "speak",
        description = "Turn text into speech with an AI Pass voice model and save it as an audio file (mp3 by default). Returns the absolute path (files[].path). Spends AI Pass budget.",
        input_schema = input_schema::<SpeakArgs>(),
        output_schema = output_schema::<SpeakOutput>(),
        meta = crate::ui::shown_in_view(),
        annotations(title = "Text to speech", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn speak(&self, call: Call) -> CallToolResult {
        self.run(call, Self::speak_impl).await
    }

    #[tool(
        name = "transcribe",
        description = "Transcribe speech in an audio file (path or URL) to text with an AI Pass transcription model. Returns the text. Spends AI Pass budget.",
        input_schema = input_schema::<TranscribeArgs>(),
        output_schema = output_schema::<TranscribeOutput>(),
        annotations(title = "Speech to text", read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn transcribe(&self, call: Call) -> CallToolResult {
        self.run(call, Self::transcribe_impl).await
    }
}

impl AipassServer {
    async fn speak_impl(&self, args: SpeakArgs, _call: CallScope) -> ToolResult<CallToolResult> {
        let text = required_text(&args.text, "text")?;
        if text.chars().count() > MAX_SPEECH_CHARS {
            return Err(ToolError::invalid_input(format!(
                "text is longer than {MAX_SPEECH_CHARS} characters: split it into several calls"
            )));
        }
        let format = args.format.unwrap_or_default();
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Capability::Tts)
            .await?;
        let request = SpeechRequest {
            model: model.clone(),
            input: text.to_string(),
            voice: args.voice.clone().unwrap_or_else(|| "alloy".into()),
            response_format: Some(format.as_str().into()),
        };
        let audio = self.state.api.speech(&request).await?;
        if audio.bytes.is_empty() {
            return Err(ToolError {
                code: ErrorCode::UpstreamError,
                message: "AI Pass answered with empty audio".into(),
            });
        }
        let base = media::base_name("speech", text);
        let mime = format.mime_type();
        let inline = preview::audio_preview(&audio.bytes, mime, self.state.preview_budget);
        let file = media::save_new_file(&dir, &base, format.extension(), mime, audio.bytes).await?;
        let text = format!("Saved speech from {model}: {}", file.path);
        let mut links = vec![file_link(&file)];
        links.extend(inline);
        Ok(success(
            text,
            &SpeakOutput {
                files: vec![file],
                model,
            },
            links,
        ))
    }

    async fn transcribe_impl(
        &self,
        args: TranscribeArgs,
        _call: CallScope,
    ) -> ToolResult<CallToolResult> {
        let spec = required_text(&args.file, "file")?;
        if spec.starts_with("data:") {
            return Err(ToolError::invalid_input(
                "give the audio as a local path or an http(s) URL",
            ));
        }
        let audio = media::load_input(&self.state.fetcher, spec, media::MAX_AUDIO_BYTES).await?;
        if !(audio.mime_type.starts_with("audio/") || audio.mime_type == "video/mp4") {
            return Err(ToolError::invalid_input(format!(
                "'{}' is not a supported audio file (mp3, wav, flac, ogg/opus, m4a, webm)",
                audio.file_name
            )));
        }
        let model = self
            .state
            .models
            .choose(args.model.as_deref(), Capability::Transcription)
            .await?;
        let language = args
            .language
            .as_deref()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        let audio_name = audio.file_name.clone();
        let request = TranscriptionRequest {
            model: model.clone(),
            file: Upload {
                file_name: audio.file_name.clone(),
                mime_type: audio.mime_type.clone(),
                bytes: audio.bytes.into(),
            },
            language,
        };
        let transcript = self.state.api.transcribe(request).await?;
        if transcript.text.chars().count() <= LONG_TRANSCRIPT_CHARS {
            let output = TranscribeOutput {
                text: transcript.text.clone(),
                model,
                files: Vec::new(),
            };
            return Ok(success(transcript.text, &output, Vec::new()));
        }
        // A long transcript would flood the agent's context: save it, show the beginning.
        let dir = media::output_dir(args.output_dir.as_deref(), &self.state.output_dir)?;
        let base = media::base_name("transcript", &audio_name);
        let file = media::save_new_file(
            &dir,
            &base,
            "txt",
            "text/plain",
            transcript.text.clone().into_bytes(),
        )
        .await?;
        let beginning: String = transcript
            .text
            .chars()
            .take(INLINE_TRANSCRIPT_CHARS)
            .collect();
        let text = format!(
            "{beginning}…\n\n[transcript of {} characters; the full text is in {}]",
            transcript.text.chars().count(),
            file.path
        );
        let links = vec![file_link(&file)];
        let output = TranscribeOutput {
            text: beginning,
            model,
            files: vec![file],
        };
        Ok(success(text, &output, links))
    }
}
