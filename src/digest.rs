//! Short, stable digests of a list of strings: idempotency keys of retrain requests and the shape
//! digest a snapshot is restored against. A leaf, so the monitor and the retrain layer share it
//! without importing each other.

use sha2::{Digest, Sha256};

/// 32 hex characters of SHA-256 over the parts (each length-prefixed, so `["ab", "c"]` and
/// `["a", "bc"]` differ): safe as a file name and a header value.
pub(crate) fn key_from(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}
