//! Request signing: `X-Driftwatch-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, with
//! the timestamp sent in `X-Driftwatch-Timestamp`. Signing the timestamp with the body lets a receiver
//! reject replays (a captured request re-sent later carries an old timestamp it cannot re-sign).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub(crate) const SIGNATURE_HEADER: &str = "X-Driftwatch-Signature";
pub(crate) const TIMESTAMP_HEADER: &str = "X-Driftwatch-Timestamp";
pub(crate) const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Raw HMAC-SHA256.
pub(crate) fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The signature header value for `body` sent at unix second `timestamp`.
pub(crate) fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!("sha256={}", hex::encode(hmac_sha256(secret, &[ts.as_bytes(), b".", body])))
}

/// What a receiver does: recompute and compare in constant time, and refuse timestamps further than
/// `tolerance_seconds` from `now` (a replay). Returned as a reason so tests can tell the failures apart.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header: &str,
    now: u64,
    tolerance_seconds: u64,
) -> Result<(), &'static str> {
    let ts: u64 = timestamp.parse().map_err(|_| "timestamp is not unix seconds")?;
    if ts.abs_diff(now) > tolerance_seconds {
        return Err("timestamp outside the tolerance: possible replay");
    }
    let given = header.strip_prefix("sha256=").ok_or("signature does not start with sha256=")?;
    let given = hex::decode(given).map_err(|_| "signature is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| "signature mismatch")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test cases 1, 2 and 6 (a key longer than the block size).
    #[test]
    fn hmac_matches_rfc_4231_vectors() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(hex::encode(hmac_sha256(key, &[data])), want);
        }
    }

    /// Python's `hmac.new(b"s3cret", b"1732500000.{\"a\":1}", "sha256").hexdigest()`.
    #[test]
    fn signature_covers_timestamp_dot_body_as_python_computes_it() {
        assert_eq!(
            sign(b"s3cret", 1732500000, br#"{"a":1}"#),
            "sha256=dfc3b0ac7598f999b517eb8795ce6205f387cef8910c7496d06cd16a0540d165"
        );
    }

    #[test]
    fn verify_accepts_its_own_signature_and_rejects_tampering_and_replays() {
        let sig = sign(b"k", 1000, b"body");
        assert_eq!(verify(b"k", "1000", b"body", &sig, 1010, 300), Ok(()));
        assert_eq!(verify(b"k", "1000", b"bodY", &sig, 1010, 300), Err("signature mismatch"));
        assert_eq!(verify(b"other", "1000", b"body", &sig, 1010, 300), Err("signature mismatch"));
        assert_eq!(verify(b"k", "1001", b"body", &sig, 1010, 300), Err("signature mismatch"));
        assert!(verify(b"k", "1000", b"body", &sig, 5000, 300).unwrap_err().contains("replay"));
    }
}
