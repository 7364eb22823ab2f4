//! Forks for distributed writers: they travel as bytes, write disjoint chunks, and merge back.

mod common;

use icechunk::{ErrorKind, IcechunkError, Session};

use common::*;

async fn send(session: &Session) -> Session {
    Session::from_bytes(&session.to_bytes().await.expect("serializes")).await.expect("deserializes")
}

#[tokio::test(flavor = "multi_thread")]
async fn forks_write_in_parallel_and_merge_into_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    write_commit(
        &repo,
        "main",
        &[("zarr.json", group_json()), ("a/zarr.json", array_json(&[8, 8], &[1, 1], "uint8"))],
        "setup",
    )
    .await;

    let session = repo.writable_session("main").await.unwrap();
    let mut forks = Vec::new();
    for worker in 0..4u64 {
        // Each worker gets the fork as bytes, as a remote process would.
        let fork = send(&session.fork().unwrap()).await;
        for j in 0..8 {
            fork.store().set(&format!("a/c/{worker}/{j}"), pattern(worker * 8 + j, 600)).await.unwrap();
        }
        assert_kind(fork.commit("a fork cannot commit", None, false).await, ErrorKind::SessionState);
        forks.push(send(&fork).await);
    }
    session.merge(&forks).unwrap();
    assert_eq!(session.status().updated_chunks["/a"].len(), 32);
    session.commit("merged", None, false).await.unwrap();
    for worker in 0..4u64 {
        for j in 0..8 {
            let got = read_at(&repo, &main_branch(), &format!("a/c/{worker}/{j}")).await.unwrap();
            assert_eq!(got, pattern(worker * 8 + j, 600));
        }
    }
}

#[tokio::test]
async fn forks_that_wrote_the_same_chunk_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    write_commit(&repo, "main", &[("a/zarr.json", array_json(&[4], &[1], "uint8"))], "setup").await;
    let session = repo.writable_session("main").await.unwrap();
    let (one, two) = (session.fork().unwrap(), session.fork().unwrap());
    one.store().set("a/c/1", pattern(1, 4)).await.unwrap();
    two.store().set("a/c/1", pattern(2, 4)).await.unwrap();
    two.store().set("a/c/2", pattern(3, 4)).await.unwrap();
    match session.merge(&[one, two]).unwrap_err() {
        IcechunkError::MergeConflict { conflicts } => {
            assert_eq!(conflicts, vec!["two forks wrote chunk [1] of /a".to_string()])
        }
        other => panic!("{other}"),
    }
    assert!(!session.has_uncommitted_changes(), "a refused merge merges nothing");
}

#[tokio::test]
async fn what_cannot_travel_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let writable = repo.writable_session("main").await.unwrap();
    let err = writable.to_bytes().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SessionState);
    assert!(err.to_string().contains("fork()") && err.to_string().contains("to_icechunk"), "{err}");

    let memory = mem_repo().await;
    let fork = memory.writable_session("main").await.unwrap().fork().unwrap();
    assert_kind(fork.to_bytes().await, ErrorKind::InvalidInput);

    write_commit(
        &repo,
        "main",
        &[("a/zarr.json", array_json(&[4], &[1], "uint8")), ("a/c/0", pattern(9, 900))],
        "data",
    )
    .await;
    let reader = repo.readonly_session(&main_branch()).await.unwrap();
    let copy = send(&reader).await;
    assert!(copy.read_only());
    assert_eq!(copy.snapshot_id(), reader.snapshot_id());
    assert_eq!(copy.store().get("a/c/0", None).await.unwrap().unwrap(), pattern(9, 900));
}

#[tokio::test]
async fn forks_carry_the_sessions_metadata_changes_but_not_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let session = repo.writable_session("main").await.unwrap();
    session.store().set("zarr.json", group_json()).await.unwrap();
    session.store().set("a/zarr.json", array_json(&[4], &[1], "uint8")).await.unwrap();
    session.store().set("a/c/0", pattern(1, 4)).await.unwrap();
    let fork = send(&session.fork().unwrap()).await;
    assert!(fork.is_fork());
    assert_eq!(fork.store().get("a/c/0", None).await.unwrap(), None, "chunks stay with the session");
    fork.store().set("a/c/1", pattern(2, 4)).await.unwrap();
    session.merge(&[send(&fork).await]).unwrap();
    session.commit("merged", None, false).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await.unwrap(), pattern(1, 4));
    assert_eq!(read_at(&repo, &main_branch(), "a/c/1").await.unwrap(), pattern(2, 4));
}
