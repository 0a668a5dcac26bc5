//! Where the client's snapshot survives a reboot.
//!
//! [`SnapshotStore`] is what the driver saves through whenever the client
//! reports [`acme_core::client::Event::SnapshotChanged`], and what a device
//! loads at boot. [`FlashStore`] keeps it in NOR flash with
//! `sequential-storage` (wear-levelled, power-loss safe); [`RamStore`] is for
//! tests.

use core::ops::Range;

use embedded_storage_async::nor_flash::NorFlash;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapStorage};

/// Persistent storage for one snapshot.
#[allow(async_fn_in_trait)]
pub trait SnapshotStore {
    /// The storage's error.
    type Error: core::fmt::Debug;

    /// Loads the last saved snapshot into `buf`.
    ///
    /// # Errors
    /// The storage's error; a missing snapshot is `Ok(None)`.
    async fn load<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Self::Error>;

    /// Saves `snapshot`, replacing the previous one. When this returns, the
    /// snapshot must survive a power cut.
    ///
    /// # Errors
    /// The storage's error; the previous snapshot must then still load.
    async fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error>;
}

/// A snapshot in RAM: lost on reboot, for tests and simulations.
///
/// ```
/// use acme_embassy::persist::{RamStore, RamStoreFull, SnapshotStore};
///
/// embassy_futures::block_on(async {
///     let mut store = RamStore::<64>::new();
///     let mut buf = [0u8; 64];
///     assert_eq!(store.load(&mut buf).await, Ok(None)); // nothing saved yet
///     store.save(b"ACS snapshot").await?;
///     assert_eq!(store.load(&mut buf).await?, Some(&b"ACS snapshot"[..]));
///     assert_eq!(store.saves(), 1);
///     assert_eq!(store.save(&[0; 65]).await, Err(RamStoreFull));
///     Ok::<(), RamStoreFull>(())
/// })?;
/// # Ok::<(), RamStoreFull>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct RamStore<const N: usize> {
    data: heapless::Vec<u8, N>,
    saves: usize,
}

/// The RAM store is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RamStoreFull;

impl core::fmt::Display for RamStoreFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the snapshot is larger than the RAM store's capacity")
    }
}

impl core::error::Error for RamStoreFull {}

impl<const N: usize> RamStore<N> {
    /// An empty store.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            data: heapless::Vec::new(),
            saves: 0,
        }
    }

    /// How many times a snapshot was saved.
    #[must_use]
    pub const fn saves(&self) -> usize {
        self.saves
    }
}

impl<const N: usize> SnapshotStore for RamStore<N> {
    type Error = RamStoreFull;

    async fn load<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Self::Error> {
        if self.data.is_empty() {
            return Ok(None);
        }
        let dst = buf.get_mut(..self.data.len()).ok_or(RamStoreFull)?;
        dst.copy_from_slice(&self.data);
        Ok(Some(dst))
    }

    async fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error> {
        self.data.clear();
        self.data
            .extend_from_slice(snapshot)
            .map_err(|_| RamStoreFull)?;
        self.saves += 1;
        Ok(())
    }
}

/// The flash range given to [`FlashStore::new`] is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InvalidFlashRange;

impl core::fmt::Display for InvalidFlashRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the flash range must be at least two whole erase pages, aligned to them")
    }
}

impl core::error::Error for InvalidFlashRange {}

/// Why a [`FlashStore`] could not load or save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FlashStoreError<E> {
    /// The flash driver failed.
    Flash(E),
    /// The stored items do not check out: the range must be erased (the
    /// device then enrols afresh, with a new account unless its key is
    /// kept elsewhere).
    Corrupted,
    /// A buffer is too small: `needed` bytes are needed. The scratch buffer
    /// must hold the largest snapshot plus its item header; the load buffer
    /// the snapshot.
    BufferTooSmall {
        /// The bytes needed.
        needed: usize,
    },
    /// The snapshot never fits the range, even erased.
    TooBig,
    /// The storage library reported a failure of its own.
    Storage,
}

impl<E: core::fmt::Debug> core::fmt::Display for FlashStoreError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Flash(e) => write!(f, "flash driver: {e:?}"),
            Self::Corrupted => f.write_str("the snapshot area is corrupted; erase it"),
            Self::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
            Self::TooBig => f.write_str("the snapshot does not fit the flash range"),
            Self::Storage => f.write_str("sequential-storage failed"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for FlashStoreError<E> {}

impl<E> FlashStoreError<E> {
    /// The kind of a sequential-storage failure (a function, not a `From`
    /// impl, so that sequential-storage stays out of the public API).
    fn of(e: sequential_storage::Error<E>) -> Self {
        use sequential_storage::Error as S;
        match e {
            S::Storage { value, .. } => Self::Flash(value),
            S::Corrupted { .. } => Self::Corrupted,
            S::BufferTooSmall(needed) => Self::BufferTooSmall { needed },
            S::ItemTooBig | S::BufferTooBig => Self::TooBig,
            // FullStorage cannot happen with one key (old items are
            // reclaimed); a logic bug or a serialization failure is the
            // library's own.
            _ => Self::Storage,
        }
    }
}

/// The key the snapshot is stored under.
const SNAPSHOT_KEY: u8 = 0xAC;

/// A snapshot in NOR flash, stored with `sequential-storage`'s map: each
/// save appends a new item, so a power cut mid-write leaves the previous
/// snapshot readable.
pub struct FlashStore<'s, F: NorFlash> {
    map: MapStorage<u8, F, Cache<Uncached, Uncached, Uncached, u8>>,
    /// A scratch buffer at least as large as the largest snapshot plus a
    /// few bytes of item header.
    scratch: &'s mut [u8],
}

impl<'s, F: NorFlash> FlashStore<'s, F> {
    /// A store in `range` of `flash` (at least two erase pages, aligned to
    /// them), using `scratch` for item encoding.
    ///
    /// ```no_run
    /// use acme_core::client::SNAPSHOT_MAX_LEN;
    /// use acme_embassy::persist::{FlashStore, SnapshotStore};
    /// use embedded_storage_async::nor_flash::NorFlash;
    ///
    /// /// At boot, with the snapshot in the flash's first two 4 KiB erase pages.
    /// async fn saved_snapshot<F: NorFlash>(flash: F) -> Option<usize> {
    ///     // The scratch holds the largest snapshot plus its item header.
    ///     let mut scratch = [0u8; SNAPSHOT_MAX_LEN + 64];
    ///     let mut store = FlashStore::new(flash, 0..2 * 4096, &mut scratch).ok()?;
    ///     let mut snapshot = [0u8; SNAPSHOT_MAX_LEN];
    ///     let saved = store.load(&mut snapshot).await.ok()??;
    ///     Some(saved.len())
    /// }
    /// ```
    ///
    /// # Errors
    /// [`InvalidFlashRange`] when the range is not whole erase pages or
    /// covers fewer than two.
    pub fn new(
        flash: F,
        range: Range<u32>,
        scratch: &'s mut [u8],
    ) -> Result<Self, InvalidFlashRange> {
        let config = MapConfig::try_new(range).map_err(|_| InvalidFlashRange)?;
        Ok(Self {
            map: MapStorage::new(flash, config, Cache::new_uncached()),
            scratch,
        })
    }
}

impl<F: NorFlash> SnapshotStore for FlashStore<'_, F> {
    type Error = FlashStoreError<F::Error>;

    async fn load<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Self::Error> {
        let found: Option<&[u8]> = self
            .map
            .fetch_item(self.scratch, &SNAPSHOT_KEY)
            .await
            .map_err(FlashStoreError::of)?;
        let Some(found) = found else {
            return Ok(None);
        };
        let dst = buf
            .get_mut(..found.len())
            .ok_or(FlashStoreError::BufferTooSmall {
                needed: found.len(),
            })?;
        dst.copy_from_slice(found);
        Ok(Some(dst))
    }

    async fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error> {
        self.map
            .store_item(self.scratch, &SNAPSHOT_KEY, &snapshot)
            .await
            .map_err(FlashStoreError::of)
    }
}
