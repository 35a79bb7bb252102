//! The durable outbox: a retrain request is a JSON file in `<data-dir>/outbox/`, written to a temporary
//! name, fsynced, renamed into place and the directory fsynced *before* the first delivery attempt. It
//! is removed only after a 2xx, or moved to `outbox/failed/` after a non-retryable 4xx (kept for an
//! operator to read, never deleted). At start every file left in the outbox is delivered again, so a
//! request survives crashes and restarts: delivery is at least once, with the idempotency key the
//! receiver needs to make it exactly once.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use prometheus_client::metrics::gauge::Gauge;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::durable::{sync_dir, write_atomically};

/// One request to one URL, exactly as it will be sent on every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// File stem: the idempotency key and the URL's index.
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) model: String,
    pub(crate) url: String,
    /// The exact body: the same bytes on every retry and after a restart.
    pub(crate) body: String,
    pub(crate) created_at: f64,
}

pub(crate) struct Outbox {
    dir: PathBuf,
    pending: Mutex<HashSet<String>>,
    gauge: Gauge,
    tx: UnboundedSender<Entry>,
    rx: Mutex<Option<UnboundedReceiver<Entry>>>,
}

/// Ids become file names: keep them to a safe alphabet.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Outbox {
    /// Opens (creating) `<data_dir>/outbox` and queues every request left there for delivery.
    /// Leftover `*.tmp` files were never renamed into place, so their enqueue never returned success:
    /// they are removed. A file that does not parse is moved to `failed/`, not deleted.
    pub(crate) fn open(data_dir: &Path, gauge: Gauge) -> io::Result<Outbox> {
        let dir = data_dir.join("outbox");
        fs::create_dir_all(dir.join("failed"))?;
        let (tx, rx) = unbounded_channel();
        let mut found = Vec::new();
        for item in fs::read_dir(&dir)? {
            let path = item?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if name.ends_with(".tmp") {
                fs::remove_file(&path)?;
            } else if name.ends_with(".json") {
                match fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Entry>(&b).ok()) {
                    Some(e) if valid_id(&e.id) && name == format!("{}.json", e.id) => found.push(e),
                    _ => {
                        tracing::error!(file = %path.display(), "unreadable outbox entry moved to failed/");
                        fs::rename(&path, dir.join("failed").join(&name))?;
                    }
                }
            }
        }
        found.sort_by(|a, b| a.created_at.total_cmp(&b.created_at));
        let pending: HashSet<String> = found.iter().map(|e| e.id.clone()).collect();
        gauge.set(pending.len() as i64);
        if !found.is_empty() {
            tracing::info!(pending = found.len(), "resuming retrain requests left in the outbox");
        }
        for e in found {
            let _ = tx.send(e);
        }
        Ok(Outbox { dir, pending: Mutex::new(pending), gauge, tx, rx: Mutex::new(Some(rx)) })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn pending_count(&self) -> usize {
        self.pending().len()
    }

    /// Makes the entry durable, then hands it to the delivery task. Returns false (and writes
    /// nothing) if an entry with the same id is already pending.
    pub(crate) fn enqueue(&self, entry: Entry) -> io::Result<bool> {
        if !valid_id(&entry.id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid outbox id {:?}", entry.id)));
        }
        let mut pending = self.pending();
        if pending.contains(&entry.id) {
            return Ok(false);
        }
        let path = self.dir.join(format!("{}.json", entry.id));
        write_atomically(&path, &serde_json::to_vec(&entry).expect("an entry serialises"))?;
        pending.insert(entry.id.clone());
        self.gauge.set(pending.len() as i64);
        drop(pending);
        // The receiver lives as long as the delivery task; without one the entry stays on disk
        // and is picked up at the next start.
        let _ = self.tx.send(entry);
        Ok(true)
    }

    /// Delivered: the entry is gone for good.
    pub(crate) fn complete(&self, entry: &Entry) -> io::Result<()> {
        fs::remove_file(self.dir.join(format!("{}.json", entry.id)))?;
        sync_dir(&self.dir)?;
        self.forget(entry);
        Ok(())
    }

    /// Refused by the receiver (a 4xx other than 429): kept in `failed/` for an operator.
    pub(crate) fn reject(&self, entry: &Entry) -> io::Result<()> {
        let name = format!("{}.json", entry.id);
        fs::rename(self.dir.join(&name), self.dir.join("failed").join(&name))?;
        sync_dir(&self.dir)?;
        self.forget(entry);
        Ok(())
    }

    fn forget(&self, entry: &Entry) {
        let mut pending = self.pending();
        pending.remove(&entry.id);
        self.gauge.set(pending.len() as i64);
    }

    /// The stream of entries to deliver: the ones found at open, then every new one. Once.
    pub(crate) fn take_receiver(&self) -> Option<UnboundedReceiver<Entry>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, t: f64) -> Entry {
        Entry {
            id: id.into(),
            key: id.into(),
            model: "m".into(),
            url: "http://127.0.0.1:1/".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
            created_at: t,
        }
    }

    #[test]
    fn entries_survive_reopening_in_creation_order_until_completed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), Gauge::default()).unwrap();
        assert!(outbox.enqueue(entry("b", 2.0)).unwrap());
        assert!(outbox.enqueue(entry("a", 1.0)).unwrap());
        assert!(!outbox.enqueue(entry("a", 1.0)).unwrap(), "a pending id is not written twice");
        drop(outbox);

        let gauge = Gauge::default();
        let outbox = Outbox::open(dir.path(), gauge.clone()).unwrap();
        assert_eq!(gauge.get(), 2);
        let mut rx = outbox.take_receiver().unwrap();
        let first = rx.try_recv().unwrap();
        let second = rx.try_recv().unwrap();
        assert_eq!((first.clone(), second.clone()), (entry("a", 1.0), entry("b", 2.0)));
        outbox.complete(&first).unwrap();
        outbox.reject(&second).unwrap();
        assert_eq!(gauge.get(), 0);
        assert!(dir.path().join("outbox/failed/b.json").exists());
        drop(outbox);
        let outbox = Outbox::open(dir.path(), Gauge::default()).unwrap();
        assert_eq!(outbox.pending_count(), 0);
    }

    #[test]
    fn torn_writes_are_dropped_and_corrupt_entries_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("outbox")).unwrap();
        fs::write(dir.path().join("outbox/x.tmp"), b"{\"id\":").unwrap();
        fs::write(dir.path().join("outbox/y.json"), b"not json").unwrap();
        let outbox = Outbox::open(dir.path(), Gauge::default()).unwrap();
        assert_eq!(outbox.pending_count(), 0);
        assert!(!dir.path().join("outbox/x.tmp").exists());
        assert_eq!(fs::read(dir.path().join("outbox/failed/y.json")).unwrap(), b"not json");
    }

    #[test]
    fn ids_that_could_escape_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), Gauge::default()).unwrap();
        assert!(outbox.enqueue(entry("../evil", 1.0)).is_err());
    }
}
