//! Moving an array's chunks within its grid (`shift_array`, `reindex_array`): the chunks read
//! back where they moved, and no chunk is copied (a commit writes no chunk object).

mod common;

use bytes::Bytes;
use common::*;
use icechunk::ids::ChunkCoords;
use icechunk::{ErrorKind, Repository, Session};

const CHUNK: usize = 1024; // large enough to be a chunk object of its own, not inline

/// Array `/a`: 4 chunks of 1 KiB, `c/i` = pattern(i + 1) for i in `present`; group `/g`.
async fn array_with(repo: &Repository, present: &[u64]) {
    let mut items = vec![
        ("zarr.json", group_json()),
        ("g/zarr.json", group_json()),
        ("a/zarr.json", array_json(&[4 * CHUNK as u64], &[CHUNK as u64], "uint8")),
    ];
    let keys: Vec<String> = present.iter().map(|i| format!("a/c/{i}")).collect();
    for (key, i) in keys.iter().zip(present) {
        items.push((key, pattern(i + 1, CHUNK)));
    }
    write_commit(repo, "main", &items, "array").await;
}

/// The chunks of `/a` as seeds of `pattern` (0 for no chunk), in grid order.
async fn seeds(session: &Session) -> Vec<u64> {
    let mut out = Vec::new();
    for i in 0..4u64 {
        let got = session.store().get(&format!("a/c/{i}"), None).await.unwrap();
        out.push(
            got.map_or(0, |bytes| (1..=4).find(|s| pattern(*s, CHUNK) == bytes).expect("a known chunk")),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shift_moves_references_and_copies_no_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    array_with(&repo, &[0, 1, 2, 3]).await;
    assert_eq!(chunk_objects(dir.path()), 4);

    let session = repo.writable_session("main").await.unwrap();
    session.shift_array("/a", &[1]).await.unwrap();
    assert_eq!(seeds(&session).await, vec![0, 1, 2, 3], "shifted right: the last chunk is dropped");
    session.shift_array("/a", &[-2]).await.unwrap();
    assert_eq!(seeds(&session).await, vec![2, 3, 0, 0]);
    session.commit("shifted", None, false).await.unwrap();

    assert_eq!(chunk_objects(dir.path()), 4, "no chunk object written");
    let reader = open_local(dir.path()).await.readonly_session(&main_branch()).await.unwrap();
    assert_eq!(seeds(&reader).await, vec![2, 3, 0, 0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shift_clears_what_nothing_shifts_into() {
    let repo = mem_repo().await;
    array_with(&repo, &[0, 2]).await;
    let session = repo.writable_session("main").await.unwrap();
    session.shift_array("/a", &[1]).await.unwrap();
    assert_eq!(seeds(&session).await, vec![0, 1, 0, 3]);
    assert_eq!(session.chunk_coordinates("/a").await.unwrap(), vec![vec![1], vec![3]]);

    // Off the grid: everything goes.
    session.shift_array("/a", &[4]).await.unwrap();
    assert!(session.chunk_coordinates("/a").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reindex_permutes_with_every_chunk_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    array_with(&repo, &[0, 1, 2, 3]).await;
    let session = repo.writable_session("main").await.unwrap();
    let mut reverse = |c: &[u32]| Some(vec![3 - c[0]]);
    session.reindex_array("/a", &mut reverse, None).await.unwrap();
    assert_eq!(seeds(&session).await, vec![4, 3, 2, 1]);
    assert_eq!(session.status().updated_chunks.values().map(|c| c.len()).sum::<usize>(), 4);
    session.commit("reversed", None, false).await.unwrap();
    assert_eq!(chunk_objects(dir.path()), 4, "no chunk object written");
    assert_eq!(seeds(&repo.readonly_session(&main_branch()).await.unwrap()).await, vec![4, 3, 2, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_alone_keeps_sources_and_backward_clears() {
    let repo = mem_repo().await;
    array_with(&repo, &[0, 2]).await;
    let up = |c: &[u32]| (c[0] < 3).then(|| vec![c[0] + 1]);

    let session = repo.writable_session("main").await.unwrap();
    session.reindex_array("/a", &mut up.clone(), None).await.unwrap();
    assert_eq!(seeds(&session).await, vec![1, 1, 3, 3], "a move leaves its source");

    let session = repo.writable_session("main").await.unwrap();
    let mut down = |c: &[u32]| c[0].checked_sub(1).map(|c| vec![c]);
    session.reindex_array("/a", &mut up.clone(), Some(&mut down)).await.unwrap();
    assert_eq!(seeds(&session).await, vec![0, 1, 0, 3]);

    // `None` from forward leaves a chunk where it is and marks nothing as changed.
    let session = repo.writable_session("main").await.unwrap();
    session.reindex_array("/a", &mut |_| None, None).await.unwrap();
    assert!(!session.has_uncommitted_changes());
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_of_this_session_move_too() {
    let repo = mem_repo().await;
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set("zarr.json", group_json()).await.unwrap();
    store.set("a/zarr.json", array_json(&[4 * CHUNK as u64], &[CHUNK as u64], "uint8")).await.unwrap();
    store.set("a/c/0", pattern(1, CHUNK)).await.unwrap(); // still uploading, maybe
    store.set("a/c/1", Bytes::from_static(b"tiny")).await.unwrap(); // inline
    session.shift_array("/a", &[2]).await.unwrap();
    assert_eq!(store.get("a/c/2", None).await.unwrap(), Some(pattern(1, CHUNK)));
    assert_eq!(store.get("a/c/3", None).await.unwrap(), Some(Bytes::from_static(b"tiny")));
    assert_eq!(session.chunk_coordinates("/a").await.unwrap(), vec![vec![2], vec![3]]);
    session.commit("new", None, false).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "a/c/2").await, Some(pattern(1, CHUNK)));
    assert_eq!(read_at(&repo, &main_branch(), "a/c/0").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_and_changes_nothing() {
    let repo = mem_repo().await;
    array_with(&repo, &[0, 1, 2, 3]).await;
    let session = repo.writable_session("main").await.unwrap();
    type Forward = dyn Fn(&[u32]) -> Option<ChunkCoords>;
    let off_grid: [&Forward; 3] = [&|c| Some(vec![c[0] + 1]), &|c| Some(vec![c[0], 0]), &|_| Some(vec![])];
    for forward in off_grid {
        let result = session.reindex_array("/a", &mut |c| forward(c), None).await;
        assert_kind(result, ErrorKind::InvalidInput);
        assert!(!session.has_uncommitted_changes(), "all or nothing");
    }
    let result = session.reindex_array("/a", &mut |_| None, Some(&mut |_| Some(vec![9]))).await;
    assert_kind(result, ErrorKind::InvalidInput);
    assert_kind(session.shift_array("/a", &[1, 1]).await, ErrorKind::InvalidInput);
    assert_kind(session.shift_array("/a", &[]).await, ErrorKind::InvalidInput);
    assert_kind(session.shift_array("/g", &[1]).await, ErrorKind::InvalidInput);
    assert_kind(session.shift_array("/nope", &[1]).await, ErrorKind::NodeNotFound);
    assert_kind(session.shift_array("a", &[1]).await, ErrorKind::InvalidInput);
    assert!(!session.has_uncommitted_changes());
    assert_eq!(seeds(&session).await, vec![1, 2, 3, 4]);

    let reader = repo.readonly_session(&main_branch()).await.unwrap();
    assert_kind(reader.shift_array("/a", &[1]).await, ErrorKind::ReadOnly);
    assert_kind(reader.reindex_array("/a", &mut |_| None, None).await, ErrorKind::ReadOnly);
    let rearrange = repo.rearrange_session("main").await.unwrap();
    assert_kind(rearrange.shift_array("/a", &[1]).await, ErrorKind::SessionState);
}
