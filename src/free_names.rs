//! The next free numbered name per (folder, base name), remembered in memory so that many saves
//! of the same name (the same text within one second) cost O(1) each instead of probing every
//! taken `<base>-N` again. Only a hint: the save still creates without replacing anything and
//! moves on when a name turns out to be taken.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Past this many remembered names the memory starts over (base names carry the second they
/// were made, so old entries are rarely useful; forgetting only costs a few probes).
const MAX_REMEMBERED: usize = 1024;

static NEXT: Mutex<Option<HashMap<(PathBuf, String), u64>>> = Mutex::new(None);

/// Reserves the next number to try for `name` in `dir`: 1 means `<base>.<ext>`, n the
/// `<base>-n.<ext>` form. Concurrent callers get different numbers.
pub fn reserve(dir: &Path, name: &str) -> u64 {
    let mut guard = NEXT.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    let key = (dir.to_path_buf(), name.to_string());
    if !map.contains_key(&key) && map.len() >= MAX_REMEMBERED {
        map.clear();
    }
    let next = map.entry(key).or_insert(1);
    let number = *next;
    *next += 1;
    number
}
