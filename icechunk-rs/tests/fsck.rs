//! `Repository::fsck`: every object a ref reaches is read and verified; what is missing or
//! damaged is reported by path, with the ref it was reached from.

mod common;

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use common::*;
use icechunk::repository::{FsckOptions, FsckProblem, FsckProgress, FsckReport};
use icechunk::session::VirtualRef;
use icechunk::storage::{ListedObject, StorageSpec};
use icechunk::{ErrorKind, IcechunkError, Repository, RepositoryConfig, SnapshotId, Storage};

/// A repository with history on two branches and a tag:
///
/// ```text
/// root ── c1 ── c2 (tag v1) ── c4 (main)
///                 └── c3 (dev)
/// ```
///
/// `/a` has chunks of 1000 bytes (chunk objects without a table), `/big` one chunk of
/// 40000 bytes (a chunk object with a block table), `/small` an inline chunk. Shards are
/// inline in the snapshots, except the shard of `/a` that c3 wrote, stored as an object.
struct Fixture {
    dir: tempfile::TempDir,
    repo: Repository,
    snapshots: [SnapshotId; 5],
    /// The chunk objects each commit wrote (index 1 for c1, ...), by file name.
    chunks: [Vec<String>; 5],
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::create(local_storage(dir.path()), None).await.unwrap();
        let root = repo.lookup_branch("main").await.unwrap();
        let mut chunks: [Vec<String>; 5] = Default::default();
        let mut known = objects(dir.path(), "chunks");
        let mut new_chunks = |dir: &Path| {
            let now = objects(dir, "chunks");
            let new: Vec<String> = now.difference(&known).cloned().collect();
            known = now;
            new
        };
        let c1 = write_commit(
            &repo,
            "main",
            &[
                ("zarr.json", group_json()),
                ("a/zarr.json", array_json(&[8000], &[1000], "uint8")),
                ("big/zarr.json", array_json(&[40000], &[40000], "uint8")),
                ("small/zarr.json", array_json(&[8], &[8], "uint8")),
                ("a/c/0", pattern(1, 1000)),
                ("a/c/1", pattern(2, 1000)),
                ("big/c/0", pattern(3, 40000)),
                ("small/c/0", pattern(4, 8)),
            ],
            "c1",
        )
        .await;
        chunks[1] = new_chunks(dir.path());
        let c2 = write_commit(&repo, "main", &[("a/c/0", pattern(5, 1000))], "c2").await;
        chunks[2] = new_chunks(dir.path());
        repo.create_tag("v1", &c2).await.unwrap();
        repo.create_branch("dev", &c2).await.unwrap();
        // Shards of this handle's commits never live inside the snapshot.
        let config = RepositoryConfig { inline_manifest_threshold_bytes: 0, ..repo.config().clone() };
        let objects_only = repo.reopen(Some(config)).unwrap();
        let c3 = write_commit(&objects_only, "dev", &[("a/c/2", pattern(6, 1000))], "c3").await;
        chunks[3] = new_chunks(dir.path());
        let c4 = write_commit(&repo, "main", &[("a/c/3", pattern(7, 1000))], "c4").await;
        chunks[4] = new_chunks(dir.path());
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [0, 3, 1, 1, 1]);
        Fixture { dir, repo, snapshots: [root, c1, c2, c3, c4], chunks }
    }

    fn path(&self, object: &str) -> std::path::PathBuf {
        self.dir.path().join(object)
    }

    /// The chunk object of `/big` (the only one with a block table).
    fn big_chunk(&self) -> String {
        let big = self.chunks[1].iter().find(|c| self.size(&format!("chunks/{c}")) > 40000);
        big.expect("a chunk object of 40000 bytes and its table").clone()
    }

    fn size(&self, object: &str) -> u64 {
        std::fs::metadata(self.path(object)).unwrap().len()
    }

    fn delete(&self, object: &str) {
        std::fs::remove_file(self.path(object)).unwrap();
    }

    /// Changes one byte of an object, `at` bytes from its start.
    fn flip(&self, object: &str, at: usize) {
        let mut bytes = std::fs::read(self.path(object)).unwrap();
        bytes[at] ^= 0x40;
        std::fs::write(self.path(object), bytes).unwrap();
    }

    async fn fsck(&self) -> FsckReport {
        self.repo.fsck(&FsckOptions::default(), None).await.unwrap()
    }
}

/// The object files under `folder` of the repository, by name.
fn objects(dir: &Path, folder: &str) -> BTreeSet<String> {
    files_under(&dir.join(folder)).into_iter().map(|p| p.to_string_lossy().into_owned()).collect()
}

fn problem(object: &str, problem: &str, reachable_from: &str) -> FsckProblem {
    FsckProblem { object: object.into(), problem: problem.into(), reachable_from: reachable_from.into() }
}

/// The single problem of a report.
#[track_caller]
fn only_problem(report: &FsckReport) -> &FsckProblem {
    assert_eq!(report.problems.len(), 1, "{:#?}", report.problems);
    &report.problems[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sound_repository_is_clean_and_every_object_is_read() {
    let fx = Fixture::new().await;
    let seen = Mutex::new(Vec::<FsckProgress>::new());
    let progress = |p: FsckProgress| seen.lock().unwrap().push(p);
    let report = fx.repo.fsck(&FsckOptions { concurrency: 4 }, Some(&progress)).await.unwrap();
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(report.refs_checked, 3, "main, dev, v1");
    assert_eq!(report.snapshots_checked, 5);
    // The first snapshot's (empty) log too: the engine writes one.
    assert_eq!(report.transaction_logs_checked, 5);
    assert_eq!(report.manifests_checked, 1, "c3's shard of /a; the others are inline");
    assert_eq!(report.chunk_objects_checked, 6);
    // Six chunk objects (c2's shard repeats c1's reference to a/c/1 unchanged: counted once),
    // and the inline chunk of /small.
    assert_eq!(report.chunk_refs_checked, 7);
    assert_eq!(report.virtual_refs_not_checked, 0);
    // Every object of the repository is reachable here, so every one was read, except the
    // hints (never trusted) and the leases of sessions (not part of any version).
    let expected: u64 = files_under(fx.dir.path())
        .iter()
        .filter(|p| !p.ends_with("hint") && !p.starts_with("leases") && !p.to_string_lossy().contains('#'))
        .map(|p| std::fs::metadata(fx.dir.path().join(p)).unwrap().len())
        .sum();
    assert_eq!(report.bytes_read, expected);

    let seen = seen.into_inner().unwrap();
    let phases: Vec<&str> = seen.iter().map(|p| p.phase).collect();
    for phase in ["repository", "refs", "snapshots", "transaction_logs", "manifests", "chunks"] {
        assert!(phases.contains(&phase), "{phase} in {phases:?}");
    }
    let chunks: Vec<(u64, u64)> =
        seen.iter().filter(|p| p.phase == "chunks").map(|p| (p.done, p.total)).collect();
    assert_eq!(chunks, (0..=6).map(|done| (done, 6)).collect::<Vec<_>>(), "one call per chunk object");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["chunk_objects_checked"], 6);
    assert_eq!(json["problems"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_chunk_object_is_named_with_the_ref_that_reaches_it() {
    let fx = Fixture::new().await;
    // A chunk of c1 that later commits no longer use: reached through main's history.
    let old = format!("chunks/{}", fx.chunks[1].iter().find(|c| **c != fx.big_chunk()).unwrap());
    fx.delete(&old);
    let report = fx.fsck().await;
    assert_eq!(only_problem(&report), &problem(&old, "missing", "branch main"));
    assert_eq!(report.chunk_objects_checked, 6);

    // Only dev reaches c3's chunk.
    let fx = Fixture::new().await;
    let dev_only = format!("chunks/{}", fx.chunks[3][0]);
    fx.delete(&dev_only);
    assert_eq!(only_problem(&fx.fsck().await), &problem(&dev_only, "missing", "branch dev"));
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_chunk_bytes_are_checksum_mismatches() {
    let fx = Fixture::new().await;
    let plain = format!("chunks/{}", fx.chunks[4][0]);
    fx.flip(&plain, 500);
    let big = format!("chunks/{}", fx.big_chunk());
    fx.flip(&big, 30000);
    let report = fx.fsck().await;
    assert_eq!(report.problems.len(), 2, "{:#?}", report.problems);
    for (object, found) in [(&plain, 1000), (&big, 40000)] {
        let found_problem = report.problems.iter().find(|p| &p.object == object).expect(object);
        let expected = format!("checksum mismatch: bytes 0..{found} have CRC-32C");
        assert!(found_problem.problem.starts_with(&expected), "{found_problem:?}");
        assert_eq!(found_problem.reachable_from, "branch main");
    }

    // A block table that no longer matches its chunk's checksum (the bytes are intact).
    let fx = Fixture::new().await;
    let big = format!("chunks/{}", fx.big_chunk());
    fx.flip(&big, fx.size(&big) as usize - 1);
    let report = fx.fsck().await;
    let found = only_problem(&report);
    assert_eq!(found.object, big);
    assert_eq!(found.problem, "checksum mismatch: the block table does not match the chunk's checksum");

    // A truncated object.
    let fx = Fixture::new().await;
    let object = format!("chunks/{}", fx.chunks[2][0]);
    let bytes = std::fs::read(fx.path(&object)).unwrap();
    std::fs::write(fx.path(&object), &bytes[..999]).unwrap();
    let report = fx.fsck().await;
    assert!(only_problem(&report).problem.starts_with("truncated: the object has 999 bytes"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_snapshot_is_reported_and_the_rest_is_still_checked() {
    let fx = Fixture::new().await;
    let c2 = format!("snapshots/{}", fx.snapshots[2]);
    fx.flip(&c2, fx.size(&c2) as usize / 2);
    let report = fx.fsck().await;
    let found = only_problem(&report);
    assert_eq!((found.object.as_str(), found.reachable_from.as_str()), (c2.as_str(), "branch main"));
    assert!(found.problem.starts_with("checksum mismatch: the header says CRC-32C"), "{found:?}");
    // c4's ancestor summaries name c1 and the root: they are checked all the same.
    assert_eq!(report.snapshots_checked, 5);
    assert_eq!(report.chunk_objects_checked, 6);
    // c2's log is not read: the damaged snapshot is not trusted to say it has one.
    assert_eq!(report.transaction_logs_checked, 4);

    // A missing tip: nothing behind it can be found from that ref.
    let fx = Fixture::new().await;
    let c3 = format!("snapshots/{}", fx.snapshots[3]);
    fx.delete(&c3);
    let report = fx.fsck().await;
    assert_eq!(only_problem(&report), &problem(&c3, "missing", "branch dev"));
    assert_eq!(report.manifests_checked, 0, "only c3 names the shard object");
    assert_eq!(report.chunk_objects_checked, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_manifests_and_logs_are_problems_but_not_the_first_snapshots_log() {
    let fx = Fixture::new().await;
    let manifests = objects(fx.dir.path(), "manifests");
    assert_eq!(manifests.len(), 1);
    let manifest = format!("manifests/{}", manifests.first().unwrap());
    fx.delete(&manifest);
    let report = fx.fsck().await;
    assert_eq!(only_problem(&report), &problem(&manifest, "missing", "branch dev"));
    assert_eq!(report.chunk_objects_checked, 5, "the chunk only that shard names is unknown");

    let fx = Fixture::new().await;
    let root_log = format!("transactions/{}", fx.snapshots[0]);
    let c3_log = format!("transactions/{}", fx.snapshots[3]);
    fx.delete(&root_log);
    fx.delete(&c3_log);
    let report = fx.fsck().await;
    assert_eq!(only_problem(&report), &problem(&c3_log, "missing", "branch dev"));

    let fx = Fixture::new().await;
    let c1_log = format!("transactions/{}", fx.snapshots[1]);
    fx.flip(&c1_log, 20);
    let report = fx.fsck().await;
    let found = only_problem(&report);
    assert_eq!((found.object.as_str(), found.reachable_from.as_str()), (c1_log.as_str(), "branch main"));
    assert!(found.problem.starts_with("checksum mismatch"), "{found:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_ref_record_is_a_problem_and_other_refs_are_still_walked() {
    let fx = Fixture::new().await;
    let tag = "refs/tag.v1/ref";
    std::fs::write(fx.path(tag), b"not a ref record").unwrap();
    let report = fx.fsck().await;
    assert_eq!(only_problem(&report), &problem(tag, "does not decode: missing object header", "tag v1"));
    assert_eq!(report.refs_checked, 2);
    assert_eq!(report.snapshots_checked, 5);

    // The tip of dev: its history is reached from main all the same, except c3.
    let fx = Fixture::new().await;
    let tip = "refs/branch.dev/00000000000000000002";
    fx.flip(tip, 30);
    let report = fx.fsck().await;
    let found = only_problem(&report);
    assert_eq!((found.object.as_str(), found.reachable_from.as_str()), (tip, "branch dev"));
    assert_eq!(report.snapshots_checked, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_history_is_not_reachable() {
    let fx = Fixture::new().await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    write_commit(&fx.repo, "main", &[("a/c/4", pattern(8, 1000))], "c5").await;
    let expired = fx.repo.expire_snapshots(cutoff, false, false).await.unwrap();
    // Kept: the root, the tips (c2 of v1, c3 of dev, c5 of main).
    assert_eq!(expired, BTreeSet::from([fx.snapshots[1], fx.snapshots[4]]));
    for id in &expired {
        fx.delete(&format!("snapshots/{id}"));
    }
    let report = fx.fsck().await;
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(report.snapshots_checked, 4);
    // Without the cuts (before the expiry's record), the same deletions are damage.
    let records = objects(fx.dir.path(), "repo");
    assert_eq!(records.len(), 1);
    fx.delete(&format!("repo/{}", records.first().unwrap()));
    let report = fx.fsck().await;
    let missing: Vec<&str> = report.problems.iter().map(|p| p.object.as_str()).collect();
    let mut expected: Vec<String> = expired.iter().map(|id| format!("snapshots/{id}")).collect();
    expected.sort();
    assert_eq!(missing, expected);
    assert!(report.problems.iter().all(|p| p.problem == "missing"));
}

#[tokio::test(flavor = "multi_thread")]
async fn virtual_chunks_are_counted_not_read() {
    let repo = mem_repo().await;
    write_commit(
        &repo,
        "main",
        &[("zarr.json", group_json()), ("a/zarr.json", array_json(&[40], &[10], "float32"))],
        "array",
    )
    .await;
    let session = repo.writable_session("main").await.unwrap();
    let refs: Vec<_> = (0..4u32)
        .map(|i| {
            let location = format!("s3://bucket/data/{i}.nc");
            (vec![i], VirtualRef { location, offset: 0, length: 40, pin: None })
        })
        .collect();
    assert!(session.set_virtual_refs("/a", refs, false).unwrap().is_empty());
    session.commit("virtual", None, false).await.unwrap();
    let report = repo.fsck(&FsckOptions::default(), None).await.unwrap();
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!((report.virtual_refs_not_checked, report.chunk_objects_checked), (4, 0));
}

/// Fails every chunk-object read as a network failure would.
#[derive(Debug)]
struct Unreachable(Arc<dyn Storage>);

#[async_trait]
impl Storage for Unreachable {
    fn spec(&self) -> StorageSpec {
        self.0.spec()
    }
    fn location(&self) -> String {
        self.0.location()
    }
    async fn get(&self, path: &str) -> icechunk::Result<Option<Bytes>> {
        if path.starts_with("chunks/") {
            return Err(IcechunkError::StorageOther("connection refused".into()));
        }
        self.0.get(path).await
    }
    async fn get_range(&self, path: &str, range: Range<u64>) -> icechunk::Result<Option<Bytes>> {
        self.0.get_range(path, range).await
    }
    async fn put(&self, path: &str, bytes: Bytes) -> icechunk::Result<()> {
        self.0.put(path, bytes).await
    }
    async fn put_if_absent(&self, path: &str, bytes: Bytes) -> icechunk::Result<bool> {
        self.0.put_if_absent(path, bytes).await
    }
    async fn list(&self, prefix: &str) -> icechunk::Result<Vec<ListedObject>> {
        self.0.list(prefix).await
    }
    async fn list_folders(&self, prefix: &str) -> icechunk::Result<Vec<String>> {
        self.0.list_folders(prefix).await
    }
    async fn delete(&self, path: &str) -> icechunk::Result<()> {
        self.0.delete(path).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_failure_stops_the_check_instead_of_being_reported() {
    let fx = Fixture::new().await;
    let storage = Arc::new(Unreachable(local_storage(fx.dir.path())));
    let repo = Repository::open(storage, None).await.unwrap();
    let options = FsckOptions::default();
    let check = repo.fsck(&options, None);
    assert_send(&check);
    assert_kind(check.await, ErrorKind::Storage);
}

fn assert_send<T: Send>(_: &T) {}
