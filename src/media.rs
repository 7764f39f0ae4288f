//! Media in and out: inputs from a path, URL or data URI; outputs written atomically, never over
//! an existing file; image shrinking for vision.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::api::images::LENIENT_BASE64;
use crate::error::{ToolError, ToolResult};
use crate::fetch::InputFetcher;
use crate::saved_files::SaveTicket;

/// Largest image accepted as an input (vision, edits).
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// Largest audio file accepted for transcription (the usual upstream limit).
pub const MAX_AUDIO_BYTES: u64 = 25 * 1024 * 1024;
/// Vision images above this are shrunk before base64, as the API advises (~800 KB).
pub const VISION_TARGET_BYTES: usize = 800 * 1024;

/// A file a tool wrote, as agents see it in `files`.
#[derive(Serialize, schemars::JsonSchema, Clone, Debug, PartialEq)]
pub struct OutputFile {
    /// Absolute path of the file.
    pub path: String,
    /// MIME type, e.g. image/png.
    pub mime_type: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Bytes loaded from an input, with what they are.
#[derive(Clone, Debug)]
pub struct InputMedia {
    pub bytes: Vec<u8>,
    pub mime_type: String,
    pub file_name: String,
}

tokio::task_local! {
    /// The client's first root for the current tool call, when it gave one.
    pub static CLIENT_ROOT: Option<PathBuf>;
}

/// Where relative paths are resolved: the client's first root, else the working directory,
/// unless that is `/` (Claude Desktop starts servers there, where a relative path is surely a
/// mistake).
pub fn resolve_path(spec: &str) -> ToolResult<PathBuf> {
    let path = PathBuf::from(spec);
    if path.is_absolute() {
        return Ok(path);
    }
    if let Ok(Some(root)) = CLIENT_ROOT.try_with(Clone::clone) {
        return Ok(root.join(path));
    }
    let cwd = std::env::current_dir().map_err(|e| {
        ToolError::invalid_input(format!("cannot resolve relative path '{spec}': {e}"))
    })?;
    if cwd == Path::new("/") {
        return Err(ToolError::invalid_input(format!(
            "'{spec}' is a relative path, but this server runs in '/': give an absolute path \
             (or set AIPASS_OUTPUT_DIR for outputs)"
        )));
    }
    Ok(cwd.join(path))
}

/// Loads an input given as a local path, an http(s) URL or a `data:` URI, up to `max_bytes`.
pub async fn load_input(
    fetcher: &InputFetcher,
    spec: &str,
    max_bytes: u64,
) -> ToolResult<InputMedia> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(ToolError::invalid_input("an input file was empty"));
    }
    let (bytes, file_name) = if let Some(rest) = spec.strip_prefix("data:") {
        (decode_data_uri(rest)?, "input".to_string())
    } else if spec.starts_with("http://") || spec.starts_with("https://") {
        let downloaded = fetcher.download(spec, max_bytes).await.map_err(|e| {
            ToolError::invalid_input(format!("could not download '{}': {e}", short(spec)))
        })?;
        let name = url::Url::parse(spec)
            .ok()
            .and_then(|u| u.path_segments()?.next_back().map(str::to_owned))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "input".into());
        (downloaded, name)
    } else if spec.contains("://") {
        return Err(ToolError::invalid_input(format!(
            "'{}' is not supported: give a local path, an http(s) URL or a data: URI",
            short(spec)
        )));
    } else {
        let path = resolve_path(spec)?;
        crate::file_scope::check(&path, &short(spec))?;
        let bytes = read_file(&path, max_bytes).await?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into());
        (bytes, name)
    };
    if bytes.len() as u64 > max_bytes {
        return Err(ToolError::invalid_input(format!(
            "'{}' is {} bytes; the limit is {max_bytes} bytes",
            short(spec),
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Err(ToolError::invalid_input(format!(
            "'{}' is empty",
            short(spec)
        )));
    }
    let mime_type = sniff_mime(&bytes)
        .unwrap_or("application/octet-stream")
        .to_string();
    Ok(InputMedia {
        bytes,
        mime_type,
        file_name,
    })
}

async fn read_file(path: &Path, max_bytes: u64) -> ToolResult<Vec<u8>> {
    let shown = path.display();
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                ToolError::invalid_input(format!("file not found: {shown}"))
            }
            _ => ToolError::invalid_input(format!("cannot read {shown}: {e}")),
        })?;
    if !metadata.is_file() {
        return Err(ToolError::invalid_input(format!("{shown} is not a file")));
    }
    if metadata.len() > max_bytes {
        return Err(ToolError::invalid_input(format!(
            "{shown} is {} bytes; the limit is {max_bytes} bytes",
            metadata.len()
        )));
    }
    // Read no more than one byte past the cap: the file may have grown since it was measured.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    tokio::fs::File::open(path)
        .await
        .map_err(|e| ToolError::invalid_input(format!("cannot read {shown}: {e}")))?
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ToolError::invalid_input(format!("cannot read {shown}: {e}")))?;
    Ok(bytes)
}

pub(crate) fn decode_data_uri(rest: &str) -> ToolResult<Vec<u8>> {
    let (header, data) = rest
        .split_once(',')
        .ok_or_else(|| ToolError::invalid_input("a data: URI needs a comma before its data"))?;
    if !header.ends_with(";base64") {
        return Err(ToolError::invalid_input(
            "only base64 data: URIs are supported (data:<type>;base64,...)",
        ));
    }
    let cleaned: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    LENIENT_BASE64
        .decode(cleaned)
        .map_err(|e| ToolError::invalid_input(format!("the data: URI is not valid base64: {e}")))
}

fn short(spec: &str) -> String {
    if spec.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| spec.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &spec[..cut])
    } else {
        spec.to_string()
    }
}

/// The MIME type of image and audio bytes, by their magic numbers.
pub fn sniff_mime(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if starts(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        Some("audio/mpeg")
    } else if starts(b"fLaC") {
        Some("audio/flac")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("audio/webm")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        if &bytes[8..11] == b"M4A" {
            Some("audio/mp4")
        } else {
            Some("video/mp4")
        }
    } else {
        None
    }
}

/// The usual file extension for a MIME type.
pub fn extension_for(mime_type: &str) -> &'static str {
    match mime_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "audio/flac" => "flac",
        "audio/ogg" | "audio/opus" => "opus",
        "audio/aac" => "aac",
        "audio/mp4" => "m4a",
        "audio/webm" => "webm",
        "video/mp4" => "mp4",
        "application/json" => "json",
        _ => "bin",
    }
}

pub const VISION_MIME_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Shrinks an image to about [`VISION_TARGET_BYTES`] (re-encoded as JPEG) when it is larger.
/// CPU-bound: call it from `spawn_blocking`.
pub fn shrink_for_vision(media: InputMedia) -> ToolResult<InputMedia> {
    if media.bytes.len() <= VISION_TARGET_BYTES {
        return Ok(media);
    }
    let image = crate::image_limits::decode(&media.bytes).map_err(|e| {
        ToolError::invalid_input(format!("cannot decode image {}: {e}", media.file_name))
    })?;
    // Neither the file's bytes nor the full-size picture are needed past this point.
    let InputMedia {
        file_name, bytes, ..
    } = media;
    drop(bytes);
    let mut long_side = image.width().max(image.height()).min(2048);
    // Shrunk once with integer area averaging (no float image of the full width), then each
    // pass shrinks the previous, already small picture.
    let mut scaled = crate::downscale::fit_rgb8(image, long_side);
    loop {
        if scaled.width().max(scaled.height()) > long_side {
            scaled = crate::downscale::shrink_rgb8(&scaled, long_side);
        }
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82)
            .encode_image(&scaled)
            .map_err(|e| ToolError::invalid_input(format!("cannot re-encode image: {e}")))?;
        if out.len() <= VISION_TARGET_BYTES || long_side <= 256 {
            return Ok(InputMedia {
                bytes: out,
                mime_type: "image/jpeg".into(),
                file_name,
            });
        }
        long_side = long_side * 3 / 4;
    }
}

/// `data:<mime>;base64,<bytes>`.
pub fn data_uri(media: &InputMedia) -> String {
    format!(
        "data:{};base64,{}",
        media.mime_type,
        BASE64.encode(&media.bytes)
    )
}

/// Picks the folder for outputs: the call's `output_dir`, else the configured default.
pub fn output_dir(requested: Option<&str>, default: &Path) -> ToolResult<PathBuf> {
    match requested.map(str::trim).filter(|s| !s.is_empty()) {
        Some(dir) => {
            let path = resolve_path(dir)?;
            crate::file_scope::check(&path, &short(dir))?;
            Ok(path)
        }
        None => Ok(default.to_path_buf()),
    }
}

/// A descriptive, unique-ish base name: `image-20261128-031500-a-red-fox`.
pub fn base_name(kind: &str, description: &str) -> String {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let mut slug = String::new();
    for word in description
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(6)
    {
        if slug.len() + word.len() > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.extend(word.chars().flat_map(char::to_lowercase));
    }
    if slug.is_empty() {
        format!("{kind}-{stamp}")
    } else {
        format!("{kind}-{stamp}-{slug}")
    }
}

/// How many taken names one save skips before it gives up (another process filling the folder
/// with exactly these names).
const NAME_ATTEMPTS: u32 = 10_000;

/// Writes `bytes` as a new file `<dir>/<base>.<extension>` (or `<base>-2.<extension>`, …, the
/// next number remembered per name: see [`crate::free_names`]): written to a `.aipass-*.part` temp
/// file in the same folder first, then moved into place without replacing anything, so no
/// reader sees a half-written file and no file is overwritten. Inside a tool call the file is
/// recorded, and removed again if the call fails or is cancelled (see [`crate::saved_files`]).
/// `bytes` is anything that owns them (a `Vec`, or a slice of a shared answer as `Bytes`).
pub async fn save_new_file(
    dir: &Path,
    base: &str,
    extension: &str,
    mime_type: &str,
    bytes: impl AsRef<[u8]> + Send + 'static,
) -> ToolResult<OutputFile> {
    let dir = dir.to_path_buf();
    let name = FileName::new(base, extension, mime_type);
    let ticket = SaveTicket::current();
    blocking(move || save_blocking(&dir, &name, bytes.as_ref(), &ticket)).await
}

/// A new output file opened ahead of its bytes: its folder checked (and created) and its temp
/// file made, so that this work can overlap the upstream call that produces the bytes (on
/// ext4 creating the file is most of a durable save). [`NewFile::save`] then writes and places
/// it as [`save_new_file`] does; dropped unsaved, it leaves no file behind.
pub struct NewFile {
    dir: PathBuf,
    temp: tempfile::NamedTempFile,
}

/// The name and type a saved file gets.
struct FileName {
    base: String,
    extension: String,
    mime_type: String,
}

impl FileName {
    fn new(base: &str, extension: &str, mime_type: &str) -> FileName {
        FileName {
            base: base.to_string(),
            extension: extension.to_string(),
            mime_type: mime_type.to_string(),
        }
    }
}

impl NewFile {
    /// Checks or creates `dir` and opens the temp file in it.
    pub async fn open(dir: &Path) -> ToolResult<NewFile> {
        let dir = dir.to_path_buf();
        blocking(move || NewFile::open_blocking(dir)).await
    }

    fn open_blocking(dir: PathBuf) -> ToolResult<NewFile> {
        create_private_dir(&dir).map_err(|e| cannot_write(&dir, e))?;
        let temp = tempfile::Builder::new()
            .prefix(".aipass-")
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(|e| cannot_write(&dir, e))?;
        Ok(NewFile { dir, temp })
    }

    /// Writes `bytes`, makes them durable and moves the file into place as
    /// `<base>.<extension>` (or the next free number), as [`save_new_file`] does.
    pub async fn save(
        self,
        base: &str,
        extension: &str,
        mime_type: &str,
        bytes: impl AsRef<[u8]> + Send + 'static,
    ) -> ToolResult<OutputFile> {
        let name = FileName::new(base, extension, mime_type);
        let ticket = SaveTicket::current();
        blocking(move || self.save_blocking(&name, bytes.as_ref(), &ticket)).await
    }

    fn save_blocking(
        self,
        name: &FileName,
        bytes: &[u8],
        ticket: &SaveTicket,
    ) -> ToolResult<OutputFile> {
        let NewFile { dir, mut temp } = self;
        let failed = |e: std::io::Error| cannot_write(&dir, e);
        temp.write_all(bytes).map_err(failed)?;
        temp.as_file().sync_all().map_err(failed)?;
        let FileName {
            base,
            extension: ext,
            mime_type,
        } = name;
        let target = ticket.place(|| {
            let key = format!("{base}.{ext}");
            for _ in 0..NAME_ATTEMPTS {
                let name = match crate::free_names::reserve(&dir, &key) {
                    1 => key.clone(),
                    n => format!("{base}-{n}.{ext}"),
                };
                let target = dir.join(&name);
                match temp.persist_noclobber(&target) {
                    Ok(_) => return Ok(target),
                    Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
                    Err(e) => return Err(failed(e.error)),
                }
            }
            Err(ToolError::invalid_input(format!(
                "could not find a free name for {base}.{ext} in {}",
                dir.display()
            )))
        })?;
        let path = std::fs::canonicalize(&target).unwrap_or(target);
        crate::written_files::remember(&path, mime_type);
        Ok(OutputFile {
            path: path.to_string_lossy().into_owned(),
            mime_type: mime_type.clone(),
            bytes: bytes.len() as u64,
        })
    }
}

fn save_blocking(
    dir: &Path,
    name: &FileName,
    bytes: &[u8],
    ticket: &SaveTicket,
) -> ToolResult<OutputFile> {
    NewFile::open_blocking(dir.to_path_buf())?.save_blocking(name, bytes, ticket)
}

fn cannot_write(dir: &Path, e: std::io::Error) -> ToolError {
    ToolError::invalid_input(format!("cannot write to {}: {e}", dir.display()))
}

/// Runs file work on the blocking pool, off the runtime thread (an `fsync` can take long).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ToolResult<T> + Send + 'static,
) -> ToolResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ToolError::invalid_input(format!("writing the output failed: {e}")))?
}

/// Creates the folder and any missing parents with mode 0700 (user only), set explicitly so the
/// umask cannot widen or narrow it. Folders that already exist are left as they are.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    for folder in missing.into_iter().rev() {
        match std::fs::create_dir(folder) {
            Ok(()) => set_private(folder)?,
            // Another call created it meanwhile: fine, and not ours to change.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    if dir.is_dir() {
        crate::folder_check::check_owned(dir)
    } else {
        Err(std::io::Error::other(format!(
            "{} is not a folder",
            dir.display()
        )))
    }
}

#[cfg(unix)]
fn set_private(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn set_private(_folder: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_types() {
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\nxxxx"), Some("image/png"));
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WAVEfmt "), Some("audio/wav"));
        assert_eq!(sniff_mime(b"ID3\x03\0"), Some("audio/mpeg"));
        assert_eq!(sniff_mime(b"hello"), None);
    }

    #[test]
    fn data_uris_decode_with_or_without_padding() {
        assert_eq!(decode_data_uri("image/png;base64,aGk=").unwrap(), b"hi");
        assert_eq!(decode_data_uri("image/png;base64,aGk").unwrap(), b"hi");
        assert!(decode_data_uri("image/png,hi").is_err());
        assert!(decode_data_uri("image/png;base64").is_err());
    }

    #[test]
    fn base_names_are_descriptive() {
        let name = base_name("image", "A red fox, in the snow!");
        assert!(name.starts_with("image-"));
        assert!(name.ends_with("-a-red-fox-in-the-snow"), "{name}");
    }

    #[test]
    fn saving_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let ticket = SaveTicket::default();
        let name = FileName::new("out", "png", "image/png");
        let first = save_blocking(dir.path(), &name, b"one", &ticket).unwrap();
        let second = save_blocking(dir.path(), &name, b"two", &ticket).unwrap();
        assert!(first.path.ends_with("out.png"));
        assert!(second.path.ends_with("out-2.png"));
        assert_eq!(std::fs::read(&first.path).unwrap(), b"one");
        assert_eq!(std::fs::read(&second.path).unwrap(), b"two");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[tokio::test]
    async fn a_file_opened_ahead_and_never_saved_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("new");
        let file = NewFile::open(&folder).await.unwrap();
        assert_eq!(
            std::fs::read_dir(&folder).unwrap().count(),
            1,
            "the temp file"
        );
        drop(file);
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
        let saved = NewFile::open(&folder)
            .await
            .unwrap()
            .save("out", "json", "application/json", b"[1]".to_vec())
            .await
            .unwrap();
        assert!(saved.path.ends_with("out.json"));
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 1);
        // A folder that is a file fails before any bytes exist.
        let error = NewFile::open(Path::new(&saved.path)).await.err().unwrap();
        assert!(error.message.contains("not a folder"), "{}", error.message);
    }

    /// `count` saves of `name.txt` into `dir`, each asserted to get a path of its own.
    fn same_name_saves(
        dir: &std::path::Path,
        name: &str,
        count: u32,
    ) -> std::collections::HashSet<String> {
        let ticket = SaveTicket::default();
        let mut paths = std::collections::HashSet::new();
        for i in 0..count {
            let file = save_blocking(
                dir,
                &FileName::new(name, "txt", "text/plain"),
                &i.to_le_bytes(),
                &ticket,
            )
            .unwrap();
            assert!(paths.insert(file.path));
        }
        paths
    }

    #[test]
    fn thousands_of_same_name_saves_stay_distinct() {
        let dir = tempfile::tempdir().unwrap();
        same_name_saves(dir.path(), "same", 2000);
        // Numbered in order, no gaps: the next free number is remembered, not guessed.
        let numbered = (2..=2000)
            .filter(|n| dir.path().join(format!("same-{n}.txt")).exists())
            .count();
        assert_eq!(numbered, 1999);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2000);
    }

    #[test]
    fn ten_thousand_same_name_saves_in_a_second_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        // A name already taken by someone else is skipped, never overwritten.
        std::fs::write(dir.path().join("burst-3.txt"), b"theirs").unwrap();
        let started = std::time::Instant::now();
        let paths = same_name_saves(dir.path(), "burst", 10_000);
        assert_eq!(paths.len(), 10_000);
        assert_eq!(
            std::fs::read(dir.path().join("burst-3.txt")).unwrap(),
            b"theirs"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 10_001);
        // Linear probing made this O(n²) in renames; now each save tries about one name.
        let elapsed = started.elapsed();
        eprintln!("10,000 same-name saves took {elapsed:?}");
    }

    #[cfg(unix)]
    #[test]
    fn new_folders_are_private_and_existing_ones_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("shared");
        std::fs::create_dir(&existing).unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o755)).unwrap();
        let nested = existing.join("a").join("b");
        create_private_dir(&nested).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&existing), 0o755);
        assert_eq!(mode(&existing.join("a")), 0o700);
        assert_eq!(mode(&nested), 0o700);
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        assert!(create_private_dir(&dir.path().join("file")).is_err());
    }

    #[test]
    fn large_images_shrink_below_the_vision_target() {
        let noisy = image::RgbImage::from_fn(1600, 1200, |x, y| {
            image::Rgb([((x * 7) ^ (y * 13)) as u8, (x * y) as u8, (x + y * 3) as u8])
        });
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(noisy)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(png.len() > VISION_TARGET_BYTES);
        let shrunk = shrink_for_vision(InputMedia {
            bytes: png,
            mime_type: "image/png".into(),
            file_name: "noise.png".into(),
        })
        .unwrap();
        assert!(shrunk.bytes.len() <= VISION_TARGET_BYTES);
        assert_eq!(shrunk.mime_type, "image/jpeg");
    }
}
