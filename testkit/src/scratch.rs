//! Scratch directories for real daemons whose timing a test measures.

use std::path::Path;

/// Free space a tmpfs must have to be used: three etcd members each preallocate a 64 MiB WAL
/// segment (etcd's `SegmentSizeBytes`) and keep a data file and snapshots beside it. Docker's
/// default `/dev/shm` is 64 MiB, which would fail their start.
const TMPFS_NEEDS: u64 = 1 << 30;

/// A temporary directory on tmpfs (`/dev/shm`) where the machine has one with
/// [`TMPFS_NEEDS`] free, else in the usual temporary directory; removed when dropped.
///
/// etcd writes every term, vote and log entry to its WAL with `fdatasync` before it answers
/// or votes, so a member whose disk stalls misses elections. On a CI machine's one shared disk,
/// the writeback of a neighbouring test's files held one `fdatasync` for 4.0 s (etcd's "slow
/// fdatasync" warning; reproduced here by writing 3 GB beside the test), and an election the
/// etcd differential test timed took 4.0 s where the simulator, whose member disk never lags
/// (`sim::models::etcd::member`), predicts 1-2 s. On tmpfs every member has the steady disk
/// the simulator assumes, as production members do on the dedicated SSDs etcd's hardware guide
/// asks for. What a slow disk does is a fault of its own, not noise to tolerate.
pub fn steady_disk_scratch() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("spofless-");
        b
    };
    match has_room(shm).then(|| builder.tempdir_in(shm)) {
        Some(Ok(dir)) => Ok(dir),
        _ => builder.tempdir(),
    }
}

/// Whether the file system holding `dir` has [`TMPFS_NEEDS`] free for an unprivileged user.
fn has_room(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|st| st.f_bavail.saturating_mul(st.f_frsize) >= TMPFS_NEEDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_on_tmpfs_where_it_has_room_and_goes_away() {
        let dir = steady_disk_scratch().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("f"), b"x").unwrap();
        let shm = Path::new("/dev/shm");
        assert_eq!(path.starts_with(shm), has_room(shm), "{}", path.display());
        drop(dir);
        assert!(!path.exists());
    }
}
