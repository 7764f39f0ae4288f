//! The floor of a durable save on this machine: what writing a file of a given size, `fsync`ing
//! it and moving it into place costs with no server around it. The `embed` budget is the direct
//! call plus this floor plus 0.2 ms, since the server must make each vectors file durable before
//! it answers (docs/performance.md).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::BenchResult;
use crate::report::{Figure, Report, Stats};

/// The floor for files the size of the first `.json` file in `dir` (one the server saved), in
/// `dir`: the statistics and that size.
pub fn floor_beside(dir: &Path, count: usize, warmup: usize) -> BenchResult<(Stats, usize)> {
    let saved = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .ok_or("the server saved no .json file to measure beside")?;
    let bytes = saved.metadata()?.len() as usize;
    Ok((floor(dir, bytes, count, warmup)?, bytes))
}

/// `count` saves (after `warmup`) of `bytes` bytes into `dir`, each as the server makes one: a
/// temp file written, `fsync`ed, then linked under a new name without replacing anything.
pub fn floor(dir: &Path, bytes: usize, count: usize, warmup: usize) -> BenchResult<Stats> {
    let floor_dir = dir.join("fsync-floor");
    std::fs::create_dir_all(&floor_dir)?;
    let content = vec![b'7'; bytes];
    let mut times = Vec::with_capacity(count);
    for i in 0..count + warmup {
        let started = Instant::now();
        let mut temp = tempfile::Builder::new()
            .prefix(".floor-")
            .tempfile_in(&floor_dir)?;
        temp.write_all(&content)?;
        temp.as_file().sync_all()?;
        temp.persist_noclobber(floor_dir.join(format!("{i:06}.json")))?;
        let elapsed: Duration = started.elapsed();
        if i >= warmup {
            times.push(elapsed);
        }
    }
    std::fs::remove_dir_all(&floor_dir)?;
    Ok(Stats::of_durations(&times))
}

/// The floor as a figure (below the embed overhead it bounds) and its distribution.
pub fn report(report: &mut Report, floor: &Stats, bytes: usize) {
    report.figure(Figure::new(
        "fsync_floor_ms",
        &format!("· floor: write + fsync + link of a {bytes}-byte file, no server"),
        floor.median,
        "ms",
        None,
    ));
    report.detail(
        "fsync_floor_ms",
        floor.to_json(),
        "durable saves of a file the size of embed's, same folder, without the server",
    );
}
