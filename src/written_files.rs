//! The files this server wrote in this process, by their `file://` URI (the one in the results'
//! resource links). The save path records each file here and a failed call's clean-up drops it;
//! the MCP Apps view (`ui::files`) serves only what is recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// A file the server wrote: where it is and what it holds.
#[derive(Clone, Debug)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub mime_type: String,
}

/// URI → file, for this process (one stdio connection).
static WRITTEN: Mutex<BTreeMap<String, WrittenFile>> = Mutex::new(BTreeMap::new());

/// The `file://` URI of a path, as the results' resource links spell it.
pub fn uri_of(path: &Path) -> Option<String> {
    url::Url::from_file_path(path).ok().map(String::from)
}

/// Records a file the server has just written.
pub fn remember(path: &Path, mime_type: &str) {
    let Some(uri) = uri_of(path) else { return };
    let written = WrittenFile {
        path: path.to_path_buf(),
        mime_type: mime_type.to_string(),
    };
    lock().insert(uri, written);
}

/// Drops a file of a failed call before it is removed, so nothing later at that path is served.
pub fn forget(path: &Path) {
    let canonical = std::fs::canonicalize(path).ok();
    let mut written = lock();
    for spelling in std::iter::once(path).chain(canonical.as_deref()) {
        if let Some(uri) = uri_of(spelling) {
            written.remove(&uri);
        }
    }
}

/// The file recorded under exactly this URI.
pub fn get(uri: &str) -> Option<WrittenFile> {
    lock().get(uri).cloned()
}

/// Every recorded file, by URI.
pub fn all() -> Vec<(String, WrittenFile)> {
    lock()
        .iter()
        .map(|(uri, file)| (uri.clone(), file.clone()))
        .collect()
}

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<String, WrittenFile>> {
    WRITTEN.lock().unwrap_or_else(PoisonError::into_inner)
}
