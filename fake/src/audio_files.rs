//! Fake audio files that carry their text (so speech → transcription round-trips), format
//! detection by magic bytes, and reading the text back.

const MARKER: &[u8] = b"AIPASS-FAKE-TEXT:";
const ID3_DESCRIPTION: &str = "AIPASS-FAKE-TEXT";
const WAV_RATE: u32 = 16_000;
/// About 0.06 s of 16-bit mono 16 kHz silence per word.
const WAV_BYTES_PER_WORD: usize = 960 * 2;
/// MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
const MPEG_HEADER: [u8; 4] = [0xFF, 0xFB, 0x90, 0x00];
const MPEG_FRAME_LEN: usize = 417;

/// Speech output formats: (name, Content-Type).
pub(crate) const SPEECH_FORMATS: [(&str, &str); 6] = [
    ("mp3", "audio/mpeg"),
    ("opus", "audio/opus"),
    ("aac", "audio/aac"),
    ("flac", "audio/flac"),
    ("wav", "audio/wav"),
    ("pcm", "audio/pcm"),
];

fn words(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// An audio file of `format` whose bytes carry `text`.
pub(crate) fn encode(format: &str, text: &str) -> Vec<u8> {
    match format {
        "mp3" => mp3(text),
        "wav" => wav(text),
        other => {
            let magic: &[u8] = match other {
                "opus" => b"OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00OpusHead",
                "aac" => &[0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC],
                "flac" => b"fLaC",
                // Raw PCM has no header: a little silence, then the marker.
                _ => &[0; 64],
            };
            [magic, MARKER, text.as_bytes()].concat()
        }
    }
}

fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

/// An ID3v2.3 tag with a `TXXX:AIPASS-FAKE-TEXT` frame (UTF-16, as v2.3 requires), then MPEG frames.
fn mp3(text: &str) -> Vec<u8> {
    let mut frame = vec![0x01]; // text encoding: UTF-16 with BOM
    frame.extend(utf16_with_bom(ID3_DESCRIPTION));
    frame.extend([0, 0]);
    frame.extend(utf16_with_bom(text));

    let tag_len = 10 + frame.len();
    let mut out = b"ID3\x03\x00\x00".to_vec();
    out.extend(syncsafe(tag_len as u32));
    out.extend(b"TXXX");
    out.extend((frame.len() as u32).to_be_bytes());
    out.extend([0, 0]);
    out.extend(frame);
    for _ in 0..(2 + words(text) * 2).min(400) {
        out.extend(MPEG_HEADER);
        out.extend(std::iter::repeat_n(0u8, MPEG_FRAME_LEN - MPEG_HEADER.len()));
    }
    out
}

fn syncsafe(n: u32) -> [u8; 4] {
    [
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

fn chunk(id: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    if body.len() % 2 == 1 {
        out.push(0); // RIFF chunks are word-aligned
    }
    out
}

/// RIFF/WAVE, 16-bit mono 16 kHz silence, with the text in `LIST`/`INFO`/`ICMT`.
fn wav(text: &str) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend(1u16.to_le_bytes()); // PCM
    fmt.extend(1u16.to_le_bytes()); // mono
    fmt.extend(WAV_RATE.to_le_bytes());
    fmt.extend((WAV_RATE * 2).to_le_bytes());
    fmt.extend(2u16.to_le_bytes());
    fmt.extend(16u16.to_le_bytes());
    let comment = [text.as_bytes(), &[0]].concat();
    let info = [&b"INFO"[..], &chunk(b"ICMT", &comment)].concat();
    let silence = vec![0u8; words(text) * WAV_BYTES_PER_WORD];
    let body = [
        &b"WAVE"[..],
        &chunk(b"fmt ", &fmt),
        &chunk(b"LIST", &info),
        &chunk(b"data", &silence),
    ]
    .concat();
    chunk(b"RIFF", &body)
}

/// The container by magic bytes, as a transcription service would see it.
pub(crate) fn detect(bytes: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"ID3") || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
        Some("mp3")
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("wav")
    } else if at(0, b"fLaC") {
        Some("flac")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else if at(4, b"ftyp") {
        Some(if at(8, b"M4A ") { "m4a" } else { "mp4" })
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("webm")
    } else {
        None
    }
}

/// The text a fake file carries, if it is one of ours.
pub(crate) fn carried_text(bytes: &[u8]) -> Option<String> {
    id3_text(bytes).or_else(|| wav_comment(bytes)).or_else(|| {
        let start = bytes.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
        Some(String::from_utf8_lossy(&bytes[start..]).into_owned())
    })
}

fn id3_text(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"ID3") || bytes.len() < 10 {
        return None;
    }
    let size = bytes[6..10]
        .iter()
        .fold(0usize, |n, b| (n << 7) | (*b & 0x7F) as usize);
    let tag = bytes.get(10..10 + size)?;
    let mut pos = 0;
    while pos + 10 <= tag.len() && tag[pos] != 0 {
        let id = &tag[pos..pos + 4];
        let len = u32::from_be_bytes(tag[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = tag.get(pos + 10..pos + 10 + len)?;
        if id == b"TXXX"
            && let Some((description, value)) = split_txxx(body)
            && description == ID3_DESCRIPTION
        {
            return Some(value);
        }
        pos += 10 + len;
    }
    None
}

/// (description, value) of a TXXX frame body in any ID3 text encoding.
fn split_txxx(body: &[u8]) -> Option<(String, String)> {
    let (&encoding, rest) = body.split_first()?;
    if encoding == 1 || encoding == 2 {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let end = units.iter().position(|u| *u == 0)?;
        let decode = |units: &[u16]| {
            let units = units.strip_prefix(&[0xFEFF]).unwrap_or(units);
            String::from_utf16_lossy(units)
        };
        Some((decode(&units[..end]), decode(&units[end + 1..])))
    } else {
        let end = rest.iter().position(|b| *b == 0)?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Some((text(&rest[..end]), text(&rest[end + 1..])))
    }
}

fn wav_comment(bytes: &[u8]) -> Option<String> {
    if detect(bytes) != Some("wav") {
        return None;
    }
    let (_, info) =
        riff_chunks(&bytes[12..]).find(|(id, body)| *id == b"LIST" && body.starts_with(b"INFO"))?;
    let (_, comment) = riff_chunks(&info[4..]).find(|(id, _)| *id == b"ICMT")?;
    let comment = comment.split(|b| *b == 0).next().unwrap_or_default();
    Some(String::from_utf8_lossy(comment).into_owned())
}

/// (id, body) of each RIFF chunk in `data`, stopping at the first truncated one.
fn riff_chunks(mut data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let id = data.get(..4)?;
        let len = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?) as usize;
        let body = data.get(8..8 + len)?;
        data = data.get(8 + len + len % 2..).unwrap_or(&[]);
        Some((id, body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_its_text() {
        for (format, _) in SPEECH_FORMATS {
            let bytes = encode(format, "Hello wörld, fake audio");
            assert_eq!(
                carried_text(&bytes).as_deref(),
                Some("Hello wörld, fake audio"),
                "{format}"
            );
        }
    }

    #[test]
    fn formats_are_detected() {
        assert_eq!(detect(&encode("mp3", "x")), Some("mp3"));
        assert_eq!(detect(&encode("wav", "x")), Some("wav"));
        assert_eq!(detect(&encode("flac", "x")), Some("flac"));
        assert_eq!(detect(&encode("opus", "x")), Some("ogg"));
        assert_eq!(detect(&encode("pcm", "x")), None);
        assert_eq!(detect(b"hello"), None);
    }
}
