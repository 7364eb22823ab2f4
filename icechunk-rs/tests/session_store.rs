//! Sessions and the Zarr key space (`Store`), on in-memory and local-disk storage.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use common::*;
use icechunk::{ByteRange, ErrorKind, IcechunkError, Repository, RepositoryConfig, Store};

const ROOT: &str = "zarr.json";
const ARR: &str = "arr/zarr.json";

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Checks every read operation of `store` against the expected key -> value map.
async fn check_store(store: &Store, expected: &BTreeMap<String, Bytes>) {
    for (k, v) in expected {
        assert_eq!(store.get(k, None).await.unwrap().as_ref(), Some(v), "get {k}");
        assert!(store.exists(k).await.unwrap(), "exists {k}");
        assert_eq!(store.getsize(k).await.unwrap(), v.len() as u64, "getsize {k}");
    }
    let keys: Vec<String> = expected.keys().cloned().collect();
    assert_eq!(sorted(store.list().await.unwrap()), keys, "list");
    let arr_keys: Vec<String> = keys.iter().filter(|k| k.starts_with("arr/")).cloned().collect();
    assert_eq!(sorted(store.list_prefix("arr/").await.unwrap()), arr_keys, "list_prefix arr/");
    let arr_size: u64 =
        expected.iter().filter(|(k, _)| k.starts_with("arr/")).map(|(_, v)| v.len() as u64).sum();
    assert_eq!(store.getsize_prefix("arr").await.unwrap(), arr_size, "getsize_prefix arr");
    let total: u64 = expected.values().map(|v| v.len() as u64).sum();
    assert_eq!(store.getsize_prefix("").await.unwrap(), total, "getsize_prefix ''");
}

async fn exercise_key_space(repo: Repository) {
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    assert!(!store.read_only());
    let arr_json = array_json(&[100, 100], &[10, 10], "uint8");
    let c01 = pattern(1, 100);
    let c23 = pattern(2, 100);
    store.set(ROOT, group_json()).await.unwrap();
    store.set(ARR, arr_json.clone()).await.unwrap();
    store.set("arr/c/0/1", c01.clone()).await.unwrap();
    store.set("arr/c/2/3", c23.clone()).await.unwrap();
    store.set("arr/c/9/9", pattern(3, 100)).await.unwrap();
    store.delete("arr/c/9/9").await.unwrap();
    store.delete("arr/c/9/8").await.unwrap(); // missing: fine

    let mut expected = BTreeMap::new();
    expected.insert(ROOT.to_string(), group_json());
    expected.insert(ARR.to_string(), arr_json.clone());
    expected.insert("arr/c/0/1".to_string(), c01.clone());
    expected.insert("arr/c/2/3".to_string(), c23.clone());

    for phase in ["before commit", "after commit"] {
        let store = if phase == "before commit" {
            store.clone()
        } else {
            let id = session.commit("key space", None, false).await.unwrap();
            let ro = repo.readonly_session(&main_branch()).await.unwrap();
            assert_eq!(ro.snapshot_id(), id);
            ro.store()
        };
        check_store(&store, &expected).await;
        let get = |range| {
            let store = store.clone();
            async move { store.get("arr/c/0/1", Some(range)).await.unwrap().unwrap() }
        };
        assert_eq!(get(ByteRange::Bounded { start: 10, end: 20 }).await, c01.slice(10..20), "{phase}");
        assert_eq!(get(ByteRange::Bounded { start: 0, end: 100 }).await, c01, "{phase}");
        assert_eq!(get(ByteRange::Offset(90)).await, c01.slice(90..), "{phase}");
        assert_eq!(get(ByteRange::Suffix(5)).await, c01.slice(95..), "{phase}");
        assert_eq!(
            store.get(ARR, Some(ByteRange::Bounded { start: 0, end: 5 })).await.unwrap().unwrap(),
            arr_json.slice(0..5)
        );
        assert_eq!(store.get("arr/c/9/9", None).await.unwrap(), None, "{phase}");
        assert_eq!(store.get("arr/c/5/5", None).await.unwrap(), None, "{phase}");
        assert_eq!(store.get("other/zarr.json", None).await.unwrap(), None, "{phase}");
        assert!(!store.exists("arr/c/9/9").await.unwrap());
        assert!(!store.exists("other/zarr.json").await.unwrap());
        assert_kind(store.getsize("arr/c/5/5").await, ErrorKind::NodeNotFound);
        assert_kind(store.getsize("missing/zarr.json").await, ErrorKind::NodeNotFound);

        assert_eq!(sorted(store.list_prefix("arr/c/").await.unwrap()), strings(&["arr/c/0/1", "arr/c/2/3"]));
        assert!(store.list_prefix("nothing/").await.unwrap().is_empty());
        assert_eq!(sorted(store.list_dir("").await.unwrap()), strings(&["arr", "zarr.json"]), "{phase}");
        assert_eq!(sorted(store.list_dir("arr").await.unwrap()), strings(&["c", "zarr.json"]), "{phase}");
        assert_eq!(sorted(store.list_dir("arr/c").await.unwrap()), strings(&["0", "2"]), "{phase}");
        assert_eq!(sorted(store.list_dir("arr/c/2").await.unwrap()), strings(&["3"]), "{phase}");
    }

    // After the commit: set_if_not_exists, delete, delete_dir in a new session.
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    assert!(!store.set_if_not_exists("arr/c/0/1", pattern(9, 100)).await.unwrap());
    assert_eq!(store.get("arr/c/0/1", None).await.unwrap(), Some(c01.clone()));
    assert!(store.set_if_not_exists("arr/c/4/4", pattern(4, 100)).await.unwrap());
    assert!(!store.set_if_not_exists("arr/c/4/4", pattern(5, 100)).await.unwrap());
    assert_eq!(store.get("arr/c/4/4", None).await.unwrap(), Some(pattern(4, 100)));
    store.delete("arr/c/2/3").await.unwrap();
    assert!(!store.exists("arr/c/2/3").await.unwrap());
    store.set("grp/zarr.json", group_json()).await.unwrap();
    store.set("grp/sub/zarr.json", array_json(&[4], &[2], "int8")).await.unwrap();
    store.set("grp/sub/c/1", Bytes::from_static(&[1, 2])).await.unwrap();
    assert_eq!(sorted(store.list_dir("").await.unwrap()), strings(&["arr", "grp", "zarr.json"]));
    let id = session.commit("more", None, false).await.unwrap();

    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    assert_eq!(store.get("grp/sub/c/1", None).await.unwrap(), Some(Bytes::from_static(&[1, 2])));
    store.delete_dir("grp").await.unwrap();
    assert!(!store.exists("grp/zarr.json").await.unwrap());
    assert!(!store.exists("grp/sub/zarr.json").await.unwrap());
    assert!(!store.exists("grp/sub/c/1").await.unwrap());
    assert!(store.list_prefix("grp/").await.unwrap().is_empty());
    store.delete_dir("arr/c").await.unwrap();
    assert!(store.list_prefix("arr/c/").await.unwrap().is_empty());
    assert!(store.exists(ARR).await.unwrap(), "delete_dir(arr/c) keeps the array");
    assert_eq!(sorted(store.list().await.unwrap()), strings(&[ARR, ROOT]));
    session.commit("emptied", None, false).await.unwrap();
    let ro = repo.readonly_session(&main_branch()).await.unwrap();
    assert_eq!(sorted(ro.store().list().await.unwrap()), strings(&[ARR, ROOT]));
    // The previous version is intact.
    let old = repo.readonly_session(&snap(&id)).await.unwrap().store();
    assert_eq!(old.get("grp/sub/c/1", None).await.unwrap(), Some(Bytes::from_static(&[1, 2])));
    assert_eq!(old.get("arr/c/4/4", None).await.unwrap(), Some(pattern(4, 100)));
    assert_eq!(old.get("arr/c/2/3", None).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn key_space_in_memory() {
    exercise_key_space(mem_repo().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_space_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    exercise_key_space(local_repo(dir.path()).await).await;
    // And through a fresh handle on the folder.
    let repo = open_local(dir.path()).await;
    assert_eq!(read_at(&repo, &main_branch(), ARR).await, Some(array_json(&[100, 100], &[10, 10], "uint8")));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_keys_are_refused() {
    let repo = mem_repo().await;
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set(ROOT, group_json()).await.unwrap();
    store.set(ARR, array_json(&[4, 4], &[2, 2], "uint8")).await.unwrap();
    for key in [
        ".zarray",
        ".zgroup",
        ".zattrs",
        "arr/.zarray",
        "a/../b",
        "a//b",
        "/zarr.json",
        "arr/c/0/../1",
        "",
        "arr/c//0",
    ] {
        assert_kind(store.set(key, Bytes::from_static(b"{}")).await, ErrorKind::InvalidInput);
    }
    assert!(!session.status().new_arrays.is_empty());
    assert_eq!(sorted(store.list().await.unwrap()), strings(&[ARR, ROOT]));
}

#[tokio::test(flavor = "multi_thread")]
async fn readonly_session_refuses_writes() {
    let repo = mem_repo().await;
    write_commit(&repo, "main", &[(ROOT, group_json())], "root").await;
    let ro = repo.readonly_session(&main_branch()).await.unwrap();
    let store = ro.store();
    assert!(ro.read_only() && store.read_only());
    assert_kind(store.set(ROOT, group_json()).await, ErrorKind::ReadOnly);
    assert_kind(store.set(ARR, array_json(&[4], &[2], "uint8")).await, ErrorKind::ReadOnly);
    assert_kind(store.set_if_not_exists(ARR, group_json()).await, ErrorKind::ReadOnly);
    assert_kind(store.delete(ROOT).await, ErrorKind::ReadOnly);
    assert_kind(store.delete_dir("").await, ErrorKind::ReadOnly);
    assert!(matches!(
        ro.commit("x", None, true).await.map_err(|e| e.kind()),
        Err(ErrorKind::ReadOnly | ErrorKind::SessionState)
    ));
    assert_eq!(store.get(ROOT, None).await.unwrap(), Some(group_json()));
}

#[tokio::test(flavor = "multi_thread")]
async fn readonly_session_is_isolated_from_later_commits() {
    let repo = mem_repo().await;
    write_commit(
        &repo,
        "main",
        &[(ROOT, group_json()), (ARR, array_json(&[4, 4], &[2, 2], "uint8")), ("arr/c/0/0", pattern(1, 4))],
        "v1",
    )
    .await;
    let before = repo.readonly_session(&main_branch()).await.unwrap();
    let writer = repo.writable_session("main").await.unwrap();
    writer.store().set("arr/c/0/0", pattern(2, 4)).await.unwrap();
    writer.store().set("arr/c/1/1", pattern(3, 4)).await.unwrap();
    // Uncommitted writes are invisible to other sessions.
    assert_eq!(before.store().get("arr/c/0/0", None).await.unwrap(), Some(pattern(1, 4)));
    writer.commit("v2", None, false).await.unwrap();
    assert_eq!(before.store().get("arr/c/0/0", None).await.unwrap(), Some(pattern(1, 4)));
    assert_eq!(before.store().get("arr/c/1/1", None).await.unwrap(), None);
    let after = repo.readonly_session(&main_branch()).await.unwrap();
    assert_eq!(after.store().get("arr/c/0/0", None).await.unwrap(), Some(pattern(2, 4)));
    assert_eq!(after.store().get("arr/c/1/1", None).await.unwrap(), Some(pattern(3, 4)));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_and_discard_changes() {
    let repo = mem_repo().await;
    let base = repo.lookup_branch("main").await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    assert!(!session.has_uncommitted_changes());
    assert!(session.status().new_arrays.is_empty() && session.status().updated_chunks.is_empty());
    session.store().set(ARR, array_json(&[4, 4], &[2, 2], "uint8")).await.unwrap();
    session.store().set("arr/c/0/1", pattern(1, 4)).await.unwrap();
    assert!(session.has_uncommitted_changes());
    let status = session.status();
    assert_eq!(status.new_arrays, BTreeSet::from(["/arr".to_string()]));
    assert_eq!(status.updated_chunks["/arr"], BTreeSet::from([vec![0u32, 1]]));

    session.discard_changes().unwrap();
    assert!(!session.has_uncommitted_changes());
    assert!(session.status().new_arrays.is_empty());
    assert_eq!(session.store().get(ARR, None).await.unwrap(), None);
    assert_eq!(session.store().get("arr/c/0/1", None).await.unwrap(), None);
    assert_eq!(session.snapshot_id(), base);

    // The session is still usable after discarding.
    session.store().set(ROOT, group_json()).await.unwrap();
    session.store().set(ARR, array_json(&[4, 4], &[2, 2], "uint8")).await.unwrap();
    session.store().set("arr/c/0/0", pattern(2, 4)).await.unwrap();
    session.commit("arr", None, false).await.unwrap();

    let session = repo.writable_session("main").await.unwrap();
    session.store().set("arr/c/1/1", pattern(3, 4)).await.unwrap();
    session.store().delete("arr/c/0/0").await.unwrap();
    let status = session.status();
    assert!(status.new_arrays.is_empty());
    assert_eq!(status.updated_chunks["/arr"], BTreeSet::from([vec![0u32, 0], vec![1, 1]]));
    let mut attrs: serde_json::Value =
        serde_json::from_slice(&array_json(&[4, 4], &[2, 2], "uint8")).unwrap();
    attrs["attributes"] = serde_json::json!({"units": "m"});
    session.store().set(ARR, Bytes::from(serde_json::to_vec(&attrs).unwrap())).await.unwrap();
    assert_eq!(session.status().updated_arrays, BTreeSet::from(["/arr".to_string()]));
}

#[tokio::test(flavor = "multi_thread")]
async fn session_is_done_after_commit_and_empty_commits() {
    let repo = mem_repo().await;
    let base = repo.lookup_branch("main").await.unwrap();

    let session = repo.writable_session("main").await.unwrap();
    let err = session.commit("nothing", None, false).await.expect_err("empty commit must fail");
    assert!(matches!(err.kind(), ErrorKind::SessionState | ErrorKind::InvalidInput), "{err}");
    assert_eq!(repo.lookup_branch("main").await.unwrap(), base);

    let empty = session.commit("allowed empty", None, true).await.unwrap();
    assert_ne!(empty, base);
    let info = repo.lookup_snapshot(&empty).await.unwrap();
    assert_eq!(info.parent_id, Some(base));
    assert_eq!(repo.lookup_branch("main").await.unwrap(), empty);

    let session = repo.writable_session("main").await.unwrap();
    session.store().set(ROOT, group_json()).await.unwrap();
    let id = session.commit("root", None, false).await.unwrap();
    assert_eq!(session.snapshot_id(), id, "after commit the session sits on its snapshot");
    assert!(session.read_only(), "a committed session is read-only");
    assert_kind(session.commit("again", None, true).await, ErrorKind::SessionState);
    assert!(session.store().set(ROOT, group_json()).await.is_err());
    assert_eq!(session.store().get(ROOT, None).await.unwrap(), Some(group_json()));
    assert_eq!(repo.lookup_branch("main").await.unwrap(), id);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sessions_conflict() {
    let repo = mem_repo().await;
    let base = write_commit(
        &repo,
        "main",
        &[(ROOT, group_json()), (ARR, array_json(&[4, 4], &[2, 2], "uint8"))],
        "setup",
    )
    .await;
    let a = repo.writable_session("main").await.unwrap();
    let b = repo.writable_session("main").await.unwrap();
    a.store().set("arr/c/0/0", pattern(1, 4)).await.unwrap();
    b.store().set("arr/c/1/1", pattern(2, 4)).await.unwrap();
    let a_id = a.commit("a", None, false).await.unwrap();
    match b.commit("b", None, false).await {
        Err(e @ IcechunkError::Conflict { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Conflict);
            let IcechunkError::Conflict { expected_parent, actual_parent, branch } = e else {
                unreachable!()
            };
            assert_eq!(expected_parent, Some(base));
            assert_eq!(actual_parent, Some(a_id));
            assert_eq!(branch, "main");
        }
        other => panic!("second commit must conflict, got {other:?}"),
    }
    assert_eq!(repo.lookup_branch("main").await.unwrap(), a_id);
    let ro = repo.readonly_session(&main_branch()).await.unwrap().store();
    assert_eq!(ro.get("arr/c/0/0", None).await.unwrap(), Some(pattern(1, 4)));
    assert_eq!(ro.get("arr/c/1/1", None).await.unwrap(), None, "the losing commit left no trace");
    assert_eq!(ancestry_ids(&repo, &main_branch()).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_and_external_chunks_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let big = pattern(11, 4096);
    let small = pattern(12, 100);
    let id = write_commit(
        &repo,
        "main",
        &[
            (ROOT, group_json()),
            (ARR, array_json(&[128, 128], &[64, 64], "uint8")),
            ("arr/c/0/0", big.clone()),
            ("arr/c/1/1", small.clone()),
        ],
        "chunks",
    )
    .await;
    let repo = open_local(dir.path()).await;
    let store = repo.readonly_session(&snap(&id)).await.unwrap().store();
    assert_eq!(store.get("arr/c/0/0", None).await.unwrap(), Some(big.clone()));
    assert_eq!(store.get("arr/c/1/1", None).await.unwrap(), Some(small.clone()));
    assert_eq!(
        store.get("arr/c/0/0", Some(ByteRange::Bounded { start: 1000, end: 3000 })).await.unwrap(),
        Some(big.slice(1000..3000))
    );
    assert_eq!(store.get("arr/c/0/0", Some(ByteRange::Suffix(10))).await.unwrap(), Some(big.slice(4086..)));
    assert_eq!(store.get("arr/c/1/1", Some(ByteRange::Offset(50))).await.unwrap(), Some(small.slice(50..)));
    assert_eq!(store.getsize_prefix("arr/c").await.unwrap(), 4096 + 100);
    // Only the large chunk is a chunk object; the small one is inline in the manifest.
    let chunk_files = files_under(&dir.path().join("chunks"));
    assert_eq!(chunk_files.len(), 1, "{chunk_files:?}");
    assert_eq!(std::fs::read(dir.path().join("chunks").join(&chunk_files[0])).unwrap(), big.to_vec());
}

#[tokio::test(flavor = "multi_thread")]
async fn large_chunk_grid_rewrites_few_manifests() {
    let dir = tempfile::tempdir().unwrap();
    // Every shard in an object of its own, so that the files count the shards written.
    let config = RepositoryConfig { inline_manifest_threshold_bytes: 0, ..Default::default() };
    let repo = Repository::create(local_storage(dir.path()), Some(config)).await.unwrap();
    // 1200x1200 in 4x4 chunks: a 300x300 grid, 90,000 chunks.
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set(ROOT, group_json()).await.unwrap();
    store.set("big/zarr.json", array_json(&[1200, 1200], &[4, 4], "uint8")).await.unwrap();
    let mut expected: BTreeMap<(u32, u32), Bytes> = BTreeMap::new();
    for i in 0..100u32 {
        let c = ((i * 37 + 5) % 300, (i * 113 + 299 * (i % 3)) % 300);
        expected.insert(c, pattern(i as u64, 16));
    }
    expected.insert((0, 0), pattern(1000, 16));
    expected.insert((299, 299), pattern(1001, 16));
    let writes = expected.iter().map(|((x, y), v)| {
        let store = store.clone();
        let v = v.clone();
        async move { store.set(&format!("big/c/{x}/{y}"), v).await }
    });
    for r in futures::future::join_all(writes).await {
        r.unwrap();
    }
    session.commit("scattered", None, false).await.unwrap();
    let manifests_before = files_under(&dir.path().join("manifests")).len();
    assert!(manifests_before >= 1);

    let session = repo.writable_session("main").await.unwrap();
    let changed = *expected.keys().nth(50).unwrap();
    session.store().set(&format!("big/c/{}/{}", changed.0, changed.1), pattern(7777, 16)).await.unwrap();
    let id = session.commit("one chunk", None, false).await.unwrap();
    expected.insert(changed, pattern(7777, 16));
    let manifests_after = files_under(&dir.path().join("manifests")).len();
    eprintln!("manifests: {manifests_before} after the first commit, {manifests_after} after the second");
    assert!(
        (1..=2).contains(&(manifests_after - manifests_before)),
        "the second commit wrote {} manifests (before {manifests_before})",
        manifests_after - manifests_before
    );

    let repo = open_local(dir.path()).await;
    let store = repo.readonly_session(&snap(&id)).await.unwrap().store();
    let reads = expected.iter().map(|((x, y), v)| {
        let store = store.clone();
        let v = v.clone();
        async move { (store.get(&format!("big/c/{x}/{y}"), None).await.unwrap(), v, (*x, *y)) }
    });
    for (got, want, c) in futures::future::join_all(reads).await {
        assert_eq!(got, Some(want), "chunk {c:?}");
    }
    for (x, y) in [(1, 1), (150, 150), (298, 299), (299, 0)] {
        if !expected.contains_key(&(x, y)) {
            assert_eq!(store.get(&format!("big/c/{x}/{y}"), None).await.unwrap(), None);
        }
    }
    assert_eq!(store.list_prefix("big/c/").await.unwrap().len(), expected.len());
    let diff = repo
        .diff(&snap(&repo.lookup_snapshot(&id).await.unwrap().parent_id.unwrap()), &snap(&id))
        .await
        .unwrap();
    assert_eq!(diff.updated_chunks["/big"], BTreeSet::from([vec![changed.0, changed.1]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn small_shards_live_in_the_snapshot_up_to_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    // Shards of up to 1 KiB inline, 4 KiB of them per snapshot.
    let config = RepositoryConfig { inline_manifest_threshold_bytes: 1024, ..Default::default() };
    let repo = Repository::create(local_storage(dir.path()), Some(config)).await.unwrap();
    let mut items = vec![(ROOT.to_string(), group_json())];
    for a in 0..30 {
        items.push((format!("a{a}/zarr.json"), array_json(&[64], &[8], "uint8")));
        for c in 0..4 {
            // Chunks are objects (above the 512-byte inline threshold); refs are small.
            items.push((format!("a{a}/c/{c}"), pattern(a * 10 + c, 600)));
        }
    }
    // One shard of 8 refs with inline data is too big to be inline itself.
    items.push(("big/zarr.json".into(), array_json(&[1024], &[128], "uint8")));
    for c in 0..8 {
        items.push((format!("big/c/{c}"), pattern(500 + c, 300)));
    }
    let refs: Vec<(&str, Bytes)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    write_commit(&repo, "main", &refs, "many small arrays").await;
    let objects = files_under(&dir.path().join("manifests")).len();
    // 31 shards (~250 bytes each but the big one): the big one and those past the budget are
    // objects, the others inline.
    assert!((2..20).contains(&objects), "{objects} shard objects of 31");

    // Everything reads back through a fresh handle, and a change moves shards around freely.
    let repo = open_local(dir.path()).await;
    write_commit(&repo, "main", &[("a3/c/1", pattern(9999, 600))], "one change").await;
    let repo = open_local(dir.path()).await;
    for (key, value) in &items {
        let want = if key == "a3/c/1" { pattern(9999, 600) } else { value.clone() };
        assert_eq!(read_at(&repo, &main_branch(), key).await, Some(want), "{key}");
    }
}
