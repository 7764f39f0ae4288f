//! Keeps the token store stable across runs: the store that `auto` picked is remembered in the
//! config folder (a keyring that is slow once must not move the tokens to a file for one run).

use std::path::Path;

use crate::config::TokenStoreMode;

use super::private_dir::create_private_dir;

/// The file in the config folder that remembers what `auto` chose: `keyring` or `file`.
pub const CHOICE_FILE: &str = "token-store";

/// What an earlier run of `auto` chose, if it chose.
pub fn remembered(config_dir: &Path) -> Option<TokenStoreMode> {
    let text = std::fs::read_to_string(config_dir.join(CHOICE_FILE)).ok()?;
    match text.trim() {
        "keyring" => Some(TokenStoreMode::Keyring),
        "file" => Some(TokenStoreMode::File),
        _ => None,
    }
}

/// Remembers the choice for the next runs; failing to is not fatal (the next run probes again).
pub fn remember(config_dir: &Path, mode: TokenStoreMode) {
    let name = match mode {
        TokenStoreMode::Keyring => "keyring",
        TokenStoreMode::File => "file",
        TokenStoreMode::Auto => return,
    };
    let written = create_private_dir(config_dir).and_then(|()| {
        let temp = tempfile::NamedTempFile::new_in(config_dir)?;
        std::fs::write(temp.path(), name)?;
        temp.persist(config_dir.join(CHOICE_FILE))
            .map(drop)
            .map_err(|e| e.error)
    });
    if let Err(e) = written {
        tracing::debug!("could not remember the token store choice: {e}");
    }
}
