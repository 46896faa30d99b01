//! Pinned host keys, read from an OpenSSH `known_hosts` file (plain host names only).
//!
//! Only exact host matches count; hashed entries, wildcards and markers (`@revoked`,
//! `@cert-authority`) are not honoured, so a pin is always one explicit line.

use std::collections::BTreeMap;
use std::path::Path;

use russh::keys::PublicKey;

use super::TransportError;

/// Host -> pinned key.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    pins: BTreeMap<String, PublicKey>,
}

impl KnownHosts {
    /// Parses `known_hosts` text. Lines are `host[,host...] keytype base64 [comment]`.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TransportError> {
        let mut pins = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                continue;
            }
            let Some((hosts, key)) = line.split_once(char::is_whitespace) else {
                return Err(TransportError::KnownHosts {
                    path: origin.to_owned(),
                    reason: format!("line {}: no key", n + 1),
                });
            };
            let key =
                PublicKey::from_openssh(key.trim()).map_err(|e| TransportError::KnownHosts {
                    path: origin.to_owned(),
                    reason: format!("line {}: {e}", n + 1),
                })?;
            for h in hosts.split(',') {
                pins.insert(h.to_owned(), key.clone());
            }
        }
        Ok(KnownHosts { pins })
    }

    /// Reads and parses a `known_hosts` file.
    pub fn load(path: &Path) -> Result<Self, TransportError> {
        let text = std::fs::read_to_string(path).map_err(|e| TransportError::KnownHosts {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Pins `key` for `host`.
    pub fn insert(&mut self, host: impl Into<String>, key: PublicKey) {
        self.pins.insert(host.into(), key);
    }

    /// The pinned key of `host`, or [`TransportError::UnknownHost`].
    pub fn get(&self, host: &str) -> Result<&PublicKey, TransportError> {
        self.pins
            .get(host)
            .ok_or_else(|| TransportError::UnknownHost {
                host: host.to_owned(),
            })
    }
}
