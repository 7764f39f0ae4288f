//! Output files through the real binary: concurrent same-name saves never collide, existing
//! files are never overwritten, cancelled calls leave neither a file nor a temp file, and new
//! output folders are private to the user.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aipass_fake::{Fault, FaultKind};
use futures::future::join_all;
use serde_json::json;
use testkit::session::{Era, Options, Session, start_with};

const CALLS: usize = 50;

async fn session() -> Session {
    let mut options = Options::new(Era::Initialize);
    // Previews are beside the point here and cost time. Names carry the local time: pin the
    // server's time zone so the test can predict them.
    options
        .extra_env
        .push(("AIPASS_INLINE".into(), "never".into()));
    options.extra_env.push(("TZ".into(), "UTC".into()));
    start_with(options).await
}

/// Every entry of a folder, by name.
fn entries(dir: &Path) -> Vec<String> {
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

/// Runs `CALLS` generate_image calls at once with one prompt; returns the saved paths.
async fn concurrent_images(s: &Session, prompt: &str, dir: &Path) -> Vec<PathBuf> {
    let calls = (0..CALLS).map(|_| {
        s.ok(
            "generate_image",
            json!({"prompt": prompt, "size": "64x64", "output_dir": dir}),
        )
    });
    join_all(calls)
        .await
        .iter()
        .flat_map(testkit::session::files)
        .collect()
}

/// The base name the server gives `prompt` during second `at` (see media::base_name).
fn base_at(at: chrono::DateTime<chrono::Utc>, slug: &str) -> String {
    format!("image-{}-{slug}", at.format("%Y%m%d-%H%M%S"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_same_name_calls_give_fifty_distinct_files() {
    let s = session().await;
    let dir = s.output.path().join("same");
    let started = Instant::now();
    let paths = concurrent_images(&s, "same name", &dir).await;
    let elapsed = started.elapsed();
    let distinct: HashSet<&PathBuf> = paths.iter().collect();
    assert_eq!(paths.len(), CALLS);
    assert_eq!(distinct.len(), CALLS, "two calls returned one path");
    let names = entries(&dir);
    assert_eq!(names.len(), CALLS, "{names:?}");
    assert!(
        names.iter().all(|n| !n.starts_with(".aipass-")),
        "{names:?}"
    );
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{path:?} is not a whole PNG");
    }
    eprintln!("{CALLS} concurrent same-name calls: {CALLS} distinct files in {elapsed:?}");
}

/// A name past the taken ones: `<base>-N.png` with N above 5 (the server remembers the next
/// free number per name and steps past names someone else took).
fn is_later_number(name: &str) -> bool {
    let stem = name.strip_suffix(".png").unwrap_or(name);
    stem.rsplit_once('-')
        .and_then(|(_, suffix)| suffix.parse::<u64>().ok())
        .is_some_and(|n| n > 5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn existing_files_are_never_overwritten() {
    let s = session().await;
    let dir = s.output.path().join("taken");
    std::fs::create_dir(&dir).unwrap();
    // Take every readable name (plain and -2 to -5) for the next minute of timestamps, so each
    // save must step past all of them.
    let now = chrono::Utc::now();
    let mut existing = BTreeMap::new();
    for second in -1..60 {
        let base = base_at(now + chrono::Duration::seconds(second), "taken");
        for suffix in ["", "-2", "-3", "-4", "-5"] {
            let name = format!("{base}{suffix}.png");
            let content = format!("the user's own file {name}");
            std::fs::write(dir.join(&name), &content).unwrap();
            existing.insert(name, content);
        }
    }
    let paths = concurrent_images(&s, "taken", &dir).await;
    let distinct: HashSet<&PathBuf> = paths.iter().collect();
    assert_eq!(distinct.len(), CALLS);
    for (name, content) in &existing {
        assert_eq!(
            std::fs::read_to_string(dir.join(name)).unwrap(),
            *content,
            "{name} was overwritten"
        );
    }
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(!existing.contains_key(name.as_ref()), "{name} reused");
        assert!(is_later_number(&name), "{name}");
    }
    assert_eq!(entries(&dir).len(), existing.len() + CALLS);
    eprintln!(
        "{} pre-existing files untouched; {CALLS} new files all took a later number",
        existing.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_calls_leave_no_file_and_no_temp_file() {
    let s = session().await;
    let dir = s.output.path().join("cancelled");
    const CANCELLED: u32 = 5;
    s.fake.inject_fault(Fault {
        path: Some("/v1/images/generations".into()),
        method: None,
        count: CANCELLED,
        kind: FaultKind::Delay { ms: 1500 },
    });
    let calls = (0..CANCELLED).map(|_| {
        s.call(
            "generate_image",
            json!({"prompt": "never mind", "size": "64x64", "output_dir": dir}),
        )
    });
    // Dropping the calls' futures sends notifications/cancelled for each.
    let outcome = tokio::time::timeout(Duration::from_millis(400), join_all(calls)).await;
    assert!(outcome.is_err(), "the calls should still be waiting");
    // Wait until the fake saw every upstream request abandoned.
    let mut closed = 0;
    for _ in 0..100 {
        closed = s.fake.stats().connections_closed_early;
        if closed >= u64::from(CANCELLED) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        closed,
        u64::from(CANCELLED),
        "upstream requests not abandoned"
    );
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    // The server goes on, and a call now saves into the same folder.
    let saved = s
        .ok(
            "generate_image",
            json!({"prompt": "after", "size": "64x64", "output_dir": dir}),
        )
        .await;
    assert_eq!(testkit::session::files(&saved).len(), 1);
    assert_eq!(entries(&dir).len(), 1, "{:?}", entries(&dir));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_output_folders_are_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let s = session().await;
    let shared = s.output.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    let nested = shared.join("new").join("deeper");
    s.ok(
        "generate_image",
        json!({"prompt": "private", "size": "64x64", "output_dir": nested}),
    )
    .await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&shared.join("new")), 0o700);
    assert_eq!(mode(&nested), 0o700);
    assert_eq!(mode(&shared), 0o755, "an existing folder was changed");
    // The default output folder, created on first use, is private too.
    s.ok(
        "generate_image",
        json!({"prompt": "default", "size": "64x64"}),
    )
    .await;
    assert_eq!(mode(&s.out_dir()), 0o700);
}
