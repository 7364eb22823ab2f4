//! Forks and merges for distributed writes, and the wire form of a session.
//!
//! A fork is a writable session on the same base snapshot carrying the node changes (not the
//! chunks) of the session it came from; workers
//! write into forks (chunks are uploaded by the workers themselves), the forks travel back
//! as bytes, and `merge` folds their change sets into the session that commits. Two forks
//! that wrote the same chunk, or different metadata for one node, are refused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::lease::{Lease, Leases};
use super::{Mode, Session};
use crate::change_set::{ChangeSet, NodeChange};
use crate::config::RepositoryConfig;
use crate::error::{IcechunkError, Result};
use crate::format::chunk::valid_block_size_log2;
use crate::format::manifest::{ChunkLocation, ChunkRef, SourcePin};
use crate::format::snapshot::valid_node_path;
use crate::ids::{ChunkId, NodeId, SnapshotId};
use crate::refs::validate_ref_name;
use crate::repository::Repository;
use crate::storage::{self, StorageSpec};
use crate::sync::{current_runtime, lock};
use crate::virtual_chunks::ContainerCredentials;
use crate::zarr_json::parse_zarr_json;

#[derive(Serialize, Deserialize)]
enum WireChunk {
    Inline(#[serde(with = "serde_bytes")] Vec<u8>, u32),
    /// Id, offset, length, checksum, block size (log2).
    Object([u8; 12], u64, u64, u32, u8),
    /// Location, offset, length, pin.
    Virtual(String, u64, u64, Option<SourcePin>),
}

/// A chunk written (`Some`) or deleted (`None`), by coordinates.
type WireChunkChange = (Vec<u32>, Option<WireChunk>);

#[derive(Serialize, Deserialize)]
struct WireNode {
    path: String,
    id: [u8; 8],
    #[serde(with = "serde_bytes")]
    zarr_json: Vec<u8>,
    is_new: bool,
}

#[derive(Serialize, Deserialize)]
struct WireSession {
    format: u32,
    storage: StorageSpec,
    config: RepositoryConfig,
    base: [u8; 12],
    branch: Option<String>,
    writable: bool,
    fork: bool,
    nodes: Vec<WireNode>,
    deleted: Vec<(String, [u8; 8])>,
    chunks: Vec<(String, Vec<WireChunkChange>)>,
    /// The lease the session writes under, and those it owns: (id, microseconds since 1970).
    lease: Option<(String, i64)>,
    owned_leases: Vec<(String, i64)>,
}

const WIRE_FORMAT: u32 = 3;

fn to_wire_lease(lease: &Lease) -> (String, i64) {
    (lease.id.clone(), lease.created_at.timestamp_micros())
}

fn from_wire_lease((id, micros): (String, i64)) -> Result<Lease> {
    let created_at = chrono::DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| IcechunkError::InvalidInput(format!("invalid lease time {micros} in a session")))?;
    if id.len() != 20 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IcechunkError::InvalidInput(format!("invalid lease id `{id}` in a session")));
    }
    Ok(Lease { id, created_at })
}

/// A session as it travels between processes ([`Session::to_bytes`]): where its repository
/// is, which snapshot and branch it is on, and its changes. Decoding checks the bytes without
/// touching storage; [`Session::from_bytes`] then opens the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionParts {
    pub storage: StorageSpec,
    pub config: RepositoryConfig,
    pub base: SnapshotId,
    pub branch: Option<String>,
    pub writable: bool,
    pub fork: bool,
    pub changes: ChangeSet,
    /// The lease the session writes under (garbage collection keeps what it writes).
    pub lease: Option<Lease>,
    /// Leases the session wrote itself, deleted by whoever commits its changes.
    pub owned_leases: Vec<Lease>,
}

impl SessionParts {
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode_wire(
            &self.storage,
            &self.config,
            self.base,
            self.branch.clone(),
            Mode { writable: self.writable, fork: self.fork, rearrange: false },
            &self.changes,
            (self.lease.as_ref(), &self.owned_leases),
        )
    }

    /// Decodes and checks the bytes of [`Session::to_bytes`]: the wire format version, the
    /// config's values, the branch name, node paths, each node's `zarr.json` and each chunk
    /// reference (a byte range within 2^64, a block size of at most 2^63). Any failure is
    /// InvalidInput: the bytes come from a caller, not from the repository.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let wire: WireSession = rmp_serde::from_slice(bytes)
            .map_err(|e| IcechunkError::InvalidInput(format!("not a serialized session: {e}")))?;
        if wire.format != WIRE_FORMAT {
            return Err(IcechunkError::InvalidInput(format!("unknown session format {}", wire.format)));
        }
        wire.config.validate()?;
        if let Some(branch) = &wire.branch {
            validate_ref_name(branch)?;
        }
        let bad_path =
            |path: &str| IcechunkError::InvalidInput(format!("invalid node path `{path}` in a session"));
        let mut changes = ChangeSet::default();
        for node in wire.nodes {
            if !valid_node_path(&node.path) {
                return Err(bad_path(&node.path));
            }
            let node_type = parse_zarr_json(&node.path, &node.zarr_json)?;
            let change = NodeChange {
                id: NodeId(node.id),
                zarr_json: node.zarr_json.into(),
                node_type,
                is_new: node.is_new,
            };
            changes.nodes.insert(node.path, change);
        }
        for (path, id) in wire.deleted {
            if !valid_node_path(&path) {
                return Err(bad_path(&path));
            }
            changes.deleted.insert(path, NodeId(id));
        }
        for (path, chunks) in wire.chunks {
            if !valid_node_path(&path) {
                return Err(bad_path(&path));
            }
            let mut decoded = BTreeMap::new();
            for (coords, chunk) in chunks {
                let chunk = chunk.map(from_wire_chunk).transpose()?;
                decoded.insert(coords, chunk);
            }
            changes.chunks.insert(path, decoded);
        }
        Ok(SessionParts {
            storage: wire.storage,
            config: wire.config,
            base: SnapshotId(wire.base),
            branch: wire.branch,
            writable: wire.writable,
            fork: wire.fork,
            changes,
            lease: wire.lease.map(from_wire_lease).transpose()?,
            owned_leases: wire.owned_leases.into_iter().map(from_wire_lease).collect::<Result<_>>()?,
        })
    }
}

fn encode_wire(
    storage: &StorageSpec,
    config: &RepositoryConfig,
    base: SnapshotId,
    branch: Option<String>,
    mode: Mode,
    changes: &ChangeSet,
    (lease, owned_leases): (Option<&Lease>, &[Lease]),
) -> Result<Vec<u8>> {
    let Mode { writable, fork, .. } = mode;
    let wire = WireSession {
        format: WIRE_FORMAT,
        storage: storage.clone(),
        config: config.clone(),
        base: base.0,
        branch,
        writable,
        fork,
        nodes: changes
            .nodes
            .iter()
            .map(|(path, c)| WireNode {
                path: path.clone(),
                id: c.id.0,
                zarr_json: c.zarr_json.to_vec(),
                is_new: c.is_new,
            })
            .collect(),
        deleted: changes.deleted.iter().map(|(p, id)| (p.clone(), id.0)).collect(),
        chunks: changes
            .chunks
            .iter()
            .map(|(path, chunks)| {
                (
                    path.clone(),
                    chunks.iter().map(|(c, r)| (c.clone(), r.as_ref().map(to_wire_chunk))).collect(),
                )
            })
            .collect(),
        lease: lease.map(to_wire_lease),
        owned_leases: owned_leases.iter().map(to_wire_lease).collect(),
    };
    rmp_serde::to_vec(&wire)
        .map_err(|e| IcechunkError::InvalidInput(format!("cannot serialize session: {e}")))
}

fn to_wire_chunk(chunk: &ChunkRef) -> WireChunk {
    match &chunk.location {
        ChunkLocation::Inline(bytes) => WireChunk::Inline(bytes.to_vec(), chunk.checksum),
        ChunkLocation::Object { id, offset, block_size_log2 } => {
            WireChunk::Object(id.0, *offset, chunk.length, chunk.checksum, *block_size_log2)
        }
        ChunkLocation::Virtual { location, offset, pin } => {
            WireChunk::Virtual(location.to_string(), *offset, chunk.length, pin.clone())
        }
    }
}

fn from_wire_chunk(chunk: WireChunk) -> Result<ChunkRef> {
    Ok(match chunk {
        WireChunk::Inline(bytes, checksum) => {
            ChunkRef { length: bytes.len() as u64, location: ChunkLocation::Inline(bytes.into()), checksum }
        }
        WireChunk::Object(id, offset, length, checksum, block_size_log2) => {
            if offset.checked_add(length).is_none() || !valid_block_size_log2(block_size_log2) {
                return Err(IcechunkError::InvalidInput(format!(
                    "invalid chunk reference in a session: bytes {offset}+{length}, block size 2^{block_size_log2}"
                )));
            }
            ChunkRef {
                location: ChunkLocation::Object { id: ChunkId(id), offset, block_size_log2 },
                length,
                checksum,
            }
        }
        WireChunk::Virtual(location, offset, length, pin) => {
            if offset.checked_add(length).is_none() {
                return Err(IcechunkError::InvalidInput(format!(
                    "invalid virtual chunk reference in a session: bytes {offset}+{length}"
                )));
            }
            ChunkRef {
                location: ChunkLocation::Virtual { location: location.into(), offset, pin },
                length,
                checksum: 0,
            }
        }
    })
}

impl Session {
    pub fn is_fork(&self) -> bool {
        self.inner.fork
    }

    /// A writable session on this session's base snapshot, for a worker. It carries this
    /// session's node changes (new or updated metadata, deletions), so workers can write
    /// chunks of arrays created here, but none of its chunk changes. Merge it back with
    /// [`Session::merge`]; a fork cannot commit.
    pub fn fork(&self) -> Result<Session> {
        self.check_can_write("forking")?;
        let (base, nodes, deleted) = {
            let state = self.state();
            (state.base.clone(), state.changes.nodes.clone(), state.changes.deleted.clone())
        };
        let runtime = self.inner.runtime.clone();
        let fork = Session::build(
            self.repository().clone(),
            base,
            self.branch(),
            Mode { writable: true, fork: true, rearrange: false },
            runtime,
        );
        {
            let mut state = fork.state();
            Arc::make_mut(&mut state.changes).nodes = nodes;
            Arc::make_mut(&mut state.changes).deleted = deleted;
        }
        // The fork writes under this session's lease, if it has one (else under its own).
        fork.leases().current = self.leases().current.clone();
        Ok(fork)
    }

    /// Folds the changes of `forks` into this session. Refused (and nothing merged) when a
    /// fork is of another base snapshot, or two change sets touch the same chunk or give one
    /// node different metadata.
    pub fn merge(&self, forks: &[Session]) -> Result<()> {
        self.check_can_write("merging forks")?;
        let mut state = self.state();
        let mut merged = ChangeSet::clone(&state.changes);
        let mut problems = Vec::new();
        for fork in forks {
            if fork.snapshot_id() != state.base.id {
                return Err(IcechunkError::SessionState(format!(
                    "cannot merge a fork of snapshot {} into a session on snapshot {}",
                    fork.snapshot_id(),
                    state.base.id
                )));
            }
            let theirs = ChangeSet::clone(&fork.state().changes);
            merge_into(&mut merged, theirs, &mut problems);
        }
        if !problems.is_empty() {
            return Err(IcechunkError::MergeConflict { conflicts: problems });
        }
        state.changes = Arc::new(merged);
        state.array_infos.clear();
        drop(state);
        // The forks' own leases are this session's to delete after its commit.
        for fork in forks {
            let theirs = fork.leases().clone();
            self.leases().absorb(&theirs);
        }
        // The forks' chunks may still be uploading: this session now waits for them too.
        let mut uploads = lock(&self.inner.uploads);
        for fork in forks {
            for theirs in fork.uploads() {
                if !uploads.iter().any(|u| Arc::ptr_eq(u, &theirs)) {
                    uploads.push(theirs);
                }
            }
        }
        Ok(())
    }

    /// The session as bytes, to rebuild it in another process with [`Session::from_bytes`].
    /// A writable session that is not a fork refuses: its changes belong to one process.
    ///
    /// Waits first for the uploads of the chunks it names: the other process may commit them.
    pub async fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.inner.writable && !self.inner.fork && !self.read_only() {
            return Err(IcechunkError::SessionState(
                "a writable session cannot be sent to another process; use session.fork() for \
                 workers (or icechunk.xarray.to_icechunk / icechunk.dask.store_dask) and merge the forks"
                    .into(),
            ));
        }
        let repo = self.repository();
        let spec = repo.storage().spec();
        if spec == StorageSpec::InMemory {
            return Err(IcechunkError::InvalidInput(
                "a session of an in-memory repository cannot be sent to another process; use \
                 local_filesystem_storage or an object store"
                    .into(),
            ));
        }
        self.wait_for_uploads().await?;
        let leases = self.leases().clone();
        let state = self.state();
        encode_wire(
            &spec,
            repo.config(),
            state.base.id,
            self.branch(),
            Mode {
                writable: self.inner.writable && !state.committed,
                fork: self.inner.fork,
                rearrange: false,
            },
            &state.changes,
            (leases.current.as_ref(), &leases.owned),
        )
    }

    pub async fn from_bytes(bytes: &[u8]) -> Result<Session> {
        Self::from_bytes_with_access(bytes, BTreeMap::new()).await
    }

    /// Like `from_bytes`, with the virtual chunk containers the receiving side authorizes
    /// (authorizations never travel inside the bytes: they hold credentials).
    pub async fn from_bytes_with_access(
        bytes: &[u8],
        authorized: BTreeMap<String, ContainerCredentials>,
    ) -> Result<Session> {
        Self::rebuild(bytes, authorized, false).await
    }

    /// Like `from_bytes_with_access`, reusing the repository handle an earlier call of this
    /// process opened for the same storage and config (see [`REOPENED`]). For a process whose
    /// sessions all run on one tokio runtime for its whole life (the Python binding's): the
    /// clients of cloud stores stay bound to the runtime that made them.
    pub async fn from_bytes_reusing_repository(
        bytes: &[u8],
        authorized: BTreeMap<String, ContainerCredentials>,
    ) -> Result<Session> {
        Self::rebuild(bytes, authorized, true).await
    }

    async fn rebuild(
        bytes: &[u8],
        authorized: BTreeMap<String, ContainerCredentials>,
        reuse: bool,
    ) -> Result<Session> {
        let parts = SessionParts::decode(bytes)?;
        let mut repo = if reuse {
            reopen(&parts.storage, parts.config).await?
        } else {
            Repository::open(storage::from_spec(&parts.storage)?, Some(parts.config)).await?
        };
        if !authorized.is_empty() {
            repo = repo.with_virtual_access(authorized)?;
        }
        let base = repo.assets().snapshot(&parts.base).await?;
        let session = Session::build(
            repo,
            base,
            parts.branch,
            Mode { writable: parts.writable, fork: parts.fork, rearrange: false },
            current_runtime()?,
        );
        session.state().changes = Arc::new(parts.changes);
        *session.leases() = Leases { current: parts.lease, owned: parts.owned_leases };
        Ok(session)
    }
}

/// Repositories that sessions rebuilt from bytes opened in this process, by storage and
/// config, newest last. A Dask worker rebuilds a fork for every task it runs and every fork a
/// merge receives: opening the repository again each time costs requests (its config, the
/// main hint, the conditional-write check: milliseconds on local disk, tens on S3) and starts
/// with empty caches, so the same snapshot is fetched again. A reused handle is safe: what it
/// caches is immutable (snapshots, manifests by id), refs are read afresh by every operation
/// that needs them, and the config is the one the bytes carry.
static REOPENED: Mutex<Vec<(StorageSpec, RepositoryConfig, Repository)>> = Mutex::new(Vec::new());
const REOPENED_KEPT: usize = 8;

async fn reopen(spec: &StorageSpec, config: RepositoryConfig) -> Result<Repository> {
    let known = |kept: &Vec<(StorageSpec, RepositoryConfig, Repository)>| {
        kept.iter().rev().find(|(s, c, _)| s == spec && *c == config).map(|(_, _, repo)| repo.clone())
    };
    if let Some(repo) = known(&lock(&REOPENED)) {
        return Ok(repo);
    }
    let repo = Repository::open(storage::from_spec(spec)?, Some(config.clone())).await?;
    let mut kept = lock(&REOPENED);
    if let Some(raced) = known(&kept) {
        return Ok(raced);
    }
    if kept.len() >= REOPENED_KEPT {
        kept.remove(0);
    }
    kept.push((spec.clone(), config, repo.clone()));
    Ok(repo)
}

fn merge_into(ours: &mut ChangeSet, theirs: ChangeSet, problems: &mut Vec<String>) {
    for (path, change) in theirs.nodes {
        match ours.nodes.get(&path) {
            Some(existing) if existing.zarr_json != change.zarr_json => {
                problems.push(format!("two forks wrote different metadata for {path}"))
            }
            Some(_) => {}
            None => {
                ours.nodes.insert(path, change);
            }
        }
    }
    ours.deleted.extend(theirs.deleted);
    for (path, chunks) in theirs.chunks {
        let mine = ours.chunks.entry(path.clone()).or_default();
        let mut clashes = 0usize;
        for (coords, chunk) in chunks {
            match mine.entry(coords) {
                std::collections::btree_map::Entry::Occupied(clash) => {
                    clashes += 1;
                    if clashes <= 5 {
                        problems.push(format!("two forks wrote chunk {:?} of {path}", clash.key()));
                    }
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(chunk);
                }
            }
        }
        if clashes > 5 {
            problems.push(format!("... and {} more chunks of {path} written by two forks", clashes - 5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> SessionParts {
        let mut changes = ChangeSet::default();
        let zarr_json = bytes::Bytes::from_static(br#"{"zarr_format":3,"node_type":"group"}"#);
        let node_type = parse_zarr_json("zarr.json", &zarr_json).unwrap();
        changes
            .nodes
            .insert("/g".into(), NodeChange { id: NodeId::random(), zarr_json, node_type, is_new: true });
        changes.deleted.insert("/old".into(), NodeId::random());
        let chunk = ChunkRef {
            location: ChunkLocation::Object { id: ChunkId::random(), offset: 0, block_size_log2: 14 },
            length: 40_000,
            checksum: 7,
        };
        changes
            .chunks
            .insert("/a".into(), [(vec![1, 2], Some(chunk)), (vec![0, 0], None)].into_iter().collect());
        SessionParts {
            storage: StorageSpec::LocalFilesystem { path: "/tmp/x".into() },
            config: RepositoryConfig::default(),
            base: SnapshotId::random(),
            branch: Some("main".into()),
            writable: true,
            fork: true,
            changes,
            lease: Some(Lease {
                id: SnapshotId::random().to_string(),
                created_at: chrono::DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            }),
            owned_leases: Vec::new(),
        }
    }

    fn refused(parts: &SessionParts) -> IcechunkError {
        let bytes = parts.encode().unwrap();
        SessionParts::decode(&bytes).unwrap_err()
    }

    #[test]
    fn the_wire_form_is_decoded_and_checked_without_storage() {
        let good = parts();
        assert_eq!(SessionParts::decode(&good.encode().unwrap()).unwrap(), good);
        let kind = crate::error::ErrorKind::InvalidInput;
        assert_eq!(SessionParts::decode(b"\x92\x01").unwrap_err().kind(), kind);
        let mut bad = parts();
        bad.config.compression_level = 0;
        assert_eq!(refused(&bad).kind(), kind);
        let mut bad = parts();
        bad.branch = Some("a..b".into());
        assert_eq!(refused(&bad).kind(), kind);
        for path in ["", "g", "/g/", "/g/../h"] {
            let mut bad = parts();
            let chunks = bad.changes.chunks.remove("/a").unwrap();
            bad.changes.chunks.insert(path.into(), chunks);
            assert!(refused(&bad).to_string().contains("invalid node path"), "{path:?}");
        }
        let mut bad = parts();
        let change = bad.changes.nodes.remove("/g").unwrap();
        bad.changes.nodes.insert("/g/".into(), change);
        assert_eq!(refused(&bad).kind(), kind);
        let mut bad = parts();
        let chunk = ChunkRef {
            location: ChunkLocation::Object { id: ChunkId::random(), offset: u64::MAX, block_size_log2: 0 },
            length: 1,
            checksum: 0,
        };
        bad.changes.chunks.get_mut("/a").unwrap().insert(vec![3, 3], Some(chunk));
        assert_eq!(refused(&bad).kind(), kind);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rebuilt_forks_share_the_repository_handle_of_their_storage_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::create(storage::new_local_filesystem_storage(dir.path()).unwrap(), None)
            .await
            .unwrap();
        let fork = repo.writable_session("main").await.unwrap().fork().unwrap();
        let bytes = fork.to_bytes().await.unwrap();
        let first = Session::from_bytes_reusing_repository(&bytes, BTreeMap::new()).await.unwrap();
        let second = Session::from_bytes_reusing_repository(&bytes, BTreeMap::new()).await.unwrap();
        let same = |a: &Session, b: &Session| a.repository().same_handle(b.repository());
        assert!(same(&first, &second));
        assert_eq!(second.snapshot_id(), fork.snapshot_id());
        // Without reuse, or with another config, a handle of its own.
        let fresh = Session::from_bytes(&bytes).await.unwrap();
        assert!(!same(&first, &fresh));
        let mut config = RepositoryConfig::default();
        config.snapshot_cache_size += 1;
        let other =
            Repository::open(storage::new_local_filesystem_storage(dir.path()).unwrap(), Some(config))
                .await
                .unwrap();
        let other_bytes =
            other.writable_session("main").await.unwrap().fork().unwrap().to_bytes().await.unwrap();
        let third = Session::from_bytes_reusing_repository(&other_bytes, BTreeMap::new()).await.unwrap();
        assert!(!same(&first, &third));
    }
}
