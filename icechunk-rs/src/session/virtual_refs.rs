//! Virtual chunk references written by a session: chunks that are byte ranges of files
//! outside the repository (spec §6.6), set by reference only. Nothing is read or uploaded
//! when they are set; reads go through the repository's virtual sources, which check the
//! container and its authorization.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::Session;
use crate::error::{IcechunkError, Result};
use crate::format::chunk::ByteRange;
use crate::format::manifest::{ChunkLocation, ChunkRef, SourcePin};
use crate::ids::ChunkCoords;
use crate::virtual_chunks::VirtualSources;
use crate::zarr_json::ArrayInfo;

/// Where a virtual chunk's bytes are: `length` bytes at `offset` of the object at the URL
/// `location`, as it was when `pin` was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualRef {
    pub location: String,
    pub offset: u64,
    pub length: u64,
    pub pin: Option<SourcePin>,
}

/// `coords` as a chunk of `info`'s grid, or why not (Icechunk's message, so its error kind).
fn check_coords(path: &str, info: &ArrayInfo, coords: &[u32]) -> Result<()> {
    let grid = info.grid_shape();
    if coords.len() != grid.len() || coords.iter().zip(&grid).any(|(c, n)| u64::from(*c) >= *n) {
        return Err(IcechunkError::InvalidInput(format!(
            "invalid chunk index: coordinates {coords:?} are not valid for array at {path} (chunk grid {grid:?})"
        )));
    }
    Ok(())
}

impl Session {
    /// Sets virtual references of the array at `path`. Every reference is checked before any
    /// is set (coordinates in the chunk grid, a well-formed URL, a range within 64 bits): one
    /// bad reference sets none. With `validate_containers`, references whose location lies in
    /// no virtual chunk container of the repository are left out, and their coordinates are
    /// returned; the others are set.
    pub fn set_virtual_refs(
        &self,
        path: &str,
        refs: impl IntoIterator<Item = (ChunkCoords, VirtualRef)>,
        validate_containers: bool,
    ) -> Result<Vec<ChunkCoords>> {
        self.check_can_write("setting virtual chunk references")?;
        let path = self.array_path(path)?;
        let info =
            self.array_info(&path).ok_or_else(|| IcechunkError::NodeNotFound { path: path.clone() })?;
        let sources = self.inner.repo.virtual_sources().clone();
        // One shared string per distinct location: a file's many chunks hold it once.
        let mut interned: HashMap<String, Arc<str>> = HashMap::new();
        // Built as the change set keeps them, then moved in whole: no second copy of a
        // million references.
        let mut accepted: BTreeMap<ChunkCoords, Option<ChunkRef>> = BTreeMap::new();
        let mut failed = Vec::new();
        for (coords, r) in refs {
            check_coords(&path, &info, &coords)?;
            if r.offset.checked_add(r.length).is_none() {
                return Err(IcechunkError::InvalidVirtualRef {
                    reason: format!(
                        "chunk {coords:?} of {path}: bytes {}+{} run past 2^64",
                        r.offset, r.length
                    ),
                    location: r.location,
                });
            }
            let location = match interned.get(&r.location) {
                Some(location) => location.clone(),
                None => {
                    VirtualSources::check_location(&r.location)?;
                    let location: Arc<str> = r.location.as_str().into();
                    interned.insert(r.location, location.clone());
                    location
                }
            };
            if validate_containers && sources.container_for(&location).is_none() {
                failed.push(coords);
                continue;
            }
            let chunk = ChunkRef {
                location: ChunkLocation::Virtual { location, offset: r.offset, pin: r.pin },
                length: r.length,
                checksum: 0,
            };
            accepted.insert(coords, Some(chunk));
        }
        self.check_writable()?;
        Arc::make_mut(&mut self.state().changes).set_chunks(&path, accepted);
        Ok(failed)
    }

    /// Every location of the virtual chunks this session sees, each once, sorted.
    pub async fn all_virtual_chunk_locations(&self) -> Result<Vec<String>> {
        let mut locations = std::collections::BTreeSet::new();
        for path in self.node_paths().into_iter().filter(|p| self.array_info(p).is_some()) {
            for (_, chunk) in self.array_chunk_refs(&path).await? {
                if let ChunkLocation::Virtual { location, .. } = chunk.location {
                    locations.insert(location.to_string());
                }
            }
        }
        Ok(locations.into_iter().collect())
    }

    /// The bytes of many virtual chunks (or ranges of them) read as one batch: neighbouring
    /// ranges of one source are read by one request (spec §11.1). Each `(key, chunk, range)`
    /// must be a virtual chunk; `key` names it in errors. Results in the order of `reads`.
    pub(crate) async fn read_virtual_chunks(
        &self,
        reads: &[(&str, &ChunkRef, Option<ByteRange>)],
    ) -> Vec<Result<Bytes>> {
        let mut requests = Vec::with_capacity(reads.len());
        for (key, chunk, range) in reads {
            let ChunkLocation::Virtual { location, offset, pin } = &chunk.location else {
                panic!("read_virtual_chunks: {key} is not a virtual chunk");
            };
            // Only the asked-for part of the source's range is fetched.
            let wanted = range.map_or(0..chunk.length, |r| r.within(chunk.length));
            requests.push((location.to_string(), offset + wanted.start..offset + wanted.end, pin.clone()));
        }
        let results = self.inner.repo.virtual_sources().read_many(requests).await;
        results
            .into_iter()
            .zip(reads)
            .map(|(read, (key, ..))| read.map_err(|e| e.for_virtual_chunk(key)))
            .collect()
    }
}
