//! Keeps the token store stable across runs and clears every store on logout: the store that
//! `auto` picked is remembered in the config folder (a keyring that is slow once must not move
//! the tokens to a file for one run), and `logout` deletes the tokens from both stores.

use std::path::Path;

use crate::config::TokenStoreMode;

use super::store::{self, FileStore, StoreError, TokenStore};

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
    let written = store::create_private_dir(config_dir).and_then(|()| {
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

/// Deletes this account's tokens from every store that may hold them (the file and the OS
/// keyring, whichever is in use), so `logout` leaves none behind. `in_use` is cleared first and
/// its error returned; the other store is cleared as well as it can be.
pub fn clear_everywhere(
    in_use: &dyn TokenStore,
    config_dir: &Path,
    account: &str,
) -> Result<(), StoreError> {
    let result = in_use.clear();
    if let Err(e) = FileStore::new(config_dir, account).clear() {
        tracing::warn!("could not delete the token file: {e}");
    }
    // A headless machine has no keyring to clear: that is not worth a warning.
    if let Err(e) = store::clear_keyring(account) {
        tracing::debug!("the OS keyring was not cleared: {e}");
    }
    result
}
