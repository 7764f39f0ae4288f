//! Which folders a tool call may read from and write to. When the client declares roots, paths
//! (inputs and `output_dir`) must lie inside one of them, the default output folder, or a folder
//! in `AIPASS_ALLOWED_DIRS`, after `..` and symlinks are resolved; without roots any path the
//! user can reach is used, as before (docs/security.md says so).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use crate::error::{ToolError, ToolResult};

tokio::task_local! {
    /// The folders the current tool call may touch; None when the client declared no roots.
    pub static ALLOWED_FOLDERS: Option<Arc<Vec<PathBuf>>>;
}

/// The folders of a call: the client's roots plus `always` (the default output folder and
/// `AIPASS_ALLOWED_DIRS`), each resolved; None (no confinement) when there are no roots.
pub fn for_call(roots: &[PathBuf], always: &[PathBuf]) -> Option<Arc<Vec<PathBuf>>> {
    if roots.is_empty() {
        return None;
    }
    let folders = roots
        .iter()
        .chain(always)
        .map(|folder| resolve(folder).unwrap_or_else(|| folder.clone()))
        .collect();
    Some(Arc::new(folders))
}

/// Checks that `path` (absolute) lies inside the call's folders; `spec` is what the agent wrote.
/// Outside, the answer is the same whether the path exists or not, and says nothing of its size.
pub fn check(path: &Path, spec: &str) -> ToolResult<()> {
    let Ok(Some(folders)) = ALLOWED_FOLDERS.try_with(Clone::clone) else {
        return Ok(());
    };
    let inside = resolve(path).is_some_and(|real| folders.iter().any(|f| real.starts_with(f)));
    if inside {
        Ok(())
    } else {
        Err(ToolError::invalid_input(format!(
            "'{spec}' is outside the folders this client allows (its roots, the output folder \
             and AIPASS_ALLOWED_DIRS)"
        )))
    }
}

/// The real location of `path`: its longest existing ancestor with symlinks and `..` resolved,
/// then the rest, which must hold no `..` (it cannot be resolved against folders that do not
/// exist yet).
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(real) => {
                let mut real = real;
                for part in rest.iter().rev() {
                    real.push(part);
                }
                return Some(real);
            }
            Err(_) => {
                let name = existing.components().next_back()?;
                match name {
                    Component::Normal(part) => rest.push(part.to_owned()),
                    Component::CurDir => {}
                    _ => return None,
                }
                existing = existing.parent()?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn checked(folders: Vec<PathBuf>, path: PathBuf) -> bool {
        let scope = for_call(&folders, &[]);
        ALLOWED_FOLDERS
            .scope(scope, async move { check(&path, "x").is_ok() })
            .await
    }

    #[tokio::test]
    async fn paths_are_confined_after_dot_dot_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.png"), b"x").unwrap();
        let roots = vec![root.clone()];
        assert!(checked(roots.clone(), root.join("sub/a.png")).await);
        assert!(checked(roots.clone(), root.join("new/folder")).await);
        assert!(!checked(roots.clone(), root.join("../outside/secret.png")).await);
        assert!(!checked(roots.clone(), root.join("sub/../../outside/secret.png")).await);
        assert!(!checked(roots.clone(), root.join("new/../../outside")).await);
        assert!(!checked(roots.clone(), outside.join("missing.png")).await);
        assert!(!checked(roots.clone(), PathBuf::from("/etc/passwd")).await);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
            assert!(!checked(roots.clone(), root.join("link/secret.png")).await);
        }
        // Without roots, nothing is confined.
        assert!(checked(Vec::new(), PathBuf::from("/etc/passwd")).await);
    }
}
