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
#[derive(Debug, Clone, Default)]
pub struct RamStore<const N: usize> {
    data: heapless::Vec<u8, N>,
    /// How many times a snapshot was saved.
    pub saves: usize,
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
    type Error = sequential_storage::Error<F::Error>;

    async fn load<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Self::Error> {
        let found: Option<&[u8]> = self.map.fetch_item(self.scratch, &SNAPSHOT_KEY).await?;
        let Some(found) = found else {
            return Ok(None);
        };
        let dst = buf
            .get_mut(..found.len())
            .ok_or(sequential_storage::Error::BufferTooSmall(found.len()))?;
        dst.copy_from_slice(found);
        Ok(Some(dst))
    }

    async fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error> {
        self.map
            .store_item(self.scratch, &SNAPSHOT_KEY, &snapshot)
            .await
    }
}
