//! The data directory: everything one node owns, in one place.
//!
//! ```text
//! <data>/comity.toml     configuration
//! <data>/identity.key    Ed25519 secret seed, base64, mode 0600
//! <data>/store/          sled database
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
    pub fn socket_path(&self) -> PathBuf {
        self.root.join("comity.sock")
    }

    pub fn is_initialised(&self) -> bool {
        self.root.join(crate::config::CONFIG_FILE).exists()
    }

    /// Creates the directory, a fresh identity key and the configuration.
    pub fn init(&self, config: &Config) -> Result<IdentityKey, DataDirError> {
        if self.is_initialised() {
            return Err(DataDirError::AlreadyInitialised(
                self.root.display().to_string(),
            ));
        }
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
            .map_err(io_err(&self.root))?;
        let key = IdentityKey::generate();
        let path = self.key_path();
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        writeln!(file, "{}", STANDARD.encode(key.secret_bytes())).map_err(io_err(&path))?;
        file.sync_all().map_err(io_err(&path))?;
        config.save(&self.root)?;
        Ok(key)
    }

    pub fn load_config(&self) -> Result<Config, DataDirError> {
        if !self.is_initialised() {
            return Err(DataDirError::NotInitialised(
                self.root.display().to_string(),
            ));
        }
        Ok(Config::load(&self.root)?)
    }

    /// Opens the node's sled store with the configured cache size.
    pub fn open_store(
        &self,
        config: &Config,
    ) -> Result<std::sync::Arc<dyn comity_store::Store>, DataDirError> {
        let path = self.store_path();
        let options = comity_store::SledOptions {
            cache_capacity_bytes: config.storage.cache_mb * 1024 * 1024,
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

    pub fn load_key(&self) -> Result<IdentityKey, DataDirError> {
        let path = self.key_path();
        let text = fs::read_to_string(&path).map_err(io_err(&path))?;
        STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|bytes| IdentityKey::from_secret_bytes(&bytes).ok())
            .ok_or(DataDirError::BadKey {
                path: path.display().to_string(),
            })
    }
}
