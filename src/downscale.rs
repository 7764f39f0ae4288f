//! Shrinking pictures without a float intermediate, for previews and for vision inputs over a
//! model's limit: whole source pixels are averaged into each output pixel in 8 bits.

use image::RgbImage;

/// `image` as 8-bit RGB whose longest side is at most `side` (aspect ratio kept), without a
/// float intermediate: `thumbnail` averages whole source pixels into each output pixel in the
/// image's own pixel type, and the full-size original is dropped as soon as it is shrunk.
pub fn fit_rgb8(image: image::DynamicImage, side: u32) -> RgbImage {
    if image.width().max(image.height()) <= side {
        return image.into_rgb8();
    }
    image.thumbnail(side, side).into_rgb8()
}

/// An already small RGB picture shrunk so that its longest side is `side` (aspect ratio kept).
pub fn shrink_rgb8(image: &RgbImage, side: u32) -> RgbImage {
    let (width, height) = fitted(image.width(), image.height(), side);
    image::imageops::thumbnail(image, width, height)
}

/// `width`×`height` scaled so that the longest side is at most `side` (aspect ratio kept).
fn fitted(width: u32, height: u32, side: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    if long <= side {
        return (width, height);
    }
    let scale = |n: u32| ((u64::from(n) * u64::from(side) / u64::from(long)) as u32).max(1);
    (scale(width), scale(height))
}

/// Shrinks a picture that arrives one row at a time (a streamed decode) to fit `side`,
/// averaging whole source pixels into each output pixel: it holds the output and one row of
/// sums, never the full-size picture.
pub struct RowShrinker {
    source_width: u32,
    source_height: u32,
    out: RgbImage,
    /// The output column of each source column.
    column_of: Vec<u32>,
    /// Per output pixel of the row being gathered: red, green and blue sums, and a count.
    sums: Vec<[u32; 4]>,
    /// Source rows seen so far.
    rows_seen: u32,
    /// The output row the sums belong to.
    gathering: u32,
}

impl RowShrinker {
    pub fn new(source_width: u32, source_height: u32, side: u32) -> RowShrinker {
        let (width, height) = fitted(source_width, source_height, side);
        let column_of = (0..source_width)
            .map(|x| (u64::from(x) * u64::from(width) / u64::from(source_width)) as u32)
            .collect();
        RowShrinker {
            source_width,
            source_height,
            out: RgbImage::new(width, height),
            column_of,
            sums: vec![[0; 4]; width as usize],
            rows_seen: 0,
            gathering: 0,
        }
    }

    /// Adds the next source row: `channels` 8-bit samples per pixel (1 grey, 2 grey and alpha,
    /// 3 RGB, 4 RGBA); alpha is dropped, as `into_rgb8` does. Rows past the last are ignored.
    pub fn push_row(&mut self, row: &[u8], channels: usize) {
        if self.rows_seen >= self.source_height {
            return;
        }
        let target = (u64::from(self.rows_seen) * u64::from(self.out.height())
            / u64::from(self.source_height)) as u32;
        if target != self.gathering {
            self.flush();
            self.gathering = target;
        }
        for (pixel, &column) in row.chunks_exact(channels).zip(&self.column_of) {
            let (red, green, blue) = if channels < 3 {
                (pixel[0], pixel[0], pixel[0])
            } else {
                (pixel[0], pixel[1], pixel[2])
            };
            let sum = &mut self.sums[column as usize];
            sum[0] += u32::from(red);
            sum[1] += u32::from(green);
            sum[2] += u32::from(blue);
            sum[3] += 1;
        }
        self.rows_seen += 1;
    }

    /// Writes the gathered sums as the averages of output row `gathering`, and clears them.
    fn flush(&mut self) {
        for (x, sum) in self.sums.iter_mut().enumerate() {
            if sum[3] > 0 {
                let average = |total: u32| ((total + sum[3] / 2) / sum[3]) as u8;
                let pixel = image::Rgb([average(sum[0]), average(sum[1]), average(sum[2])]);
                self.out.put_pixel(x as u32, self.gathering, pixel);
            }
            *sum = [0; 4];
        }
    }

    /// The shrunk picture; `None` when fewer rows came than the source has (a truncated file).
    pub fn finish(mut self) -> Option<RgbImage> {
        if self.rows_seen < self.source_height || self.source_width == 0 {
            return None;
        }
        self.flush();
        Some(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_averaged_into_the_fitted_size() {
        // 4×2 RGB, fitted to side 2: each output pixel averages a 2×2 block.
        let rows: [&[u8]; 2] = [
            &[0, 0, 0, 100, 100, 100, 10, 20, 30, 10, 20, 30],
            &[100, 100, 100, 0, 0, 0, 30, 40, 50, 30, 40, 50],
        ];
        let mut shrinker = RowShrinker::new(4, 2, 2);
        for row in rows {
            shrinker.push_row(row, 3);
        }
        let out = shrinker.finish().expect("complete");
        assert_eq!(out.dimensions(), (2, 1));
        assert_eq!(out.get_pixel(0, 0).0, [50, 50, 50]);
        assert_eq!(out.get_pixel(1, 0).0, [20, 30, 40]);
    }

    #[test]
    fn grey_and_alpha_become_rgb_and_a_short_picture_is_refused() {
        let mut shrinker = RowShrinker::new(2, 2, 4);
        shrinker.push_row(&[7, 255, 9, 0], 2);
        shrinker.push_row(&[1, 255, 2, 0], 2);
        let out = shrinker.finish().expect("complete");
        assert_eq!(out.dimensions(), (2, 2));
        assert_eq!(out.get_pixel(1, 0).0, [9, 9, 9]);

        let mut short = RowShrinker::new(3, 3, 2);
        short.push_row(&[1, 2, 3], 1);
        assert!(short.finish().is_none());
    }
}
