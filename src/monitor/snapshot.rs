//! State snapshots in the data directory, so a restart continues where the last process stopped:
//! every model's window (the partial one), warmup buffer or warmup-fitted reference, and last scores,
//! and every pushed series' detector (history, fitted model, calibration errors, newest points),
//! taken by [`crate::series`]'s owner and handed in here as [`SeriesSnapshot`]s.
//! (Pending webhook requests and the retrain policy persist on their own, in `outbox/` and
//! `policy.json`, at the moment they change.)
//!
//! The snapshot is written atomically — to `snapshot.bin.tmp`, fsynced, renamed over `snapshot.bin`,
//! directory fsynced — every `snapshot_interval_seconds` when a batch was accepted since the last one,
//! and once more after a graceful shutdown has drained in-flight requests. So a `kill -9` loses at most
//! the samples accepted since the last periodic snapshot; a SIGTERM loses nothing.
//!
//! Encoding: postcard (serde, compact, NaN-safe, which JSON is not), behind a magic and version and
//! the SHA-256 of the payload: flipped bits that still decode are caught by the checksum, and what
//! passes it is checked against the model's config before it is taken back (see
//! [`ModelState::restore`]). A file that fails either is kept aside for inspection.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::{ModelSnapshot, ModelState};
use crate::clock::unix_now;
use crate::durable::write_atomically;
use crate::metrics::{Metrics, SeriesLabels};
use driftwatch_stats::anomaly::{DetectorSettings, Observation, SeriesDetector};

/// Every monitored model by name: what a snapshot is taken of and restored into.
pub(crate) type Models = BTreeMap<String, Arc<ModelState>>;

const MAGIC: &[u8; 8] = b"DWSNAP05";
/// Series state without the anomaly streak and without [`SERIES_FORMAT`]; still read, its series
/// taken back with no streak if their layout is today's, else dropped (they start over).
const MAGIC_V4: &[u8; 8] = b"DWSNAP04";
/// Without series state ([`legacy::SnapshotV3`]); still read, its series starting empty.
const MAGIC_V3: &[u8; 8] = b"DWSNAP03";
/// Checksummed, reports without bin counts and multivariate verdicts ([`legacy`]); still read so
/// an upgrade keeps its state.
const MAGIC_V2: &[u8; 8] = b"DWSNAP02";
/// Written before checksums, same payload as V2; still read (without one).
const MAGIC_V1: &[u8; 8] = b"DWSNAP01";
pub(crate) const FILE: &str = "snapshot.bin";

/// The layout of the series section ([`SeriesSnapshot`], the detector's state among it), written
/// after the models. Postcard is not self-describing, so when a detector change alters that layout
/// this is bumped: a snapshot from another layout keeps its models and drops only its series, which
/// start over, instead of failing to decode or being misread.
/// `series_layout_is_pinned_bump_series_format_when_it_changes` fails until it is.
pub(crate) const SERIES_FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) taken_at: f64,
    pub(crate) models: BTreeMap<String, ModelSnapshot>,
    /// Each model's pushed series, by model name.
    pub(crate) series: BTreeMap<String, SeriesSnapshot>,
    /// Why the file's series were not read (another layout), if they were not.
    pub(crate) series_dropped: Option<String>,
}

/// What precedes the series section: the same fields, in the same order, in DWSNAP03 to 05.
#[derive(Serialize, Deserialize)]
struct Head<M> {
    taken_at: f64,
    models: M,
}

/// One source's series: the detector settings they were scored with (state under other settings is
/// not taken back) and each series' state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesSnapshot {
    pub(crate) settings: DetectorSettings,
    pub(crate) series: Vec<SeriesState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesState {
    pub(crate) labels: SeriesLabels,
    pub(crate) detector: SeriesDetector,
    pub(crate) last: Option<Observation>,
    /// The newest scored points, oldest first (for the report).
    pub(crate) recent: Vec<Observation>,
    /// Consecutive points above 1 up to the newest (the retrain policy's anomaly rule).
    pub(crate) streak: u32,
}

/// What [`restore`] did, for the log and the tests.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Restored {
    pub(crate) models: Vec<String>,
    /// (model, why) for model snapshots that were not taken back.
    pub(crate) skipped: Vec<(String, String)>,
    pub(crate) taken_at: Option<f64>,
    /// The series state, for their owner to take back.
    pub(crate) series: BTreeMap<String, SeriesSnapshot>,
}

pub(crate) fn encode(s: &Snapshot) -> Vec<u8> {
    use sha2::Digest;
    let head = Head { taken_at: s.taken_at, models: &s.models };
    let mut payload = postcard::to_stdvec(&head).expect("a snapshot serialises");
    payload.extend(postcard::to_stdvec(&SERIES_FORMAT).expect("a u32 serialises"));
    payload.extend(postcard::to_stdvec(&s.series).expect("series state serialises"));
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&sha2::Sha256::digest(&payload));
    out.extend(payload);
    out
}

/// Why a snapshot file could not be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("not a driftwatch snapshot (bad magic)")]
    BadMagic,
    #[error("corrupt snapshot: the checksum does not match its contents")]
    Checksum,
    #[error("corrupt snapshot: {0}")]
    Corrupt(#[from] postcard::Error),
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
    use sha2::Digest;
    let checked = |rest: &[u8]| -> Result<Vec<u8>, DecodeError> {
        let (sum, payload) = rest.split_first_chunk::<32>().ok_or(DecodeError::Checksum)?;
        if sha2::Sha256::digest(payload).as_slice() != sum.as_slice() {
            return Err(DecodeError::Checksum);
        }
        Ok(payload.to_vec())
    };
    if let Some(rest) = bytes.strip_prefix(MAGIC.as_slice()) {
        let payload = checked(rest)?;
        let (head, rest) = postcard::take_from_bytes::<Head<BTreeMap<String, ModelSnapshot>>>(&payload)?;
        let (format, rest) = postcard::take_from_bytes::<u32>(rest)?;
        let series = if format == SERIES_FORMAT {
            postcard::from_bytes(rest).map_err(|e| format!("series section unreadable: {e}"))
        } else {
            Err(format!("series written in layout {format}; this build reads layout {SERIES_FORMAT}"))
        };
        return Ok(with_series(head, series));
    }
    if let Some(rest) = bytes.strip_prefix(MAGIC_V4.as_slice()) {
        let payload = checked(rest)?;
        let (head, rest) = postcard::take_from_bytes::<Head<BTreeMap<String, ModelSnapshot>>>(&payload)?;
        let series = postcard::from_bytes::<BTreeMap<String, legacy::SeriesSnapshotV4>>(rest)
            .map(|m| m.into_iter().map(|(k, v)| (k, v.into())).collect())
            .map_err(|e| format!("DWSNAP04 series in an older detector layout: {e}"));
        return Ok(with_series(head, series));
    }
    if let Some(rest) = bytes.strip_prefix(MAGIC_V3.as_slice()) {
        let v3: legacy::SnapshotV3 = postcard::from_bytes(&checked(rest)?)?;
        return Ok(Snapshot {
            taken_at: v3.taken_at,
            models: v3.models,
            series: BTreeMap::new(),
            series_dropped: None,
        });
    }
    if let Some(rest) = bytes.strip_prefix(MAGIC_V2.as_slice()) {
        return Ok(postcard::from_bytes::<legacy::Snapshot>(&checked(rest)?)?.into());
    }
    let body = bytes.strip_prefix(MAGIC_V1.as_slice()).ok_or(DecodeError::BadMagic)?;
    Ok(postcard::from_bytes::<legacy::Snapshot>(body)?.into())
}

fn with_series(
    head: Head<BTreeMap<String, ModelSnapshot>>,
    series: Result<BTreeMap<String, SeriesSnapshot>, String>,
) -> Snapshot {
    let (series, series_dropped) = match series {
        Ok(s) => (s, None),
        Err(why) => (BTreeMap::new(), Some(why)),
    };
    Snapshot { taken_at: head.taken_at, models: head.models, series, series_dropped }
}

/// The payload of DWSNAP01 and DWSNAP02 files: postcard is not self-describing, so the reports of
/// that time (no bin counts, no multivariate verdicts) need their own layout to be read; they
/// come back with both empty.
mod legacy {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use crate::metrics::SeriesLabels;
    use crate::monitor::reference::Values;
    use crate::monitor::report::{self, ScoreReport};
    use crate::monitor::window::{Warmup, Window};
    use driftwatch_stats::anomaly::{DetectorSettings, Observation, SeriesDetector};

    #[derive(Serialize, Deserialize)]
    pub(super) struct Snapshot {
        pub(super) taken_at: f64,
        pub(super) models: BTreeMap<String, ModelSnapshot>,
    }

    /// DWSNAP03: today's model state, no series.
    #[derive(Serialize, Deserialize)]
    pub(super) struct SnapshotV3 {
        pub(super) taken_at: f64,
        pub(super) models: BTreeMap<String, super::ModelSnapshot>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct ModelSnapshot {
        pub(super) shape: String,
        pub(super) warmup_source: Option<Vec<Values>>,
        pub(super) warmup: Option<Warmup>,
        pub(super) window: Option<Window>,
        pub(super) latest: Option<WindowReport>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct WindowReport {
        pub(super) seq: u64,
        pub(super) samples: usize,
        pub(super) started_at: f64,
        pub(super) completed_at: f64,
        pub(super) scoring_seconds: f64,
        pub(super) drift_share: f64,
        pub(super) model_drift: bool,
        pub(super) features: Vec<FeatureReport>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct FeatureReport {
        pub(super) name: String,
        pub(super) samples: usize,
        pub(super) drifted: Option<bool>,
        pub(super) scores: Vec<ScoreReport>,
    }

    impl From<Snapshot> for super::Snapshot {
        fn from(s: Snapshot) -> Self {
            let models = s
                .models
                .into_iter()
                .map(|(name, m)| {
                    let latest = m.latest.map(|r| report::WindowReport {
                        seq: r.seq,
                        samples: r.samples,
                        started_at: r.started_at,
                        completed_at: r.completed_at,
                        scoring_seconds: r.scoring_seconds,
                        drift_share: r.drift_share,
                        model_drift: r.model_drift,
                        features: r
                            .features
                            .into_iter()
                            .map(|f| report::FeatureReport {
                                name: f.name,
                                samples: f.samples,
                                drifted: f.drifted,
                                scores: f.scores,
                                bin_counts: Vec::new(),
                            })
                            .collect(),
                        multivariate: Vec::new(),
                    });
                    let snap = super::ModelSnapshot {
                        shape: m.shape,
                        warmup_source: m.warmup_source,
                        warmup: m.warmup,
                        window: m.window,
                        latest,
                        performance: None,
                    };
                    (name, snap)
                })
                .collect();
            super::Snapshot { taken_at: s.taken_at, models, series: BTreeMap::new(), series_dropped: None }
        }
    }

    /// DWSNAP04's series: today's detector, no streak.
    #[derive(Serialize, Deserialize)]
    pub(super) struct SeriesSnapshotV4 {
        pub(super) settings: DetectorSettings,
        pub(super) series: Vec<SeriesStateV4>,
    }

    #[derive(Serialize, Deserialize)]
    pub(super) struct SeriesStateV4 {
        pub(super) labels: SeriesLabels,
        pub(super) detector: SeriesDetector,
        pub(super) last: Option<Observation>,
        pub(super) recent: Vec<Observation>,
    }

    impl From<SeriesSnapshotV4> for super::SeriesSnapshot {
        fn from(s: SeriesSnapshotV4) -> Self {
            let series = s
                .series
                .into_iter()
                .map(|v| super::SeriesState {
                    labels: v.labels,
                    detector: v.detector,
                    last: v.last,
                    recent: v.recent,
                    streak: 0,
                })
                .collect();
            super::SeriesSnapshot { settings: s.settings, series }
        }
    }
}

/// Longest a snapshot waits for windows being scored to be published.
const SCORING_WAIT: Duration = Duration::from_secs(10);

/// Copies every model's state (each under its own lock, briefly) beside the series' (`series`, taken
/// by their owner). Fails if some model's scoring did not catch up within [`SCORING_WAIT`]; the
/// previous snapshot then stays in place.
pub(crate) fn take(models: &Models, series: impl FnOnce() -> BTreeMap<String, SeriesSnapshot>) -> io::Result<Snapshot> {
    let mut snaps = BTreeMap::new();
    for (name, m) in models {
        let snap = m.snapshot(SCORING_WAIT).ok_or_else(|| {
            io::Error::new(io::ErrorKind::TimedOut, format!("model {name:?}: windows still being scored"))
        })?;
        snaps.insert(name.clone(), snap);
    }
    Ok(Snapshot { taken_at: unix_now(), models: snaps, series: series(), series_dropped: None })
}

/// Writes the snapshot of `models` and `series` to `<dir>/snapshot.bin`.
pub(crate) fn write(
    models: &Models,
    series: impl FnOnce() -> BTreeMap<String, SeriesSnapshot>,
    dir: &Path,
) -> io::Result<usize> {
    let bytes = encode(&take(models, series)?);
    write_atomically(&dir.join(FILE), &bytes)?;
    Ok(bytes.len())
}

/// Restores from `<dir>/snapshot.bin` if there is one. A model whose config or reference changed is
/// skipped (and starts empty); a snapshot that does not decode is renamed aside, never silently
/// overwritten, and the sidecar starts empty.
pub(crate) fn restore(models: &Models, metrics: &Metrics, dir: &Path) -> io::Result<Restored> {
    let path = dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Restored::default()),
        Err(e) => return Err(e),
    };
    let snapshot = match decode(&bytes) {
        Ok(s) => s,
        Err(e) => {
            let aside = dir.join(format!("{FILE}.corrupt-{}", unix_now() as u64));
            tracing::error!(error = %e, moved_to = %aside.display(), "unreadable snapshot: starting empty");
            fs::rename(&path, aside)?;
            return Ok(Restored::default());
        }
    };
    if let Some(why) = &snapshot.series_dropped {
        tracing::warn!(reason = %why, "series state in the snapshot not restored: the series start over");
    }
    let mut restored = Restored { taken_at: Some(snapshot.taken_at), series: snapshot.series, ..Default::default() };
    let mut invalid = false;
    for (name, snap) in snapshot.models {
        match models.get(&name) {
            None => restored.skipped.push((name, "no longer configured".into())),
            Some(model) => match model.restore(snap, metrics) {
                Ok(()) => restored.models.push(name),
                Err(why) => {
                    // A changed config is expected after a deploy; state that contradicts its own
                    // config is not, and the next snapshot would overwrite the evidence.
                    invalid |= why.is_invalid_state();
                    restored.skipped.push((name, why.to_string()));
                }
            },
        }
    }
    if invalid {
        let aside = dir.join(format!("{FILE}.invalid-{}", unix_now() as u64));
        tracing::error!(kept_at = %aside.display(), "the snapshot holds state its config cannot hold");
        fs::copy(&path, aside)?;
    }
    for (name, why) in &restored.skipped {
        tracing::warn!(model = %name, reason = %why, "model state in the snapshot not restored");
    }
    Ok(restored)
}

/// Whether the last snapshot write failed, and why: `/readyz` says so, so an operator sees a data
/// directory that stopped taking writes before a restart loses what was accepted since.
#[derive(Debug, Default)]
pub(crate) struct Health {
    failure: std::sync::Mutex<Option<String>>,
}

impl Health {
    /// The error of the last write, if it failed.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, metrics: &Metrics, outcome: Result<usize, String>) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(bytes) => {
                tracing::debug!(bytes, "snapshot written");
                metrics.snapshot_written.set(unix_now());
                *failure = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not write the snapshot");
                metrics.snapshot_failures.inc();
                *failure = Some(e);
            }
        }
    }
}

/// Writes a snapshot (`write`) every `interval` when some state changed since the last write (its
/// `generations` differ; a failed write is retried every interval). Runs the copy and the fsync on a
/// blocking thread, never on the reactor.
pub(crate) async fn periodic(
    generations: impl Fn() -> Vec<u64>,
    write: impl Fn() -> io::Result<usize> + Clone + Send + 'static,
    metrics: Metrics,
    health: Arc<Health>,
    interval: Duration,
) {
    let mut written: Option<Vec<u64>> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = generations();
        if written.as_ref() == Some(&now) {
            continue;
        }
        let write = write.clone();
        let outcome = match tokio::task::spawn_blocking(write).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("snapshot task failed: {e}")),
        };
        if outcome.is_ok() {
            written = Some(now);
        }
        health.record(&metrics, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::reference::Values;

    const CONFIG: &str = r#"
[[model]]
name = "warm"
warmup = 20
window = 10
features = [{ name = "v", kind = "numeric" }, { name = "c", kind = "categorical" }]
"#;

    fn models(dir: &Path) -> (Models, Metrics) {
        let config = crate::config::Sources::from_str(CONFIG, dir).unwrap().validate().unwrap();
        let metrics = Metrics::new();
        (crate::monitor::load(&config, &metrics).unwrap(), metrics)
    }

    fn batch(rows: usize) -> crate::monitor::batch::Batch {
        crate::monitor::batch::Batch {
            rows,
            columns: vec![
                Some(Values::Numeric((0..rows).map(|i| i as f64).collect())),
                Some(Values::Categorical((0..rows).map(|i| Some(format!("k{}", i % 3))).collect())),
            ],
            missing: vec![0, 0],
        }
    }

    #[test]
    fn a_checksummed_snapshot_whose_state_contradicts_its_config_is_kept_aside_and_not_restored() {
        let dir = tempfile::tempdir().unwrap();
        let (live, metrics) = models(dir.path());
        live["warm"].append(&batch(5), |_, _| {}).unwrap();
        let mut snap = take(&live, BTreeMap::new).unwrap();
        // Columns of different lengths: what made every later /ingest for the model a 500.
        let warmup = snap.models.get_mut("warm").unwrap().warmup.as_mut().unwrap();
        warmup.columns[1] = Values::Categorical(vec![None; 3]);
        fs::write(dir.path().join(FILE), encode(&snap)).unwrap();

        let (fresh, _) = models(dir.path());
        let restored = restore(&fresh, &metrics, dir.path()).unwrap();
        assert!(restored.models.is_empty(), "{restored:?}");
        assert_eq!(restored.skipped.len(), 1);
        let aside = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("snapshot.bin.invalid-"))
            .count();
        assert_eq!(aside, 1);
        assert_eq!(fresh["warm"].fill().1, 0);
        fresh["warm"].append(&batch(25), |_, _| {}).unwrap();
        assert!(fresh["warm"].ready());
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum_and_a_checksum_free_snapshot_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (live, _) = models(dir.path());
        live["warm"].append(&batch(5), |_, _| {}).unwrap();
        let snap = take(&live, BTreeMap::new).unwrap();
        let mut bytes = encode(&snap);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(decode(&bytes), Err(DecodeError::Checksum)));
        let mut v1 = MAGIC_V1.to_vec();
        v1.extend(postcard::to_stdvec(&snap).unwrap());
        assert_eq!(decode(&v1).unwrap().models.len(), 1);
    }

    /// A DWSNAP03 file (model state, no series) written by the last release is read back, its
    /// series starting empty.
    #[test]
    fn a_version_3_snapshot_without_series_still_reads() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        let (live, _) = models(dir.path());
        live["warm"].append(&batch(5), |_, _| {}).unwrap();
        let snap = take(&live, BTreeMap::new).unwrap();
        let old = legacy::SnapshotV3 { taken_at: snap.taken_at, models: snap.models };
        let payload = postcard::to_stdvec(&old).unwrap();
        let mut bytes = MAGIC_V3.to_vec();
        bytes.extend_from_slice(&sha2::Sha256::digest(&payload));
        bytes.extend(payload);
        let back = decode(&bytes).unwrap();
        assert_eq!((back.models.len(), back.series.len()), (1, 0));
        assert!(back.models["warm"].warmup.is_some());
    }

    /// A DWSNAP02 file (reports without bin counts or multivariate verdicts) written by the last
    /// release is read back, its last scores included.
    #[test]
    fn a_version_2_snapshot_with_last_scores_still_reads() {
        use sha2::Digest;
        let score = crate::monitor::report::ScoreReport {
            method: driftwatch_stats::drift::Method::Psi,
            score: 0.3,
            pvalue: None,
            threshold: 0.2,
            drifted: true,
        };
        let report = legacy::WindowReport {
            seq: 7,
            samples: 50,
            started_at: 1.0,
            completed_at: 2.0,
            scoring_seconds: 0.001,
            drift_share: 1.0,
            model_drift: true,
            features: vec![legacy::FeatureReport {
                name: "x".into(),
                samples: 50,
                drifted: Some(true),
                scores: vec![score.clone()],
            }],
        };
        let model = legacy::ModelSnapshot {
            shape: "s".into(),
            warmup_source: None,
            warmup: None,
            window: None,
            latest: Some(report),
        };
        let old = legacy::Snapshot { taken_at: 3.0, models: [("m".to_owned(), model)].into_iter().collect() };
        let payload = postcard::to_stdvec(&old).unwrap();
        let mut bytes = MAGIC_V2.to_vec();
        bytes.extend_from_slice(&sha2::Sha256::digest(&payload));
        bytes.extend(payload);
        let snap = decode(&bytes).unwrap();
        let latest = snap.models["m"].latest.as_ref().unwrap();
        assert_eq!((latest.seq, latest.features[0].scores[0].clone()), (7, score));
        assert!(latest.multivariate.is_empty() && latest.features[0].bin_counts.is_empty());
    }

    fn one_series() -> BTreeMap<String, SeriesSnapshot> {
        let settings = DetectorSettings { step_seconds: Some(60.0), ..Default::default() };
        let mut detector = SeriesDetector::new(&settings, 0);
        for i in 0..30 {
            detector.push(&settings, 60.0 * f64::from(i), f64::from(i % 7));
        }
        let state = SeriesState {
            labels: vec![("model_name".into(), "warm".into()), ("series".into(), "s".into())],
            detector,
            last: None,
            recent: Vec::new(),
            streak: 2,
        };
        [("warm".to_owned(), SeriesSnapshot { settings, series: vec![state] })].into_iter().collect()
    }

    fn framed(magic: &[u8; 8], payload: Vec<u8>) -> Vec<u8> {
        use sha2::Digest;
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&sha2::Sha256::digest(&payload));
        bytes.extend(payload);
        bytes
    }

    /// Postcard writes fields in order with no names: a field added to, removed from or retyped in
    /// the series state (the detector's among it) changes these bytes, and a snapshot of the old
    /// layout would be misread. When this fails, bump SERIES_FORMAT and take the new digest.
    #[test]
    fn series_layout_is_pinned_bump_series_format_when_it_changes() {
        use sha2::Digest;
        let settings = DetectorSettings::default();
        let state = SeriesState {
            labels: vec![("series".into(), "s".into())],
            detector: SeriesDetector::new(&settings, 0),
            last: None,
            recent: Vec::new(),
            streak: 0,
        };
        let snap = SeriesSnapshot { settings, series: vec![state] };
        let digest = sha2::Sha256::digest(postcard::to_stdvec(&snap).unwrap());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            (SERIES_FORMAT, hex.as_str()),
            (1, "03402bee09667c571b7d6ce95f6c0ff355ea4963386a3e6cfbd393f8320ea94e")
        );
    }

    #[test]
    fn series_state_round_trips_with_its_streak_and_another_layout_keeps_the_models() {
        let dir = tempfile::tempdir().unwrap();
        let (live, _) = models(dir.path());
        live["warm"].append(&batch(5), |_, _| {}).unwrap();
        let snap = take(&live, one_series).unwrap();
        let back = decode(&encode(&snap)).unwrap();
        // Compared as bytes: the detector's scratch buffer is not state and not serialised.
        let bytes = |s: &BTreeMap<String, SeriesSnapshot>| postcard::to_stdvec(s).unwrap();
        assert_eq!((bytes(&back.series), back.series_dropped.clone()), (bytes(&one_series()), None));
        assert_eq!(back.series["warm"].series[0].streak, 2);

        // The same file as a build with another series layout wrote it: models read, series dropped.
        let head = Head { taken_at: snap.taken_at, models: &snap.models };
        let mut payload = postcard::to_stdvec(&head).unwrap();
        payload.extend(postcard::to_stdvec(&(SERIES_FORMAT + 1)).unwrap());
        payload.extend([1, 2, 3]);
        let other = decode(&framed(MAGIC, payload)).unwrap();
        assert_eq!(other.models.keys().collect::<Vec<_>>(), ["warm"]);
        assert!(other.series.is_empty());
        assert!(other.series_dropped.unwrap().contains("layout 2"));
    }

    #[test]
    fn a_dwsnap04_snapshot_reads_its_series_with_no_streak() {
        let dir = tempfile::tempdir().unwrap();
        let (live, _) = models(dir.path());
        live["warm"].append(&batch(5), |_, _| {}).unwrap();
        let snap = take(&live, BTreeMap::new).unwrap();
        let v4_series: BTreeMap<String, legacy::SeriesSnapshotV4> = one_series()
            .into_iter()
            .map(|(k, v)| {
                let series = v
                    .series
                    .into_iter()
                    .map(|s| legacy::SeriesStateV4 {
                        labels: s.labels,
                        detector: s.detector,
                        last: s.last,
                        recent: s.recent,
                    })
                    .collect();
                (k, legacy::SeriesSnapshotV4 { settings: v.settings, series })
            })
            .collect();
        // DWSNAP04 serialised the whole struct: taken_at, models, series.
        let mut payload = postcard::to_stdvec(&Head { taken_at: snap.taken_at, models: &snap.models }).unwrap();
        payload.extend(postcard::to_stdvec(&v4_series).unwrap());
        let back = decode(&framed(MAGIC_V4, payload)).unwrap();
        let mut want = one_series();
        want.get_mut("warm").unwrap().series[0].streak = 0;
        let bytes = |s: &BTreeMap<String, SeriesSnapshot>| postcard::to_stdvec(s).unwrap();
        assert_eq!((bytes(&back.series), back.models.len()), (bytes(&want), 1));
    }
}
