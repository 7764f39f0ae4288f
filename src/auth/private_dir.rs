//! The private config folder: created readable by the owner only, and refused when it exists
//! but is not the user's own.

use std::path::Path;

/// Creates `dir` (and its parents) readable by the owner only, when it does not exist yet.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return crate::folder_check::check_owned(dir);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
