//! API tokens: what a script or a gRPC client outside the node's Unix
//! account shows to use the local API over loopback TCP, the JSON API and,
//! when asked, `/metrics`.
//!
//! - A token's secret is 32 random bytes from the OS (`comity_` and 64 hex
//!   digits). It is printed once, at `comity token create`, and never kept:
//!   only its SHA-256 is. A slow password hash would add nothing to a
//!   256-bit random secret, and SHA-256 lets every request be checked fast.
//! - Each token is one small JSON file, `<data>/api-tokens/<name>.json`
//!   (directory 0700, files 0600). So the CLI manages tokens whether or not
//!   the node runs, with no lock: a token is created by writing a temporary
//!   file, syncing it and linking it under its name only if that name is free
//!   (`persist_noclobber`), then syncing the directory; revoked by removing
//!   its file and syncing the directory. A crash leaves either the whole
//!   token or none of it.
//! - The node reads the directory on every check, so a revocation holds at
//!   once, with no restart. A presented secret is hashed and compared with
//!   every stored hash in constant time. A file that cannot be read or parsed
//!   is skipped with a warning: it can grant nothing.
//! - A read-only token may call only the RPCs in [`READ_RPCS`] and the JSON
//!   API's `GET`s; everything else is refused with PERMISSION_DENIED (403).

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::{
    fs,
    io::Write,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// The directory under the data directory that holds the tokens.
pub const TOKENS_DIR: &str = "api-tokens";
const PREFIX: &str = "comity_";
const MAX_NAME: usize = 64;

/// The `comity.v1.Node` RPCs a read-only token may call: they change
/// nothing a partner or a person could see. Any RPC not listed here
/// (including one added later) counts as a write.
pub const READ_RPCS: &[&str] = &[
    "Status",
    "ExportEntries",
    "GetCheckpoint",
    "ShowEquivocation",
    "ListEntries",
    "ListPeers",
    "ListConsultations",
    "ShowConsultation",
    "ListDrafts",
    "ListLiaisons",
    "ShowLiaison",
    "GetAttachment",
    "ListUsers",
    "Search",
];

/// Why a token could not be made, listed, revoked or accepted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "token name {0:?}: use 1 to {MAX_NAME} letters, digits, '.', '_' or '-', not starting with '.'"
    )]
    BadName(String),
    #[error("a token named {0:?} exists already: revoke it first, or choose another name")]
    Exists(String),
    #[error("no token named {0:?}: `comity token list` shows them")]
    NoSuchToken(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "missing API token: send `authorization: Bearer <token>` (make one with `comity token create --name NAME`)"
    )]
    Missing,
    #[error("invalid or revoked API token")]
    Invalid,
    #[error("token {name:?} is read-only: it cannot call {what}")]
    ReadOnly { name: String, what: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What is kept of a token: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub read_only: bool,
    /// RFC 3339, UTC.
    pub created: String,
    /// SHA-256 of the secret, hex.
    pub sha256: String,
}

/// Who presented a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub name: String,
    pub read_only: bool,
}

impl Grant {
    /// Refuses a read-only token anything but a read.
    pub fn allow(&self, is_read: bool, what: &str) -> Result<(), TokenError> {
        if self.read_only && !is_read {
            return Err(TokenError::ReadOnly {
                name: self.name.clone(),
                what: what.to_string(),
            });
        }
        Ok(())
    }
}

/// The token directory of one node.
#[derive(Debug, Clone)]
pub struct ApiTokens {
    dir: PathBuf,
}

fn hash_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = (1..=MAX_NAME).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::BadName(name.to_string()))
    }
}

/// The secret of `authorization: Bearer <secret>` (scheme in any case).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, secret) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(secret.trim())
        .filter(|s| !s.is_empty())
}

impl ApiTokens {
    /// The tokens of the data directory `data`.
    pub fn in_data_dir(data: &Path) -> Self {
        Self {
            dir: data.join(TOKENS_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn sync_dir(&self) -> Result<(), TokenError> {
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }

    /// Makes a token; returns its record and its secret, which is kept nowhere.
    pub fn create(
        &self,
        name: &str,
        read_only: bool,
        now: time::OffsetDateTime,
    ) -> Result<(TokenRecord, String), TokenError> {
        check_name(name)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io(&self.dir))?;
        let path = self.path(name);
        if path.exists() {
            return Err(TokenError::Exists(name.to_string()));
        }
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret: String = std::iter::once(PREFIX.to_string())
            .chain(bytes.iter().map(|b| format!("{b:02x}")))
            .collect();
        let record = TokenRecord {
            name: name.to_string(),
            read_only,
            created: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            sha256: hash_hex(&secret),
        };
        let text = serde_json::to_vec_pretty(&record).map_err(|e| TokenError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        let mut file = tempfile::Builder::new()
            .prefix(".token-")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(io(&self.dir))?;
        file.write_all(&text)
            .and_then(|()| file.as_file().sync_all())
            .map_err(io(&path))?;
        file.persist_noclobber(&path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                TokenError::Exists(name.to_string())
            } else {
                TokenError::Io {
                    path: path.display().to_string(),
                    source: e.error,
                }
            }
        })?;
        self.sync_dir()?;
        Ok((record, secret))
    }

    /// Every token, by name.
    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&self.dir))?.path();
            let is_token = path.extension().is_some_and(|e| e == "json")
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !is_token {
                continue;
            }
            match fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<TokenRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(record) => records.push(record),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable API token file skipped")
                }
            }
        }
        records.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(records)
    }

    /// Removes a token: it is refused from the next request on.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        check_name(name)?;
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(TokenError::NoSuchToken(name.to_string()))
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The token whose secret this is, if any.
    pub fn check(&self, secret: &str) -> Result<Grant, TokenError> {
        use subtle::ConstantTimeEq;
        let presented = hash_hex(secret);
        let records = self.list().map_err(|e| {
            tracing::warn!(error = %e, "cannot read the API tokens");
            TokenError::Invalid
        })?;
        let mut found = None;
        for record in records {
            if bool::from(presented.as_bytes().ct_eq(record.sha256.as_bytes())) {
                found = Some(Grant {
                    name: record.name,
                    read_only: record.read_only,
                });
            }
        }
        found.ok_or(TokenError::Invalid)
    }

    /// Checks an `authorization` header's value (none: [`TokenError::Missing`]).
    pub fn check_header(&self, header: Option<&str>) -> Result<Grant, TokenError> {
        let header = header.ok_or(TokenError::Missing)?;
        let secret = bearer(header).ok_or(TokenError::Invalid)?;
        self.check(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_checked_listed_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ApiTokens::in_data_dir(dir.path());
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let (record, secret) = tokens.create("ci", true, now).unwrap();
        assert!(secret.starts_with("comity_") && secret.len() == 7 + 64);
        let kept = fs::read_to_string(tokens.path("ci")).unwrap();
        assert!(!kept.contains(&secret), "the secret is never stored");
        let mode = fs::metadata(tokens.path("ci"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(tokens.list().unwrap(), vec![record]);
        let grant = tokens
            .check_header(Some(&format!("Bearer {secret}")))
            .unwrap();
        assert_eq!(
            grant,
            Grant {
                name: "ci".into(),
                read_only: true
            }
        );
        assert!(grant.allow(true, "Status").is_ok());
        assert!(matches!(
            grant.allow(false, "PublishConsultation"),
            Err(TokenError::ReadOnly { .. })
        ));
        assert!(matches!(
            tokens.check("comity_00"),
            Err(TokenError::Invalid)
        ));
        assert!(matches!(
            tokens.check_header(None),
            Err(TokenError::Missing)
        ));
        assert!(matches!(
            tokens.create("ci", false, now),
            Err(TokenError::Exists(_))
        ));
        tokens.revoke("ci").unwrap();
        assert!(matches!(tokens.check(&secret), Err(TokenError::Invalid)));
        assert!(matches!(
            tokens.revoke("ci"),
            Err(TokenError::NoSuchToken(_))
        ));
        assert!(tokens.list().unwrap().is_empty());
    }

    #[test]
    fn names_that_could_escape_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = ApiTokens::in_data_dir(dir.path());
        let now = time::OffsetDateTime::UNIX_EPOCH;
        for name in ["", "../x", ".hidden", "a/b", "sp ace", &"x".repeat(65)] {
            assert!(
                matches!(tokens.create(name, false, now), Err(TokenError::BadName(_))),
                "{name:?}"
            );
        }
        assert!(!tokens.dir().exists() || tokens.list().unwrap().is_empty());
    }

    #[test]
    fn bearer_takes_the_secret_in_any_case_of_scheme() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }
}
