//! zarrs_storage's sync traits: each method blocks on the shared operation of [`ZarrsStore`]
//! (see `blocking` for where it runs).

use bytes::Bytes;
use zarrs_storage::byte_range::ByteRangeIterator;
use zarrs_storage::{
    store_set_partial_many, ListableStorageTraits, MaybeBytes, MaybeBytesIterator, OffsetBytesIterator,
    ReadableStorageTraits, StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
    WritableStorageTraits,
};

use super::{storage_error, ZarrsStore};

impl ReadableStorageTraits for ZarrsStore {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        self.block(async { self.store.get(key.as_str(), None).await.map_err(storage_error) })
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let ranges = byte_ranges.collect();
        let values = self.block(self.get_ranges(key, ranges))?;
        Ok(values.map(|values| Box::new(values.into_iter().map(Ok)) as Box<dyn Iterator<Item = _>>))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.block(ZarrsStore::size_key(self, key))
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

impl WritableStorageTraits for ZarrsStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.block(ZarrsStore::set(self, key, value))
    }

    /// A read, a patch and a write, as in the async trait.
    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        store_set_partial_many(self, key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.block(ZarrsStore::erase(self, key))
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.block(ZarrsStore::erase_prefix(self, prefix))
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for ZarrsStore {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.block(ZarrsStore::list_prefix(self, &StorePrefix::root()))
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.block(ZarrsStore::list_prefix(self, prefix))
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.block(ZarrsStore::list_dir(self, prefix))
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.block(ZarrsStore::size_prefix(self, prefix))
    }
}
