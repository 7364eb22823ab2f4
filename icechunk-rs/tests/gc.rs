//! Snapshot expiration and garbage collection (spec §13): what is unreachable and old goes,
//! everything a ref or a writing session needs stays.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{Duration, Utc};
use common::*;
use icechunk::repository::GcOptions;
use icechunk::{ErrorKind, Repository, RepositoryConfig};

/// A local repository whose chunks are always objects (no inline chunks).
async fn repo(dir: &Path) -> Repository {
    let config = RepositoryConfig { inline_chunk_threshold_bytes: 0, ..Default::default() };
    Repository::create(local_storage(dir), Some(config)).await.unwrap()
}

async fn setup(repo: &Repository) {
    write_commit(
        repo,
        "main",
        &[("zarr.json", group_json()), ("a/zarr.json", array_json(&[4], &[1], "uint64"))],
        "array",
    )
    .await;
}

/// Writes chunk 0 with `seed` and commits.
async fn overwrite(repo: &Repository, seed: u64) -> icechunk::SnapshotId {
    write_commit(repo, "main", &[("a/c/0", pattern(seed, 8))], &format!("write {seed}")).await
}

/// The object files under `folder` of the repository, by name.
fn objects(dir: &Path, folder: &str) -> BTreeSet<String> {
    files_under(&dir.join(folder)).into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

fn now_plus(seconds: i64) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::seconds(seconds)
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_cuts_history_and_gc_deletes_only_what_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    let mut ids = Vec::new();
    for seed in [1, 2, 3] {
        ids.push(overwrite(&repo, seed).await);
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newest = overwrite(&repo, 4).await;
    assert_eq!(chunk_objects(dir.path()), 4);

    // Nothing is unreachable yet: a collection deletes nothing.
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(summary.chunks_deleted + summary.snapshots_deleted, 0, "{summary:?}");

    let root = repo.root_snapshot().await.unwrap();
    let expired = repo.expire_snapshots(cutoff, false, false).await.unwrap();
    // The array's creation and the three old writes expire; the root and the tip stay.
    assert_eq!(expired.len(), 4, "{expired:?}");
    assert!(ids.iter().all(|id| expired.contains(id)));
    assert_eq!(ancestry_ids(&repo, &main_branch()).await, vec![newest, root]);
    // Expired, not yet collected: still readable by id.
    assert_eq!(read_at(&repo, &snap(&ids[0]), "a/c/0").await, Some(pattern(1, 8)));

    let dry = GcOptions { dry_run: true, ..GcOptions::new(now_plus(0)) };
    let would = repo.garbage_collect(&dry).await.unwrap();
    assert_eq!((would.chunks_deleted, would.snapshots_deleted, would.transaction_logs_deleted), (3, 4, 4));
    assert_eq!(chunk_objects(dir.path()), 4, "a dry run deletes nothing");

    let done = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(done.chunks_deleted, 3);
    assert_eq!(done.snapshots_deleted, 4);
    assert!(done.bytes_deleted > 0);
    assert_eq!(chunk_objects(dir.path()), 1);
    // What is left is exactly what the refs reach.
    let kept: BTreeSet<String> = [newest, root].iter().map(|s| s.to_string()).collect();
    assert_eq!(objects(dir.path(), "snapshots"), kept);
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await, Some(pattern(4, 8)));
    assert_kind(repo.readonly_session(&snap(&ids[0])).await, ErrorKind::SnapshotNotFound);
    // A second collection finds nothing.
    let again = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert_eq!(again.chunks_deleted + again.snapshots_deleted, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_open_across_a_collection_commits_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    // A writer uploads chunks and keeps its session open...
    let session = repo.writable_session("main").await.unwrap();
    for i in 0..4 {
        session.store().set(&format!("a/c/{i}"), pattern(10 + i, 8)).await.unwrap();
    }
    session.wait_for_uploads().await.unwrap();
    // ... while a collection with no grace period at all runs: the chunks are unreachable
    // and older than the cut-off, but the session's lease keeps them.
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(1))).await.unwrap();
    assert_eq!(summary.chunks_deleted, 0, "{summary:?}");
    assert_eq!(summary.objects_kept_for_sessions, 4);
    session.commit("late", None, false).await.unwrap();
    for i in 0..4 {
        assert_eq!(read_at(&repo, &main_branch(), &format!("a/c/{i}")).await, Some(pattern(10 + i, 8)));
    }
    // The commit released the lease (in the background).
    for _ in 0..100 {
        if objects(dir.path(), "leases").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(objects(dir.path(), "leases").is_empty());

    // An abandoned session: its lease goes when it is dropped, then its chunks are garbage.
    let abandoned = repo.writable_session("main").await.unwrap();
    abandoned.store().set("a/c/0", pattern(99, 8)).await.unwrap();
    abandoned.wait_for_uploads().await.unwrap();
    drop(abandoned);
    for _ in 0..100 {
        if objects(dir.path(), "leases").is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(1))).await.unwrap();
    assert_eq!(summary.chunks_deleted, 1, "{summary:?}");
    for i in 0..4 {
        assert_eq!(read_at(&repo, &main_branch(), &format!("a/c/{i}")).await, Some(pattern(10 + i, 8)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn expiry_can_delete_old_refs_but_never_main() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    let first = overwrite(&repo, 1).await;
    repo.create_branch("old-branch", &first).await.unwrap();
    repo.create_tag("old-tag", &first).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    overwrite(&repo, 2).await;

    // Kept refs keep their tips.
    let expired = repo.expire_snapshots(cutoff, false, false).await.unwrap();
    assert!(!expired.contains(&first));
    assert_eq!(repo.lookup_tag("old-tag").await.unwrap(), first);

    let expired = repo.expire_snapshots(cutoff, true, true).await.unwrap();
    assert!(expired.contains(&first), "{expired:?}");
    assert_kind(repo.lookup_tag("old-tag").await, ErrorKind::RefNotFound);
    assert_kind(repo.lookup_branch("old-branch").await, ErrorKind::RefNotFound);
    assert!(repo.lookup_branch("main").await.is_ok());
    let summary = repo.garbage_collect(&GcOptions::new(now_plus(0))).await.unwrap();
    assert!(summary.snapshots_deleted >= 2, "{summary:?}");
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await, Some(pattern(2, 8)));
}

#[tokio::test(flavor = "multi_thread")]
async fn cut_offs_in_the_future_are_refused_and_delete_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    setup(&repo).await;
    overwrite(&repo, 1).await;
    assert_kind(repo.garbage_collect(&GcOptions::new(now_plus(3600))).await, ErrorKind::InvalidInput);
    assert_kind(repo.expire_snapshots(now_plus(3600), false, false).await, ErrorKind::InvalidInput);
    assert_eq!(ancestry_ids(&repo, &main_branch()).await.len(), 3);
    assert_eq!(chunk_objects(dir.path()), 1);
}
