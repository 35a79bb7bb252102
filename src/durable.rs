//! Crash-safe file writes, shared by everything that persists state in the data directory (the
//! snapshot, the retrain policy, the webhook outbox): write to `<name>.tmp`, fsync, rename over
//! `<name>`, fsync the directory. After a crash the file holds the old or the new content, never a
//! mix, and a leftover `*.tmp` is a write that never completed. The temporary is created exclusively
//! (`O_EXCL`, which refuses to follow a symlink planted at its path), after removing a leftover one
//! (removing a link removes the link, not its target), so a write never lands outside the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Makes renames and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically and durably (see the module docs).
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_symlink_planted_at_the_temporary_path_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        fs::write(&outside, b"precious").unwrap();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("snapshot.bin.tmp")).unwrap();
        write_atomically(&data.join("snapshot.bin"), b"new state").unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"precious");
        assert_eq!(fs::read(data.join("snapshot.bin")).unwrap(), b"new state");
        assert!(!data.join("snapshot.bin.tmp").exists());
    }
}
