//! A fault-injecting storage between the engine and a real in-memory object store:
//! lost responses of conditional creates, and failing writes at every step of a commit.

mod common;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use icechunk::storage::{new_in_memory_storage, ListedObject, StorageSpec};
use icechunk::{ErrorKind, IcechunkError, Repository, RepositoryConfig, Result, Storage};

use common::main_branch;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// The create lands, but the answer says "already exists", as when a retried request
    /// whose first response was lost finds its own object.
    LoseCreateResponse,
    /// The first write (after arming) of a path starting with this fails before writing
    /// anything; later ones succeed.
    FailOnce(&'static str),
    /// Every write of a branch hint fails.
    FailHint,
    /// Every write of a chunk object fails.
    FailChunks,
}

#[derive(Debug)]
struct FaultyStorage {
    inner: Arc<dyn Storage>,
    fault: std::sync::Mutex<Fault>,
    /// Whether the armed `FailOnce` has struck.
    struck: AtomicBool,
}

impl FaultyStorage {
    fn new() -> Arc<Self> {
        Arc::new(FaultyStorage {
            inner: new_in_memory_storage(),
            fault: std::sync::Mutex::new(Fault::None),
            struck: AtomicBool::new(false),
        })
    }

    fn arm(&self, fault: Fault) {
        self.struck.store(false, Ordering::SeqCst);
        *self.fault.lock().unwrap() = fault;
    }

    fn maybe_fail_put(&self, path: &str) -> Result<()> {
        let fail = match *self.fault.lock().unwrap() {
            Fault::FailHint => path.ends_with("/hint"),
            Fault::FailChunks => path.starts_with("chunks/"),
            Fault::FailOnce(prefix) => path.starts_with(prefix) && !self.struck.swap(true, Ordering::SeqCst),
            Fault::None | Fault::LoseCreateResponse => false,
        };
        if fail {
            return Err(IcechunkError::StorageOther(format!("injected failure writing {path}")));
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for FaultyStorage {
    fn spec(&self) -> StorageSpec {
        self.inner.spec()
    }
    fn location(&self) -> String {
        "faulty://".into()
    }
    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        self.inner.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        self.inner.get_range(path, range).await
    }
    async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        self.maybe_fail_put(path)?;
        self.inner.put(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        self.maybe_fail_put(path)?;
        let created = self.inner.put_if_absent(path, bytes).await?;
        if *self.fault.lock().unwrap() == Fault::LoseCreateResponse && path.starts_with("refs/") {
            return Ok(false);
        }
        Ok(created)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        self.inner.list(prefix).await
    }
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list_folders(prefix).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        self.inner.delete(path).await
    }
}

const ARRAY: &str = r#"{"zarr_format":3,"node_type":"array","shape":[4],"data_type":"uint8",
"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[1]}},
"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},
"fill_value":0,"codecs":[{"name":"bytes"}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_create_response_is_recognised_as_our_own_write() {
    let storage = FaultyStorage::new();
    let repo = Repository::create(storage.clone(), None).await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    session.store().set("zarr.json", Bytes::from_static(ARRAY.as_bytes())).await.unwrap();
    storage.arm(Fault::LoseCreateResponse);
    let id = session.commit("lost response", None, false).await.expect("not a false conflict");
    assert_eq!(repo.lookup_branch("main").await.unwrap(), id);
    repo.create_tag("v1", &id).await.expect("tag create recognised as ours");
    assert_eq!(repo.lookup_tag("v1").await.unwrap(), id);
    // Exactly one new record: the commit was not applied twice.
    let records = storage.inner.list("refs/branch.main/").await.unwrap();
    assert_eq!(records.iter().filter(|o| o.path != "hint").count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_commit_that_fails_at_any_write_leaves_the_branch_whole() {
    let storage = FaultyStorage::new();
    // Shards in objects of their own, so that their write is one of the steps.
    let config = RepositoryConfig { inline_manifest_threshold_bytes: 0, ..Default::default() };
    let repo = Repository::create(storage.clone(), Some(config)).await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set("zarr.json", Bytes::from_static(ARRAY.as_bytes())).await.unwrap();
    store.set("c/0", Bytes::from(vec![7u8; 2000])).await.unwrap();
    let base = session.commit("base", None, false).await.unwrap();

    // A commit of one new chunk (big, so it is an object) writes: chunk (behind `set`), shard,
    // transaction log and snapshot (at once, with the chunk still uploading), then the ref
    // record. Fail each write in turn. A failed chunk upload is retried before the ref moves,
    // so that commit lands; any other failure fails the commit and leaves the branch.
    let steps = ["chunks/", "manifests/", "transactions/", "snapshots/", "refs/branch.main/0"];
    let mut failures = 0;
    for step in steps {
        let session = repo.writable_session("main").await.unwrap();
        let tip_before = repo.lookup_branch("main").await.unwrap();
        storage.arm(Fault::FailOnce(step));
        let outcome = async {
            session.store().set("c/1", Bytes::from(vec![step.len() as u8; 2000])).await?;
            session.commit("faulty", None, false).await
        }
        .await;
        storage.arm(Fault::None);
        let tip_after = repo.lookup_branch("main").await.unwrap();
        match outcome {
            Ok(id) => {
                assert_eq!(step, "chunks/", "the commit survived a failed write of {step}");
                assert_eq!(tip_after, id, "an acknowledged commit is on the branch");
            }
            Err(e) => {
                failures += 1;
                assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
                assert_eq!(tip_after, tip_before, "a failed commit did not move the branch");
            }
        }
        // Whatever happened, every version reads whole.
        let reader = repo.readonly_session(&main_branch()).await.unwrap();
        assert_eq!(reader.store().get("c/0", None).await.unwrap().unwrap(), vec![7u8; 2000]);
    }
    assert_eq!(failures, 4);
    assert_ne!(repo.lookup_branch("main").await.unwrap(), base);

    // The hint write is best effort (and in the background): its failure does not fail the
    // commit, and the tip is found without it.
    storage.arm(Fault::FailHint);
    let session = repo.writable_session("main").await.unwrap();
    session.store().set("c/1", Bytes::from(vec![9u8; 2000])).await.unwrap();
    let id = session.commit("hint fails", None, false).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    storage.arm(Fault::None);
    let fresh = Repository::open(storage.clone(), None).await.unwrap();
    assert_eq!(fresh.lookup_branch("main").await.unwrap(), id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_that_cannot_be_stored_fails_the_commit_and_loses_nothing() {
    let storage = FaultyStorage::new();
    let repo = Repository::create(storage.clone(), None).await.unwrap();
    let base = repo.lookup_branch("main").await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set("zarr.json", Bytes::from_static(ARRAY.as_bytes())).await.unwrap();
    storage.arm(Fault::FailChunks);
    // `set` only queues the upload: it succeeds, and the bytes read back from the session.
    store.set("c/2", Bytes::from(vec![5u8; 3000])).await.unwrap();
    assert_eq!(store.get("c/2", None).await.unwrap().unwrap(), vec![5u8; 3000]);
    let err = session.commit("chunk lost", None, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    assert_eq!(repo.lookup_branch("main").await.unwrap(), base, "nothing was published");
    assert!(session.has_uncommitted_changes());

    // The store recovers: the same session commits, and the chunk is there.
    storage.arm(Fault::None);
    let id = session.commit("chunk stored", None, false).await.unwrap();
    let reader = repo.readonly_session(&icechunk::VersionInfo::Snapshot(id)).await.unwrap();
    assert_eq!(reader.store().get("c/2", None).await.unwrap().unwrap(), vec![5u8; 3000]);
}
