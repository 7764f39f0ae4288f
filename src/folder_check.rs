//! Refuses folders that another local user controls: the config folder (tokens, locks) and
//! output folders must belong to the user running the server and be writable by nobody else
//! (a group-writable folder is fine when the group is the user's own, as with umask 002).
//! Such a folder could otherwise have been planted in a shared place such as `/tmp` so that
//! its owner can read, replace or pre-create the files written there.

use std::io;
use std::path::Path;

/// Checks an existing folder; a folder that does not exist yet passes (it is created 0700).
#[cfg(unix)]
pub fn check_owned(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    // SAFETY: geteuid and getegid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let problem = judge(metadata.uid(), metadata.gid(), metadata.mode(), uid, gid);
    match problem {
        None => Ok(()),
        Some(why) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} {why}; choose a folder of your own", dir.display()),
        )),
    }
}

#[cfg(not(unix))]
pub fn check_owned(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Why a folder with this owner and mode is refused for user `uid` (group `gid`), if it is.
#[cfg(unix)]
fn judge(owner: u32, group: u32, mode: u32, uid: u32, gid: u32) -> Option<&'static str> {
    if owner != uid {
        Some("belongs to another user")
    } else if mode & 0o002 != 0 {
        Some("is writable by every user")
    } else if mode & 0o020 != 0 && group != gid {
        Some("is writable by a group of other users")
    } else {
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_own_folders_pass() {
        assert_eq!(judge(1000, 1000, 0o40700, 1000, 1000), None);
        assert_eq!(judge(1000, 1000, 0o40775, 1000, 1000), None);
        assert!(judge(0, 0, 0o40755, 1000, 1000).is_some());
        assert!(judge(1001, 1001, 0o40700, 1000, 1000).is_some());
        assert!(judge(1000, 1000, 0o41777, 1000, 1000).is_some());
        assert!(judge(1000, 50, 0o40770, 1000, 1000).is_some());
    }

    #[test]
    fn a_world_writable_folder_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        check_owned(dir.path()).unwrap();
        check_owned(&dir.path().join("not-yet")).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = check_owned(dir.path()).unwrap_err();
        assert!(
            error.to_string().contains("writable by every user"),
            "{error}"
        );
    }
}
