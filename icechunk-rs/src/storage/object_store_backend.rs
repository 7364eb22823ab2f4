//! The [`Storage`] trait on any `object_store` backend.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::{ListedObject, Storage, StorageSpec};
use crate::error::{IcechunkError, Result};

#[derive(Debug)]
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    spec: StorageSpec,
    location: String,
}

impl ObjectStorage {
    pub fn in_memory() -> Self {
        ObjectStorage {
            store: Arc::new(object_store::memory::InMemory::new()),
            spec: StorageSpec::InMemory,
            location: "memory://".to_string(),
        }
    }

    pub fn local_filesystem(path: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&path).map_err(|e| {
            IcechunkError::StorageOther(format!("cannot create folder {}: {e}", path.display()))
        })?;
        let path = path.canonicalize().map_err(|e| {
            IcechunkError::StorageOther(format!("cannot resolve folder {}: {e}", path.display()))
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&path)?;
        Ok(ObjectStorage {
            store: Arc::new(store),
            location: format!("file://{}", path.display()),
            spec: StorageSpec::LocalFilesystem { path },
        })
    }

    fn path(path: &str) -> Result<Path> {
        Path::parse(path).map_err(|e| IcechunkError::StorageOther(format!("bad object path `{path}`: {e}")))
    }
}

fn not_found_to_none<T>(result: object_store::Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[async_trait]
impl Storage for ObjectStorage {
    fn spec(&self) -> StorageSpec {
        self.spec.clone()
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        let path = Self::path(path)?;
        match not_found_to_none(self.store.get(&path).await)? {
            Some(result) => not_found_to_none(result.bytes().await),
            None => Ok(None),
        }
    }

    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        let path = Self::path(path)?;
        not_found_to_none(self.store.get_range(&path, range).await)
    }

    async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        let path = Self::path(path)?;
        self.store.put(&path, PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        let path = Self::path(path)?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from_bytes(bytes), opts).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        let prefix_path = Self::path(prefix.trim_end_matches('/'))?;
        let strip = if prefix_path.as_ref().is_empty() { String::new() } else { format!("{prefix_path}/") };
        let listed: Vec<_> = self.store.list(Some(&prefix_path)).try_collect().await?;
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                let full = meta.location.to_string();
                full.strip_prefix(&strip).map(|p| ListedObject { path: p.to_string(), size: meta.size })
            })
            .collect())
    }

    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix_path = Self::path(prefix.trim_end_matches('/'))?;
        let listed = self.store.list_with_delimiter(Some(&prefix_path)).await?;
        Ok(listed.common_prefixes.into_iter().filter_map(|p| p.filename().map(str::to_string)).collect())
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let path = Self::path(path)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
