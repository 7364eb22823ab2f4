//! Conflict detection and rebase: per-chunk conflicts, solvers, concurrent committers that
//! rebase, and a property test against a model of "theirs, then ours".

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use icechunk::conflicts::{BasicConflictSolver, Conflict, ConflictDetector, VersionSelection};
use icechunk::{IcechunkError, Repository};
use proptest::prelude::*;

use common::*;

async fn repo_with_array() -> Repository {
    let repo = mem_repo().await;
    write_commit(
        &repo,
        "main",
        &[("zarr.json", group_json()), ("a/zarr.json", array_json(&[8], &[1], "uint8"))],
        "setup",
    )
    .await;
    repo
}

fn chunk(v: u8) -> Bytes {
    Bytes::from(vec![v; 1])
}

/// Two sessions from the same base: `theirs` commits first, `ours` is returned uncommitted.
async fn race(repo: &Repository, ours: &[(&str, Bytes)], theirs: &[(&str, Bytes)]) -> icechunk::Session {
    let our_session = repo.writable_session("main").await.unwrap();
    write_commit(repo, "main", theirs, "theirs").await;
    for (k, v) in ours {
        our_session.store().set(k, v.clone()).await.unwrap();
    }
    let err = our_session.commit("ours", None, false).await.unwrap_err();
    assert!(matches!(err, IcechunkError::Conflict { .. }), "{err}");
    our_session
}

fn basic(on_chunk: VersionSelection) -> BasicConflictSolver {
    BasicConflictSolver { on_chunk_conflict: on_chunk, ..Default::default() }
}

#[tokio::test]
async fn disjoint_chunks_rebase_cleanly() {
    let repo = repo_with_array().await;
    let ours = race(&repo, &[("a/c/1", chunk(1))], &[("a/c/2", chunk(2))]).await;
    ours.rebase(&ConflictDetector).await.unwrap();
    ours.commit("ours", None, false).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "a/c/1").await.unwrap(), chunk(1));
    assert_eq!(read_at(&repo, &main_branch(), "a/c/2").await.unwrap(), chunk(2));
    assert_eq!(ancestry(&repo, &main_branch()).await.len(), 4);
}

#[tokio::test]
async fn same_chunk_fails_the_detector_and_follows_the_basic_solver() {
    let repo = repo_with_array().await;
    let ours = race(&repo, &[("a/c/3", chunk(10)), ("a/c/4", chunk(11))], &[("a/c/3", chunk(20))]).await;
    match ours.rebase(&ConflictDetector).await.unwrap_err() {
        IcechunkError::RebaseFailed { conflicts, .. } => {
            assert_eq!(conflicts.len(), 1);
            assert_eq!(conflicts[0].kind(), "ChunkDoubleUpdate");
            assert_eq!(conflicts[0].path(), "/a");
            assert_eq!(conflicts[0].chunk_coordinates(), vec![vec![3]]);
        }
        other => panic!("expected RebaseFailed, got {other}"),
    }
    // The failed rebase changed nothing: a solver can still be applied.
    assert!(ours.rebase(&basic(VersionSelection::Fail)).await.is_err());
    ours.rebase(&basic(VersionSelection::UseOurs)).await.unwrap();
    ours.commit("ours", None, false).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "a/c/3").await.unwrap(), chunk(10));

    let ours = race(&repo, &[("a/c/3", chunk(30)), ("a/c/5", chunk(31))], &[("a/c/3", chunk(40))]).await;
    ours.rebase(&basic(VersionSelection::UseTheirs)).await.unwrap();
    ours.commit("ours", None, false).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "a/c/3").await.unwrap(), chunk(40));
    assert_eq!(read_at(&repo, &main_branch(), "a/c/5").await.unwrap(), chunk(31));
}

#[tokio::test]
async fn node_conflicts_are_reported_and_not_solved() {
    let repo = repo_with_array().await;
    let resized = array_json(&[16], &[1], "uint8");
    // Both change the array's metadata.
    let ours = race(&repo, &[("a/zarr.json", resized.clone())], &[("a/zarr.json", resized.clone())]).await;
    let err = ours.rebase(&BasicConflictSolver::default()).await.unwrap_err();
    assert!(err.to_string().contains("ZarrMetadataDoubleUpdate at /a"), "{err}");
    // Both create a node at one path.
    let ours = race(&repo, &[("b/zarr.json", group_json())], &[("b/zarr.json", group_json())]).await;
    match ours.rebase(&BasicConflictSolver::default()).await.unwrap_err() {
        IcechunkError::RebaseFailed { conflicts, .. } => {
            assert_eq!(conflicts, vec![Conflict::NewNodeConflictsWithExistingNode { path: "/b".into() }])
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn deletes_against_updates() {
    let repo = repo_with_array().await;
    // They write a chunk; we delete the array.
    let ours = repo.writable_session("main").await.unwrap();
    write_commit(&repo, "main", &[("a/c/0", chunk(5))], "theirs").await;
    ours.store().delete("a/zarr.json").await.unwrap();
    let strict = BasicConflictSolver { fail_on_delete_of_updated_array: true, ..Default::default() };
    let err = ours.rebase(&strict).await.unwrap_err();
    assert!(err.to_string().contains("DeleteOfUpdatedArray at /a"), "{err}");
    ours.rebase(&BasicConflictSolver::default()).await.unwrap();
    ours.commit("delete", None, false).await.unwrap();
    assert!(read_at(&repo, &main_branch(), "a/zarr.json").await.is_none());

    // They delete the array; we write a chunk into it.
    let repo = repo_with_array().await;
    let ours = repo.writable_session("main").await.unwrap();
    let theirs = repo.writable_session("main").await.unwrap();
    theirs.store().delete("a/zarr.json").await.unwrap();
    theirs.commit("delete", None, false).await.unwrap();
    ours.store().set("a/c/0", chunk(1)).await.unwrap();
    let err = ours.rebase(&BasicConflictSolver::default()).await.unwrap_err();
    assert!(err.to_string().contains("ChunksUpdatedInDeletedArray"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_committers_that_rebase_all_land() {
    let repo = repo_with_array().await;
    let mut tasks = Vec::new();
    for writer in 0..8u8 {
        let repo = repo.clone();
        tasks.push(tokio::spawn(async move {
            let session = repo.writable_session("main").await.unwrap();
            session.store().set(&format!("a/c/{writer}"), chunk(writer + 100)).await.unwrap();
            session.commit_rebasing("disjoint", None, false, &ConflictDetector, 100).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let history = ancestry_ids(&repo, &main_branch()).await;
    for id in &ids {
        assert!(history.contains(id));
    }
    assert_eq!(history.len(), 2 + 8);
    for writer in 0..8u8 {
        assert_eq!(
            read_at(&repo, &main_branch(), &format!("a/c/{writer}")).await.unwrap(),
            chunk(writer + 100)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebased_commit_records_its_attempts_and_lands_even_when_the_solver_drops_everything() {
    let repo = repo_with_array().await;
    let ours = repo.writable_session("main").await.unwrap();
    let theirs = repo.writable_session("main").await.unwrap();
    theirs.store().set("a/c/0", chunk(1)).await.unwrap();
    theirs.commit("theirs", None, false).await.unwrap();
    ours.store().set("a/c/0", chunk(2)).await.unwrap();
    let mut metadata = serde_json::Map::new();
    metadata.insert("by".into(), "us".into());
    let solver = basic(VersionSelection::UseTheirs);
    let id = ours.commit_rebasing("ours", Some(metadata), false, &solver, 5).await.unwrap();
    // Their chunk won, our only change was dropped, and the commit landed all the same.
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await.unwrap(), chunk(1));
    assert_eq!(repo.lookup_branch("main").await.unwrap(), id);
    let info = repo.lookup_snapshot(&id).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(info.metadata),
        serde_json::json!({"by": "us", "__icechunk": {"rebase_attempts": 1}})
    );
    // Without a race, nothing is recorded.
    let plain = repo.writable_session("main").await.unwrap();
    plain.store().set("a/c/1", chunk(3)).await.unwrap();
    let id = plain.commit_rebasing("plain", None, false, &solver, 5).await.unwrap();
    assert!(repo.lookup_snapshot(&id).await.unwrap().metadata.is_empty());
}

/// A change set over the 8 chunks: Some(value) writes, None deletes.
fn changes() -> impl Strategy<Value = BTreeMap<u8, Option<u8>>> {
    proptest::collection::btree_map(0u8..8, proptest::option::weighted(0.8, any::<u8>()), 0..6)
}

fn items(changes: &BTreeMap<u8, Option<u8>>) -> Vec<(String, Option<Bytes>)> {
    changes.iter().map(|(c, v)| (format!("a/c/{c}"), v.map(chunk))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn rebase_matches_the_model(initial in changes(), theirs in changes(), ours in changes(), use_ours in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let repo = repo_with_array().await;
            let apply = |session: icechunk::Session, changes: Vec<(String, Option<Bytes>)>| async move {
                for (k, v) in changes {
                    match v {
                        Some(v) => session.store().set(&k, v).await.unwrap(),
                        None => session.store().delete(&k).await.unwrap(),
                    }
                }
                session
            };
            let s = apply(repo.writable_session("main").await.unwrap(), items(&initial)).await;
            s.commit("initial", None, true).await.unwrap();
            let our_session = repo.writable_session("main").await.unwrap();
            let their_session = apply(repo.writable_session("main").await.unwrap(), items(&theirs)).await;
            their_session.commit("theirs", None, true).await.unwrap();
            let our_session = apply(our_session, items(&ours)).await;
            let selection = if use_ours { VersionSelection::UseOurs } else { VersionSelection::UseTheirs };
            our_session.commit_rebasing("ours", None, true, &basic(selection), 3).await.unwrap();

            // The model: initial, then theirs and ours in the order the rule says wins last.
            let mut model: BTreeMap<u8, Option<u8>> = (0..8).map(|c| (c, None)).collect();
            let order = if use_ours { [&theirs, &ours] } else { [&ours, &theirs] };
            for changes in std::iter::once(&initial).chain(order) {
                for (c, v) in changes {
                    model.insert(*c, *v);
                }
            }
            for (c, expected) in model {
                let got = read_at(&repo, &main_branch(), &format!("a/c/{c}")).await;
                prop_assert_eq!(got, expected.map(chunk), "chunk {}", c);
            }
            Ok(())
        })?;
    }
}
