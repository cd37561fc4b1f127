//! The data directory: everything one node owns, in one place.
//!
//! ```text
//! <data>/comity.toml     configuration
//! <data>/identity.key    Ed25519 secret seed, base64, mode 0600
//! <data>/store/          sled database (none when `[storage] url` names PostgreSQL)
//! <data>/comity.sock     local API (gRPC over a Unix socket), mode 0600
//! ```

use crate::config::{Config, ConfigError};
use base64::{Engine, engine::general_purpose::STANDARD};
use comity_core::IdentityKey;
use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{0} already holds a Comity node; choose another --data directory")]
    AlreadyInitialised(String),
    #[error("{0} is not a Comity data directory (run `comity init` first)")]
    NotInitialised(String),
    #[error("cannot use {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} does not hold a valid identity key")]
    BadKey { path: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0} is in use by another comity process (is `comity serve` running there?)")]
    InUse(String),
    #[error("cannot open the store in {path}: {message}")]
    Store { path: String, message: String },
    #[error("cannot open the store: {0}")]
    Database(String),
}

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn key_path(&self) -> PathBuf {
        self.root.join("identity.key")
    }
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store")
    }
    /// The full-text search index: derived, safe to delete (it is rebuilt).
    pub fn search_path(&self) -> PathBuf {
        self.root.join("search")
    }
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("comity.sock")
    }

    pub fn is_initialised(&self) -> bool {
        self.root.join(crate::config::CONFIG_FILE).exists()
    }

    /// Creates the directory, a fresh identity key and the configuration.
    pub fn init(&self, config: &Config) -> Result<IdentityKey, DataDirError> {
        let key = IdentityKey::generate();
        self.init_with_key(config, &key)?;
        Ok(key)
    }

    /// Creates the directory with a given identity key (a replica of a
    /// node on PostgreSQL: `comity replica init`) and the configuration.
    pub fn init_with_key(&self, config: &Config, key: &IdentityKey) -> Result<(), DataDirError> {
        if self.is_initialised() {
            return Err(DataDirError::AlreadyInitialised(
                self.root.display().to_string(),
            ));
        }
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(io_err(&self.root))?;
        write_key(&self.key_path(), key)?;
        config.save(&self.root)?;
        Ok(())
    }

    pub fn load_config(&self) -> Result<Config, DataDirError> {
        if !self.is_initialised() {
            return Err(DataDirError::NotInitialised(
                self.root.display().to_string(),
            ));
        }
        Ok(Config::load(&self.root)?)
    }

    /// Opens the node's store: the PostgreSQL database of `[storage] url`
    /// when one is set, or else sled in `<data>/store` with the configured
    /// cache size.
    pub fn open_store(
        &self,
        config: &Config,
    ) -> Result<std::sync::Arc<dyn comity_store::Store>, DataDirError> {
        if let Some(url) = &config.storage.url {
            let options = comity_store_pg::PgOptions::new(url.clone());
            return match comity_store_pg::PgStore::open(&options) {
                Ok(store) => Ok(std::sync::Arc::new(store)),
                Err(e) => Err(DataDirError::Database(e.to_string())),
            };
        }
        let path = self.store_path();
        let options = comity_store::SledOptions {
            cache_capacity_bytes: config.storage.cache_mb * 1024 * 1024,
            merkle: config.storage.witness,
            ..Default::default()
        };
        match comity_store::SledStore::open(&path, options) {
            Ok(store) => Ok(std::sync::Arc::new(store)),
            Err(e) if e.to_string().contains("lock") => {
                Err(DataDirError::InUse(self.root.display().to_string()))
            }
            Err(e) => Err(DataDirError::Store {
                path: path.display().to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// The identity key files, for key rotation.
    pub fn key_files(&self) -> KeyFiles {
        KeyFiles {
            current: self.key_path(),
            next: self.root.join("identity.key.next"),
            previous: self.root.join("identity.key.previous"),
        }
    }

    /// Loads the identity key, finishing a key rotation that a crash
    /// interrupted: a staged next key becomes current if the log already
    /// holds its rotation entry, and is dropped otherwise.
    pub fn load_key_recovering(
        &self,
        org: &comity_core::OrgId,
        store: &dyn comity_store::Store,
    ) -> Result<IdentityKey, DataDirError> {
        let files = self.key_files();
        if files.next.exists() {
            let next = read_key(&files.next)?;
            let rotated = store
                .current_key(org)
                .map_err(|e| DataDirError::Store {
                    path: self.store_path().display().to_string(),
                    message: e.to_string(),
                })?
                .is_some_and(|(_, key)| key == next.public());
            if rotated {
                files.commit()?;
            } else {
                fs::remove_file(&files.next).map_err(io_err(&files.next))?;
            }
        }
        self.load_key()
    }

    pub fn load_key(&self) -> Result<IdentityKey, DataDirError> {
        read_key(&self.key_path())
    }
}

fn read_key(path: &Path) -> Result<IdentityKey, DataDirError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| IdentityKey::from_secret_bytes(&bytes).ok())
        .ok_or(DataDirError::BadKey {
            path: path.display().to_string(),
        })
}

fn write_key(path: &Path, key: &IdentityKey) -> Result<(), DataDirError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    writeln!(file, "{}", STANDARD.encode(key.secret_bytes())).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// The files of a key rotation: the next key is staged before its rotation
/// entry is published, and becomes current after.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    current: PathBuf,
    next: PathBuf,
    previous: PathBuf,
}

impl KeyFiles {
    /// The key the latest rotation replaced (`identity.key.previous`), if
    /// this node rotated: what signed its entries up to that rotation.
    pub fn load_previous(&self) -> Result<Option<IdentityKey>, DataDirError> {
        if !self.previous.exists() {
            return Ok(None);
        }
        read_key(&self.previous).map(Some)
    }

    pub fn stage(&self, next: &IdentityKey) -> Result<(), DataDirError> {
        write_key(&self.next, next)
    }

    /// Makes the staged key current; the old one is kept as
    /// `identity.key.previous`. The current key is replaced by one atomic
    /// rename, so a crash at any point leaves a usable `identity.key`.
    pub fn commit(&self) -> Result<(), DataDirError> {
        fs::copy(&self.current, &self.previous).map_err(io_err(&self.current))?;
        fs::File::open(&self.previous)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&self.previous))?;
        fs::rename(&self.next, &self.current).map_err(io_err(&self.next))?;
        if let Some(dir) = self.current.parent() {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
        }
        Ok(())
    }
}
