//! Loopback ports a test can hand to the server before the server binds them (the sign-in
//! redirect URI) or that must stay silent (an address nobody answers on).
//!
//! A port merely found free races every other socket bound meanwhile. These ports come from
//! below the kernel's ephemeral range, so no `bind(port 0)` anywhere on the machine is given one,
//! and each is held by a lock file while the test runs, so no other test (in this process or in
//! another test run beside it) picks the same one.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A reserved loopback port; released when dropped.
#[derive(Debug)]
pub struct ReservedPort {
    port: u16,
    _lock: File,
}

impl ReservedPort {
    pub fn number(&self) -> u16 {
        self.port
    }
}

/// Reserves a port below the ephemeral range that no one is listening on now.
pub fn reserve_port() -> ReservedPort {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = reserved_range();
    let span = u32::from(high - low);
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).expect("the port lock folder");
    // Start where this process's id points, so runs side by side mostly try different ports.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + offset as u16;
        let Ok(lock) = File::create(dir.join(port.to_string())) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue;
        }
        // Held by nobody in the harness; is anything else on the machine listening there?
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return ReservedPort { port, _lock: lock };
        }
    }
    panic!("no free loopback port in {low}..{high}");
}

/// The ports below Linux's ephemeral range (`ip_local_port_range`, 32768 by default).
fn reserved_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let high = ephemeral_low.max(20_000);
    (high - 10_000, high)
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("aipass-testkit-ports")
}
