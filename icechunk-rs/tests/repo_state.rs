//! The repository's own state: status (read-only refuses every write), metadata, feature
//! flags, the saved config, and the operations log read back from the records.

mod common;

use common::*;
use icechunk::repo_info::Availability;
use icechunk::repository::OperationKind;
use icechunk::{ErrorKind, Repository, RepositoryConfig};

#[tokio::test(flavor = "multi_thread")]
async fn read_only_status_refuses_writes_until_set_back() {
    let repo = mem_repo().await;
    let tip = repo.lookup_branch("main").await.unwrap();
    let open_before = repo.writable_session("main").await.unwrap();
    open_before.store().set("zarr.json", group_json()).await.unwrap();

    let status = repo.set_status(Availability::ReadOnly, Some("maintenance".into())).await.unwrap();
    assert_eq!(repo.status().await.unwrap(), status);
    assert_eq!(status.reason.as_deref(), Some("maintenance"));

    assert_kind(repo.writable_session("main").await, ErrorKind::ReadOnly);
    // A session opened before the change cannot commit either; its changes stay.
    assert_kind(open_before.commit("late", None, false).await, ErrorKind::ReadOnly);
    assert_kind(repo.create_branch("dev", &tip).await, ErrorKind::ReadOnly);
    assert_kind(repo.reset_branch("main", &tip, None).await, ErrorKind::ReadOnly);
    assert_kind(repo.create_tag("v1", &tip).await, ErrorKind::ReadOnly);
    assert_kind(repo.set_metadata(Default::default()).await, ErrorKind::ReadOnly);
    assert_kind(repo.save_config().await, ErrorKind::ReadOnly);
    assert_kind(repo.set_feature_flag("create_tag", Some(false)).await, ErrorKind::ReadOnly);
    // Reading works, and nothing moved.
    assert_eq!(repo.lookup_branch("main").await.unwrap(), tip);
    repo.readonly_session(&main_branch()).await.unwrap();
    assert!(repo.list_branches().await.unwrap().iter().eq(["main"]));

    repo.set_status(Availability::Online, None).await.unwrap();
    let committed = open_before.commit("after", None, false).await.unwrap();
    assert_eq!(repo.lookup_branch("main").await.unwrap(), committed);
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_updates_merge_and_none_is_lost_under_concurrency() {
    let repo = mem_repo().await;
    assert!(repo.metadata().await.unwrap().is_empty());
    let writers: Vec<_> = (0..8)
        .map(|i| {
            let repo = repo.clone();
            tokio::spawn(async move {
                let mut update = serde_json::Map::new();
                update.insert(format!("k{i}"), i.into());
                repo.update_metadata(update).await.unwrap()
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let metadata = repo.metadata().await.unwrap();
    assert_eq!(metadata.len(), 8, "{metadata:?}");
    let mut replace = serde_json::Map::new();
    replace.insert("only".into(), "this".into());
    repo.set_metadata(replace.clone()).await.unwrap();
    assert_eq!(repo.metadata().await.unwrap(), replace);
}

#[tokio::test(flavor = "multi_thread")]
async fn feature_flags_switch_tags() {
    let repo = mem_repo().await;
    let tip = repo.lookup_branch("main").await.unwrap();
    let flags = repo.feature_flags().await.unwrap();
    assert_eq!(
        flags.iter().map(|(f, _)| f.name).collect::<Vec<_>>(),
        ["move_node", "create_tag", "delete_tag"]
    );
    assert!(flags.iter().all(|(f, setting)| f.default_enabled && setting.is_none()));

    repo.set_feature_flag("create_tag", Some(false)).await.unwrap();
    assert_kind(repo.create_tag("v1", &tip).await, ErrorKind::SessionState);
    repo.set_feature_flag("create_tag", None).await.unwrap();
    repo.create_tag("v1", &tip).await.unwrap();
    repo.set_feature_flag("delete_tag", Some(false)).await.unwrap();
    assert_kind(repo.delete_tag("v1").await, ErrorKind::SessionState);
    assert_eq!(repo.lookup_tag("v1").await.unwrap(), tip);
    assert_kind(repo.set_feature_flag("no_such_flag", Some(true)).await, ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_config_is_applied_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let created = repo.config().clone();
    assert_eq!(Repository::fetch_config(local_storage(dir.path())).await.unwrap(), Some(created.clone()));

    let wanted = RepositoryConfig { inline_chunk_threshold_bytes: 7, ..created.clone() };
    let reopened = repo.reopen(Some(wanted.clone())).unwrap();
    assert_eq!(reopened.config(), &wanted);
    // Not stored until saved.
    assert_eq!(open_local(dir.path()).await.config(), &created);
    reopened.save_config().await.unwrap();
    assert_eq!(Repository::fetch_config(local_storage(dir.path())).await.unwrap(), Some(wanted.clone()));
    assert_eq!(open_local(dir.path()).await.config(), &wanted);

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(Repository::fetch_config(local_storage(empty.path())).await.unwrap(), None);
    let bad = RepositoryConfig { compression_level: 99, ..created };
    assert_kind(repo.reopen(Some(bad)), ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operations_log_reads_back_every_change_newest_first() {
    let repo = mem_repo().await;
    let first = repo.lookup_branch("main").await.unwrap();
    repo.create_branch("dev", &first).await.unwrap();
    repo.create_tag("v1", &first).await.unwrap();
    let second = write_commit(&repo, "main", &[("zarr.json", group_json())], "group").await;
    let session = repo.writable_session("main").await.unwrap();
    session.store().set("a/zarr.json", group_json()).await.unwrap();
    let amended = session.amend("amended", None, false).await.unwrap();
    repo.reset_branch("dev", &amended, None).await.unwrap();
    repo.delete_tag("v1").await.unwrap();
    repo.delete_branch("dev").await.unwrap();
    repo.update_metadata(Default::default()).await.unwrap();
    repo.set_status(Availability::ReadOnly, None).await.unwrap();
    repo.set_status(Availability::Online, None).await.unwrap();
    repo.set_feature_flag("move_node", Some(false)).await.unwrap();
    repo.save_config().await.unwrap();

    let log = repo.ops_log().await.unwrap();
    let kinds: Vec<OperationKind> = log.iter().map(|op| op.kind.clone()).collect();
    let id = |s: &icechunk::SnapshotId| Some(s.to_string());
    let expected = vec![
        OperationKind::ConfigChanged,
        OperationKind::FeatureFlagChanged { id: 3, name: "move_node".into(), value: Some(false) },
        OperationKind::StatusChanged { status: repo.status().await.unwrap() },
        kinds[3].clone(),
        OperationKind::MetadataChanged,
        OperationKind::BranchDeleted { name: "dev".into(), previous_snapshot: id(&amended) },
        OperationKind::TagDeleted { name: "v1".into(), previous_snapshot: id(&first) },
        OperationKind::BranchReset { name: "dev".into(), previous_snapshot: id(&first) },
        OperationKind::CommitAmended {
            branch: "main".into(),
            previous_snapshot: id(&second),
            new_snapshot: id(&amended),
        },
        OperationKind::NewCommit { branch: "main".into(), new_snapshot: id(&second) },
        OperationKind::TagCreated { name: "v1".into() },
        OperationKind::BranchCreated { name: "dev".into() },
        OperationKind::RepoInitialized,
    ];
    assert_eq!(kinds, expected);
    assert!(
        matches!(&kinds[3], OperationKind::StatusChanged { status } if status.availability == Availability::ReadOnly)
    );
    assert!(log.windows(2).all(|w| w[0].at >= w[1].at));
}

#[tokio::test(flavor = "multi_thread")]
async fn chunk_storage_counts_each_reachable_byte_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = local_storage(dir.path());
    let config = RepositoryConfig {
        inline_chunk_threshold_bytes: 8,
        inline_manifest_threshold_bytes: 0,
        ..Default::default()
    };
    let repo = Repository::create(storage, Some(config)).await.unwrap();
    let empty = repo.chunk_storage_stats(8).await.unwrap();
    assert_eq!((empty.native_bytes, empty.inlined_bytes), (0, 0));

    let array = array_json(&[4, 4], &[2, 2], "uint8");
    let first = write_commit(
        &repo,
        "main",
        &[
            ("zarr.json", group_json()),
            ("a/zarr.json", array),
            ("a/c/0/0", pattern(1, 100)),
            ("a/c/0/1", pattern(2, 4)),
        ],
        "one",
    )
    .await;
    let stats = repo.chunk_storage_stats(8).await.unwrap();
    assert_eq!((stats.native_bytes, stats.inlined_bytes), (100, 4));
    // A branch sharing the history and a commit that overwrites one chunk: the old chunk is
    // still reachable (from `first`), so both count; a chunk object shared by both snapshots
    // once. The inline chunk is stored again in the new shard: its bytes count twice.
    repo.create_branch("dev", &first).await.unwrap();
    write_commit(&repo, "main", &[("a/c/0/0", pattern(3, 50))], "two").await;
    let stats = repo.chunk_storage_stats(8).await.unwrap();
    assert_eq!((stats.native_bytes, stats.inlined_bytes), (150, 8));
    // The chunk objects on disk are exactly what is counted.
    let chunks = dir.path().join("chunks");
    let on_disk: u64 =
        files_under(&chunks).iter().map(|f| std::fs::metadata(chunks.join(f)).unwrap().len()).sum();
    assert_eq!(on_disk, 150);

    let tip = repo.lookup_branch("main").await.unwrap();
    let manifests = repo.list_manifest_files(&tip).await.unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].num_chunk_refs, 2);
    let stored = std::fs::metadata(dir.path().join(format!("manifests/{}", manifests[0].id))).unwrap().len();
    assert_eq!(manifests[0].size_bytes, stored);
}
