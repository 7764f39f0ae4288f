//! A tiny PNG writer for the generated images: a horizontal gradient whose rows all repeat, so the
//! deflate stream is one literal row plus long back-references. Milliseconds even in debug builds,
//! where a general-purpose encoder takes about half a second for 1024x1024.

/// Deflate length codes 257..=285: (base length, extra bits).
#[rustfmt::skip]
const LENGTHS: [(u32, u32); 29] = [
    (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 0), (9, 0), (10, 0), (11, 1), (13, 1),
    (15, 1), (17, 1), (19, 2), (23, 2), (27, 2), (31, 2), (35, 3), (43, 3), (51, 3), (59, 3),
    (67, 4), (83, 4), (99, 4), (115, 4), (131, 5), (163, 5), (195, 5), (227, 5), (258, 0),
];

/// Deflate distance codes 0..=29: (base distance, extra bits).
#[rustfmt::skip]
const DISTANCES: [(u32, u32); 30] = [
    (1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (7, 1), (9, 2), (13, 2),
    (17, 3), (25, 3), (33, 4), (49, 4), (65, 5), (97, 5), (129, 6), (193, 6),
    (257, 7), (385, 7), (513, 8), (769, 8), (1025, 9), (1537, 9), (2049, 10), (3073, 10),
    (4097, 11), (6145, 11), (8193, 12), (12289, 12), (16385, 13), (24577, 13),
];

/// Deflate bits, least significant first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    fn bits(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.bits;
        self.bits += count;
        while self.bits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    /// Huffman codes go most significant bit first.
    fn code(&mut self, code: u32, count: u32) {
        self.bits(code.reverse_bits() >> (32 - count), count);
    }

    /// A literal/length symbol with the fixed Huffman table (RFC 1951 §3.2.6).
    fn symbol(&mut self, symbol: u32) {
        match symbol {
            0..=143 => self.code(0x30 + symbol, 8),
            144..=255 => self.code(0x190 + symbol - 144, 9),
            256..=279 => self.code(symbol - 256, 7),
            _ => self.code(0xC0 + symbol - 280, 8),
        }
    }

    /// One back-reference (`length` in 3..=258).
    fn copy(&mut self, length: u32, distance: u32) {
        let i = LENGTHS
            .iter()
            .rposition(|(base, _)| *base <= length)
            .unwrap_or(0);
        let (base, extra) = LENGTHS[i];
        self.symbol(257 + i as u32);
        self.bits(length - base, extra);
        let j = DISTANCES
            .iter()
            .rposition(|(base, _)| *base <= distance)
            .unwrap_or(0);
        let (base, extra) = DISTANCES[j];
        self.code(j as u32, 5);
        self.bits(distance - base, extra);
    }

    /// Repeats the byte(s) `distance` back for `length` bytes; `byte` is what a literal would be
    /// when fewer than 3 bytes are left (only used with distance 1).
    fn repeat(&mut self, mut length: u32, distance: u32, byte: u8) {
        while length >= 3 {
            // Never leave a tail of 1 or 2 that a back-reference cannot express.
            let take = match length {
                0..=258 => length,
                259..=260 => length - 3,
                _ => 258,
            };
            self.copy(take, distance);
            length -= take;
        }
        for _ in 0..length {
            self.symbol(u32::from(byte));
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

const ADLER_MOD: u64 = 65521;

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u64, 0u64);
    for chunk in data.chunks(4096) {
        for byte in chunk {
            a += u64::from(*byte);
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    ((b << 16) | a) as u32
}

/// Adler-32 of `first ++ second` from their checksums (zlib's `adler32_combine`).
fn adler32_combine(first: u32, second: u32, second_len: u64) -> u32 {
    let rem = second_len % ADLER_MOD;
    let (a1, b1) = (u64::from(first & 0xFFFF), u64::from(first >> 16));
    let (a2, b2) = (u64::from(second & 0xFFFF), u64::from(second >> 16));
    let a = (a1 + a2 + ADLER_MOD - 1) % ADLER_MOD;
    let b = (rem * a1 + b1 + b2 + ADLER_MOD - rem) % ADLER_MOD;
    ((b << 16) | a) as u32
}

fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (n, entry) in table.iter_mut().enumerate() {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    !data.iter().fold(!0u32, |c, b| {
        table[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// An RGB PNG of `width` x `height` (each 1..=4096) fading from `left` to `right`.
pub(crate) fn gradient_png(width: u32, height: u32, left: [u8; 3], right: [u8; 3]) -> Vec<u8> {
    assert!((1..=4096).contains(&width) && (1..=4096).contains(&height));
    // Row 0 is filter 0 + the pixels; every later row is filter 2 ("Up") + zeros.
    let mut first_row = vec![0u8];
    for x in 0..width {
        let t = x as f32 / (width - 1).max(1) as f32;
        for c in 0..3 {
            first_row.push((left[c] as f32 + (right[c] as f32 - left[c] as f32) * t) as u8);
        }
    }
    let row_len = first_row.len() as u32;
    let mut up_row = vec![0u8; row_len as usize];
    up_row[0] = 2;

    let mut deflate = BitWriter::default();
    deflate.bits(1, 1); // final block
    deflate.bits(1, 2); // fixed Huffman codes
    for byte in &first_row {
        deflate.symbol(u32::from(*byte));
    }
    if height > 1 {
        deflate.symbol(2);
        deflate.symbol(0);
        deflate.repeat(row_len - 2, 1, 0);
        // Rows 2.. are copies of row 1, one row back.
        deflate.repeat((height - 2) * row_len, row_len, 0);
    }
    deflate.symbol(256);

    let mut adler = adler32(&first_row);
    let up_adler = adler32(&up_row);
    for _ in 1..height {
        adler = adler32_combine(adler, up_adler, u64::from(row_len));
    }
    let mut zlib = vec![0x78, 0x01];
    zlib.extend(deflate.finish());
    zlib.extend(adler.to_be_bytes());

    let mut header = Vec::with_capacity(13);
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_the_image_crate() {
        for (w, h) in [
            (1, 1),
            (2, 1),
            (1, 5),
            (3, 3),
            (64, 64),
            (100, 37),
            (1024, 1024),
            (4096, 3),
        ] {
            let png = gradient_png(w, h, [10, 20, 30], [250, 128, 0]);
            let image = image::load_from_memory(&png).unwrap().to_rgb8();
            assert_eq!(image.dimensions(), (w, h));
            assert_eq!(image.get_pixel(0, h - 1).0, [10, 20, 30]);
            if w > 1 {
                assert_eq!(image.get_pixel(w - 1, h - 1).0, [250, 128, 0]);
            }
        }
    }

    #[test]
    fn checksums_match_references() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let joined = adler32_combine(adler32(b"Wiki"), adler32(b"pedia"), 5);
        assert_eq!(joined, adler32(b"Wikipedia"));
    }
}
