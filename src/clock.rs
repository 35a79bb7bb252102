//! Wall-clock time as Unix seconds, the one clock the exported timestamps, retrain requests and
//! snapshots agree on. A leaf: every layer may read the time without importing the layer that
//! happens to need it most.

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
