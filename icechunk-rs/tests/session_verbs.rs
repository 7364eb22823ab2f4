//! Amend, flush (an anonymous snapshot), node ids, chunk kinds and chunk coordinates.

mod common;

use bytes::Bytes;
use common::*;
use icechunk::session::ChunkKind;
use icechunk::ErrorKind;

const ARR: &str = "arr/zarr.json";

async fn with_array(repo: &icechunk::Repository) -> icechunk::SnapshotId {
    write_commit(
        repo,
        "main",
        &[
            ("zarr.json", group_json()),
            (ARR, array_json(&[4, 4], &[2, 2], "uint8")),
            ("arr/c/0/0", pattern(1, 4)),
        ],
        "array",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn amend_replaces_the_tip_and_keeps_both_changes() {
    let repo = mem_repo().await;
    let first = repo.lookup_branch("main").await.unwrap();
    let second = with_array(&repo).await;

    let session = repo.writable_session("main").await.unwrap();
    session.store().set("arr/c/1/1", pattern(2, 4)).await.unwrap();
    let amended = session.amend("array, amended", None, false).await.unwrap();
    assert!(session.read_only());

    // The tip is the amended snapshot, whose parent is the first snapshot: `second` left history.
    assert_eq!(repo.lookup_branch("main").await.unwrap(), amended);
    let history = ancestry_ids(&repo, &main_branch()).await;
    assert_eq!(history, vec![amended, first]);
    let info = repo.lookup_snapshot(&amended).await.unwrap();
    assert_eq!((info.message.as_str(), info.parent_id), ("array, amended", Some(first)));
    // Both commits' changes are in it, and in its transaction log (the diff from the parent).
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/0/0").await, Some(pattern(1, 4)));
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/1/1").await, Some(pattern(2, 4)));
    let diff = repo.diff(&snap(&first), &snap(&amended)).await.unwrap();
    assert_eq!(diff.new_arrays.iter().collect::<Vec<_>>(), vec!["/arr"]);
    assert_eq!(diff.updated_chunks["/arr"].iter().cloned().collect::<Vec<_>>(), vec![vec![0, 0], vec![1, 1]]);
    // The replaced snapshot is still readable by id.
    assert_eq!(read_at(&repo, &snap(&second), "arr/c/1/1").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn amend_is_refused_when_the_tip_moved_or_on_the_first_snapshot() {
    let repo = mem_repo().await;
    let empty = repo.writable_session("main").await.unwrap();
    empty.store().set("zarr.json", group_json()).await.unwrap();
    assert_kind(empty.amend("no parent", None, false).await, ErrorKind::SessionState);

    with_array(&repo).await;
    let stale = repo.writable_session("main").await.unwrap();
    stale.store().set("arr/c/1/0", pattern(3, 4)).await.unwrap();
    let tip = write_commit(&repo, "main", &[("arr/c/0/1", pattern(4, 4))], "moved").await;
    assert_kind(stale.amend("stale", None, false).await, ErrorKind::Conflict);
    assert_eq!(repo.lookup_branch("main").await.unwrap(), tip);
    // Nothing was lost: the session still holds its change.
    assert!(stale.has_uncommitted_changes());
    let nothing = repo.writable_session("main").await.unwrap();
    assert_kind(nothing.amend("empty", None, false).await, ErrorKind::SessionState);
    nothing.amend("only the message", None, true).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_writes_a_snapshot_no_branch_points_at() {
    let repo = mem_repo().await;
    let tip = with_array(&repo).await;
    let session = repo.writable_session("main").await.unwrap();
    session.store().set("arr/c/1/1", pattern(5, 4)).await.unwrap();
    let flushed = session.flush("side snapshot", None).await.unwrap();
    assert!(session.read_only());
    assert_eq!(session.snapshot_id(), flushed);
    assert_eq!(repo.lookup_branch("main").await.unwrap(), tip, "no branch moved");
    assert_eq!(read_at(&repo, &snap(&flushed), "arr/c/1/1").await, Some(pattern(5, 4)));
    assert_eq!(repo.lookup_snapshot(&flushed).await.unwrap().parent_id, Some(tip));
    repo.create_tag("side", &flushed).await.unwrap();
    assert_eq!(read_at(&repo, &tag("side"), "arr/c/1/1").await, Some(pattern(5, 4)));
}

#[tokio::test(flavor = "multi_thread")]
async fn node_ids_chunk_kinds_and_coordinates() {
    let repo = mem_repo().await;
    with_array(&repo).await;
    let session = repo.writable_session("main").await.unwrap();
    let id = session.node_id("/arr").unwrap();
    assert_eq!(session.node_id("/arr/").unwrap(), id);
    assert_ne!(session.node_id("/").unwrap(), id);
    assert_kind(session.node_id("/missing"), ErrorKind::NodeNotFound);
    assert_kind(session.node_id("arr"), ErrorKind::InvalidInput);
    assert_kind(session.node_id("/a/../b"), ErrorKind::InvalidInput);

    session.store().set("arr/c/1/0", Bytes::from(vec![9u8; 4096])).await.unwrap();
    assert_eq!(session.chunk_kind("/arr", &[0, 0]).await.unwrap(), ChunkKind::Inline);
    assert_eq!(session.chunk_kind("/arr", &[1, 0]).await.unwrap(), ChunkKind::Native);
    assert_eq!(session.chunk_kind("/arr", &[1, 1]).await.unwrap(), ChunkKind::Uninitialized);
    assert_kind(session.chunk_kind("/", &[0]).await, ErrorKind::InvalidInput);
    assert_eq!(session.chunk_coordinates("/arr").await.unwrap(), vec![vec![0, 0], vec![1, 0]]);
    // A node keeps its id across metadata updates.
    session.store().set(ARR, array_json(&[6, 4], &[2, 2], "uint8")).await.unwrap();
    assert_eq!(session.node_id("/arr").unwrap(), id);
}
