//! Small helpers shared by the integration tests.
#![allow(dead_code)]

pub mod counting;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use icechunk::storage::{new_in_memory_storage, new_local_filesystem_storage};
use icechunk::{ErrorKind, IcechunkError, Repository, SnapshotId, SnapshotInfo, Storage, VersionInfo};

pub fn main_branch() -> VersionInfo {
    VersionInfo::BranchTip("main".to_string())
}

pub fn branch(name: &str) -> VersionInfo {
    VersionInfo::BranchTip(name.to_string())
}

pub fn tag(name: &str) -> VersionInfo {
    VersionInfo::Tag(name.to_string())
}

pub fn snap(id: &SnapshotId) -> VersionInfo {
    VersionInfo::Snapshot(*id)
}

pub fn local_storage(dir: &Path) -> Arc<dyn Storage> {
    new_local_filesystem_storage(dir).expect("local storage")
}

pub async fn mem_repo() -> Repository {
    Repository::create(new_in_memory_storage(), None).await.expect("create in-memory repository")
}

pub async fn local_repo(dir: &Path) -> Repository {
    Repository::create(local_storage(dir), None).await.expect("create local repository")
}

pub async fn open_local(dir: &Path) -> Repository {
    Repository::open(local_storage(dir), None).await.expect("open local repository")
}

/// The kind of an error the caller expects; panics with the value when there is none.
#[track_caller]
pub fn err_kind<T: std::fmt::Debug>(r: Result<T, IcechunkError>) -> ErrorKind {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e.kind(),
    }
}

/// Asserts that `r` failed with `kind`.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(r: Result<T, IcechunkError>, kind: ErrorKind) {
    match r {
        Ok(v) => panic!("expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => assert_eq!(e.kind(), kind, "wrong error kind for error: {e} ({e:?})"),
    }
}

/// Ancestry of a version, newest first.
pub async fn ancestry(repo: &Repository, v: &VersionInfo) -> Vec<SnapshotInfo> {
    repo.ancestry(v).await.expect("ancestry").try_collect().await.expect("ancestry stream")
}

pub async fn ancestry_ids(repo: &Repository, v: &VersionInfo) -> Vec<SnapshotId> {
    ancestry(repo, v).await.into_iter().map(|s| s.id).collect()
}

pub fn group_json() -> Bytes {
    Bytes::from_static(br#"{"zarr_format":3,"node_type":"group","attributes":{}}"#)
}

/// Realistic Zarr v3 array metadata: regular chunk grid, default "/" chunk keys, bytes codec.
pub fn array_json(shape: &[u64], chunk_shape: &[u64], data_type: &str) -> Bytes {
    let v = serde_json::json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": shape,
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk_shape}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {"description": "test array"},
        "dimension_names": null
    });
    Bytes::from(serde_json::to_vec(&v).unwrap())
}

/// Deterministic bytes of length `len`, different for different seeds.
pub fn pattern(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x1234_5678);
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x >> 24) as u8);
    }
    Bytes::from(out)
}

/// Files (recursively) under `dir`, as paths relative to it; empty when `dir` is missing.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in rd {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// How many chunk objects the repository in `dir` (local storage) holds.
pub fn chunk_objects(dir: &Path) -> usize {
    files_under(&dir.join("chunks")).len()
}

/// Opens a writable session on `branch`, sets every `(key, value)`, commits with `message`.
pub async fn write_commit(
    repo: &Repository,
    branch: &str,
    items: &[(&str, Bytes)],
    message: &str,
) -> SnapshotId {
    let session = repo.writable_session(branch).await.expect("writable session");
    let store = session.store();
    for (k, v) in items {
        store.set(k, v.clone()).await.unwrap_or_else(|e| panic!("set {k}: {e}"));
    }
    session.commit(message, None, false).await.expect("commit")
}

/// Reads `key` through a read-only session at `v`.
pub async fn read_at(repo: &Repository, v: &VersionInfo, key: &str) -> Option<Bytes> {
    let session = repo.readonly_session(v).await.expect("readonly session");
    session.store().get(key, None).await.expect("get")
}
