//! The file where an instance leaves the link it is waiting on (the sign-in link, or the setup
//! approval link), so that another instance, which cannot take the callback port or the setup
//! lock, can show the user the same link.

use std::path::Path;

/// Writes `url` to `path` atomically, mode 0600, through a temporary file in `dir`.
pub fn write(dir: &Path, path: &Path, temp_prefix: &str, url: &str) -> std::io::Result<()> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(temp_prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir)?;
    std::io::Write::write_all(&mut temp, url.as_bytes())?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The link in `path`, when there is one that looks like a web link.
pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.starts_with("http"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_link_reads_back_and_other_text_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("link.txt");
        assert_eq!(read(&path), None);
        write(dir.path(), &path, ".link-", "http://127.0.0.1:1/start\n").unwrap();
        assert_eq!(read(&path).as_deref(), Some("http://127.0.0.1:1/start"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        write(dir.path(), &path, ".link-", "not a link").unwrap();
        assert_eq!(read(&path), None);
    }
}
