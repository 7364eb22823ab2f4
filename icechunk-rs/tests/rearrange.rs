//! Rearrange sessions: moving groups and arrays with their subtrees, keeping their chunks.

mod common;

use common::*;
use icechunk::conflicts::{Conflict, ConflictDetector};
use icechunk::{ErrorKind, IcechunkError, Repository};

/// Root group; group `/g` with array `/g/a` (two 1 KiB chunks: chunk objects) and group
/// `/g/sub`; array `/x`.
async fn hierarchy(repo: &Repository) -> icechunk::SnapshotId {
    write_commit(
        repo,
        "main",
        &[
            ("zarr.json", group_json()),
            ("g/zarr.json", group_json()),
            ("g/sub/zarr.json", group_json()),
            ("g/a/zarr.json", array_json(&[2048], &[1024], "uint8")),
            ("g/a/c/0", pattern(1, 1024)),
            ("g/a/c/1", pattern(2, 1024)),
            ("x/zarr.json", array_json(&[4], &[2], "uint8")),
        ],
        "hierarchy",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_renames_a_subtree_and_copies_no_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let before = hierarchy(&repo).await;
    let chunks_before = chunk_objects(dir.path());
    assert_eq!(chunks_before, 2);
    let manifests_before = files_under(&dir.path().join("manifests"));

    let session = repo.rearrange_session("main").await.unwrap();
    assert!(session.is_rearrange() && !session.read_only());
    session.move_node("/g", "/h").unwrap();
    // The session reads the moved hierarchy at once.
    assert_eq!(session.store().get("h/a/c/1", None).await.unwrap(), Some(pattern(2, 1024)));
    assert_eq!(session.store().get("g/a/c/1", None).await.unwrap(), None);
    let status = session.status();
    let pairs =
        |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(status.moved_nodes, pairs(&[("/g", "/h"), ("/g/a", "/h/a"), ("/g/sub", "/h/sub")]));
    // A second move of a moved node: one pair, from its first path.
    session.move_node("/h/a", "/b").unwrap();
    assert_eq!(session.status().moved_nodes, pairs(&[("/g/a", "/b"), ("/g", "/h"), ("/g/sub", "/h/sub")]));
    let node_id = repo.readonly_session(&main_branch()).await.unwrap().node_id("/g/a").unwrap();
    assert_eq!(session.node_id("/b").unwrap(), node_id);
    let after = session.commit("moved", None, false).await.unwrap();

    assert_eq!(chunk_objects(dir.path()), chunks_before, "a move writes no chunk");
    assert_eq!(files_under(&dir.path().join("manifests")), manifests_before, "nor a manifest");
    for (key, value) in
        [("b/c/0", Some(pattern(1, 1024))), ("b/c/1", Some(pattern(2, 1024))), ("g/a/c/0", None)]
    {
        assert_eq!(read_at(&repo, &main_branch(), key).await, value, "{key}");
    }
    assert!(read_at(&repo, &main_branch(), "h/sub/zarr.json").await.is_some());
    assert!(read_at(&repo, &main_branch(), "g/zarr.json").await.is_none());
    let diff = repo.diff(&snap(&before), &snap(&after)).await.unwrap();
    assert_eq!(diff.moved_nodes, pairs(&[("/g/a", "/b"), ("/g", "/h"), ("/g/sub", "/h/sub")]));
    assert!(diff.new_arrays.is_empty() && diff.deleted_groups.is_empty() && diff.updated_chunks.is_empty());
    // The old version still reads at the old paths.
    assert_eq!(read_at(&repo, &snap(&before), "g/a/c/0").await, Some(pattern(1, 1024)));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_moves_change_nothing() {
    let repo = mem_repo().await;
    let tip = hierarchy(&repo).await;
    let session = repo.rearrange_session("main").await.unwrap();
    let rearrange = |r: Result<(), IcechunkError>| match r {
        Err(IcechunkError::Rearrange(e)) => e.code(),
        other => panic!("expected a refused move, got {other:?}"),
    };
    assert_eq!(rearrange(session.move_node("/g", "/x")), "move-wont-overwrite");
    assert_eq!(err_kind(session.move_node("/g", "/x")), ErrorKind::AlreadyExists);
    assert_eq!(rearrange(session.move_node("/g", "/nope/h")), "move-destination-parent-missing");
    assert_eq!(rearrange(session.move_node("/g", "/x/h")), "move-destination-parent-not-group");
    assert_eq!(rearrange(session.move_node("/g", "/g/sub/h")), "move-into-self-or-descendant");
    assert_eq!(rearrange(session.move_node("/g", "/g")), "move-into-self-or-descendant");
    assert_eq!(rearrange(session.move_node("/", "/h")), "move-into-self-or-descendant");
    assert_eq!(err_kind(session.move_node("/g", "/nope/h")), ErrorKind::SessionState);
    assert_kind(session.move_node("/nope", "/h"), ErrorKind::NodeNotFound);
    assert_kind(session.move_node("g", "/h"), ErrorKind::InvalidInput);
    assert!(!session.has_uncommitted_changes());
    // Writes other than moves are refused in a rearrange session.
    let write = session.store().set("y/zarr.json", group_json()).await;
    assert_eq!(rearrange(write), "rearrange-session-only");
    assert!(session.fork().is_err());
    // And moves outside one.
    let writable = repo.writable_session("main").await.unwrap();
    assert_eq!(rearrange(writable.move_node("/g", "/h")), "non-rearrange-session");
    assert_kind(session.commit("nothing", None, false).await, ErrorKind::SessionState);
    assert_eq!(repo.lookup_branch("main").await.unwrap(), tip);
    // A discarded move is forgotten.
    session.move_node("/x", "/y").unwrap();
    session.discard_changes().unwrap();
    assert!(session.store().get("x/zarr.json", None).await.unwrap().is_some());
    assert!(session.status().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feature_flag_turns_rearrange_sessions_off() {
    let repo = mem_repo().await;
    hierarchy(&repo).await;
    repo.set_feature_flag("move_node", Some(false)).await.unwrap();
    assert_kind(repo.rearrange_session("main").await, ErrorKind::SessionState);
    repo.set_feature_flag("move_node", None).await.unwrap();
    repo.rearrange_session("main").await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_are_never_rebased() {
    let repo = mem_repo().await;
    hierarchy(&repo).await;
    let mover = repo.rearrange_session("main").await.unwrap();
    let writer = repo.writable_session("main").await.unwrap();
    writer.store().set("g/a/c/0", pattern(9, 1024)).await.unwrap();
    let theirs = writer.commit("theirs", None, false).await.unwrap();
    mover.move_node("/g", "/h").unwrap();
    assert_kind(mover.commit("move", None, false).await, ErrorKind::Conflict);
    match mover.commit_rebasing("move", None, false, &ConflictDetector, 3).await {
        Err(IcechunkError::RebaseFailed { conflicts, .. }) => {
            assert!(conflicts.contains(&Conflict::MoveOperationCannotBeRebased { path: "/g".into() }));
        }
        other => panic!("expected RebaseFailed, got {other:?}"),
    }
    assert_eq!(repo.lookup_branch("main").await.unwrap(), theirs);
    assert!(mover.has_uncommitted_changes());

    // The other way: a change to a node a landed move took elsewhere is not rebased either.
    let writer = repo.writable_session("main").await.unwrap();
    writer.store().set("g/a/c/1", pattern(7, 1024)).await.unwrap();
    let mover = repo.rearrange_session("main").await.unwrap();
    mover.move_node("/g", "/h").unwrap();
    mover.commit("move", None, false).await.unwrap();
    match writer.rebase(&ConflictDetector).await {
        Err(IcechunkError::RebaseFailed { conflicts, .. }) => {
            assert_eq!(conflicts, vec![Conflict::MoveOperationCannotBeRebased { path: "/g/a".into() }]);
        }
        other => panic!("expected RebaseFailed, got {other:?}"),
    }
    // A change elsewhere rebases as usual, and lands beside the move.
    let writer = repo.writable_session("main").await.unwrap();
    let mover = repo.rearrange_session("main").await.unwrap();
    mover.move_node("/h", "/g2").unwrap();
    mover.commit("move again", None, false).await.unwrap();
    writer.store().set("x/c/0", pattern(3, 2)).await.unwrap();
    writer.commit_rebasing("x", None, false, &ConflictDetector, 3).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "x/c/0").await, Some(pattern(3, 2)));
    assert_eq!(read_at(&repo, &main_branch(), "g2/a/c/0").await, Some(pattern(9, 1024)));
}

#[tokio::test(flavor = "multi_thread")]
async fn amend_folds_moves() {
    let repo = mem_repo().await;
    let before = hierarchy(&repo).await;
    let first = repo.rearrange_session("main").await.unwrap();
    first.move_node("/g", "/h").unwrap();
    first.commit("move", None, false).await.unwrap();
    let second = repo.rearrange_session("main").await.unwrap();
    second.move_node("/h", "/g").unwrap();
    second.move_node("/x", "/y").unwrap();
    let amended = second.amend("moves", None, false).await.unwrap();
    let diff = repo.diff(&snap(&before), &snap(&amended)).await.unwrap();
    assert_eq!(diff.moved_nodes, vec![("/x".to_string(), "/y".to_string())]);
    let log = repo.inspect_transaction_log(&amended).await.unwrap();
    assert_eq!(log["moved_nodes"].as_array().map(Vec::len), Some(1), "{log}");
}
