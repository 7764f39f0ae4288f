//! Valid PNGs of random noise: they do not compress, so the file is as large as the pixels, like
//! a big photo.

use image::ImageEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

/// An RGB noise PNG of about `target_bytes` (stored deflate, so size ≈ pixels × 3).
pub fn noise_png(target_bytes: usize, seed: u64) -> Result<Vec<u8>, image::ImageError> {
    let side = ((target_bytes as f64) / 3.0).sqrt().floor() as u32;
    let mut pixels = vec![0u8; side as usize * side as usize * 3];
    let mut state = seed | 1;
    for chunk in pixels.chunks_mut(8) {
        // xorshift64: plenty random for an incompressible picture.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let mut png = Vec::with_capacity(pixels.len() + pixels.len() / 100 + 4096);
    PngEncoder::new_with_quality(
        &mut png,
        CompressionType::Uncompressed,
        FilterType::NoFilter,
    )
    .write_image(&pixels, side, side, image::ExtendedColorType::Rgb8)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_decodes_and_has_the_size_asked() {
        let png = noise_png(300_000, 7).unwrap();
        assert!((299_000..310_000).contains(&png.len()), "{}", png.len());
        let image = image::load_from_memory(&png).unwrap();
        assert_eq!(image.width(), 316);
    }
}
