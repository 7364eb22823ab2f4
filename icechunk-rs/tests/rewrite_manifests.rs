//! `Repository::rewrite_manifests`: every shard laid out again in the block shape the current
//! configuration gives, the data unchanged, no chunk object written.

mod common;

use common::*;
use icechunk::conflicts::ConflictDetector;
use icechunk::{ErrorKind, Repository, RepositoryConfig};

const N: u64 = 8;

/// A local repository whose shards hold at most `refs` references, never inside the snapshot.
async fn repo_with_shards_of(dir: &std::path::Path, refs: u32, create: bool) -> Repository {
    let config = RepositoryConfig {
        manifest_shard_size: refs,
        inline_manifest_threshold_bytes: 0,
        // Chunk objects, not inline chunks, so that the count of chunk objects means something.
        inline_chunk_threshold_bytes: 0,
        ..Default::default()
    };
    if create {
        Repository::create(local_storage(dir), Some(config)).await.unwrap()
    } else {
        Repository::open(local_storage(dir), Some(config)).await.unwrap()
    }
}

fn chunk_key(i: u64, j: u64) -> String {
    format!("arr/c/{i}/{j}")
}

/// An 8x8 grid of 1x1 chunks, every chunk written.
async fn fill(repo: &Repository) {
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set("zarr.json", group_json()).await.unwrap();
    store.set("arr/zarr.json", array_json(&[N, N], &[1, 1], "uint64")).await.unwrap();
    for i in 0..N {
        for j in 0..N {
            store.set(&chunk_key(i, j), pattern(i * N + j, 8)).await.unwrap();
        }
    }
    session.commit("filled", None, false).await.unwrap();
}

async fn assert_all_chunks(repo: &Repository) {
    for i in 0..N {
        for j in 0..N {
            let got = read_at(repo, &main_branch(), &chunk_key(i, j)).await;
            assert_eq!(got, Some(pattern(i * N + j, 8)), "chunk {i},{j}");
        }
    }
}

async fn manifest_count(repo: &Repository) -> usize {
    let tip = repo.lookup_branch("main").await.unwrap();
    repo.list_manifest_files(&tip).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn rewrite_lays_out_every_shard_anew_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let small = repo_with_shards_of(dir.path(), 4, true).await;
    fill(&small).await;
    assert_eq!(manifest_count(&small).await, 16);
    let before = small.lookup_branch("main").await.unwrap();
    let chunks_before = chunk_objects(dir.path());

    let large = repo_with_shards_of(dir.path(), 64, false).await;
    let mut metadata = serde_json::Map::new();
    metadata.insert("by".into(), "test".into());
    let rewritten = large.rewrite_manifests("main", "one shard", metadata, false).await.unwrap();

    assert_eq!(large.lookup_branch("main").await.unwrap(), rewritten);
    let files = large.list_manifest_files(&rewritten).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].num_chunk_refs, N * N);
    assert_all_chunks(&large).await;
    // Only manifests were written; the old snapshot still reads through its old shards.
    assert_eq!(chunk_objects(dir.path()), chunks_before);
    assert_eq!(small.list_manifest_files(&before).await.unwrap().len(), 16);
    // The rewrite changes no data: its diff is empty. Its metadata records the layout.
    let diff = large.diff(&snap(&before), &snap(&rewritten)).await.unwrap();
    assert!(diff.updated_chunks.is_empty() && diff.updated_arrays.is_empty(), "{diff:?}");
    let info = large.lookup_snapshot(&rewritten).await.unwrap();
    assert_eq!((info.message.as_str(), info.parent_id), ("one shard", Some(before)));
    assert_eq!(info.metadata["by"], "test");
    assert_eq!(info.metadata["manifest_layout"]["manifest_shard_size"], 64);

    // Back to small shards, amending the rewrite: the tip is replaced, not followed.
    let again = repo_with_shards_of(dir.path(), 4, false).await;
    let amended = again.rewrite_manifests("main", "small again", Default::default(), true).await.unwrap();
    assert_eq!(again.lookup_snapshot(&amended).await.unwrap().parent_id, Some(before));
    assert_eq!(manifest_count(&again).await, 16);
    assert_all_chunks(&again).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_from_before_a_rewrite_rebases_onto_it() {
    let dir = tempfile::tempdir().unwrap();
    let small = repo_with_shards_of(dir.path(), 4, true).await;
    fill(&small).await;
    let stale = small.writable_session("main").await.unwrap();
    stale.store().set(&chunk_key(7, 7), pattern(1000, 8)).await.unwrap();
    stale.store().delete(&chunk_key(0, 0)).await.unwrap();

    let large = repo_with_shards_of(dir.path(), 64, false).await;
    large.rewrite_manifests("main", "one shard", Default::default(), false).await.unwrap();

    assert_kind(stale.commit("stale", None, false).await, ErrorKind::Conflict);
    stale.rebase(&ConflictDetector).await.unwrap();
    stale.commit("after rebase", None, false).await.unwrap();
    assert_eq!(read_at(&large, &main_branch(), &chunk_key(7, 7)).await, Some(pattern(1000, 8)));
    assert_eq!(read_at(&large, &main_branch(), &chunk_key(0, 0)).await, None);
    assert_eq!(read_at(&large, &main_branch(), &chunk_key(3, 4)).await, Some(pattern(3 * N + 4, 8)));
    // The rebased commit kept the rewritten block shape: still one shard.
    assert_eq!(manifest_count(&large).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rewrite_is_refused_where_a_commit_would_be() {
    let repo = mem_repo().await;
    assert_kind(repo.rewrite_manifests("nope", "m", Default::default(), false).await, ErrorKind::RefNotFound);
    // The repository's first snapshot cannot be amended.
    assert_kind(repo.rewrite_manifests("main", "m", Default::default(), true).await, ErrorKind::SessionState);
    // An empty repository rewrites to an equal, empty snapshot.
    let tip = repo.rewrite_manifests("main", "nothing to lay out", Default::default(), false).await.unwrap();
    assert_eq!(repo.lookup_branch("main").await.unwrap(), tip);
}
