//! Lock files in the config folder that keep aipass-mcp processes out of each other's way:
//! `tokens.lock` around refreshes and token writes, `provision.lock` around the first-run setup.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use super::private_dir::create_private_dir;

/// How often a waiting process tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(25);

/// `dir/name`, locked, or None while another process holds it.
pub fn try_lock(dir: &Path, name: &str) -> Result<Option<File>, String> {
    let file = open(dir, name)?;
    Ok(take(&file, dir, name)?.then_some(file))
}

/// `dir/name`, locked, waiting (and blocking the thread) up to `wait` for another process to
/// let go of it.
pub fn lock_within(dir: &Path, name: &str, wait: Duration) -> Result<File, String> {
    let file = open(dir, name)?;
    let deadline = Instant::now() + wait;
    while !take(&file, dir, name)? {
        if Instant::now() >= deadline {
            return Err(format!(
                "{} stayed locked for {} s",
                dir.join(name).display(),
                wait.as_secs()
            ));
        }
        std::thread::sleep(RETRY_EVERY);
    }
    Ok(file)
}

/// Opens (creating) the lock file, in a private config folder.
fn open(dir: &Path, name: &str) -> Result<File, String> {
    create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// True when the lock was taken, false while another process holds it.
fn take(file: &File, dir: &Path, name: &str) -> Result<bool, String> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(format!("{}: {e}", dir.join(name).display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_then_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = try_lock(dir.path(), "x.lock")
            .unwrap()
            .expect("free at first");
        assert!(try_lock(dir.path(), "x.lock").unwrap().is_none());
        let waited = lock_within(dir.path(), "x.lock", Duration::ZERO);
        assert!(waited.unwrap_err().contains("stayed locked"));
        drop(held);
        assert!(lock_within(dir.path(), "x.lock", Duration::ZERO).is_ok());
    }
}
