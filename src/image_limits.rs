//! Image decoding with explicit limits: a small file can declare a huge picture (a
//! decompression bomb), so width, height and the decoder's memory are capped before any
//! pixels are allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageReader, ImageResult, Limits};

/// The widest or tallest image decoded (well above any model's input size).
pub const MAX_IMAGE_SIDE: u32 = 12_000;
/// The most memory one decode may allocate (a 12000×5000 RGBA picture is 240 MB).
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// The limits every decode in this crate uses.
pub fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Decodes image bytes (format from their magic number) within [`limits`].
pub fn decode(bytes: &[u8]) -> ImageResult<DynamicImage> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    reader.limits(limits());
    reader.decode()
}

/// Decodes an image file (format from its magic number) within [`limits`], read through a
/// small buffer: the file's bytes are never all in memory beside its pixels.
pub fn decode_file(path: &std::path::Path) -> ImageResult<DynamicImage> {
    let mut reader = ImageReader::open(path)?.with_guessed_format()?;
    reader.limits(limits());
    reader.decode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
        out
    }

    /// A PNG header that claims `width`×`height` 8-bit RGBA pixels, then a little data.
    fn claimed_png(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(
            b"IDAT",
            &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn a_declared_giant_is_refused_before_decoding() {
        for (width, height) in [(MAX_IMAGE_SIDE + 1, 10), (10, 60_000), (11_000, 11_000)] {
            let error = decode(&claimed_png(width, height)).expect_err("refused");
            assert!(
                matches!(error, image::ImageError::Limits(_)),
                "{width}x{height}: {error}"
            );
        }
    }

    #[test]
    fn ordinary_images_decode() {
        let mut png = Vec::new();
        image::RgbImage::new(64, 48)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let image = decode(&png).unwrap();
        assert_eq!((image.width(), image.height()), (64, 48));
    }
}
