//! The state directory: keys, the core's snapshot, and certificates.
//!
//! ```text
//! <state-dir>/
//!   account.key      account key, PKCS#8 PEM, mode 0600
//!   device.key       device (certificate) key, PKCS#8 PEM, mode 0600
//!   snapshot.bin     acme-core snapshot: directory, account, unfinished order
//!   cert.pem         the certificate chain, written only after the check
//!   cert-alt-N.pem   alternate chains, when asked for
//! ```
//!
//! Every write is atomic: a temporary file in the same directory, fsync,
//! rename, fsync of the directory. A key file is refused when others can
//! read it.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use acme_core::SoftwareKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use zeroize::Zeroizing;

use crate::error::{storage, HostError};

/// The state directory.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    root: PathBuf,
}

/// File names inside the state directory.
pub(crate) mod names {
    /// The account key.
    pub(crate) const ACCOUNT_KEY: &str = "account.key";
    /// The device key.
    pub(crate) const DEVICE_KEY: &str = "device.key";
    /// The core's snapshot.
    pub(crate) const SNAPSHOT: &str = "snapshot.bin";
    /// The certificate chain.
    pub(crate) const CERTIFICATE: &str = "cert.pem";
}

impl StateDir {
    /// Opens (creating, mode 0700) the directory.
    ///
    /// # Errors
    /// [`HostError::Storage`] when it cannot be created.
    pub(crate) fn open(root: impl Into<PathBuf>) -> Result<Self, HostError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let root = root.into();
        if !root.is_dir() {
            // Parents as the umask says; the directory itself 0700. An
            // existing directory keeps the mode its owner gave it.
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| storage(parent, e))?;
            }
            match fs::DirBuilder::new().mode(0o700).create(&root) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && root.is_dir() => {}
                Err(e) => return Err(storage(&root, e)),
            }
        }
        Ok(Self { root })
    }

    /// The directory's path.
    #[must_use]
    pub(crate) fn path(&self) -> &Path {
        &self.root
    }

    /// The path of `name` inside the directory.
    #[must_use]
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Reads a file, `None` when it does not exist.
    ///
    /// # Errors
    /// [`HostError::Storage`] for any other failure.
    pub(crate) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, HostError> {
        let path = self.file(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage(&path, e)),
        }
    }

    /// Writes a file atomically with `mode`.
    ///
    /// # Errors
    /// [`HostError::Storage`].
    pub(crate) fn write(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), HostError> {
        write_atomic(&self.file(name), bytes, mode)
    }

    /// Removes a file if present.
    ///
    /// # Errors
    /// [`HostError::Storage`].
    pub(crate) fn remove(&self, name: &str) -> Result<(), HostError> {
        let path = self.file(name);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage(&path, e)),
        }
    }

    /// Loads the key `name`, or generates and saves one (mode 0600).
    ///
    /// # Errors
    /// [`HostError::Storage`] for unreadable, malformed or world-readable
    /// key files.
    pub(crate) fn load_or_create_key(&self, name: &str) -> Result<(SoftwareKey, bool), HostError> {
        let path = self.file(name);
        if path.exists() {
            return load_key(&path).map(|k| (k, false));
        }
        let key = SoftwareKey::generate(&mut rand_core::OsRng);
        self.write(name, key_pem(&key)?.as_bytes(), 0o600)?;
        Ok((key, true))
    }
}

/// Writes `bytes` to `path` atomically with `mode`.
///
/// # Errors
/// [`HostError::Storage`].
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HostError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The mode of an existing temporary file is not changed by open().
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(storage(path, e));
    }
    Ok(())
}

/// A key as PKCS#8 PEM (zeroized on drop).
///
/// # Errors
/// [`HostError::Internal`] if encoding fails.
pub(crate) fn key_pem(key: &SoftwareKey) -> Result<Zeroizing<String>, HostError> {
    key.signing_key()
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| HostError::Internal(format!("encoding a key: {e}")))
}

/// Loads a key file: PKCS#8 or SEC1, PEM or DER. Refused when group or
/// others may read it.
///
/// # Errors
/// [`HostError::Storage`] saying why.
pub(crate) fn load_key(path: &Path) -> Result<SoftwareKey, HostError> {
    let meta = fs::metadata(path).map_err(|e| storage(path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(storage(
            path,
            format!(
                "key file is readable by others (mode {:o}); run chmod 600 on it",
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| storage(path, e))?);
    parse_key(&bytes).map_err(|e| storage(path, e))
}

/// Parses key bytes: PKCS#8 or SEC1, PEM or DER.
///
/// # Errors
/// A message saying which formats were tried.
pub(crate) fn parse_key(bytes: &[u8]) -> Result<SoftwareKey, String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text.contains("-----BEGIN PRIVATE KEY-----") {
            let key = p256::ecdsa::SigningKey::from_pkcs8_pem(text)
                .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?;
            return SoftwareKey::from_scalar(&key.to_bytes()).map_err(|e| e.to_string());
        }
        if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            let secret = p256::SecretKey::from_sec1_pem(text)
                .map_err(|e| format!("not a P-256 SEC1 key: {e}"))?;
            return SoftwareKey::from_scalar(&secret.to_bytes()).map_err(|e| e.to_string());
        }
        if text.contains("-----BEGIN") {
            return Err("unsupported PEM key: use a P-256 PRIVATE KEY or EC PRIVATE KEY".into());
        }
    }
    SoftwareKey::from_der(bytes).map_err(|e| e.to_string())
}
