//! Media bytes: image type sniffing and dimensions, generated PNGs, data URIs and a minimal MP4.

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The image formats the API accepts (vision and edits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ImageType {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageType {
    /// By magic bytes, never by file name or declared type.
    pub fn sniff(bytes: &[u8]) -> Option<ImageType> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageType::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageType::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageType::Gif)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageType::Webp)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ImageType::Png => "png",
            ImageType::Jpeg => "jpeg",
            ImageType::Gif => "gif",
            ImageType::Webp => "webp",
        }
    }

    fn format(self) -> image::ImageFormat {
        match self {
            ImageType::Png => image::ImageFormat::Png,
            ImageType::Jpeg => image::ImageFormat::Jpeg,
            ImageType::Gif => image::ImageFormat::Gif,
            ImageType::Webp => image::ImageFormat::WebP,
        }
    }
}

/// A checked input image.
pub(crate) struct ImageInfo {
    pub kind: ImageType,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
}

impl ImageInfo {
    /// Sniffs the type and reads the dimensions from the header; `what` names the input in errors.
    pub fn inspect(bytes: &[u8], what: &str) -> Result<ImageInfo, ApiError> {
        let kind = ImageType::sniff(bytes).ok_or_else(|| {
            ApiError::invalid(format!(
                "{what} is not a supported image (PNG, JPEG, GIF or WebP, by content)"
            ))
        })?;
        let (width, height) = image::ImageReader::with_format(Cursor::new(bytes), kind.format())
            .into_dimensions()
            .map_err(|e| {
                ApiError::invalid(format!("{what} is a corrupt {} image: {e}", kind.name()))
            })?;
        Ok(ImageInfo {
            kind,
            width,
            height,
            bytes: bytes.len(),
        })
    }

    /// `png 640x480 (12345 bytes)`
    pub fn describe(&self) -> String {
        format!(
            "{} {}x{} ({} bytes)",
            self.kind.name(),
            self.width,
            self.height,
            self.bytes
        )
    }
}

/// `data:<mime>;base64,<data>` → (mime, bytes).
pub(crate) fn decode_data_uri(uri: &str) -> Result<(String, Vec<u8>), String> {
    let rest = uri.strip_prefix("data:").ok_or("not a data: URI")?;
    let (meta, data) = rest.split_once(',').ok_or("data: URI without a comma")?;
    let mime = meta
        .strip_suffix(";base64")
        .ok_or("data: URI must be base64 encoded (';base64,')")?;
    let bytes = STANDARD
        .decode(data.trim())
        .map_err(|e| format!("data: URI has invalid base64: {e}"))?;
    Ok((mime.to_ascii_lowercase(), bytes))
}

/// `"WxH"` with both sides in 64..=4096.
pub(crate) fn parse_size(field: &str, size: &str) -> Result<(u32, u32), ApiError> {
    let parsed = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if (64..=4096).contains(&w) && (64..=4096).contains(&h) => Ok((w, h)),
        _ => Err(ApiError::invalid(format!(
            "Invalid '{field}': '{size}'. Use WIDTHxHEIGHT with each side between 64 and 4096, e.g. 1024x1024"
        ))),
    }
}

/// 32 bytes derived from the text: seeds for images, embeddings and file contents.
pub(crate) fn seed(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// A real PNG of the given size; its colours come from `seed`, so different seeds differ.
pub(crate) fn render_png(width: u32, height: u32, seed: &[u8; 32]) -> Vec<u8> {
    crate::png::gradient_png(
        width,
        height,
        [seed[0], seed[1], seed[2]],
        [seed[3], seed[4], seed[5]],
    )
}

/// A 2-second 160×90 H.264 clip (a test pattern, made with ffmpeg's `testsrc2`; see
/// fake/README.md) that browsers really play: the MCP Apps browser test plays it.
const CLIP: &[u8] = include_bytes!("../assets/clip.mp4");

/// A small MP4 that players and sniffers recognise (it starts with `ftyp isom`) and browsers
/// play, made distinct per job by a trailing `free` box holding the seed, which players skip.
pub(crate) fn minimal_mp4(seed: &[u8; 32]) -> Vec<u8> {
    let mut out = CLIP.to_vec();
    out.extend_from_slice(&((8 + seed.len()) as u32).to_be_bytes());
    out.extend_from_slice(b"free");
    out.extend_from_slice(seed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_png_has_requested_size() {
        let png = render_png(80, 64, &seed("x"));
        let info = ImageInfo::inspect(&png, "image").unwrap();
        assert_eq!(
            (info.kind, info.width, info.height),
            (ImageType::Png, 80, 64)
        );
    }

    #[test]
    fn sizes_are_checked() {
        assert_eq!(parse_size("size", "640x480").unwrap(), (640, 480));
        assert!(parse_size("size", "32x32").is_err());
        assert!(parse_size("size", "1024").is_err());
        assert!(parse_size("size", "5000x100").is_err());
    }

    #[test]
    fn data_uris_decode() {
        let (mime, bytes) = decode_data_uri("data:image/png;base64,aGk=").unwrap();
        assert_eq!((mime.as_str(), bytes.as_slice()), ("image/png", &b"hi"[..]));
        assert!(decode_data_uri("data:image/png,hi").is_err());
    }
}
