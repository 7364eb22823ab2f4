//! The engine on a real S3-compatible server: moto's, started on 127.0.0.1 by the test helper
//! (one server for this test binary, one bucket per test). Without moto these tests fail.

mod common;
#[path = "common/moto.rs"]
mod moto;

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use icechunk::storage::{from_spec, new_http_storage, new_s3_storage, NetworkOptions, S3Options};
use icechunk::{ErrorKind, Repository, Session, SnapshotId, Storage, StorageSpec};
use moto::{shared, ACCESS_KEY_ID, SECRET_ACCESS_KEY};

fn s3(options: S3Options) -> Arc<dyn Storage> {
    new_s3_storage(options).expect("S3 storage")
}

/// A fresh bucket and the options of a repository in it.
fn fresh(tag: &str) -> S3Options {
    let server = shared();
    let bucket = server.new_bucket(tag);
    server.options(&bucket, "repos/one")
}

async fn setup(repo: &Repository, shape: &[u64]) -> SnapshotId {
    let chunks: Vec<u64> = shape.iter().map(|_| 1).collect();
    write_commit(
        repo,
        "main",
        &[("zarr.json", group_json()), ("arr/zarr.json", array_json(shape, &chunks, "uint8"))],
        "setup",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_on_s3_writes_commits_and_reads_back() {
    let options = fresh("repo");
    let repo = Repository::create(s3(options.clone()), None).await.unwrap();
    setup(&repo, &[4, 4]).await;
    // Inline (40 B) and external (2000 B) chunks.
    let values: Vec<(String, Bytes)> = (0..8u64)
        .map(|i| (format!("arr/c/{}/{}", i / 4, i % 4), pattern(i, if i % 2 == 0 { 40 } else { 2000 })))
        .collect();
    let items: Vec<(&str, Bytes)> = values.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let id = write_commit(&repo, "main", &items, "chunks").await;

    // Another storage instance, as another process would have.
    let reopened = Repository::open(s3(options.clone()), None).await.unwrap();
    assert_eq!(reopened.lookup_branch("main").await.unwrap(), id);
    let session = reopened.readonly_session(&main_branch()).await.unwrap();
    for (k, v) in &values {
        assert_eq!(session.store().get(k, None).await.unwrap().as_ref(), Some(v), "{k}");
    }
    assert!(session.store().get("arr/c/3/3", None).await.unwrap().is_none());
    let history = ancestry(&reopened, &main_branch()).await;
    assert_eq!(
        history.iter().map(|s| s.message.as_str()).collect::<Vec<_>>(),
        ["chunks", "setup", "Repository initialized"]
    );

    assert_kind(Repository::create(s3(options.clone()), None).await, ErrorKind::AlreadyExists);
    let elsewhere = S3Options { prefix: "repos/none".into(), ..options.clone() };
    assert_kind(Repository::open(s3(elsewhere), None).await, ErrorKind::RepositoryNotFound);

    // The create-if-absent check left nothing the engine sees.
    let listed = s3(options).list("").await.unwrap();
    assert!(listed.iter().all(|o| !o.path.contains("probe")), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_if_absent_on_moto_has_exactly_one_winner() {
    let storage = s3(fresh("create"));
    for round in 0..5 {
        let path = format!("race/{round}");
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let (storage, path) = (storage.clone(), path.clone());
                tokio::spawn(
                    async move { storage.put_if_absent(&path, Bytes::from(vec![i; 10])).await.unwrap() },
                )
            })
            .collect();
        let mut winners = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if t.await.unwrap() {
                winners.push(i as u8);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(storage.get(&path).await.unwrap().unwrap(), Bytes::from(vec![winners[0]; 10]));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn branches_and_tags_on_s3() {
    let repo = Repository::create(s3(fresh("refs")), None).await.unwrap();
    let base = setup(&repo, &[4]).await;
    repo.create_branch("dev", &base).await.unwrap();
    assert_kind(repo.create_branch("dev", &base).await, ErrorKind::AlreadyExists);
    let on_dev = write_commit(&repo, "dev", &[("arr/c/0", pattern(1, 900))], "on dev").await;
    assert_eq!(repo.lookup_branch("dev").await.unwrap(), on_dev);
    assert_eq!(repo.lookup_branch("main").await.unwrap(), base);
    assert_eq!(repo.list_branches().await.unwrap(), BTreeSet::from(["dev".to_string(), "main".to_string()]));
    assert_eq!(read_at(&repo, &branch("dev"), "arr/c/0").await, Some(pattern(1, 900)));
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/0").await, None);

    repo.create_tag("v1", &on_dev).await.unwrap();
    assert_kind(repo.create_tag("v1", &base).await, ErrorKind::AlreadyExists);
    assert_eq!(repo.lookup_tag("v1").await.unwrap(), on_dev);
    assert_eq!(read_at(&repo, &tag("v1"), "arr/c/0").await, Some(pattern(1, 900)));
    repo.delete_tag("v1").await.unwrap();
    assert_kind(repo.lookup_tag("v1").await, ErrorKind::RefNotFound);
    assert_kind(repo.create_tag("v1", &base).await, ErrorKind::AlreadyExists);
    assert!(repo.list_tags().await.unwrap().is_empty());

    repo.reset_branch("main", &on_dev, Some(&base)).await.unwrap();
    assert_kind(repo.reset_branch("main", &base, Some(&base)).await, ErrorKind::Conflict);
    repo.delete_branch("dev").await.unwrap();
    assert_kind(repo.lookup_branch("dev").await, ErrorKind::RefNotFound);
    assert_eq!(repo.list_branches().await.unwrap(), BTreeSet::from(["main".to_string()]));
    assert_eq!(repo.lookup_branch("main").await.unwrap(), on_dev);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_commits_to_one_s3_branch_lose_nothing() {
    const TASKS: u64 = 8;
    const ATTEMPTS: u64 = 2;
    let options = fresh("concurrent");
    let repo = Repository::create(s3(options.clone()), None).await.unwrap();
    let base = setup(&repo, &[TASKS, ATTEMPTS]).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            // Each task with its own repository and storage instance, like separate processes.
            let options = options.clone();
            tokio::spawn(async move {
                let repo = Repository::open(s3(options), None).await.unwrap();
                let mut landed = Vec::new();
                let mut conflicts = 0;
                // Each task commits ATTEMPTS chunks, starting over from the tip after a conflict.
                for i in 0..ATTEMPTS {
                    let key = format!("arr/c/{t}/{i}");
                    for _ in 0..200 {
                        let session = repo.writable_session("main").await.unwrap();
                        session.store().set(&key, pattern(t * 100 + i, 600)).await.unwrap();
                        match session.commit(&format!("{t}/{i}"), None, false).await {
                            Ok(id) => {
                                landed.push((id, key.clone(), t * 100 + i));
                                break;
                            }
                            Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                            Err(e) => panic!("commit {t}/{i}: neither landed nor a conflict: {e}"),
                        }
                    }
                }
                (landed, conflicts)
            })
        })
        .collect();
    let mut landed = Vec::new();
    let mut conflicts = 0;
    for t in tasks {
        let (l, c) = t.await.unwrap();
        landed.extend(l);
        conflicts += c;
    }
    assert_eq!(landed.len() as u64, TASKS * ATTEMPTS, "every task got its commits in");

    let history = ancestry_ids(&repo, &main_branch()).await;
    let pos = history.iter().position(|id| *id == base).expect("the setup commit is an ancestor");
    let on_top: BTreeSet<SnapshotId> = history[..pos].iter().copied().collect();
    let succeeded: BTreeSet<SnapshotId> = landed.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(on_top.len(), pos, "no snapshot twice in the ancestry");
    assert_eq!(on_top, succeeded, "the ancestry holds exactly the commits that succeeded");
    // The chunk of every landed commit is there, of those that conflicted none is.
    let session = repo.readonly_session(&main_branch()).await.unwrap();
    let mut present = 0;
    for t in 0..TASKS {
        for i in 0..ATTEMPTS {
            let key = format!("arr/c/{t}/{i}");
            let got = session.store().get(&key, None).await.unwrap();
            match landed.iter().find(|(_, k, _)| *k == key) {
                Some((_, _, seed)) => {
                    assert_eq!(got, Some(pattern(*seed, 600)), "{key}");
                    present += 1;
                }
                None => assert_eq!(got, None, "{key} conflicted but is present"),
            }
        }
    }
    assert_eq!(present, landed.len());
    eprintln!("{} commits landed from {TASKS} concurrent tasks, after {conflicts} conflicts", landed.len());
}

async fn send(session: &Session) -> Session {
    Session::from_bytes(&session.to_bytes().await.expect("serializes")).await.expect("deserializes")
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_travel_to_other_processes_with_their_s3_storage() {
    let options = fresh("wire");
    let repo = Repository::create(s3(options.clone()), None).await.unwrap();
    setup(&repo, &[2, 2]).await;
    write_commit(&repo, "main", &[("arr/c/0/0", pattern(5, 1500))], "first chunk").await;

    // A read-only session: its storage, credentials included, is rebuilt from the bytes.
    let reader = repo.readonly_session(&main_branch()).await.unwrap();
    let copy = send(&reader).await;
    assert_eq!(copy.snapshot_id(), reader.snapshot_id());
    assert_eq!(copy.repository().storage().spec(), StorageSpec::S3(options.clone()));
    assert_eq!(copy.store().get("arr/c/0/0", None).await.unwrap(), Some(pattern(5, 1500)));

    // Forks written by "workers" and merged back into one commit.
    let session = repo.writable_session("main").await.unwrap();
    let mut returned = Vec::new();
    for (i, key) in ["arr/c/0/1", "arr/c/1/0", "arr/c/1/1"].into_iter().enumerate() {
        let worker = send(&session.fork().unwrap()).await;
        worker.store().set(key, pattern(10 + i as u64, 1500)).await.unwrap();
        returned.push(send(&worker).await);
    }
    session.merge(&returned).unwrap();
    let id = session.commit("from workers", None, false).await.unwrap();
    let reopened = Repository::open(from_spec(&StorageSpec::S3(options)).unwrap(), None).await.unwrap();
    assert_eq!(reopened.lookup_branch("main").await.unwrap(), id);
    for (i, key) in ["arr/c/0/1", "arr/c/1/0", "arr/c/1/1"].into_iter().enumerate() {
        assert_eq!(
            read_at(&reopened, &main_branch(), key).await,
            Some(pattern(10 + i as u64, 1500)),
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn large_chunks_are_read_in_parts_on_s3() {
    let options = S3Options {
        network: NetworkOptions {
            large_read_threshold: 256 * 1024,
            read_part_size: 64 * 1024,
            ..Default::default()
        },
        ..fresh("large")
    };
    let repo = Repository::create(s3(options.clone()), None).await.unwrap();
    setup(&repo, &[2]).await;
    let big = pattern(77, 1024 * 1024 + 123);
    write_commit(&repo, "main", &[("arr/c/0", big.clone()), ("arr/c/1", pattern(78, 5000))], "big").await;
    let reopened = Repository::open(s3(options), None).await.unwrap();
    assert_eq!(read_at(&reopened, &main_branch(), "arr/c/0").await, Some(big));
    assert_eq!(read_at(&reopened, &main_branch(), "arr/c/1").await, Some(pattern(78, 5000)));
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_appear_in_messages() {
    let options = fresh("secrets");
    let storage = s3(options.clone());
    let repo = Repository::create(storage.clone(), None).await.unwrap();
    let spec = storage.spec();
    let texts = [
        format!("{spec:?}"),
        format!("{spec:#?}"),
        spec.to_string(),
        format!("{storage:?}"),
        format!("{:?}", repo.storage()),
        format!("{repo:?}"),
        format!("{options:?}"),
    ];
    for text in &texts {
        assert!(!text.contains(SECRET_ACCESS_KEY) && !text.contains(ACCESS_KEY_ID), "{text}");
    }
    assert!(spec.to_string().starts_with("s3_storage(bucket="), "{spec}");

    // Errors from the server: a missing bucket.
    let missing = S3Options { bucket: "no-such-bucket-here".into(), ..options.clone() };
    let err = Repository::create(s3(missing), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(SECRET_ACCESS_KEY) && !text.contains(ACCESS_KEY_ID), "{text}");
    }
    // A closed port: transport errors.
    let closed = S3Options {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        network: NetworkOptions {
            max_retries: 1,
            initial_backoff: std::time::Duration::from_millis(1),
            ..Default::default()
        },
        ..options
    };
    let err = Repository::open(s3(closed), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(SECRET_ACCESS_KEY) && !text.contains(ACCESS_KEY_ID), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_storage_reads_a_repository_and_refuses_writes() {
    let server = shared();
    let options = server.options(&server.new_public_bucket("http"), "repos/one");
    let repo = Repository::create(s3(options.clone()), None).await.unwrap();
    setup(&repo, &[2]).await;
    let id =
        write_commit(&repo, "main", &[("arr/c/0", pattern(3, 3000)), ("arr/c/1", pattern(4, 30))], "data")
            .await;

    // moto serves the objects of a public-read bucket to unsigned GETs, like a web server.
    let url = format!("{}/{}/{}", shared().endpoint, options.bucket, options.prefix);
    let http = new_http_storage(url.clone()).unwrap();
    assert_eq!(http.spec().to_string(), format!("http_storage({url:?})"));
    let reader = Repository::open(http, None).await.unwrap();
    assert_eq!(reader.lookup_branch("main").await.unwrap(), id);
    assert_eq!(read_at(&reader, &main_branch(), "arr/c/0").await, Some(pattern(3, 3000)));
    assert_eq!(read_at(&reader, &main_branch(), "arr/c/1").await, Some(pattern(4, 30)));

    let session = reader.writable_session("main").await.unwrap();
    // A large chunk is uploaded behind `set`, but on read-only storage it is refused at once.
    assert_kind(session.store().set("arr/c/0", pattern(5, 3000)).await, ErrorKind::ReadOnly);
    // A small one stays in the session until the commit, which is refused.
    session.store().set("arr/c/1", pattern(6, 30)).await.unwrap();
    let err = session.commit("must fail", None, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly, "{err}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert_kind(reader.create_tag("t", &id).await, ErrorKind::ReadOnly);
    assert_eq!(repo.lookup_branch("main").await.unwrap(), id);
}
