//! Round-trip budgets: on object storage every sequential request costs its latency (20 ms and
//! more on S3), so the number of requests that must wait for one another decides how fast a
//! repository opens and a commit lands. A storage wrapper adds latency to every request and
//! records when each started and ended; the longest chain of requests each starting after the
//! previous ended is the number of sequential round trips.

mod common;

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use icechunk::storage::{new_in_memory_storage, ListedObject, StorageSpec};
use icechunk::{Repository, RepositoryConfig, Result, Storage};

use common::*;

const LATENCY: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct SlowStorage {
    inner: Arc<dyn Storage>,
    /// False plays a plain HTTP server, which cannot list.
    listable: bool,
    /// (operation and path, start, end) of every request.
    log: Mutex<Vec<(String, Instant, Instant)>>,
}

impl SlowStorage {
    fn new(inner: Arc<dyn Storage>) -> Arc<Self> {
        Arc::new(SlowStorage { inner, listable: true, log: Mutex::new(Vec::new()) })
    }

    fn unlistable(inner: Arc<dyn Storage>) -> Arc<Self> {
        Arc::new(SlowStorage { inner, listable: false, log: Mutex::new(Vec::new()) })
    }

    async fn timed<T>(&self, what: String, op: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let start = Instant::now();
        tokio::time::sleep(LATENCY).await;
        let out = op.await;
        self.log.lock().unwrap().push((what, start, Instant::now()));
        out
    }

    fn take(&self) -> Vec<(String, Instant, Instant)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// The longest chain of requests in which each starts after the previous one ended.
fn sequential_round_trips(log: &[(String, Instant, Instant)]) -> usize {
    let mut by_end: Vec<_> = log.iter().collect();
    by_end.sort_by_key(|(_, _, end)| *end);
    let mut depth = vec![0usize; by_end.len()];
    for i in 0..by_end.len() {
        let (_, start, _) = by_end[i];
        let before = (0..i).filter(|&j| by_end[j].2 <= *start).map(|j| depth[j]).max().unwrap_or(0);
        depth[i] = before + 1;
    }
    depth.into_iter().max().unwrap_or(0)
}

fn describe(log: &[(String, Instant, Instant)]) -> String {
    let t0 = log.iter().map(|(_, s, _)| *s).min();
    log.iter()
        .map(|(what, s, e)| {
            let t0 = t0.unwrap_or(*s);
            format!("{what} {}..{} ms", (*s - t0).as_millis(), (*e - t0).as_millis())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[async_trait]
impl Storage for SlowStorage {
    fn spec(&self) -> StorageSpec {
        self.inner.spec()
    }
    fn location(&self) -> String {
        "slow://".into()
    }
    fn can_list(&self) -> bool {
        self.listable
    }
    async fn get(&self, path: &str) -> Result<Option<Bytes>> {
        self.timed(format!("GET {path}"), self.inner.get(path)).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> Result<Option<Bytes>> {
        self.timed(format!("GET {path} {range:?}"), self.inner.get_range(path, range)).await
    }
    async fn put(&self, path: &str, bytes: Bytes) -> Result<()> {
        self.timed(format!("PUT {path}"), self.inner.put(path, bytes)).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> Result<bool> {
        self.timed(format!("CREATE {path}"), self.inner.put_if_absent(path, bytes)).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ListedObject>> {
        assert!(self.listable, "listed {prefix} on a store that cannot list");
        self.timed(format!("LIST {prefix}"), self.inner.list(prefix)).await
    }
    async fn list_folders(&self, prefix: &str) -> Result<Vec<String>> {
        self.timed(format!("LIST/ {prefix}"), self.inner.list_folders(prefix)).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        self.timed(format!("DELETE {path}"), self.inner.delete(path)).await
    }
}

/// A repository with one array of 64 chunks of 1 KiB (objects, not inline) and a few
/// commits, on a shared in-memory store.
async fn populated(config: Option<RepositoryConfig>) -> Arc<dyn Storage> {
    let inner = new_in_memory_storage();
    let repo = Repository::create(inner.clone(), config).await.unwrap();
    let mut items: Vec<(String, Bytes)> = vec![
        ("zarr.json".into(), group_json()),
        ("arr/zarr.json".into(), array_json(&[256, 256], &[32, 32], "uint8")),
    ];
    for i in 0..8 {
        for j in 0..8 {
            items.push((format!("arr/c/{i}/{j}"), pattern(i * 8 + j, 1024)));
        }
    }
    let items: Vec<(&str, Bytes)> = items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    write_commit(&repo, "main", &items, "data").await;
    for n in 0..3 {
        write_commit(&repo, "main", &[("arr/c/0/0", pattern(100 + n, 1024))], "change").await;
    }
    inner
}

async fn open_and_read_one_chunk(storage: Arc<dyn Storage>) -> Bytes {
    let repo = Repository::open(storage, None).await.unwrap();
    let session = repo.readonly_session(&main_branch()).await.unwrap();
    let store = session.store();
    store.get("arr/zarr.json", None).await.unwrap().expect("array metadata");
    store.get("arr/c/3/4", None).await.unwrap().expect("a chunk")
}

#[tokio::test(flavor = "multi_thread")]
async fn opening_a_branch_and_reading_a_chunk_takes_three_round_trips() {
    let slow = SlowStorage::new(populated(None).await);
    let chunk = open_and_read_one_chunk(slow.clone()).await;
    assert_eq!(chunk, pattern(3 * 8 + 4, 1024));
    let log = slow.take();
    // Config + hint, then the tip check (records seq, seq + 1) + snapshot with the shard
    // inside it, then the chunk.
    // (Load can only make independent requests look sequential, never the reverse.)
    assert!(sequential_round_trips(&log) <= 3, "{}", describe(&log));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_in_its_own_object_costs_one_more_round_trip() {
    let config = RepositoryConfig { inline_manifest_threshold_bytes: 0, ..Default::default() };
    let slow = SlowStorage::new(populated(Some(config)).await);
    open_and_read_one_chunk(slow.clone()).await;
    let log = slow.take();
    assert!(sequential_round_trips(&log) >= 4, "{}", describe(&log));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_known_tip_is_checked_with_one_request() {
    let slow = SlowStorage::new(populated(None).await);
    let repo = Repository::open(slow.clone(), None).await.unwrap();
    repo.readonly_session(&main_branch()).await.unwrap();
    slow.take();
    let session = repo.readonly_session(&main_branch()).await.unwrap();
    let log = slow.take();
    assert_eq!(log.len(), 1, "{}", describe(&log));
    assert!(log[0].0.starts_with("GET refs/branch.main/"), "{}", describe(&log));

    // Someone else commits: the check finds the newer record and follows it.
    let other = Repository::open(slow.clone(), None).await.unwrap();
    let id = write_commit(&other, "main", &[("arr/c/1/1", pattern(7, 1024))], "elsewhere").await;
    tokio::time::sleep(LATENCY * 3).await; // the hint write finishes in the background
    slow.take();
    let fresh = repo.readonly_session(&main_branch()).await.unwrap();
    assert_eq!(fresh.snapshot_id(), id);
    assert_ne!(fresh.snapshot_id(), session.snapshot_id());
}

#[tokio::test(flavor = "multi_thread")]
async fn writing_a_chunk_and_committing_takes_two_round_trips() {
    let slow = SlowStorage::new(populated(None).await);
    let repo = Repository::open(slow.clone(), None).await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    slow.take();
    session.store().set("arr/c/2/2", pattern(9, 1024)).await.unwrap();
    let id = session.commit("one chunk", None, false).await.unwrap();
    let log = slow.take();
    // The chunk (uploading behind `set`), the snapshot with the shard inside and the
    // transaction log at once, then the ref record; the hint follows in the background.
    let awaited: Vec<_> = log.iter().filter(|(what, _, _)| !what.ends_with("/hint")).cloned().collect();
    assert!(sequential_round_trips(&awaited) <= 2, "{}", describe(&log));
    assert_eq!(repo.lookup_branch("main").await.unwrap(), id);
    assert_eq!(read_at(&repo, &main_branch(), "arr/c/2/2").await, Some(pattern(9, 1024)));
}

#[tokio::test(flavor = "multi_thread")]
async fn creating_a_repository_takes_four_round_trips() {
    let inner = new_in_memory_storage();
    let slow = SlowStorage::new(inner.clone());
    let repo = Repository::create(slow.clone(), None).await.unwrap();
    let log = slow.take();
    // The emptiness check, the config and the conditional-write probe at once; the config;
    // the initial snapshot and its transaction log; record 1 of main, with no look for a tip
    // (the location was empty). The probe's clean-up and the hint run in the background.
    let awaited: Vec<_> = log
        .iter()
        .filter(|(what, _, _)| !what.ends_with("/hint") && !what.starts_with("DELETE"))
        .cloned()
        .collect();
    assert!(sequential_round_trips(&awaited) <= 4, "{}", describe(&log));
    // What it made is a repository like any other: opened afresh, main is there.
    let main = repo.lookup_branch("main").await.unwrap();
    let fresh = Repository::open(inner.clone(), None).await.unwrap();
    assert_eq!(fresh.lookup_branch("main").await.unwrap(), main);
    assert!(matches!(
        Repository::create(inner, None).await,
        Err(icechunk::IcechunkError::RepositoryAlreadyExists { .. })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_hint_a_store_that_cannot_list_finds_the_tip_by_bisection() {
    let inner = new_in_memory_storage();
    let repo = Repository::create(inner.clone(), None).await.unwrap();
    let mut last = None;
    for n in 0..40 {
        let value = Bytes::from(format!(
            "{{\"zarr_format\":3,\"node_type\":\"group\",\"attributes\":{{\"n\":{n}}}}}"
        ));
        last = Some(write_commit(&repo, "main", &[("zarr.json", value)], "commit").await);
    }
    tokio::time::sleep(LATENCY).await; // the last hint write lands
    inner.delete("refs/branch.main/hint").await.unwrap();
    let slow = SlowStorage::unlistable(inner.clone());
    let repo = Repository::open(slow.clone(), None).await.unwrap();
    slow.take();
    assert_eq!(repo.lookup_branch("main").await.unwrap(), last.unwrap());
    let log = slow.take();
    // 41 records: the hint (missing), records 1, 3, 7, ..., 63 (missing), then 5 of bisection;
    // the last record read is the tip, nothing is read twice.
    assert!(log.len() <= 13, "{} reads: {}", log.len(), describe(&log));

    // A hint ahead of the records (say, records restored from an older backup) also works.
    inner.put("refs/branch.main/hint", Bytes::from_static(b"1000")).await.unwrap();
    let repo = Repository::open(SlowStorage::unlistable(inner), None).await.unwrap();
    assert_eq!(repo.lookup_branch("main").await.unwrap(), last.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_set_one_after_another_upload_together() {
    let slow = SlowStorage::new(populated(None).await);
    let repo = Repository::open(slow.clone(), None).await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    slow.take();
    // A client awaiting each write in turn (zarr keeps ~10 in flight): the uploads still
    // overlap, since `set` returns once the upload is queued.
    for i in 0..8 {
        for j in 0..8 {
            store.set(&format!("arr/c/{i}/{j}"), pattern(1000 + i * 8 + j, 1024)).await.unwrap();
        }
    }
    // Read-your-writes while the uploads may still be in flight.
    assert_eq!(store.get("arr/c/7/7", None).await.unwrap(), Some(pattern(1063, 1024)));
    session.commit("64 chunks", None, false).await.unwrap();
    let log = slow.take();
    let awaited: Vec<_> = log.iter().filter(|(what, _, _)| !what.ends_with("/hint")).cloned().collect();
    assert!(sequential_round_trips(&awaited) <= 3, "{}", describe(&log));
    let reader = Repository::open(slow.clone(), None).await.unwrap();
    for (i, j) in [(0, 0), (3, 5), (7, 7)] {
        let want = pattern(1000 + i * 8 + j, 1024);
        assert_eq!(read_at(&reader, &main_branch(), &format!("arr/c/{i}/{j}")).await, Some(want));
    }
}
