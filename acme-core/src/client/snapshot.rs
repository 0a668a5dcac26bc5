//! The persistent part of a [`Client`], as bytes the caller stores: a file
//! on a host, a flash page on a device.
//!
//! ```text
//! "ACS" version flags order_step fingerprint[8]
//! 12 × (u16 little-endian length, bytes)   directory URL, newNonce, newAccount,
//!                                          newOrder, revokeCert, keyChange,
//!                                          renewalInfo, account, order,
//!                                          finalize, certificate, profiles
//! checksum[4]                              first 4 bytes of SHA-256 of all above
//! ```
//!
//! A zero length means "absent". Restoring checks the checksum, the
//! version, that the directory is the configured one, and every URL again.

use sha2::{Digest, Sha256};

use super::arena::{UrlRef, MAX_URL_LEN};
use super::{order_fingerprint, Client, Goal, OrderStep};
use crate::msg::JsonStr;
use crate::sink::{Sink, SliceSink};
use crate::Error;

/// The snapshot format version written and accepted.
pub const SNAPSHOT_VERSION: u8 = 1;

const MAGIC: &[u8; 3] = b"ACS";
const FIELDS: usize = 12;
const HEADER_LEN: usize = 3 + 1 + 1 + 1 + 8;

/// The largest snapshot for an arena of `arena` bytes.
pub(crate) const fn max_len(arena: usize) -> usize {
    HEADER_LEN + FIELDS * 2 + MAX_URL_LEN + super::MAX_PROFILE_NAMES + arena + 4
}

/// Why a snapshot was not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotError {
    /// Not a snapshot, cut short, or its checksum does not match.
    Corrupt,
    /// Written by another format version.
    Version {
        /// The version found.
        found: u8,
    },
    /// Written for another directory URL.
    OtherDirectory,
}

const FLAG_EAB_REQUIRED: u8 = 1;
const FLAG_GET_FALLBACK: u8 = 4;
const FLAG_HAVE_DIRECTORY: u8 = 8;

pub(crate) fn write<'o, const N: usize>(
    client: &Client<'_, N>,
    out: &'o mut [u8],
) -> Result<&'o [u8], Error> {
    let mut flags = 0u8;
    for (set, bit) in [
        (client.eab_required, FLAG_EAB_REQUIRED),
        (client.get_fallback, FLAG_GET_FALLBACK),
        (client.have_directory, FLAG_HAVE_DIRECTORY),
    ] {
        if set {
            flags |= bit;
        }
    }
    let step = match client.order_step {
        OrderStep::None => 0,
        OrderStep::Created => 1,
        OrderStep::Finalized => 2,
        OrderStep::Requested => 3,
    };
    let fingerprint = match &client.goal {
        Goal::Enrol(order) => order_fingerprint(order.identifiers),
        _ => [0; 8],
    };
    let arena = |r: Option<UrlRef>| r.map_or("", |r| client.arena.get(r));
    let order_known = matches!(client.order_step, OrderStep::Created | OrderStep::Finalized);
    let directory = if client.have_directory {
        client.config.directory_url
    } else {
        ""
    };
    let fields: [&str; FIELDS] = [
        directory,
        arena(client.dir.new_nonce),
        arena(client.dir.new_account),
        arena(client.dir.new_order),
        arena(client.dir.revoke_cert),
        arena(client.dir.key_change),
        arena(client.dir.renewal_info),
        arena(client.account_url),
        if order_known {
            arena(client.order_url)
        } else {
            ""
        },
        if order_known {
            arena(client.finalize_url)
        } else {
            ""
        },
        if order_known {
            arena(client.certificate_url)
        } else {
            ""
        },
        client.offered_profiles.as_str(),
    ];
    let mut hash = Sha256::new();
    let mut sink = SliceSink::new(out);
    let mut put = |bytes: &[u8]| {
        hash.update(bytes);
        sink.put(bytes);
    };
    put(MAGIC);
    put(&[SNAPSHOT_VERSION, flags, step]);
    put(&fingerprint);
    for field in fields {
        put(&(field.len() as u16).to_le_bytes());
        put(field.as_bytes());
    }
    let checksum = hash.finalize();
    sink.put(checksum.get(..4).unwrap_or(&[0; 4]));
    Ok(sink.finish()?)
}

struct Reader<'s> {
    rest: &'s [u8],
}

impl<'s> Reader<'s> {
    fn take(&mut self, n: usize) -> Result<&'s [u8], SnapshotError> {
        if self.rest.len() < n {
            return Err(SnapshotError::Corrupt);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, SnapshotError> {
        self.take(1)?.first().copied().ok_or(SnapshotError::Corrupt)
    }

    fn text(&mut self) -> Result<&'s str, SnapshotError> {
        let len = self.take(2)?;
        let len = u16::from_le_bytes([
            len.first().copied().unwrap_or(0),
            len.get(1).copied().unwrap_or(0),
        ]);
        let bytes = self.take(usize::from(len))?;
        core::str::from_utf8(bytes).map_err(|_| SnapshotError::Corrupt)
    }
}

pub(crate) fn restore<const N: usize>(
    client: &mut Client<'_, N>,
    bytes: &[u8],
) -> Result<(), Error> {
    let body_len = bytes.len().checked_sub(4).ok_or(SnapshotError::Corrupt)?;
    let (body, checksum) = bytes.split_at(body_len);
    let digest = Sha256::digest(body);
    if digest.get(..4) != Some(checksum) {
        return Err(SnapshotError::Corrupt.into());
    }
    let mut r = Reader { rest: body };
    if r.take(3)? != MAGIC {
        return Err(SnapshotError::Corrupt.into());
    }
    let version = r.byte()?;
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::Version { found: version }.into());
    }
    let flags = r.byte()?;
    let step = r.byte()?;
    let fingerprint = r.take(8)?;
    let mut fields = [""; FIELDS];
    for field in &mut fields {
        *field = r.text()?;
    }
    if !r.rest.is_empty() {
        return Err(SnapshotError::Corrupt.into());
    }
    let [directory, new_nonce, new_account, new_order, revoke_cert, key_change, renewal_info, account, order, finalize, certificate, profiles] =
        fields;
    if flags & FLAG_HAVE_DIRECTORY == 0 {
        // Nothing learnt yet: nothing to restore.
        return Ok(());
    }
    if directory != client.config.directory_url {
        return Err(SnapshotError::OtherDirectory.into());
    }
    let same_order = match &client.goal {
        Goal::Enrol(o) => order_fingerprint(o.identifiers) == fingerprint,
        _ => false,
    };
    // Rebuild into a scratch copy of the URL state so a bad URL leaves the
    // client as it was.
    let saved_dir = client.dir;
    let store = |c: &mut Client<'_, N>, text: &str| -> Result<Option<UrlRef>, Error> {
        if text.is_empty() {
            Ok(None)
        } else {
            c.store_url(JsonStr::plain(text)).map(Some)
        }
    };
    client.arena.clear();
    let result = (|| -> Result<(), Error> {
        client.dir.new_nonce = store(client, new_nonce)?;
        client.dir.new_account = store(client, new_account)?;
        client.dir.new_order = store(client, new_order)?;
        client.dir.revoke_cert = store(client, revoke_cert)?;
        client.dir.key_change = store(client, key_change)?;
        client.dir.renewal_info = store(client, renewal_info)?;
        if client.dir.new_nonce.is_none()
            || client.dir.new_account.is_none()
            || client.dir.new_order.is_none()
        {
            return Err(SnapshotError::Corrupt.into());
        }
        client.account_url = store(client, account)?;
        client.arena.mark_order_scope();
        client.order_url = None;
        client.finalize_url = None;
        client.certificate_url = None;
        client.order_step = OrderStep::None;
        client.recovering_order = false;
        if same_order && step == 3 {
            client.order_step = OrderStep::Requested;
            client.recovering_order = true;
        } else if same_order && step != 0 && !order.is_empty() {
            client.order_url = store(client, order)?;
            client.finalize_url = store(client, finalize)?;
            client.certificate_url = store(client, certificate)?;
            client.order_step = if step == 2 {
                OrderStep::Finalized
            } else {
                OrderStep::Created
            };
            client.resumed_order = true;
        }
        Ok(())
    })();
    if let Err(e) = result {
        client.arena.clear();
        client.dir = saved_dir;
        client.account_url = None;
        client.order_url = None;
        client.have_directory = false;
        return Err(e);
    }
    client.have_directory = true;
    client.eab_required = flags & FLAG_EAB_REQUIRED != 0;
    client.offered_profiles.clear();
    if client.offered_profiles.push_str(profiles).is_err() {
        return Err(SnapshotError::Corrupt.into());
    }
    client.get_fallback = flags & FLAG_GET_FALLBACK != 0;
    client.prepare_renewal_info_url()
}
