//! Inline previews for results: images downscaled and re-encoded within a total byte budget,
//! and small audio, so hosts can show them without the result growing past their limits.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::model::ContentBlock;

use crate::downscale::shrink_rgb8;
use crate::media::OutputFile;

/// Longest side of an image preview (what vision models look at anyway).
const MAX_PREVIEW_SIDE: u32 = 1568;
/// Below this a preview is not worth showing.
const MIN_PREVIEW_SIDE: u32 = 256;
/// Audio is inlined only when its base64 is at most this large.
const MAX_INLINE_AUDIO: usize = 100 * 1024;

/// `image` blocks for the saved images, all together within `budget` bytes of base64.
/// Images that do not fit are left out (their paths are in the result anyway).
/// CPU-bound: call it from `spawn_blocking`.
pub fn image_previews(files: &[OutputFile], budget: usize) -> Vec<ContentBlock> {
    let mut blocks = Vec::new();
    let mut left = budget;
    for (index, file) in files.iter().enumerate() {
        let share = left / (files.len() - index);
        if share == 0 {
            break;
        }
        if let Some(encoded) = preview_of(&file.path, share) {
            left -= encoded.len();
            blocks.push(ContentBlock::image(encoded, "image/jpeg"));
        }
    }
    blocks
}

/// One image as base64 JPEG of at most `max_base64` bytes, shrinking until it fits. The file is
/// decoded straight to preview size (a PNG row by row, so its full-size pixels are never held);
/// each pass shrinks the previous, already small, picture with integer area averaging.
fn preview_of(path: &str, max_base64: usize) -> Option<String> {
    let mut scaled =
        crate::image_limits::decode_file_fitted(std::path::Path::new(path), MAX_PREVIEW_SIDE)
            .ok()?;
    let mut side = scaled.width().max(scaled.height());
    while side >= MIN_PREVIEW_SIDE {
        if scaled.width().max(scaled.height()) > side {
            scaled = shrink_rgb8(&scaled, side);
        }
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 75)
            .encode_image(&scaled)
            .ok()?;
        let encoded = BASE64.encode(&jpeg);
        if encoded.len() <= max_base64 {
            return Some(encoded);
        }
        side = side * 3 / 4;
    }
    None
}

/// An `audio` block when the file is small enough to inline within `budget`.
pub fn audio_preview(bytes: &[u8], mime_type: &str, budget: usize) -> Option<ContentBlock> {
    let limit = budget.min(MAX_INLINE_AUDIO);
    if bytes.len().div_ceil(3) * 4 > limit {
        return None;
    }
    Some(ContentBlock::audio(BASE64.encode(bytes), mime_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved_png(dir: &std::path::Path, name: &str, side: u32) -> OutputFile {
        let path = dir.join(name);
        image::RgbImage::from_fn(side, side, |x, y| {
            image::Rgb([((x * 13) ^ (y * 7)) as u8, (x + y) as u8, (x * y) as u8])
        })
        .save(&path)
        .unwrap();
        OutputFile {
            path: path.to_string_lossy().into_owned(),
            mime_type: "image/png".into(),
            bytes: std::fs::metadata(&path).unwrap().len(),
        }
    }

    #[test]
    fn previews_share_the_budget_and_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<OutputFile> = (0..4)
            .map(|i| saved_png(dir.path(), &format!("{i}.png"), 2048))
            .collect();
        let blocks = image_previews(&files, 700_000);
        assert_eq!(blocks.len(), 4);
        let total: usize = blocks
            .iter()
            .map(|b| {
                serde_json::to_value(b).unwrap()["data"]
                    .as_str()
                    .unwrap()
                    .len()
            })
            .sum();
        assert!(total <= 700_000, "{total}");
        for block in &blocks {
            let data = serde_json::to_value(block).unwrap()["data"]
                .as_str()
                .unwrap()
                .to_string();
            let decoded = image::load_from_memory(&BASE64.decode(data).unwrap()).unwrap();
            assert!(decoded.width().max(decoded.height()) <= MAX_PREVIEW_SIDE);
        }
    }

    #[test]
    fn no_budget_means_no_previews() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![saved_png(dir.path(), "a.png", 300)];
        assert!(image_previews(&files, 0).is_empty());
        assert!(audio_preview(b"ID3abc", "audio/mpeg", 0).is_none());
        assert!(audio_preview(b"ID3abc", "audio/mpeg", 1000).is_some());
    }
}
