//! The floor of a durable save on this machine: what writing a file of a given size, `fsync`ing
//! it and moving it into place costs with no server around it. The `embed` budget is the direct
//! call plus this floor plus 0.2 ms, since the server must make each vectors file durable before
//! it answers (docs/performance.md).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::BenchResult;
use crate::report::{Figure, Report, Stats};

/// Durable saves beside the server's: each [`Floor::sample`] times one save of a file the size
/// of the first `.json` file the server wrote into `dir`, in a folder inside `dir`, as the
/// server makes one: a temp file written, `fsync`ed, then linked under a new name without
/// replacing anything. Taken call by call between the server's saves, so both see the same
/// disk: a virtual disk's `fsync` drifts over seconds (0.14 to 0.44 ms across six runs here),
/// and a floor measured in a loop after the calls missed that drift.
pub struct Floor<'a> {
    dir: &'a Path,
    floor_dir: PathBuf,
    content: Vec<u8>,
    saves: usize,
}

impl<'a> Floor<'a> {
    pub fn beside(dir: &'a Path) -> Floor<'a> {
        Floor {
            dir,
            floor_dir: dir.join("fsync-floor"),
            content: Vec::new(),
            saves: 0,
        }
    }

    /// One save, timed; call it after the server has saved at least one file.
    pub fn sample(&mut self) -> BenchResult<Duration> {
        if self.saves == 0 {
            self.content = vec![b'7'; size_of_a_saved_file(self.dir)?];
            std::fs::create_dir_all(&self.floor_dir)?;
        }
        let started = Instant::now();
        let mut temp = tempfile::Builder::new()
            .prefix(".floor-")
            .tempfile_in(&self.floor_dir)?;
        temp.write_all(&self.content)?;
        temp.as_file().sync_all()?;
        temp.persist_noclobber(self.floor_dir.join(format!("{:06}.json", self.saves)))?;
        let elapsed = started.elapsed();
        self.saves += 1;
        Ok(elapsed)
    }

    /// The size of the files saved, and removes them.
    pub fn finish(self) -> BenchResult<usize> {
        if self.saves > 0 {
            std::fs::remove_dir_all(&self.floor_dir)?;
        }
        Ok(self.content.len())
    }
}

/// The size of the first `.json` file the server saved in `dir`.
fn size_of_a_saved_file(dir: &Path) -> BenchResult<usize> {
    let saved = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .ok_or("the server saved no .json file to measure beside")?;
    Ok(saved.metadata()?.len() as usize)
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
        "durable saves of a file the size of embed's, beside the server's and taken between its calls, without the server",
    );
}
