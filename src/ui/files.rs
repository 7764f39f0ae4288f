//! The files this server wrote in this process (`written_files`), offered to the view as
//! resources under their `file://` URIs. Only a recorded URI is ever read, only while it is
//! still a regular file, and only up to [`MAX_FILE_BYTES`].

use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};
use serde_json::json;

use crate::written_files::{self, WrittenFile};

/// Largest file handed to the view in one read (about 21 MB of base64 in one message).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The recorded files that still exist, as resources.
pub fn listed() -> Vec<Resource> {
    written_files::all()
        .into_iter()
        .filter_map(|(uri, file)| {
            let size = regular_file_size(&file.path)?;
            let name = file.path.file_name()?.to_string_lossy().into_owned();
            Some(
                Resource::new(uri, name)
                    .with_mime_type(file.mime_type.clone())
                    .with_size(size),
            )
        })
        .collect()
}

/// `resources/read` of a recorded file: its bytes as a base64 blob.
pub fn read(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let WrittenFile { path, mime_type } = written_files::get(uri).ok_or_else(|| not_found(uri))?;
    let size = regular_file_size(&path).ok_or_else(|| not_found(uri))?;
    if size > MAX_FILE_BYTES {
        return Err(ErrorData::invalid_params(
            format!(
                "{uri} is {size} bytes, over the {MAX_FILE_BYTES}-byte limit for the view; \
                 open the file from disk instead"
            ),
            Some(json!({"uri": uri, "size": size, "limit": MAX_FILE_BYTES})),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|_| not_found(uri))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(not_found(uri));
    }
    Ok(ReadResourceResult::new(vec![
        ResourceContents::blob(BASE64.encode(&bytes), uri).with_mime_type(mime_type),
    ]))
}

/// The size of a regular file (not a symlink, folder or device), if it is one now.
fn regular_file_size(path: &Path) -> Option<u64> {
    std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_file())
        .map(|m| m.len())
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(
        format!(
            "no such resource: {uri} (the view can read only files this server wrote in this session, while they exist)"
        ),
        Some(json!({"uri": uri})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::written_files::{forget, remember, uri_of};

    #[test]
    fn only_recorded_existing_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("kept.png");
        std::fs::write(&kept, b"png bytes").unwrap();
        remember(&kept, "image/png");
        let uri = uri_of(&kept).unwrap();
        let read_back = read(&uri).unwrap();
        let json = serde_json::to_value(&read_back).unwrap();
        assert_eq!(json["contents"][0]["blob"], BASE64.encode(b"png bytes"));
        assert_eq!(json["contents"][0]["mimeType"], "image/png");

        // Never recorded, though it exists and sits beside a recorded one.
        let other = dir.path().join("other.txt");
        std::fs::write(&other, b"secret").unwrap();
        assert!(read(&uri_of(&other).unwrap()).is_err());
        // A `..` spelling of a recorded file is not the recorded URI.
        let dotted = format!(
            "file://{}/../{}/kept.png",
            dir.path().display(),
            dir.path().file_name().unwrap().to_string_lossy()
        );
        assert!(read(&dotted).is_err());

        // Replaced by a symlink to another file: refused.
        std::fs::remove_file(&kept).unwrap();
        std::os::unix::fs::symlink(&other, &kept).unwrap();
        assert!(read(&uri).is_err());
        assert!(!listed().iter().any(|r| r.uri == uri));
        // Deleted: refused and no longer listed.
        std::fs::remove_file(&kept).unwrap();
        assert!(read(&uri).is_err());
    }

    #[test]
    fn a_forgotten_file_is_not_served_even_if_the_path_is_used_again() {
        let dir = tempfile::tempdir().unwrap();
        let failed = dir.path().join("failed.png");
        std::fs::write(&failed, b"from a failed call").unwrap();
        remember(&failed, "image/png");
        forget(&failed);
        std::fs::write(&failed, b"someone else's file").unwrap();
        assert!(read(&uri_of(&failed).unwrap()).is_err());
    }

    #[test]
    fn a_file_over_the_limit_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.mp4");
        let file = std::fs::File::create(&big).unwrap();
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        remember(&big, "video/mp4");
        let error = read(&uri_of(&big).unwrap()).unwrap_err();
        assert!(error.message.contains("over the"), "{}", error.message);
    }
}
