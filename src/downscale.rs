//! Shrinking pictures without a float intermediate, for previews and for vision inputs over a
//! model's limit: `thumbnail` averages whole source pixels into each output pixel in the
//! image's own 8-bit type.

/// `image` as 8-bit RGB whose longest side is at most `side` (aspect ratio kept), without a
/// float intermediate: `thumbnail` averages whole source pixels into each output pixel in the
/// image's own pixel type, and the full-size original is dropped as soon as it is shrunk.
pub fn fit_rgb8(image: image::DynamicImage, side: u32) -> image::RgbImage {
    if image.width().max(image.height()) <= side {
        return image.into_rgb8();
    }
    image.thumbnail(side, side).into_rgb8()
}

/// An already small RGB picture shrunk so that its longest side is `side` (aspect ratio kept).
pub fn shrink_rgb8(image: &image::RgbImage, side: u32) -> image::RgbImage {
    let (width, height) = image.dimensions();
    let long = width.max(height).max(1);
    let scale = |n: u32| ((u64::from(n) * u64::from(side) / u64::from(long)) as u32).max(1);
    image::imageops::thumbnail(image, scale(width), scale(height))
}
