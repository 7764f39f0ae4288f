//! All-or-nothing outputs per tool call: the files a call saves are recorded, kept when the call
//! succeeds, and removed when it fails, is cancelled or is dropped. A save that finishes in the
//! background after its call ended is refused, so an abandoned call leaves no file behind.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{ErrorCode, ToolError, ToolResult};

tokio::task_local! {
    /// The record of the tool call running in this task, when it is tracked.
    static CALL_FILES: CallFiles;
}

#[derive(Default)]
struct Record {
    paths: Vec<PathBuf>,
    /// Set once the call has ended without success: later saves are refused.
    closed: bool,
}

/// A handle on one call's record; the save path and the call share it.
#[derive(Clone, Default)]
struct CallFiles(Arc<Mutex<Record>>);

impl CallFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes every recorded file and refuses further saves.
    fn discard(&self) {
        let mut record = self.lock();
        record.closed = true;
        for path in record.paths.drain(..) {
            crate::written_files::forget(&path);
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "could not remove a file of a failed call: {e}");
            }
        }
    }
}

/// Discards the call's files when dropped, unless the call succeeded.
struct DiscardUnlessKept {
    files: CallFiles,
    kept: bool,
}

impl Drop for DiscardUnlessKept {
    fn drop(&mut self) {
        if !self.kept {
            self.files.discard();
        }
    }
}

/// Runs one tool call's work with its saves tracked: kept on `Ok`, removed on `Err` or when this
/// future is dropped before finishing.
pub async fn all_or_nothing<T>(work: impl Future<Output = ToolResult<T>>) -> ToolResult<T> {
    let mut guard = DiscardUnlessKept {
        files: CallFiles::default(),
        kept: false,
    };
    let outcome = CALL_FILES.scope(guard.files.clone(), work).await;
    guard.kept = outcome.is_ok();
    outcome
}

/// The current call's record, to carry into a blocking save.
#[derive(Clone, Default)]
pub struct SaveTicket(Option<CallFiles>);

impl SaveTicket {
    /// The ticket of the call running in this task (an untracked one outside a call).
    pub fn current() -> Self {
        Self(CALL_FILES.try_with(Clone::clone).ok())
    }

    /// Runs `place`, which puts a finished file at the path it returns, unless the call has
    /// already ended; records the placed file so a failure removes it. Holding the lock across
    /// `place` means a call that ends meanwhile either sees the file and removes it, or the
    /// file is never placed.
    pub fn place(&self, place: impl FnOnce() -> ToolResult<PathBuf>) -> ToolResult<PathBuf> {
        let Some(files) = &self.0 else {
            return place();
        };
        let mut record = files.lock();
        if record.closed {
            return Err(ToolError {
                code: ErrorCode::Cancelled,
                message: "the call ended before its file was saved; nothing was saved".into(),
            });
        }
        let path = place()?;
        record.paths.push(path.clone());
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::save_new_file;

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_call_that_succeeds_keeps_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let kept = all_or_nothing(async {
            save_new_file(dir.path(), "out", "txt", "text/plain", b"a".to_vec()).await
        })
        .await
        .unwrap();
        assert!(std::path::Path::new(&kept.path).exists());
        assert_eq!(names(dir.path()), ["out.txt"]);
    }

    #[tokio::test]
    async fn a_call_that_fails_after_saving_removes_what_it_saved() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out.txt"), b"theirs").unwrap();
        let outcome: ToolResult<()> = all_or_nothing(async {
            save_new_file(dir.path(), "out", "txt", "text/plain", b"1".to_vec()).await?;
            save_new_file(dir.path(), "out", "txt", "text/plain", b"2".to_vec()).await?;
            Err(ToolError::invalid_input("the third image failed"))
        })
        .await;
        assert!(outcome.is_err());
        // Only the file that was there before remains, untouched; no temp file either.
        assert_eq!(names(dir.path()), ["out.txt"]);
        assert_eq!(
            std::fs::read(dir.path().join("out.txt")).unwrap(),
            b"theirs"
        );
    }

    #[tokio::test]
    async fn a_dropped_call_removes_its_files_and_refuses_late_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let (saved_tx, saved_rx) = tokio::sync::oneshot::channel();
        let (late_tx, late_rx) = tokio::sync::oneshot::channel::<()>();
        let call = tokio::spawn(all_or_nothing(async move {
            save_new_file(&path, "first", "txt", "text/plain", b"1".to_vec()).await?;
            saved_tx.send(SaveTicket::current()).ok();
            // Waits forever: the call is dropped here, like a cancelled one.
            late_rx.await.ok();
            Ok::<(), ToolError>(())
        }));
        let ticket = saved_rx.await.unwrap();
        assert_eq!(names(dir.path()), ["first.txt"]);
        call.abort();
        assert!(call.await.unwrap_err().is_cancelled());
        drop(late_tx);
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        // A save still running in the background for that call is refused, and leaves nothing.
        let late = ticket.place(|| {
            let target = dir.path().join("late.txt");
            std::fs::write(&target, b"late").unwrap();
            Ok(target)
        });
        assert_eq!(late.unwrap_err().code, crate::error::ErrorCode::Cancelled);
        assert!(names(dir.path()).is_empty());
    }
}
