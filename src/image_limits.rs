//! Image decoding with explicit limits: a small file can declare a huge picture (a
//! decompression bomb), so width, height and the decoder's memory are capped before any
//! pixels are allocated.

use std::io::Cursor;
use std::path::Path;

use image::error::{DecodingError, LimitError, LimitErrorKind};
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, ImageResult, Limits, RgbImage};

use crate::downscale::{RowShrinker, fit_rgb8};

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
pub fn decode_file(path: &Path) -> ImageResult<DynamicImage> {
    let mut reader = ImageReader::open(path)?.with_guessed_format()?;
    reader.limits(limits());
    reader.decode()
}

/// An image file as 8-bit RGB whose longest side is at most `side`, within [`limits`]. A PNG
/// (what generated images usually are) is decoded row by row into the shrunk picture, so its
/// full-size pixels are never in memory; other formats are decoded whole, then shrunk.
pub fn decode_file_fitted(path: &Path, side: u32) -> ImageResult<RgbImage> {
    let format = ImageReader::open(path)?.with_guessed_format()?.format();
    if format == Some(ImageFormat::Png)
        && let Some(fitted) = png_rows_fitted(path, side)?
    {
        return Ok(fitted);
    }
    Ok(fit_rgb8(decode_file(path)?, side))
}

/// A non-interlaced PNG streamed through [`RowShrinker`]; `None` for an interlaced one (its
/// rows come in seven passes, so it is decoded whole instead).
fn png_rows_fitted(path: &Path, side: u32) -> ImageResult<Option<RgbImage>> {
    let png_error = |error: png::DecodingError| match error {
        png::DecodingError::IoError(e) => ImageError::IoError(e),
        png::DecodingError::LimitsExceeded => {
            ImageError::Limits(LimitError::from_kind(LimitErrorKind::InsufficientMemory))
        }
        other => ImageError::Decoding(DecodingError::new(ImageFormat::Png.into(), other)),
    };
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut decoder = png::Decoder::new_with_limits(
        file,
        png::Limits {
            bytes: MAX_DECODE_BYTES as usize,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(png_error)?;
    let info = reader.info();
    let (width, height) = (info.width, info.height);
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ImageError::Limits(LimitError::from_kind(
            LimitErrorKind::DimensionError,
        )));
    }
    if info.interlaced {
        return Ok(None);
    }
    let channels = reader.output_color_type().0.samples();
    let mut shrinker = RowShrinker::new(width, height, side);
    while let Some(row) = reader.next_row().map_err(png_error)? {
        shrinker.push_row(row.data(), channels);
    }
    shrinker.finish().map(Some).ok_or_else(|| {
        ImageError::Decoding(DecodingError::new(
            ImageFormat::Png.into(),
            "the PNG ends before its last row",
        ))
    })
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
    fn a_declared_giant_png_file_is_refused_before_streaming() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("giant.png");
        std::fs::write(&path, claimed_png(MAX_IMAGE_SIDE + 1, 10)).unwrap();
        let error = decode_file_fitted(&path, 256).expect_err("refused");
        assert!(matches!(error, ImageError::Limits(_)), "{error}");
    }

    #[test]
    fn a_streamed_png_matches_the_whole_decode_shrunk() {
        let dir = tempfile::tempdir().unwrap();
        for (name, image) in [
            (
                "rgba.png",
                DynamicImage::ImageRgba8(image::RgbaImage::from_fn(300, 200, |x, y| {
                    image::Rgba([
                        (x % 256) as u8,
                        (y % 256) as u8,
                        ((x + 2 * y) / 3) as u8,
                        90,
                    ])
                })),
            ),
            (
                "grey.png",
                DynamicImage::ImageLuma8(image::GrayImage::from_fn(90, 400, |x, y| {
                    image::Luma([((x + y) % 256) as u8])
                })),
            ),
        ] {
            let path = dir.path().join(name);
            image.save(&path).unwrap();
            let streamed = decode_file_fitted(&path, 100).unwrap();
            let whole = fit_rgb8(decode_file(&path).unwrap(), 100);
            let (width, height) = streamed.dimensions();
            assert!(width.max(height) == 100, "{name}: {width}x{height}");
            assert!(width.abs_diff(whole.width()) <= 1 && height.abs_diff(whole.height()) <= 1);
            // Both average whole source pixels: the same picture within rounding and bin edges.
            let resized = image::imageops::thumbnail(&whole, width, height);
            let difference: u64 = streamed
                .as_raw()
                .iter()
                .zip(resized.as_raw())
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum();
            let mean = difference as f64 / streamed.as_raw().len() as f64;
            assert!(mean < 4.0, "{name}: mean difference {mean}");
        }
    }

    #[test]
    fn a_truncated_png_is_an_error_not_a_picture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.png");
        let mut png = Vec::new();
        image::RgbImage::from_fn(200, 200, |x, y| image::Rgb([x as u8, y as u8, 7]))
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        std::fs::write(&path, &png[..png.len() / 2]).unwrap();
        assert!(decode_file_fitted(&path, 64).is_err());
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
