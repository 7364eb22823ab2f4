//! Repository-level behaviour: create/open, branches, tags, names, history, diff, versions.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use icechunk::storage::new_in_memory_storage;
use icechunk::{ErrorKind, IcechunkError, Repository, RepositoryConfig, SnapshotId, VersionInfo};

const ARR: &str = "arr/zarr.json";

fn chunk(v: u8) -> Bytes {
    Bytes::from(vec![v; 4])
}

/// A repository whose main has: s0 (initial), s1 (root group + 4x4 array, chunk c/0/0 = 1).
async fn repo_with_array() -> (Repository, SnapshotId, SnapshotId) {
    let repo = mem_repo().await;
    let s0 = repo.lookup_branch("main").await.unwrap();
    let s1 = write_commit(
        &repo,
        "main",
        &[("zarr.json", group_json()), (ARR, array_json(&[4, 4], &[2, 2], "uint8")), ("arr/c/0/0", chunk(1))],
        "first",
    )
    .await;
    (repo, s0, s1)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_open_exists_in_memory() {
    let storage = new_in_memory_storage();
    assert!(!Repository::exists(storage.clone()).await.unwrap());
    assert_kind(Repository::open(storage.clone(), None).await.map(|_| ()), ErrorKind::RepositoryNotFound);

    let repo = Repository::create(storage.clone(), None).await.unwrap();
    assert!(Repository::exists(storage.clone()).await.unwrap());
    assert_eq!(repo.config(), &RepositoryConfig::default());
    assert_eq!(repo.list_branches().await.unwrap(), BTreeSet::from(["main".to_string()]));
    assert!(repo.list_tags().await.unwrap().is_empty());

    let s0 = repo.lookup_branch("main").await.unwrap();
    let history = ancestry(&repo, &main_branch()).await;
    assert_eq!(history.len(), 1, "a new repository has one snapshot");
    assert_eq!(history[0].id, s0);
    assert_eq!(history[0].parent_id, None);

    // Creating again over the same storage is refused and does not move main.
    assert_kind(Repository::create(storage.clone(), None).await.map(|_| ()), ErrorKind::AlreadyExists);
    let reopened = Repository::open(storage.clone(), None).await.unwrap();
    assert_eq!(reopened.lookup_branch("main").await.unwrap(), s0);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_open_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!Repository::exists(local_storage(dir.path())).await.unwrap());
    assert_kind(
        Repository::open(local_storage(dir.path()), None).await.map(|_| ()),
        ErrorKind::RepositoryNotFound,
    );
    let repo = local_repo(dir.path()).await;
    assert!(dir.path().join("config.json").is_file(), "config.json marks a repository");
    let s1 = write_commit(&repo, "main", &[("zarr.json", group_json())], "root").await;

    // A second, independent handle on the same folder sees the commit.
    let other = open_local(dir.path()).await;
    assert_eq!(other.lookup_branch("main").await.unwrap(), s1);
    assert_eq!(read_at(&other, &main_branch(), "zarr.json").await, Some(group_json()));
    assert_kind(
        Repository::create(local_storage(dir.path()), None).await.map(|_| ()),
        ErrorKind::AlreadyExists,
    );
    assert_eq!(other.lookup_branch("main").await.unwrap(), s1);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_in_non_empty_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), b"do not touch").unwrap();
    let result = Repository::create(local_storage(dir.path()), None).await;
    let err = result.map(|_| ()).expect_err("create in a non-empty folder must fail");
    assert!(
        matches!(err.kind(), ErrorKind::AlreadyExists | ErrorKind::InvalidInput),
        "unexpected kind {:?}: {err}",
        err.kind()
    );
    assert!(!Repository::exists(local_storage(dir.path())).await.unwrap());
    assert_eq!(std::fs::read(dir.path().join("precious.txt")).unwrap(), b"do not touch");
}

#[tokio::test(flavor = "multi_thread")]
async fn open_or_create_creates_once_then_opens() {
    let storage = new_in_memory_storage();
    let repo = Repository::open_or_create(storage.clone(), None).await.unwrap();
    assert!(Repository::exists(storage.clone()).await.unwrap());
    let s1 = write_commit(&repo, "main", &[("zarr.json", group_json())], "root").await;
    let again = Repository::open_or_create(storage.clone(), None).await.unwrap();
    assert_eq!(again.lookup_branch("main").await.unwrap(), s1, "open_or_create must not re-create");
    assert_eq!(ancestry_ids(&again, &main_branch()).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_is_persisted() {
    let storage = new_in_memory_storage();
    let config = RepositoryConfig { inline_chunk_threshold_bytes: 100, ..Default::default() };
    Repository::create(storage.clone(), Some(config.clone())).await.unwrap();
    let opened = Repository::open(storage, None).await.unwrap();
    assert_eq!(opened.config().inline_chunk_threshold_bytes, 100);
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_create_list_lookup_delete() {
    let (repo, s0, s1) = repo_with_array().await;
    repo.create_branch("dev", &s1).await.unwrap();
    assert_eq!(repo.list_branches().await.unwrap(), BTreeSet::from(["dev".to_string(), "main".to_string()]));
    assert_eq!(repo.lookup_branch("dev").await.unwrap(), s1);

    // Commits on dev do not move main.
    let s2 = write_commit(&repo, "dev", &[("arr/c/0/0", chunk(2))], "on dev").await;
    assert_eq!(repo.lookup_branch("dev").await.unwrap(), s2);
    assert_eq!(repo.lookup_branch("main").await.unwrap(), s1);
    assert_eq!(read_at(&repo, &branch("dev"), "arr/c/0/0").await, Some(chunk(2)));
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/0/0").await, Some(chunk(1)));

    assert_kind(repo.create_branch("dev", &s0).await, ErrorKind::AlreadyExists);
    assert_eq!(repo.lookup_branch("dev").await.unwrap(), s2);
    assert_kind(repo.create_branch("ghost", &SnapshotId([7; 12])).await, ErrorKind::SnapshotNotFound);
    assert_kind(repo.lookup_branch("ghost").await, ErrorKind::RefNotFound);

    repo.delete_branch("dev").await.unwrap();
    assert_kind(repo.lookup_branch("dev").await, ErrorKind::RefNotFound);
    assert_kind(repo.writable_session("dev").await.map(|_| ()), ErrorKind::RefNotFound);
    assert_eq!(repo.list_branches().await.unwrap(), BTreeSet::from(["main".to_string()]));
    assert_kind(repo.delete_branch("dev").await, ErrorKind::RefNotFound);
    // A deleted branch name can be used again.
    repo.create_branch("dev", &s0).await.unwrap();
    assert_eq!(repo.lookup_branch("dev").await.unwrap(), s0);

    assert!(repo.delete_branch("main").await.is_err(), "main cannot be deleted");
    assert_eq!(repo.lookup_branch("main").await.unwrap(), s1);
    assert!(repo.list_branches().await.unwrap().contains("main"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_branch_undoes_and_checks_precondition() {
    let (repo, _s0, s1) = repo_with_array().await;
    let s2 = write_commit(&repo, "main", &[("arr/c/0/0", chunk(2))], "second").await;
    let stale = repo.writable_session("main").await.unwrap();
    assert_eq!(stale.snapshot_id(), s2);

    repo.reset_branch("main", &s1, None).await.unwrap();
    assert_eq!(repo.lookup_branch("main").await.unwrap(), s1);
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/0/0").await, Some(chunk(1)));
    assert_eq!(ancestry_ids(&repo, &main_branch()).await[0], s1);

    // `from` must match the tip.
    match repo.reset_branch("main", &s2, Some(&s2)).await {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        Ok(()) => panic!("reset with a wrong `from` succeeded"),
    }
    assert_eq!(repo.lookup_branch("main").await.unwrap(), s1);

    // A session based on the old tip can no longer commit.
    stale.store().set("arr/c/1/1", chunk(9)).await.unwrap();
    match stale.commit("stale", None, false).await {
        Err(IcechunkError::Conflict { expected_parent, actual_parent, .. }) => {
            assert_eq!(expected_parent, Some(s2));
            assert_eq!(actual_parent, Some(s1));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // Redo with the right precondition.
    repo.reset_branch("main", &s2, Some(&s1)).await.unwrap();
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/0/0").await, Some(chunk(2)));
    assert_kind(repo.reset_branch("main", &SnapshotId([3; 12]), None).await, ErrorKind::SnapshotNotFound);
    assert_kind(repo.reset_branch("nope", &s1, None).await, ErrorKind::RefNotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_immutable_and_never_reused() {
    let (repo, s0, s1) = repo_with_array().await;
    repo.create_tag("v1", &s1).await.unwrap();
    repo.create_tag("v0", &s0).await.unwrap();
    assert_eq!(repo.list_tags().await.unwrap(), BTreeSet::from(["v0".to_string(), "v1".to_string()]));
    assert_eq!(repo.lookup_tag("v1").await.unwrap(), s1);
    assert_eq!(read_at(&repo, &tag("v1"), "arr/c/0/0").await, Some(chunk(1)));
    assert_eq!(read_at(&repo, &tag("v0"), "arr/c/0/0").await, None);

    assert_kind(repo.create_tag("v1", &s0).await, ErrorKind::AlreadyExists);
    assert_eq!(repo.lookup_tag("v1").await.unwrap(), s1, "a tag never moves");

    repo.delete_tag("v1").await.unwrap();
    assert_kind(repo.lookup_tag("v1").await, ErrorKind::RefNotFound);
    assert_kind(repo.readonly_session(&tag("v1")).await.map(|_| ()), ErrorKind::RefNotFound);
    assert_eq!(repo.list_tags().await.unwrap(), BTreeSet::from(["v0".to_string()]));
    assert_kind(repo.create_tag("v1", &s1).await, ErrorKind::AlreadyExists);
    assert_kind(repo.create_tag("v1", &s0).await, ErrorKind::AlreadyExists);
    assert_kind(repo.lookup_tag("v1").await, ErrorKind::RefNotFound);
    assert_kind(repo.delete_tag("v1").await, ErrorKind::RefNotFound);
    assert_kind(repo.delete_tag("never").await, ErrorKind::RefNotFound);
    assert_kind(repo.lookup_tag("never").await, ErrorKind::RefNotFound);
    assert_kind(repo.create_tag("bad", &SnapshotId([5; 12])).await, ErrorKind::SnapshotNotFound);
    // Tags and branches are separate name spaces.
    repo.create_branch("v1", &s0).await.unwrap();
    assert_eq!(repo.lookup_branch("v1").await.unwrap(), s0);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_ref_names_are_refused() {
    let repo = mem_repo().await;
    let s0 = repo.lookup_branch("main").await.unwrap();
    for name in ["", "..", "a/b", " x", "a\u{7}", "a b", ".hidden", "x.lock", "a..b", "-x"] {
        assert_kind(repo.create_branch(name, &s0).await, ErrorKind::InvalidInput);
        assert_kind(repo.create_tag(name, &s0).await, ErrorKind::InvalidInput);
        assert_kind(repo.lookup_branch(name).await, ErrorKind::InvalidInput);
        assert_kind(repo.lookup_tag(name).await, ErrorKind::InvalidInput);
        assert_kind(repo.delete_branch(name).await, ErrorKind::InvalidInput);
        assert_kind(repo.reset_branch(name, &s0, None).await, ErrorKind::InvalidInput);
        assert_kind(repo.writable_session(name).await.map(|_| ()), ErrorKind::InvalidInput);
    }
    let long = "x".repeat(256);
    assert_kind(repo.create_branch(&long, &s0).await, ErrorKind::InvalidInput);
    for name in ["dev", "feature-1", "v1.0", "release_2024", "UPPER"] {
        repo.create_branch(name, &s0).await.unwrap();
        repo.create_tag(name, &s0).await.unwrap();
    }
    assert_eq!(repo.list_branches().await.unwrap().len(), 6);
    assert_eq!(repo.list_tags().await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn ancestry_is_newest_first_with_messages_and_metadata() {
    let (repo, s0, s1) = repo_with_array().await;
    let session = repo.writable_session("main").await.unwrap();
    session.store().set("arr/c/0/1", chunk(2)).await.unwrap();
    let mut meta = serde_json::Map::new();
    meta.insert("author".into(), serde_json::json!("alice"));
    meta.insert("run".into(), serde_json::json!({"n": 42, "ok": true}));
    let s2 = session.commit("second", Some(meta.clone()), false).await.unwrap();
    let s3 = write_commit(&repo, "main", &[("arr/c/1/1", chunk(3))], "third: ünïcode").await;

    let history = ancestry(&repo, &main_branch()).await;
    let ids: Vec<SnapshotId> = history.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![s3, s2, s1, s0]);
    assert_eq!(history[0].message, "third: ünïcode");
    assert_eq!(history[1].message, "second");
    assert_eq!(history[2].message, "first");
    assert_eq!(history[1].metadata, meta);
    assert!(history[0].metadata.is_empty());
    for pair in history.windows(2) {
        assert_eq!(pair[0].parent_id, Some(pair[1].id));
        assert!(pair[0].written_at >= pair[1].written_at);
    }
    assert_eq!(history[3].parent_id, None);

    let info = repo.lookup_snapshot(&s2).await.unwrap();
    assert_eq!((info.id, info.parent_id, info.message.as_str()), (s2, Some(s1), "second"));
    assert_eq!(info.metadata, meta);
    assert_kind(repo.lookup_snapshot(&SnapshotId([1; 12])).await, ErrorKind::SnapshotNotFound);

    assert_eq!(ancestry_ids(&repo, &snap(&s2)).await, vec![s2, s1, s0]);
    repo.create_tag("t1", &s1).await.unwrap();
    assert_eq!(ancestry_ids(&repo, &tag("t1")).await, vec![s1, s0]);
    assert!(repo.ancestry(&branch("nope")).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn diff_between_ancestor_and_descendant() {
    let (repo, s0, s1) = repo_with_array().await;
    let s2 = write_commit(
        &repo,
        "main",
        &[
            ("arr/c/1/1", chunk(5)),
            ("arr/c/0/0", chunk(6)),
            ("grp/zarr.json", group_json()),
            ("grp/arr2/zarr.json", array_json(&[10], &[5], "int32")),
            ("grp/arr2/c/1", Bytes::from(vec![0u8; 20])),
        ],
        "second",
    )
    .await;

    let d = repo.diff(&snap(&s1), &snap(&s2)).await.unwrap();
    assert_eq!(d.new_arrays, BTreeSet::from(["/grp/arr2".to_string()]));
    assert_eq!(d.new_groups, BTreeSet::from(["/grp".to_string()]));
    assert!(d.deleted_arrays.is_empty() && d.deleted_groups.is_empty());
    assert_eq!(d.updated_chunks["/arr"], BTreeSet::from([vec![0u32, 0], vec![1, 1]]));
    assert_eq!(d.updated_chunks["/grp/arr2"], BTreeSet::from([vec![1u32]]));
    assert_eq!(d.updated_chunks.len(), 2);

    // Over several commits, changes accumulate; the same via branch tip.
    let d = repo.diff(&snap(&s0), &main_branch()).await.unwrap();
    assert!(d.new_arrays.contains("/arr") && d.new_arrays.contains("/grp/arr2"), "{d:?}");
    assert_eq!(d.updated_chunks["/arr"], BTreeSet::from([vec![0u32, 0], vec![1, 1]]));

    // Deleting an array shows up as deleted.
    let session = repo.writable_session("main").await.unwrap();
    session.store().delete_dir("grp").await.unwrap();
    let s3 = session.commit("drop grp", None, false).await.unwrap();
    let d = repo.diff(&snap(&s2), &snap(&s3)).await.unwrap();
    assert_eq!(d.deleted_arrays, BTreeSet::from(["/grp/arr2".to_string()]));
    assert_eq!(d.deleted_groups, BTreeSet::from(["/grp".to_string()]));
    assert!(d.new_arrays.is_empty());

    // Newer -> older and sibling branches are not ancestors.
    assert_kind(repo.diff(&snap(&s2), &snap(&s1)).await, ErrorKind::NotAncestor);
    repo.create_branch("side", &s1).await.unwrap();
    let side = write_commit(&repo, "side", &[("arr/c/0/1", chunk(8))], "side").await;
    assert_kind(repo.diff(&snap(&side), &main_branch()).await, ErrorKind::NotAncestor);
    assert_kind(repo.diff(&main_branch(), &branch("side")).await, ErrorKind::NotAncestor);
    let d = repo.diff(&snap(&s1), &branch("side")).await.unwrap();
    assert_eq!(d.updated_chunks["/arr"], BTreeSet::from([vec![0u32, 1]]));
}

#[tokio::test(flavor = "multi_thread")]
async fn readonly_sessions_by_branch_tag_snapshot_and_time() {
    let (repo, _s0, s1) = repo_with_array().await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let s2 = write_commit(&repo, "main", &[("arr/c/0/0", chunk(2))], "second").await;
    repo.create_tag("old", &s1).await.unwrap();

    let cases = [
        (main_branch(), s2, chunk(2)),
        (tag("old"), s1, chunk(1)),
        (snap(&s1), s1, chunk(1)),
        (snap(&s2), s2, chunk(2)),
        (VersionInfo::AsOf { branch: "main".into(), at: between }, s1, chunk(1)),
        (VersionInfo::AsOf { branch: "main".into(), at: chrono::Utc::now() }, s2, chunk(2)),
    ];
    for (version, id, value) in cases {
        assert_eq!(repo.resolve_version(&version).await.unwrap(), id, "{version:?}");
        let session = repo.readonly_session(&version).await.unwrap();
        assert!(session.read_only());
        assert!(session.store().read_only());
        assert_eq!(session.snapshot_id(), id);
        assert_eq!(session.store().get("arr/c/0/0", None).await.unwrap(), Some(value), "{version:?}");
        assert_kind(session.store().set("arr/c/0/0", chunk(0)).await, ErrorKind::ReadOnly);
    }
    let early = VersionInfo::AsOf {
        branch: "main".into(),
        at: chrono::DateTime::from_timestamp(1_000_000, 0).unwrap(),
    };
    assert!(repo.readonly_session(&early).await.is_err(), "nothing existed in 1970");

    let writable = repo.writable_session("main").await.unwrap();
    assert!(!writable.read_only());
    assert_eq!(writable.branch().as_deref(), Some("main"));
    assert_eq!(writable.snapshot_id(), s2);

    assert_kind(repo.readonly_session(&branch("nope")).await.map(|_| ()), ErrorKind::RefNotFound);
    assert_kind(repo.readonly_session(&tag("nope")).await.map(|_| ()), ErrorKind::RefNotFound);
    assert_kind(
        repo.readonly_session(&snap(&SnapshotId([9; 12]))).await.map(|_| ()),
        ErrorKind::SnapshotNotFound,
    );
}

/// Bindings spawn engine futures on a multi-threaded runtime: they must be `Send`.
#[test]
fn engine_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let rt = tokio::runtime::Runtime::new().unwrap();
    let repo = rt.block_on(mem_repo());
    let v = main_branch();
    assert_send(repo.diff(&v, &v));
    assert_send(repo.ancestry(&v));
    assert_send(repo.readonly_session(&v));
    let session = rt.block_on(repo.writable_session("main")).unwrap();
    assert_send(session.commit("m", None, true));
    assert_send(session.rebase(&icechunk::conflicts::ConflictDetector));
    let store = session.store();
    assert_send(store.get("zarr.json", None));
    assert_send(store.list_dir(""));
}
