//! Secrets (bearer tokens, the webhook signing key, header values) read at start-up from an
//! environment variable or a file: never serialised, never printed, compared in constant time.

use std::fmt;
use std::path::Path;

use super::Base;

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecretError {
    #[error("set the _env or the _file form, not both")]
    Both,
    #[error("environment variable {0:?} is not set")]
    UnsetVariable(String),
    #[error("cannot read {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("the secret is empty")]
    Empty,
}

/// A secret's bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Reads `env` or `file` (one at most), trimming a trailing newline (as `echo > file` writes one).
    /// `Ok(None)` when neither is given.
    pub(crate) fn resolve(env: Option<&str>, file: Option<&Path>, base: &Base) -> Result<Option<Secret>, SecretError> {
        let bytes = match (env, file) {
            (Some(_), Some(_)) => return Err(SecretError::Both),
            (None, None) => return Ok(None),
            (Some(var), None) => {
                std::env::var(var).map_err(|_| SecretError::UnsetVariable(var.to_owned()))?.into_bytes()
            }
            (None, Some(path)) => {
                let path = base.resolve(path);
                std::fs::read(&path).map_err(|source| SecretError::File { path: path.display().to_string(), source })?
            }
        };
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Some(Secret(trimmed.to_vec())))
    }

    /// Compares in time independent of where the inputs differ.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        self.0.len() == candidate.len() && self.0.iter().zip(candidate).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}
