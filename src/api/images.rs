//! The answer of the image endpoints, read without copying its images: each `b64_json` is left
//! where it lies in the answer's body and decoded there, in place (decoded bytes are shorter
//! than their base64), so a 10 MB image costs its 13 MB answer and no second or third copy.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::{DecodeError, DecodeSliceError, Engine};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::lenient;

/// Accepts base64 with or without `=` padding (agents and some upstreams write both).
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An image answer: its entries, and the body whose bytes their base64 still is.
pub struct ImagesResponse {
    pub created: Option<i64>,
    pub data: Vec<ImageDatum>,
    body: Vec<u8>,
}

/// One image: models answer with a `url`, a `b64_json`, or both.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDatum {
    pub url: Option<String>,
    pub b64_json: Option<Base64Text>,
    pub revised_prompt: Option<String>,
}

/// Where an entry's base64 is.
#[derive(Clone, Debug, PartialEq)]
pub enum Base64Text {
    /// These bytes of the answer's body: the usual case, a JSON string without escapes.
    InBody(Range<usize>),
    /// A string of its own: the JSON string had escapes (some encoders write `\/`).
    Owned(String),
}

/// One image of an answer, ready to save or to fetch.
#[derive(Debug)]
pub enum ImageSource {
    /// Decoded from `b64_json`: a slice of the answer's body, shared, not copied.
    Decoded(Bytes),
    /// Only a `url` (an http(s) URL or a `data:` URI).
    Url(String),
    /// Neither field.
    Missing,
}

impl fmt::Debug for ImagesResponse {
    // The body is megabytes of base64; its size says enough.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImagesResponse")
            .field("created", &self.created)
            .field("data", &self.data)
            .field("body", &self.body.len())
            .finish()
    }
}

impl ImagesResponse {
    /// Parses an answer, keeping its body: no `Value` tree, and no copy of the base64.
    pub fn from_body(body: Vec<u8>) -> serde_json::Result<Self> {
        let wire: Wire<'_> = serde_json::from_slice(&body)?;
        let created = wire.created;
        let data = wire
            .data
            .into_iter()
            .map(|datum| ImageDatum {
                url: datum.url,
                b64_json: datum.b64_json.map(|text| text.locate(&body)),
                revised_prompt: datum.revised_prompt,
            })
            .collect();
        Ok(ImagesResponse {
            created,
            data,
            body,
        })
    }

    /// Each entry's image in order: `b64_json` (decoded in place) when it has one, else its
    /// `url`. The images share the body; it is freed when the last of them is dropped.
    pub fn into_images(self) -> Result<Vec<ImageSource>, DecodeError> {
        let ImagesResponse { data, mut body, .. } = self;
        // Decoded first, all of them: the body is shared (not mutable) once images are out.
        let mut spans = Vec::with_capacity(data.len());
        for datum in data {
            spans.push(match datum.b64_json {
                Some(Base64Text::InBody(range)) => Span::InBody(decode_in_place(&mut body, range)?),
                Some(Base64Text::Owned(text)) => {
                    Span::Owned(LENIENT_BASE64.decode(text.trim())?.into())
                }
                None => match datum.url {
                    Some(url) => Span::Url(url),
                    None => Span::Missing,
                },
            });
        }
        let body = Bytes::from(body);
        Ok(spans
            .into_iter()
            .map(|span| match span {
                Span::InBody(range) => ImageSource::Decoded(body.slice(range)),
                Span::Owned(bytes) => ImageSource::Decoded(bytes),
                Span::Url(url) => ImageSource::Url(url),
                Span::Missing => ImageSource::Missing,
            })
            .collect())
    }
}

enum Span {
    InBody(Range<usize>),
    Owned(Bytes),
    Url(String),
    Missing,
}

/// Base64 characters decoded per step. A multiple of 4, so that every step but the last
/// decodes whole quads.
const STEP: usize = 16 * 1024;

/// Decodes the base64 in `body[range]` (surrounding whitespace ignored, padding optional) into
/// the start of that same range, returning where the decoded bytes now are. Each step copies
/// its characters aside first, and its output (3 bytes per 4 characters) ends before the next
/// step's input, so nothing is overwritten before it is read.
pub(crate) fn decode_in_place(
    body: &mut [u8],
    range: Range<usize>,
) -> Result<Range<usize>, DecodeError> {
    let text = &body[range.clone()];
    let lead = text.len() - text.trim_ascii_start().len();
    let input = range.start + lead..range.start + lead + text.trim_ascii().len();
    let mut chars = [0u8; STEP];
    let mut decoded = [0u8; STEP / 4 * 3 + 3];
    let mut out = range.start;
    let mut at = input.start;
    while at < input.end {
        let n = STEP.min(input.end - at);
        chars[..n].copy_from_slice(&body[at..at + n]);
        let len = LENIENT_BASE64
            .decode_slice(&chars[..n], &mut decoded)
            .map_err(|e| match e {
                DecodeSliceError::DecodeError(e) => shifted(e, at - input.start),
                // Cannot happen: `decoded` holds the decoding of a whole step.
                DecodeSliceError::OutputSliceTooSmall => DecodeError::InvalidLength(n),
            })?;
        body[out..out + len].copy_from_slice(&decoded[..len]);
        out += len;
        at += n;
    }
    Ok(range.start..out)
}

/// A step's error with its offsets counted from the start of the whole text.
fn shifted(error: DecodeError, by: usize) -> DecodeError {
    match error {
        DecodeError::InvalidByte(offset, byte) => DecodeError::InvalidByte(offset + by, byte),
        DecodeError::InvalidLength(len) => DecodeError::InvalidLength(len + by),
        DecodeError::InvalidLastSymbol {
            offset,
            symbol,
            symbol_value,
        } => DecodeError::InvalidLastSymbol {
            offset: offset + by,
            symbol,
            symbol_value,
        },
        DecodeError::InvalidPadding => DecodeError::InvalidPadding,
    }
}

// ---------- the wire shape ----------

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    created: Option<i64>,
    #[serde(default, borrow)]
    data: Vec<DatumWire<'a>>,
}

#[derive(Deserialize)]
struct DatumWire<'a> {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, borrow)]
    b64_json: Option<Text<'a>>,
    #[serde(default)]
    revised_prompt: Option<String>,
}

/// A JSON string borrowed from the body when it has no escapes (serde's `Cow` never borrows
/// inside an `Option`, hence this type).
struct Text<'a>(Cow<'a, str>);

impl Text<'_> {
    /// Where the string is in `body`, or the string itself when it is not a slice of it.
    fn locate(self, body: &[u8]) -> Base64Text {
        match self.0 {
            Cow::Borrowed(s) => {
                let start = (s.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
                match start.checked_add(s.len()) {
                    Some(end) if end <= body.len() => Base64Text::InBody(start..end),
                    _ => Base64Text::Owned(s.to_string()),
                }
            }
            Cow::Owned(s) => Base64Text::Owned(s),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> ImagesResponse {
        ImagesResponse::from_body(json.as_bytes().to_vec()).unwrap()
    }

    fn decoded(source: &ImageSource) -> &[u8] {
        match source {
            ImageSource::Decoded(bytes) => bytes,
            other => panic!("not decoded: {other:?}"),
        }
    }

    #[test]
    fn in_place_decoding_equals_decoding_a_copy() {
        // Lengths around the step size, with and without padding, and with whitespace around.
        for len in [
            0,
            1,
            2,
            3,
            4,
            5,
            100,
            STEP / 4 * 3 - 1,
            STEP / 4 * 3,
            STEP + 7,
            3 * STEP + 2,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let padded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            for text in [padded.clone(), padded.trim_end_matches('=').to_string()] {
                let mut body = format!("xx \n{text}\t yy").into_bytes();
                let end = body.len() - 2;
                let range = decode_in_place(&mut body, 2..end).unwrap();
                assert_eq!(&body[range], &bytes[..], "length {len}");
            }
        }
    }

    #[test]
    fn in_place_errors_name_the_offset_in_the_whole_text() {
        let mut text = base64::engine::general_purpose::STANDARD
            .encode(vec![7u8; STEP])
            .into_bytes();
        text[STEP + 5] = b'!';
        let whole = LENIENT_BASE64.decode(&text).unwrap_err();
        let len = text.len();
        let in_place = decode_in_place(&mut text, 0..len).unwrap_err();
        assert_eq!(in_place, whole);
        assert_eq!(in_place, DecodeError::InvalidByte(STEP + 5, b'!'));
        let mut short = b"QUJD=Q".to_vec();
        assert!(decode_in_place(&mut short, 0..6).is_err());
    }

    #[test]
    fn entries_decode_in_their_own_place_and_share_the_body() {
        let r = answer(
            r#"{"created":1,"data":[{"url":"https://x/y.png"},{"b64_json":"aGVsbG8=","revised_prompt":"p"},{"b64_json":"d29y\/bGQ"},{}]}"#,
        );
        assert_eq!(r.created, Some(1));
        assert_eq!(r.data.len(), 4);
        assert!(matches!(r.data[1].b64_json, Some(Base64Text::InBody(_))));
        // An escaped string cannot be a slice of the body.
        assert_eq!(
            r.data[2].b64_json,
            Some(Base64Text::Owned("d29y/bGQ".into()))
        );
        assert_eq!(r.data[1].revised_prompt.as_deref(), Some("p"));
        let images = r.into_images().unwrap();
        assert!(matches!(&images[0], ImageSource::Url(u) if u == "https://x/y.png"));
        assert_eq!(decoded(&images[1]), b"hello");
        assert_eq!(
            decoded(&images[2]),
            LENIENT_BASE64.decode("d29y/bGQ").unwrap()
        );
        assert!(matches!(images[3], ImageSource::Missing));
    }

    #[test]
    fn b64_json_wins_over_url_and_bad_base64_is_an_error() {
        let r = answer(r#"{"data":[{"url":"https://x/y.png","b64_json":"aGk"}]}"#);
        assert_eq!(decoded(&r.into_images().unwrap()[0]), b"hi");
        let bad = answer(r#"{"data":[{"b64_json":"a!b="}]}"#);
        assert!(bad.into_images().is_err());
        assert!(ImagesResponse::from_body(br#"{"data":[{"b64_json":5}]}"#.to_vec()).is_err());
        let empty = answer(r#"{"data":[{"b64_json":null}]}"#);
        assert!(matches!(
            empty.into_images().unwrap()[0],
            ImageSource::Missing
        ));
    }
}
