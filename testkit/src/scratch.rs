//! Scratch directories for real daemons whose timing a test measures.

use std::path::Path;

/// A temporary directory on tmpfs (`/dev/shm`) where the machine has one, else in the usual
/// temporary directory; removed when dropped.
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
    match builder.tempdir_in(shm) {
        Ok(dir) => Ok(dir),
        Err(_) => builder.tempdir(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_is_on_tmpfs_where_there_is_one_and_goes_away() {
        let dir = steady_disk_scratch().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("f"), b"x").unwrap();
        if Path::new("/dev/shm").is_dir() {
            assert!(path.starts_with("/dev/shm"), "{}", path.display());
        }
        drop(dir);
        assert!(!path.exists());
    }
}
