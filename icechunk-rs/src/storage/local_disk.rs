//! Reads of a repository on local disk with at most one thread hand-off, and none when the
//! caller's thread is waiting anyway; chunk objects written in place; deletes in batches, one
//! hand-off per batch.
//!
//! `object_store`'s local store reads on tokio's blocking pool twice per object (open, then
//! read), and waking a pool thread costs more than reading a chunk from the page cache:
//! measured on the 2-core VM CI runs on, `std::fs::read` of a 40 KB chunk takes 11 µs, one
//! `spawn_blocking` 70 to 120 µs, object_store's get 170 to 260 µs. So:
//! - code that polls the engine on a thread that waits for it anyway says so with
//!   [`with_inline_reads`] (zarrs's sync API: [`InlineReads::Any`]; the Python binding's first
//!   poll of a store call: a budget of [`InlineReads::UpTo`] bytes), and reads there;
//! - everything else reads on the blocking pool, open and read in one hand-off, so that a slow
//!   disk never stalls a runtime worker and a batch of reads (a commit's manifests, GC, fsck)
//!   stays concurrent even under `block_on`.
//!
//! A collection deletes objects by the hundred thousand: one hand-off each (object_store's
//! way) costs more than the unlink, and unlinks in one folder take turns on its lock anyway,
//! so a batch of names is unlinked on one pool thread.
//!
//! A chunk object is written in place rather than staged and renamed, and up to 1 MiB on the
//! thread of its upload task ([`LocalDisk::write_new`]): the trade here is the other way
//! round, a page-cache copy against a hand-off, at the price of a runtime worker waiting
//! while a slow disk (or the kernel's throttling of a writer with too much unwritten data)
//! holds a small write up.
//!
//! Anything unusual goes to `object_store` instead, so that its behaviour stays the one
//! callers see: paths with characters it would encode, ranges starting past the end, errors
//! other than a missing file.

use std::cell::Cell;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::ListedObject;
use crate::error::{IcechunkError, Result};

/// What a local read found; `None` around it: ask `object_store`.
pub(super) type LocalRead = Option<Option<Bytes>>;

/// How much of a local-disk read the calling thread does itself, for code that polls the
/// engine's futures outside a tokio task (see [`with_inline_reads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineReads {
    /// Every read on tokio's blocking pool.
    Never,
    /// A budget: reads here while they fit in this many bytes in all, the rest (a large object,
    /// or the later reads of a batch polled at once) on the blocking pool, so that they overlap.
    UpTo(u64),
    /// Every read here.
    Any,
}

thread_local! {
    static POLICY: Cell<Option<InlineReads>> = const { Cell::new(None) };
}

/// Runs `f` with `policy` for the engine's local-disk reads done on this thread (by default
/// none: every read on the blocking pool). For code whose thread blocks on the engine anyway:
/// zarrs's sync API reads inline; the Python binding polls a store call once on the event
/// loop's thread, the interpreter released, with a budget: a chunk read there costs less than
/// waking another thread, a large one or many would hold up the loop.
pub fn with_inline_reads<R>(policy: InlineReads, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<InlineReads>);
    impl Drop for Restore {
        fn drop(&mut self) {
            POLICY.set(self.0);
        }
    }
    let _restore = Restore(POLICY.replace(Some(policy)));
    f()
}

/// `future` with `policy` applied while it is polled (the budget of [`InlineReads::UpTo`]
/// spent across polls): for a task that reads a few small objects and may as well read them
/// on the runtime thread that polls it rather than hand each to the blocking pool.
pub fn reading_inline<F: Future>(policy: InlineReads, future: F) -> impl Future<Output = F::Output> {
    let mut future = Box::pin(future);
    let mut policy = policy;
    std::future::poll_fn(move |cx| {
        let current = policy;
        with_inline_reads(current, || {
            let poll = future.as_mut().poll(cx);
            policy = POLICY.get().unwrap_or(InlineReads::Never);
            poll
        })
    })
}

/// Whether this thread may read `len` bytes inline now; takes them from its budget if so.
fn take_inline(len: u64) -> bool {
    match POLICY.get() {
        None | Some(InlineReads::Never) => false,
        Some(InlineReads::Any) => true,
        Some(InlineReads::UpTo(budget)) if len <= budget => {
            POLICY.set(Some(InlineReads::UpTo(budget - len)));
            true
        }
        Some(InlineReads::UpTo(_)) => false,
    }
}

/// Whether this thread reads anything inline (opening the file here to learn its length).
fn may_read_inline() -> bool {
    matches!(POLICY.get(), Some(InlineReads::Any) | Some(InlineReads::UpTo(1..)))
}

#[derive(Debug, Clone)]
pub(super) struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    /// Reads below `root`, the canonical folder the `object_store` local store serves.
    pub(super) fn new(root: PathBuf) -> Self {
        LocalDisk { root }
    }

    /// The bytes of `path` (all, or `range` clipped to the end as object_store does), `Some(None)`
    /// when it does not exist, `None` when `object_store` must answer.
    pub(super) async fn read(&self, path: &str, range: Option<Range<u64>>) -> LocalRead {
        let file = self.file(path)?;
        if range.as_ref().is_some_and(|r| r.start > r.end) {
            return None;
        }
        if !may_read_inline() {
            return on_blocking_pool(move || read_file(&file, range)).await;
        }
        let Some((handle, len)) = open(&file)? else {
            return Some(None);
        };
        let wanted = wanted(range, len)?;
        if take_inline(wanted.end - wanted.start) {
            read_range(handle, wanted)
        } else {
            on_blocking_pool(move || read_range(handle, wanted)).await
        }
    }

    /// Writes `bytes` as the file of `path` (see [`Storage::put_new`]) in place: created, or
    /// cut to nothing first (a retry over a part left by a failed write), with its folder
    /// created if missing. Up to [`INLINE_WRITE_MAX`] bytes on the calling thread, more on
    /// the blocking pool. `None` when `object_store` must write it.
    ///
    /// Why not object_store's way (a staging file renamed over the name, then a `stat` for
    /// its answer): the name is fresh and unread until this returns, so the rename buys
    /// nothing, and it costs a second change to the folder, whose lock every other file
    /// created there waits for. Measured on this project's 2-core VM, 400 files of 40 KB into
    /// one folder on 2 to 16 threads: 7 to 9 ms in place, 12 to 16 ms staged and renamed.
    ///
    /// [`Storage::put_new`]: super::Storage::put_new
    pub(super) async fn write_new(&self, path: &str, bytes: Bytes) -> Option<Result<()>> {
        let file = self.file(path)?;
        let bytes_len = bytes.len();
        let write = move || {
            write_in_place(&file, &bytes).map_err(|e| format!("cannot write {}: {e}", file.display()))
        };
        if bytes_len <= INLINE_WRITE_MAX {
            return Some(write().map_err(IcechunkError::StorageOther));
        }
        Some(match tokio::task::spawn_blocking(write).await {
            Ok(written) => written.map_err(IcechunkError::StorageOther),
            Err(e) => Err(IcechunkError::StorageOther(format!("writing {path}: {e}"))),
        })
    }

    /// Unlinks `paths` on one blocking-pool thread. Per path: `Some(Ok(()))` deleted or
    /// already gone, `Some(Err(message))`, `None` when `object_store` must delete it.
    pub(super) async fn delete_batch(&self, paths: Vec<String>) -> Vec<Option<Result<(), String>>> {
        let files: Vec<Option<PathBuf>> = paths.iter().map(|path| self.file(path)).collect();
        let unlink = move || {
            files
                .into_iter()
                .map(|file| {
                    let file = file?;
                    Some(match std::fs::remove_file(&file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            Err(format!("cannot delete {}: {e}", file.display()))
                        }
                        _ => Ok(()),
                    })
                })
                .collect::<Vec<_>>()
        };
        let count = paths.len();
        tokio::task::spawn_blocking(unlink).await.unwrap_or_else(|_| vec![None; count])
    }

    /// The plain-named files under the folder `prefix` ("chunks/"), recursively, relative to
    /// it, without a `stat` each: `None` when the prefix is not a plain folder name. Other
    /// names (object_store's staging files, names it would decode) are left out: garbage
    /// collection, the one user, deletes only object ids, which are plain.
    pub(super) async fn list_paths(&self, prefix: &str) -> Result<Option<Vec<String>>> {
        let Some(folder) = self.file(prefix.trim_end_matches('/')) else { return Ok(None) };
        let walk = move || {
            let mut found = Vec::new();
            let mut pending = vec![(folder, String::new())];
            while let Some((dir, relative)) = pending.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
                    let Some(name) = entry.file_name().to_str().filter(|n| plain_part(n)).map(String::from)
                    else {
                        continue;
                    };
                    let kind = entry.file_type().map_err(|e| format!("cannot list {name}: {e}"))?;
                    if kind.is_dir() {
                        pending.push((entry.path(), format!("{relative}{name}/")));
                    } else if kind.is_file() {
                        found.push(format!("{relative}{name}"));
                    }
                }
            }
            Ok(found)
        };
        match tokio::task::spawn_blocking(walk).await {
            Ok(Ok(found)) => Ok(Some(found)),
            Ok(Err(message)) => Err(IcechunkError::StorageOther(message)),
            Err(e) => Err(IcechunkError::StorageOther(format!("listing {prefix}: {e}"))),
        }
    }

    /// Sizes and modification times of `paths` under the folder `prefix`; a file gone
    /// meanwhile is left out.
    pub(super) async fn describe(&self, prefix: &str, paths: Vec<String>) -> Result<Vec<ListedObject>> {
        let prefix = prefix.trim_end_matches('/');
        let folder =
            self.file(prefix).ok_or_else(|| IcechunkError::StorageOther(format!("bad folder {prefix}")))?;
        let stat = move || {
            let mut described = Vec::with_capacity(paths.len());
            for path in paths {
                let metadata = match std::fs::metadata(folder.join(&path)) {
                    Ok(metadata) => metadata,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(format!("cannot read {path}: {e}")),
                };
                let modified = metadata.modified().map_err(|e| format!("{path}: {e}"))?;
                described.push(ListedObject { path, size: metadata.len(), last_modified: modified.into() });
            }
            Ok(described)
        };
        match tokio::task::spawn_blocking(stat).await {
            Ok(Ok(described)) => Ok(described),
            Ok(Err(message)) => Err(IcechunkError::StorageOther(message)),
            Err(e) => Err(IcechunkError::StorageOther(format!("describing {prefix}: {e}"))),
        }
    }

    /// The file of `path` when its name maps to the file system as is: object_store
    /// percent-decodes names, so only plain ones are read here.
    fn file(&self, path: &str) -> Option<PathBuf> {
        path.split('/').all(plain_part).then(|| self.root.join(path))
    }
}

/// A path segment that object_store maps to the file system as is.
fn plain_part(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

async fn on_blocking_pool(read: impl FnOnce() -> LocalRead + Send + 'static) -> LocalRead {
    tokio::task::spawn_blocking(read).await.ok().flatten()
}

fn read_file(file: &Path, range: Option<Range<u64>>) -> LocalRead {
    let Some((handle, len)) = open(file)? else {
        return Some(None);
    };
    read_range(handle, wanted(range, len)?)
}

/// The largest object [`LocalDisk::write_new`] writes on the calling thread (a runtime worker,
/// for the session's uploads). Such a write is a copy into the page cache, tens of
/// microseconds, less than handing it to a pool thread and waking the task again: writing
/// 400 chunks of 40 KB through the codec pipeline took 13.7 ms inline against 17 ms on the
/// pool. A larger object, or a disk so slow that even small writes wait, would hold up the
/// worker's other tasks for longer: a new file of 1 MiB took 213 µs (median; 327 µs at the
/// 90th percentile, 2.4 ms at worst in 200) on that VM's disk.
const INLINE_WRITE_MAX: usize = 1 << 20;

fn write_in_place(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let create = || std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(file);
    let mut handle = match create() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(folder) = file.parent() {
                std::fs::create_dir_all(folder)?;
            }
            create()?
        }
        opened => opened?,
    };
    handle.write_all(bytes)
}

/// The open file and its length; `Some(None)` when it does not exist.
fn open(file: &Path) -> Option<Option<(File, u64)>> {
    let handle = match open_without_atime(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
        Err(_) => return None,
    };
    let metadata = handle.metadata().ok()?;
    metadata.is_file().then(|| Some((handle, metadata.len())))
}

/// Opens `file` for reading without updating its access time where the system allows it.
///
/// Why: with `relatime` (Linux's default) the first read of a file since it was written
/// updates its access time, a metadata write per file read (the inode dirtied and written
/// back; a journal transaction where there is a journal) while the data just written are
/// being written back. Reading back 400 chunks right after writing them, 7 times in a row:
/// 19.9 ms on average, 14.1 with O_NOATIME. The engine never uses access times (the
/// collector goes by references, not by what was read).
///
/// `O_NOATIME` is refused (EPERM) on a file of another owner to a process without
/// CAP_FOWNER; the file is then opened the usual way, and after the first refusal every file
/// is (a repository is usually one owner's).
fn open_without_atime(file: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        static REFUSED: AtomicBool = AtomicBool::new(false);
        if !REFUSED.load(Ordering::Relaxed) {
            match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOATIME).open(file) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => REFUSED.store(true, Ordering::Relaxed),
                opened => return opened,
            }
        }
    }
    File::open(file)
}

/// The bytes a read of `range` (all by default) returns from an object of `len` bytes; `None`
/// for a start past the end, which object_store reports as an error.
fn wanted(range: Option<Range<u64>>, len: u64) -> Option<Range<u64>> {
    match range {
        None => Some(0..len),
        Some(r) if r.start >= len => None,
        Some(r) => Some(r.start..r.end.min(len)),
    }
}

fn read_range(mut handle: File, wanted: Range<u64>) -> LocalRead {
    let wanted_len = wanted.end - wanted.start;
    if wanted.start > 0 {
        handle.seek(SeekFrom::Start(wanted.start)).ok()?;
    }
    // Not zero-filled first: `read_to_end` fills spare capacity.
    let mut bytes = Vec::with_capacity(usize::try_from(wanted_len).ok()?);
    handle.take(wanted_len).read_to_end(&mut bytes).ok()?;
    // A file cut short since its length was read (a rename over it keeps the old file open,
    // so only a foreign truncation does that) goes to object_store, which reports it.
    if bytes.len() as u64 != wanted_len {
        return None;
    }
    Some(Some(Bytes::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads() -> (tempfile::TempDir, LocalDisk) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("chunks")).unwrap();
        std::fs::write(dir.path().join("chunks/ABC"), b"0123456789").unwrap();
        let reads = LocalDisk::new(dir.path().to_path_buf());
        (dir, reads)
    }

    /// Reads open files with O_NOATIME: they write nothing, not even an access time.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_leave_access_times_alone() {
        use std::fs::FileTimes;
        use std::time::{Duration, SystemTime};
        let (dir, reads) = reads();
        // Older than the files' modification: relatime updates such an access time on a read.
        let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
        let age = |path: &Path| {
            let times = FileTimes::new().set_accessed(old);
            File::options().write(true).open(path).unwrap().set_times(times).unwrap();
        };
        let accessed_since_old =
            |path: &Path| std::fs::metadata(path).unwrap().accessed().unwrap() > old + Duration::from_secs(1);
        // Whether this file system updates access times on a plain read at all.
        let control = dir.path().join("chunks/CONTROL");
        std::fs::write(&control, b"x").unwrap();
        age(&control);
        std::fs::read(&control).unwrap();
        if !accessed_since_old(&control) {
            eprintln!("not checked: this file system does not update access times on reads");
            return;
        }
        let chunk = dir.path().join("chunks/ABC");
        age(&chunk);
        // On the blocking pool, then inline.
        assert_eq!(reads.read("chunks/ABC", None).await, Some(Some(Bytes::from_static(b"0123456789"))));
        let inline = reading_inline(InlineReads::Any, reads.read("chunks/ABC", Some(1..3))).await;
        assert_eq!(inline, Some(Some(Bytes::from_static(b"12"))));
        assert!(!accessed_since_old(&chunk), "a read updated the access time");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_whole_files_ranges_and_missing_ones_inline_and_in_tasks() {
        let (_dir, reads) = reads();
        let reads = std::sync::Arc::new(reads);
        for in_task in [false, true] {
            let reads = reads.clone();
            let check = async move {
                assert_eq!(
                    reads.read("chunks/ABC", None).await,
                    Some(Some(Bytes::from_static(b"0123456789")))
                );
                assert_eq!(
                    reads.read("chunks/ABC", Some(2..5)).await,
                    Some(Some(Bytes::from_static(b"234")))
                );
                // Clipped to the end, as object_store does.
                assert_eq!(
                    reads.read("chunks/ABC", Some(8..20)).await,
                    Some(Some(Bytes::from_static(b"89")))
                );
                assert_eq!(reads.read("chunks/ABC", Some(3..3)).await, Some(Some(Bytes::new())));
                assert_eq!(reads.read("chunks/NOPE", None).await, Some(None));
                assert_eq!(reads.read("nofolder/NOPE", Some(0..3)).await, Some(None));
            };
            if in_task {
                tokio::spawn(check).await.unwrap();
            } else {
                check.await;
            }
        }
    }

    /// New objects are written in place: their folder made, no staging file left beside them,
    /// a part left by a failed write replaced whole by the retry; a write that cannot be done
    /// is a storage error, not a silent success.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_new_objects_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(dir.path().to_path_buf());
        let written = disk.write_new("chunks/NEW1", Bytes::from_static(b"0123456789")).await;
        assert!(matches!(written, Some(Ok(()))), "{written:?}");
        assert_eq!(std::fs::read(dir.path().join("chunks/NEW1")).unwrap(), b"0123456789");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("chunks"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["NEW1"]);
        // A longer part left behind is cut, not kept past the new end.
        std::fs::write(dir.path().join("chunks/NEW2"), b"a part of something longer").unwrap();
        assert!(matches!(disk.write_new("chunks/NEW2", Bytes::from_static(b"whole")).await, Some(Ok(()))));
        assert_eq!(std::fs::read(dir.path().join("chunks/NEW2")).unwrap(), b"whole");
        assert_eq!(disk.read("chunks/NEW2", None).await, Some(Some(Bytes::from_static(b"whole"))));
        // A large one goes to the blocking pool: the same file.
        let large = Bytes::from(vec![7u8; INLINE_WRITE_MAX + 1]);
        assert!(matches!(disk.write_new("chunks/sub/LARGE", large.clone()).await, Some(Ok(()))));
        assert_eq!(std::fs::read(dir.path().join("chunks/sub/LARGE")).unwrap(), large);
        // A name object_store would decode is left to it.
        assert!(disk.write_new("chunks/a%20b", Bytes::new()).await.is_none());
        // A file where the folder should be: the error says which file.
        std::fs::write(dir.path().join("blocked"), b"").unwrap();
        match disk.write_new("blocked/NEW3", Bytes::from_static(b"x")).await {
            Some(Err(IcechunkError::StorageOther(message))) => assert!(message.contains("NEW3"), "{message}"),
            other => panic!("expected a storage error, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_policy_reads_the_same_bytes() {
        let (_dir, reads) = reads();
        for policy in [InlineReads::Never, InlineReads::UpTo(4), InlineReads::UpTo(100), InlineReads::Any] {
            let whole =
                with_inline_reads(policy, || futures::executor::block_on(reads.read("chunks/ABC", None)));
            assert_eq!(whole, Some(Some(Bytes::from_static(b"0123456789"))), "{policy:?}");
            let part = with_inline_reads(policy, || {
                futures::executor::block_on(reads.read("chunks/ABC", Some(1..3)))
            });
            assert_eq!(part, Some(Some(Bytes::from_static(b"12"))), "{policy:?}");
        }
        // The policy is the scope's only; without one nothing is read inline.
        assert_eq!(POLICY.get(), None);
        assert!(!may_read_inline());
    }

    #[test]
    fn a_budget_covers_the_first_reads_and_sends_the_rest_to_the_pool() {
        with_inline_reads(InlineReads::UpTo(10), || {
            assert!(take_inline(6));
            assert!(!take_inline(5), "over what is left");
            assert!(take_inline(4));
            assert!(!may_read_inline(), "spent");
            assert!(!take_inline(1));
        });
        with_inline_reads(InlineReads::Any, || assert!(take_inline(u64::MAX)));
        with_inline_reads(InlineReads::Never, || assert!(!take_inline(0)));
    }

    #[tokio::test]
    async fn a_future_keeps_its_policy_and_budget_across_polls() {
        let spent = reading_inline(InlineReads::UpTo(10), async {
            let first = take_inline(6);
            tokio::task::yield_now().await; // polled again
            (first, take_inline(5), take_inline(4), may_read_inline())
        })
        .await;
        assert_eq!(spent, (true, false, true, false));
        assert!(!may_read_inline(), "only while the future is polled");
    }

    #[tokio::test]
    async fn deletes_batches_and_leaves_the_unusual_to_object_store() {
        let (dir, disk) = reads();
        std::fs::write(dir.path().join("chunks/DEF"), b"x").unwrap();
        let paths = ["chunks/ABC", "chunks/NOPE", "chunks/A%42C", "chunks/DEF"].map(String::from);
        let results = disk.delete_batch(paths.to_vec()).await;
        assert_eq!(results, [Some(Ok(())), Some(Ok(())), None, Some(Ok(()))]);
        assert!(!dir.path().join("chunks/ABC").exists() && !dir.path().join("chunks/DEF").exists());
    }

    #[tokio::test]
    async fn lists_plain_names_and_describes_them() {
        let (dir, disk) = reads();
        std::fs::create_dir_all(dir.path().join("chunks/sub")).unwrap();
        std::fs::write(dir.path().join("chunks/sub/XYZ"), b"1234").unwrap();
        std::fs::write(dir.path().join("chunks/ABC#1"), b"staging").unwrap();
        let mut listed = disk.list_paths("chunks/").await.unwrap().unwrap();
        listed.sort();
        assert_eq!(listed, ["ABC", "sub/XYZ"]);
        assert_eq!(disk.list_paths("nothing/").await.unwrap(), Some(vec![]));
        assert_eq!(disk.list_paths("a b/").await.unwrap(), None);
        let described = disk.describe("chunks/", vec!["sub/XYZ".into(), "GONE".into()]).await.unwrap();
        assert_eq!(described.len(), 1);
        assert_eq!((described[0].path.as_str(), described[0].size), ("sub/XYZ", 4));
        let age = chrono::Utc::now() - described[0].last_modified;
        assert!(age >= chrono::Duration::zero() && age < chrono::Duration::minutes(5));
    }

    #[tokio::test]
    async fn leaves_the_unusual_to_object_store() {
        let (_dir, reads) = reads();
        // Past the end, backwards ranges, folders, names object_store would decode.
        assert_eq!(reads.read("chunks/ABC", Some(11..12)).await, None);
        assert_eq!(reads.read("chunks/ABC", Some(10..10)).await, None);
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 5..2;
        assert_eq!(reads.read("chunks/ABC", Some(backwards)).await, None);
        assert_eq!(reads.read("chunks", None).await, None);
        for path in ["chunks/A%42C", "chunks/../chunks/ABC", "chunks//ABC", "", "chunks/A B"] {
            assert_eq!(reads.read(path, None).await, None, "{path}");
        }
    }
}
