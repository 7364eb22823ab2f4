//! Sessions: a consistent view of one snapshot, plus (when writable) a change set on top.
//!
//! A session always reads its base snapshot and its own changes, whatever others commit.
//! Chunk bytes are uploaded as they are written, as new immutable objects, so the change set
//! holds references only and an abandoned session leaves nothing reachable behind.

mod commit;
mod fork;
mod inspect;
mod lease;
pub use fork::SessionParts;
pub(crate) use lease::write_lease;
pub use lease::{pending_lease_deletions, Lease, MAX_LEASE_AGE};
mod rearrange;
mod rebase;
mod reindex;
mod relayout;
pub use reindex::{plan_reindex, ChunkMapping, Mapping, ReindexPlan};
mod uploads;
mod virtual_refs;
pub use virtual_refs::VirtualRef;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
pub use inspect::ChunkKind;
use tokio::runtime::Handle;
use uploads::Uploads;

use crate::change_set::{ChangeSet, NodeChange, NodeView};
use crate::diff::Diff;
use crate::error::{IcechunkError, Result};
use crate::format::chunk::ByteRange;
use crate::format::manifest::{ChunkLocation, ChunkRef, ManifestShard};
use crate::format::snapshot::{NodeKind, Snapshot};
use crate::ids::{ChunkCoords, NodeId, SnapshotId};
use crate::repository::Repository;
use crate::sync::lock;
use crate::zarr_json::{parse_zarr_json, ArrayInfo, NodeType};

/// What a session may do.
#[derive(Debug, Clone, Copy)]
struct Mode {
    writable: bool,
    /// Made by `fork()`: writes, but is merged instead of committed.
    fork: bool,
    /// Moves nodes, and writes nothing else.
    rearrange: bool,
}

#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("branch", &self.inner.branch)
            .field("snapshot", &self.snapshot_id())
            .field("read_only", &self.read_only())
            .finish()
    }
}

struct Inner {
    repo: Repository,
    branch: Option<String>,
    writable: bool,
    /// Made by `fork()`: writes, but is merged instead of committed.
    fork: bool,
    /// Made by `Repository::rearrange_session`: moves nodes, and writes nothing else.
    rearrange: bool,
    /// The runtime this session's background work (chunk uploads) runs on.
    runtime: Handle,
    /// The repository's default commit metadata when the session was opened.
    default_metadata: serde_json::Map<String, serde_json::Value>,
    state: Mutex<State>,
    /// Uploads of chunks set in this session (and in forks merged into it) not yet known to
    /// have landed.
    uploads: Mutex<Vec<Arc<Uploads>>>,
    /// Announces this session's writes to garbage collection (see [`lease`]).
    leases: Mutex<lease::Leases>,
    /// Held while a lease is written, so that concurrent first writes write one.
    lease_writer: tokio::sync::Mutex<()>,
}

struct State {
    /// The base snapshot, as this session sees it: in a rearrange session, with its moves
    /// applied (same id and nodes, other paths; see `rearrange`).
    base: Arc<Snapshot>,
    /// In a rearrange session with moves: the base snapshot as stored.
    unmoved_base: Option<Arc<Snapshot>>,
    /// Shared with a commit in flight, which must not copy a large change set; a write
    /// meanwhile copies it (`Arc::make_mut`).
    changes: Arc<ChangeSet>,
    /// Set by a successful commit: the session is read-only from then on.
    committed: bool,
    /// Parsed `zarr.json` of arrays, by path; dropped when the path's metadata changes.
    array_infos: HashMap<String, Arc<ArrayInfo>>,
}

impl Session {
    pub(crate) fn new(
        repo: Repository,
        base: Arc<Snapshot>,
        branch: Option<String>,
        writable: bool,
        runtime: Handle,
    ) -> Self {
        Self::build(repo, base, branch, Mode { writable, fork: false, rearrange: false }, runtime)
    }

    /// A session that moves nodes, and writes nothing else.
    pub(crate) fn new_rearrange(
        repo: Repository,
        base: Arc<Snapshot>,
        branch: String,
        runtime: Handle,
    ) -> Self {
        Self::build(repo, base, Some(branch), Mode { writable: true, fork: false, rearrange: true }, runtime)
    }

    fn build(
        repo: Repository,
        base: Arc<Snapshot>,
        branch: Option<String>,
        mode: Mode,
        runtime: Handle,
    ) -> Self {
        let Mode { writable, fork, rearrange } = mode;
        let state = State {
            base,
            unmoved_base: None,
            changes: Arc::default(),
            committed: false,
            array_infos: HashMap::new(),
        };
        let uploads = Mutex::new(vec![Arc::new(Uploads::new(repo.assets().clone(), runtime.clone()))]);
        let state = Mutex::new(state);
        let default_metadata = repo.default_commit_metadata();
        let inner = Inner {
            repo,
            branch,
            writable,
            fork,
            rearrange,
            runtime,
            default_metadata,
            state,
            uploads,
            leases: Mutex::default(),
            lease_writer: tokio::sync::Mutex::new(()),
        };
        Session { inner: Arc::new(inner) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    fn leases(&self) -> MutexGuard<'_, lease::Leases> {
        lock(&self.inner.leases)
    }

    pub fn repository(&self) -> &Repository {
        &self.inner.repo
    }

    pub fn read_only(&self) -> bool {
        !self.inner.writable || self.state().committed
    }

    pub fn snapshot_id(&self) -> SnapshotId {
        self.state().base.id
    }

    pub fn branch(&self) -> Option<String> {
        self.inner.branch.clone()
    }

    pub fn has_uncommitted_changes(&self) -> bool {
        !self.state().changes.is_empty()
    }

    /// The uncommitted changes, in the shape of a diff.
    pub fn status(&self) -> Diff {
        let state = self.state();
        Diff::from_transaction_log(&state.changes.transaction_log(&state.base))
    }

    pub fn discard_changes(&self) -> Result<()> {
        self.check_writable()?;
        let mut state = self.state();
        state.changes = Arc::default();
        state.array_infos.clear();
        if let Some(unmoved) = state.unmoved_base.take() {
            state.base = unmoved;
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if !self.inner.writable {
            return Err(IcechunkError::ReadOnly(
                "open a writable session (Repository.writable_session) to make changes".into(),
            ));
        }
        if self.state().committed {
            return Err(IcechunkError::ReadOnly(
                "this session already committed; open a new writable session for more changes".into(),
            ));
        }
        Ok(())
    }

    // ------------------------------------------------------------------ reads

    pub(crate) fn node(&self, path: &str) -> Option<NodeView> {
        let state = self.state();
        state.changes.node(&state.base, path)
    }

    /// Live node paths, sorted.
    pub(crate) fn node_paths(&self) -> Vec<String> {
        let state = self.state();
        state.changes.node_paths(&state.base).into_iter().collect()
    }

    /// The array layout at `path`, if an array lives there.
    pub(crate) fn array_info(&self, path: &str) -> Option<Arc<ArrayInfo>> {
        let mut state = self.state();
        if let Some(info) = state.array_infos.get(path) {
            return Some(info.clone());
        }
        let node = state.changes.node(&state.base, path)?;
        let info = match &node {
            NodeView::Changed(NodeChange { node_type: NodeType::Array(info), .. }) => info.clone(),
            NodeView::Changed(_) => return None,
            NodeView::Base(n) if n.is_array() => match parse_zarr_json(path, &n.zarr_json) {
                Ok(NodeType::Array(info)) => info,
                _ => return None,
            },
            NodeView::Base(_) => return None,
        };
        let info = Arc::new(info);
        state.array_infos.insert(path.to_string(), info.clone());
        Some(info)
    }

    pub(crate) async fn chunk_ref(&self, path: &str, coords: &[u32]) -> Result<Option<ChunkRef>> {
        let shard = {
            let state = self.state();
            if let Some(change) = state.changes.chunk(path, coords) {
                return Ok(change.clone());
            }
            if !state.changes.base_chunks_visible(&state.base, path) {
                return Ok(None);
            }
            let Some(node) = state.base.node(path) else { return Ok(None) };
            let NodeKind::Array(array) = &node.kind else { return Ok(None) };
            let block = array.block_of(coords);
            match array.shards.get(&block) {
                Some(info) => (node.id, block, info.clone()),
                None => return Ok(None),
            }
        };
        let (node_id, block, info) = shard;
        let shard = self.inner.repo.assets().shard(node_id, &block, &info).await?;
        Ok(shard.lookup(coords))
    }

    /// A chunk's bytes, or a range of them. `key` names the chunk in errors.
    pub(crate) async fn read_chunk(
        &self,
        key: &str,
        chunk: &ChunkRef,
        range: Option<ByteRange>,
    ) -> Result<Bytes> {
        if let Some(bytes) = self.uploading(chunk) {
            return Ok(range.map_or(bytes.clone(), |r| r.slice(bytes)));
        }
        if let ChunkLocation::Virtual { location, offset, pin } = &chunk.location {
            // Only the asked-for part of the source's range is fetched.
            let wanted = range.map_or(0..chunk.length, |r| r.within(chunk.length));
            if wanted.is_empty() {
                return Ok(Bytes::new());
            }
            let absolute = offset + wanted.start..offset + wanted.end;
            let read = self.inner.repo.virtual_sources().read(location, absolute, pin.as_ref()).await;
            return read.map_err(|e| e.for_virtual_chunk(key));
        }
        self.inner.repo.assets().read_chunk(key, chunk, range).await
    }

    /// The bytes of a chunk of ours still uploading (no Vec clone on this hot path).
    fn uploading(&self, chunk: &ChunkRef) -> Option<Bytes> {
        lock(&self.inner.uploads).iter().find_map(|u| u.pending(chunk))
    }

    fn uploads(&self) -> Vec<Arc<Uploads>> {
        lock(&self.inner.uploads).clone()
    }

    /// Waits until every chunk set in this session (or in forks merged into it) is stored.
    /// Commit does it first; so must anything else that sends the references elsewhere.
    pub async fn wait_for_uploads(&self) -> Result<()> {
        for uploads in self.uploads() {
            uploads.flush().await?;
        }
        Ok(())
    }

    /// The manifest shards of the base snapshot whose chunks still belong to the array at
    /// `path` (none for arrays new or deleted in this session), loaded.
    async fn base_shards(&self, path: &str) -> Result<Vec<Arc<ManifestShard>>> {
        let shards: Vec<_> = {
            let state = self.state();
            if !state.changes.base_chunks_visible(&state.base, path) {
                return Ok(Vec::new());
            }
            match state.base.node(path).map(|n| (n.id, &n.kind)) {
                Some((node_id, NodeKind::Array(array))) => {
                    array.shards.iter().map(|(block, info)| (node_id, block.clone(), info.clone())).collect()
                }
                _ => return Ok(Vec::new()),
            }
        };
        let assets = self.inner.repo.assets();
        futures::future::try_join_all(
            shards.iter().map(|(node_id, block, info)| assets.shard(*node_id, block, info)),
        )
        .await
    }

    /// Every chunk of the array at `path` with its length, in coordinate order.
    pub(crate) async fn array_chunks(&self, path: &str) -> Result<Vec<(ChunkCoords, u64)>> {
        self.merged_chunks(path, |shard| shard.iter_lengths().collect(), |chunk| chunk.length).await
    }

    /// Every chunk of the array at `path` with its reference, in coordinate order.
    pub(crate) async fn array_chunk_refs(&self, path: &str) -> Result<Vec<(ChunkCoords, ChunkRef)>> {
        self.merged_chunks(path, |shard| shard.iter().collect(), Clone::clone).await
    }

    /// The base snapshot's chunks of the array at `path` (`of_shard`) with this session's
    /// changes over them (`of_change`), in coordinate order.
    async fn merged_chunks<T>(
        &self,
        path: &str,
        of_shard: impl Fn(&ManifestShard) -> Vec<(ChunkCoords, T)>,
        of_change: impl Fn(&ChunkRef) -> T,
    ) -> Result<Vec<(ChunkCoords, T)>> {
        let loaded = self.base_shards(path).await?;
        let changes = self.state().changes.chunks.get(path).cloned().unwrap_or_default();
        let mut chunks: BTreeMap<ChunkCoords, T> = BTreeMap::new();
        for shard in &loaded {
            chunks.extend(of_shard(shard));
        }
        for (coords, change) in changes {
            match change {
                Some(chunk) => chunks.insert(coords, of_change(&chunk)),
                None => chunks.remove(&coords),
            };
        }
        Ok(chunks.into_iter().collect())
    }

    pub(crate) async fn array_has_chunks(&self, path: &str) -> Result<bool> {
        {
            let state = self.state();
            let changes = state.changes.chunks.get(path);
            if changes.is_some_and(|c| c.values().any(Option::is_some)) {
                return Ok(true);
            }
            if changes.is_none() {
                if !state.changes.base_chunks_visible(&state.base, path) {
                    return Ok(false);
                }
                if let Some(NodeKind::Array(array)) = state.base.node(path).map(|n| &n.kind) {
                    return Ok(!array.shards.is_empty());
                }
                return Ok(false);
            }
        }
        Ok(!self.array_chunks(path).await?.is_empty())
    }

    /// Total bytes of the array's chunks, from shard totals when nothing changed.
    pub(crate) async fn array_chunk_bytes(&self, path: &str) -> Result<u64> {
        {
            let state = self.state();
            if !state.changes.chunks.contains_key(path)
                && state.changes.base_chunks_visible(&state.base, path)
            {
                if let Some(NodeKind::Array(array)) = state.base.node(path).map(|n| &n.kind) {
                    return Ok(array.shards.values().map(|s| s.total_bytes).sum());
                }
            }
        }
        Ok(self.array_chunks(path).await?.iter().map(|(_, len)| len).sum())
    }

    // ------------------------------------------------------------------ writes

    /// Creates or updates the node at `path` from its `zarr.json`.
    pub(crate) fn set_node(&self, path: &str, key: &str, zarr_json: Bytes) -> Result<()> {
        self.check_can_write("writing metadata")?;
        let node_type = parse_zarr_json(key, &zarr_json)?;
        let mut state = self.state();
        let state = &mut *state;
        state.array_infos.remove(path);
        let existing = state.changes.node(&state.base, path);
        let same_kind =
            existing.as_ref().is_some_and(|n| n.is_array() == matches!(node_type, NodeType::Array(_)));
        let change = match existing {
            Some(existing) if same_kind => {
                let is_new = match &existing {
                    NodeView::Changed(c) => c.is_new,
                    NodeView::Base(_) => false,
                };
                NodeChange { id: existing.id(), zarr_json, node_type, is_new }
            }
            other => {
                if other.is_some() {
                    Arc::make_mut(&mut state.changes).delete_node(&state.base, path);
                }
                NodeChange { id: NodeId::random(), zarr_json, node_type, is_new: true }
            }
        };
        Arc::make_mut(&mut state.changes).nodes.insert(path.to_string(), change);
        Ok(())
    }

    pub(crate) fn delete_node(&self, path: &str) -> Result<()> {
        self.check_can_write("deleting a node")?;
        let mut state = self.state();
        let state = &mut *state;
        state.array_infos.remove(path);
        Arc::make_mut(&mut state.changes).delete_node(&state.base, path);
        Ok(())
    }

    /// Records the chunk, inline when small, else starting its upload (see [`uploads`]).
    pub(crate) async fn set_chunk(&self, path: &str, coords: ChunkCoords, bytes: Bytes) -> Result<()> {
        self.check_can_write("writing a chunk")?;
        // Garbage collection learns of this session before its first object is written.
        self.ensure_lease().await?;
        let own = self.uploads()[0].clone();
        let chunk = own.write_chunk(bytes).await?;
        self.check_writable()?;
        Arc::make_mut(&mut self.state().changes).set_chunk(path, coords, Some(chunk));
        Ok(())
    }

    pub(crate) fn delete_chunk(&self, path: &str, coords: ChunkCoords) -> Result<()> {
        self.check_can_write("deleting a chunk")?;
        Arc::make_mut(&mut self.state().changes).set_chunk(path, coords, None);
        Ok(())
    }
}
