//! zarrs_storage's async traits: each method awaits the shared operation of [`ZarrsStore`].

use bytes::Bytes;
use futures::StreamExt;
use zarrs_storage::byte_range::ByteRangeIterator;
use zarrs_storage::{
    async_store_set_partial_many, AsyncListableStorageTraits, AsyncMaybeBytesIterator,
    AsyncReadableStorageTraits, AsyncWritableStorageTraits, MaybeBytes, OffsetBytesIterator, StorageError,
    StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
};

use super::{storage_error, ZarrsStore};

#[async_trait::async_trait]
impl AsyncReadableStorageTraits for ZarrsStore {
    async fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        self.store.get(key.as_str(), None).await.map_err(storage_error)
    }

    async fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<AsyncMaybeBytesIterator<'a>, StorageError> {
        let values = self.get_ranges(key, byte_ranges.collect()).await?;
        Ok(values.map(|values| futures::stream::iter(values.into_iter().map(Ok)).boxed()))
    }

    async fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        ZarrsStore::size_key(self, key).await
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

#[async_trait::async_trait]
impl AsyncWritableStorageTraits for ZarrsStore {
    async fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        ZarrsStore::set(self, key, value).await
    }

    /// A read, a patch and a write: a key is one value in a session (zarrs writes partially
    /// only where `supports_set_partial` says it can, and here it cannot).
    async fn set_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator<'a>,
    ) -> Result<(), StorageError> {
        async_store_set_partial_many(self, key, offset_values).await
    }

    async fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        ZarrsStore::erase(self, key).await
    }

    async fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        ZarrsStore::erase_prefix(self, prefix).await
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

#[async_trait::async_trait]
impl AsyncListableStorageTraits for ZarrsStore {
    async fn list(&self) -> Result<StoreKeys, StorageError> {
        ZarrsStore::list_prefix(self, &StorePrefix::root()).await
    }

    async fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        ZarrsStore::list_prefix(self, prefix).await
    }

    async fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        ZarrsStore::list_dir(self, prefix).await
    }

    async fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        ZarrsStore::size_prefix(self, prefix).await
    }
}
