//! Trust of each run's Pebble root for clients that only read the system
//! trust store.
//!
//! uacme (Debian's build, libcurl with GnuTLS) has no option or
//! environment variable for a CA file: libcurl reads the directory
//! `/etc/ssl/certs`. So the benchmark moves itself, before it starts any
//! thread or child, into a private mount namespace and bind-mounts over
//! `/etc/ssl/certs` a copy of it with one more file, which each run
//! overwrites with its Pebble's root. Only the benchmark and its children
//! see the copy; the system's directory is untouched. The other clients
//! are given the root explicitly (`--ca-file`, `LEGO_CA_CERTIFICATES`,
//! `REQUESTS_CA_BUNDLE`), so for them nothing changes.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// The system trust directory libcurl reads.
const SYSTEM_DIR: &str = "/etc/ssl/certs";
/// The file in it that holds the current Pebble root.
const ROOT_FILE: &str = "acme-bench-pebble-root.pem";

/// The copy of the trust directory mounted over the system's.
pub(crate) struct SystemTrust {
    copy: PathBuf,
}

impl SystemTrust {
    /// Enters a private mount namespace and mounts the copy. Call before
    /// any thread is started: the namespace belongs to the calling thread
    /// and what it spawns.
    ///
    /// # Errors
    /// Why the system trust cannot be extended (typically: not root).
    pub(crate) fn set_up(scratch: &Path) -> Result<Self, String> {
        let copy = scratch.join("system-trust");
        std::fs::create_dir_all(&copy).map_err(|e| format!("{}: {e}", copy.display()))?;
        copy_dir(Path::new(SYSTEM_DIR), &copy)?;
        unshare(CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("a private mount namespace (needs root): {e}"))?;
        mount::<str, str, str, str>(None, "/", None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)
            .map_err(|e| format!("making mounts private: {e}"))?;
        mount::<Path, str, str, str>(Some(&copy), SYSTEM_DIR, None, MsFlags::MS_BIND, None)
            .map_err(|e| format!("bind-mounting over {SYSTEM_DIR}: {e}"))?;
        Ok(Self { copy })
    }

    /// Makes `root_pem` (one PEM file) trusted through the system directory
    /// in place of the previous run's root.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub(crate) fn trust(&self, root_pem: &Path) -> Result<(), String> {
        std::fs::copy(root_pem, self.copy.join(ROOT_FILE))
            .map(drop)
            .map_err(|e| format!("trusting {}: {e}", root_pem.display()))
    }
}

/// Copies the entries of the trust directory: symbolic links as they are
/// (their targets are relative names within it, or absolute paths outside
/// it), regular files by content; subdirectories are left out.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries.flatten() {
        let target = to.join(entry.file_name());
        if target.symlink_metadata().is_ok() {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let result = if kind.is_symlink() {
            std::fs::read_link(entry.path())
                .and_then(|link| std::os::unix::fs::symlink(link, &target))
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map(drop)
        } else {
            Ok(())
        };
        result.map_err(|e| format!("copying {}: {e}", entry.path().display()))?;
    }
    Ok(())
}
