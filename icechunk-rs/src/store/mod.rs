//! The Zarr key space of a session: `zarr.json` keys are nodes, chunk keys are chunk
//! references. Listings and sizes come from the snapshot and its manifests, never from
//! walking chunk objects.

pub mod keys;

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{IcechunkError, Result};
pub use crate::format::chunk::ByteRange;
use crate::ids::ChunkCoords;
use crate::session::{Session, VirtualRef};
use crate::zarr_json::{ArrayInfo, ChunkKeyEncoding};
use keys::{node_key_prefix, node_path, METADATA_KEY};

/// What a key names in this session.
enum Target {
    Metadata { path: String },
    Chunk { path: String, coords: ChunkCoords },
}

#[derive(Clone, Debug)]
pub struct Store {
    session: Session,
}

impl Session {
    /// The Zarr key space of this session.
    pub fn store(&self) -> Store {
        Store::new(self.clone())
    }
}

impl Store {
    pub fn new(session: Session) -> Self {
        Store { session }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn read_only(&self) -> bool {
        self.session.read_only()
    }

    /// Resolves a key; `Ok(None)` when it is well-formed but names nothing that could exist.
    /// Like `resolve`, but a Zarr v2 key is simply absent (zarr-python probes for them).
    fn resolve_for_read(&self, key: &str) -> Result<Option<Target>> {
        if keys::is_zarr_v2_key(key) && !key.starts_with('/') && !key.contains("..") {
            return Ok(None);
        }
        self.resolve_key(key)
    }

    fn resolve_key(&self, key: &str) -> Result<Option<Target>> {
        let segments = keys::segments(key)?;
        let (last, parents) = segments.split_last().expect("segments are never empty");
        if *last == METADATA_KEY {
            return Ok(Some(Target::Metadata { path: node_path(parents) }));
        }
        for split in 0..segments.len() {
            let path = node_path(&segments[..split]);
            if let Some(info) = self.session.array_info(&path) {
                let rest = segments[split..].join("/");
                return Ok(info.parse_chunk_key(&rest).map(|coords| Target::Chunk { path, coords }));
            }
        }
        Ok(None)
    }

    /// The array node path and chunk coordinates `key` names, `None` for a key that is not a
    /// chunk of an array of the session.
    pub fn chunk_of_key(&self, key: &str) -> Result<Option<(String, Vec<u64>)>> {
        Ok(match self.resolve_key(key)? {
            Some(Target::Chunk { path, coords }) => {
                Some((path, coords.iter().map(|&c| u64::from(c)).collect()))
            }
            _ => None,
        })
    }

    /// The value at `key`, or a range of it; a chunk's range is read from storage as such
    /// (only the blocks covering it), not by reading the whole chunk.
    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Option<Bytes>> {
        if let Some(ByteRange::Bounded { start, end }) = range {
            if start > end {
                return Err(IcechunkError::InvalidInput(format!("invalid byte range {start}..{end}")));
            }
        }
        Ok(match self.resolve_for_read(key)? {
            Some(Target::Metadata { path }) => {
                let json = self.session.node(&path).map(|n| n.zarr_json().clone());
                json.map(|json| range.map_or(json.clone(), |r| r.slice(json)))
            }
            Some(Target::Chunk { path, coords }) => match self.session.chunk_ref(&path, &coords).await? {
                Some(chunk) => Some(self.session.read_chunk(key, &chunk, range).await?),
                None => None,
            },
            None => None,
        })
    }

    /// The virtual chunks among `requests` read as one batch, neighbouring ranges of one
    /// source file coalesced into fewer requests; `None` for every request that is not a
    /// virtual chunk (a missing chunk, metadata, a native chunk, a bad key: read those with
    /// [`Store::get`], which reports them as it always does). The first failed read is the
    /// error.
    pub async fn get_virtual_chunks(
        &self,
        requests: &[(String, Option<ByteRange>)],
    ) -> Result<Vec<Option<Bytes>>> {
        let lookups = requests.iter().map(|(key, _)| async move {
            match self.resolve_for_read(key) {
                Ok(Some(Target::Chunk { path, coords })) => self.session.chunk_ref(&path, &coords).await,
                _ => Ok(None),
            }
        });
        let chunks = futures::future::try_join_all(lookups).await?;
        let mut batch = Vec::new();
        let mut indices = Vec::new();
        for (index, ((key, range), chunk)) in requests.iter().zip(&chunks).enumerate() {
            if let Some(chunk) = chunk.as_ref().filter(|c| c.is_virtual()) {
                batch.push((key.as_str(), chunk, *range));
                indices.push(index);
            }
        }
        let mut values = vec![None; requests.len()];
        for (index, read) in indices.into_iter().zip(self.session.read_virtual_chunks(&batch).await) {
            values[index] = Some(read?);
        }
        Ok(values)
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        Ok(match self.resolve_for_read(key)? {
            Some(Target::Metadata { path }) => self.session.node(&path).is_some(),
            Some(Target::Chunk { path, coords }) => self.session.chunk_ref(&path, &coords).await?.is_some(),
            None => false,
        })
    }

    pub async fn set(&self, key: &str, value: Bytes) -> Result<()> {
        self.session.check_writable()?;
        match self.resolve_key(key)? {
            Some(Target::Metadata { path }) => {
                let segments = keys::segments(key)?;
                for split in 0..segments.len() - 1 {
                    let parent = node_path(&segments[..split]);
                    if self.session.array_info(&parent).is_some() {
                        return Err(IcechunkError::invalid_key(key, format!("`{parent}` is an array: it cannot hold nodes")));
                    }
                }
                self.session.set_node(&path, key, value)
            }
            Some(Target::Chunk { path, coords }) => self.session.set_chunk(&path, coords, value).await,
            None => Err(IcechunkError::invalid_key(
                key,
                "neither a zarr.json nor a chunk key of an existing array (write the array's zarr.json first)",
            )),
        }
    }

    /// Writes only if the key holds nothing; `Ok(false)` when it already did.
    pub async fn set_if_not_exists(&self, key: &str, value: Bytes) -> Result<bool> {
        self.session.check_writable()?;
        if self.exists(key).await? {
            return Ok(false);
        }
        self.set(key, value).await?;
        Ok(true)
    }

    /// Sets the chunk at `key` to a virtual reference. With `validate_container`, a location
    /// in no virtual chunk container of the repository is refused.
    pub fn set_virtual_ref(&self, key: &str, reference: VirtualRef, validate_container: bool) -> Result<()> {
        self.session.check_writable()?;
        let Some(Target::Chunk { path, coords }) = self.resolve_key(key)? else {
            return Err(IcechunkError::invalid_key(key, "not a chunk key of an existing array"));
        };
        let location = reference.location.clone();
        let failed = self.session.set_virtual_refs(&path, vec![(coords, reference)], validate_container)?;
        if !failed.is_empty() {
            return Err(IcechunkError::NoContainerForVirtualChunk { location });
        }
        Ok(())
    }

    /// Deleting a missing key is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.session.check_writable()?;
        match self.resolve_key(key)? {
            Some(Target::Metadata { path }) => {
                if self.session.node(&path).is_some() {
                    self.session.delete_node(&path)?;
                }
                Ok(())
            }
            Some(Target::Chunk { path, coords }) => self.session.delete_chunk(&path, coords),
            None => Ok(()),
        }
    }

    /// Deletes every key under `prefix` ("" deletes everything).
    pub async fn delete_dir(&self, prefix: &str) -> Result<()> {
        self.session.check_writable()?;
        let dir = dir_prefix(&keys::prefix(prefix)?);
        for path in self.session.node_paths() {
            let node_prefix = node_key_prefix(&path);
            if format!("{node_prefix}{METADATA_KEY}").starts_with(&dir) {
                self.session.delete_node(&path)?;
            } else if dir.starts_with(&node_prefix) {
                if let Some(info) = self.session.array_info(&path) {
                    for (coords, _) in self.session.array_chunks(&path).await? {
                        if format!("{node_prefix}{}", info.chunk_key(&coords)).starts_with(&dir) {
                            self.session.delete_chunk(&path, coords)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn list(&self) -> Result<Vec<String>> {
        self.list_prefix("").await
    }

    /// Every key that starts with `prefix`.
    pub async fn list_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let mut listed = Vec::new();
        for path in self.session.node_paths() {
            let node_prefix = node_key_prefix(&path);
            let meta = format!("{node_prefix}{METADATA_KEY}");
            if meta.starts_with(prefix) {
                listed.push(meta);
            }
            if !(node_prefix.starts_with(prefix) || prefix.starts_with(&node_prefix)) {
                continue;
            }
            if let Some(info) = self.session.array_info(&path) {
                for (coords, _) in self.session.array_chunks(&path).await? {
                    let key = format!("{node_prefix}{}", info.chunk_key(&coords));
                    if key.starts_with(prefix) {
                        listed.push(key);
                    }
                }
            }
        }
        Ok(listed)
    }

    /// The names directly under `prefix`: keys, and folders (without a trailing `/`).
    pub async fn list_dir(&self, prefix: &str) -> Result<Vec<String>> {
        let dir = dir_prefix(&keys::prefix(prefix)?);
        let mut names = BTreeSet::new();
        let first_segment = |rest: &str| rest.split('/').next().unwrap_or_default().to_string();
        for path in self.session.node_paths() {
            let node_prefix = node_key_prefix(&path);
            if let Some(rest) = format!("{node_prefix}{METADATA_KEY}").strip_prefix(&dir) {
                names.insert(first_segment(rest));
            }
            let Some(info) = self.session.array_info(&path) else { continue };
            if node_prefix == dir && self.only_c_folder(&info) {
                if self.session.array_has_chunks(&path).await? {
                    names.insert("c".to_string());
                }
            } else if dir.starts_with(&node_prefix) {
                for (coords, _) in self.session.array_chunks(&path).await? {
                    let key = format!("{node_prefix}{}", info.chunk_key(&coords));
                    if let Some(rest) = key.strip_prefix(&dir) {
                        names.insert(first_segment(rest));
                    }
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// With the default encoding and `/`, every chunk key of a (non-scalar) array starts with `c/`.
    fn only_c_folder(&self, info: &Arc<ArrayInfo>) -> bool {
        matches!(info.encoding, ChunkKeyEncoding::Default { separator: '/' }) && info.ndim() > 0
    }

    pub async fn getsize(&self, key: &str) -> Result<u64> {
        let size = match self.resolve_for_read(key)? {
            Some(Target::Metadata { path }) => self.session.node(&path).map(|n| n.zarr_json().len() as u64),
            Some(Target::Chunk { path, coords }) => {
                self.session.chunk_ref(&path, &coords).await?.map(|c| c.length)
            }
            None => None,
        };
        size.ok_or_else(|| IcechunkError::KeyNotFound { key: key.to_string() })
    }

    /// Total bytes of the keys under `prefix`.
    pub async fn getsize_prefix(&self, prefix: &str) -> Result<u64> {
        let dir = dir_prefix(&keys::prefix(prefix)?);
        let mut total = 0;
        for path in self.session.node_paths() {
            let node_prefix = node_key_prefix(&path);
            if !(node_prefix.starts_with(&dir) || dir.starts_with(&node_prefix)) {
                continue;
            }
            if format!("{node_prefix}{METADATA_KEY}").starts_with(&dir) {
                total += self.session.node(&path).map_or(0, |n| n.zarr_json().len() as u64);
            }
            let Some(info) = self.session.array_info(&path) else { continue };
            if node_prefix.starts_with(&dir) {
                total += self.session.array_chunk_bytes(&path).await?;
            } else {
                for (coords, len) in self.session.array_chunks(&path).await? {
                    if format!("{node_prefix}{}", info.chunk_key(&coords)).starts_with(&dir) {
                        total += len;
                    }
                }
            }
        }
        Ok(total)
    }
}

/// "" stays ""; "a/b" becomes "a/b/".
fn dir_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}
