//! Garbage collection (spec/format.md §13.3): deletes the snapshots, transaction logs,
//! manifest shards and chunk objects that no ref can reach any more, once they are older than
//! the caller's cut-off, and never an object a writing session may still publish (§13.2).
//!
//! Cost: the live snapshots are read, each live manifest shard once however many snapshots
//! share it, and each object folder is listed once; the reachable set is kept as ids
//! (12 bytes each, plus the set's overhead). Deletes run concurrently.
//!
//! Two additions to the rules of §13.3: the repository's config may set a minimum grace
//! period (`gc_min_grace_period_seconds`), below which a collection is refused before it
//! lists anything, and a caller may follow a long collection through [`GcOptions::progress`].

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use futures::{StreamExt, TryStreamExt};

use super::Repository;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::ChunkLocation;
use crate::format::paths;
use crate::ids::{ChunkId, ManifestId, SnapshotId};
use crate::repo_info::RepoChange;
use crate::session::MAX_LEASE_AGE;
use crate::storage::ListedObject;

/// Clocks of the store and of this process may disagree by this much: a cut-off later than
/// now by more is refused.
const CLOCK_SKEW: Duration = Duration::minutes(1);

/// Where a collection is: `done` of the `total` steps of `phase`, one of
/// - `"snapshots"`: reachable snapshots read (after the walk of history, which reads about
///   one snapshot in 200, spec §5.1);
/// - `"manifests"`: distinct manifest shards read, inline ones included;
/// - `"listing"`: object folders listed, of 4;
/// - `"deleting"`: objects deleted, failed, or left for a skipped phase (not in a dry run).
///
/// Each phase is reported first with `done` 0, then after every step; its last report has
/// `done == total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcProgress {
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
}

/// A progress callback. It runs on the collecting task between two steps, once per object
/// deleted: it should return at once (throttle anything slower, as the Python binding does).
pub type GcProgressFn = Arc<dyn Fn(GcProgress) + Send + Sync>;

/// How to collect.
#[derive(Clone)]
pub struct GcOptions {
    /// Only objects written before this (exclusive) may be deleted: the grace period that
    /// protects what writers are doing now.
    pub delete_object_older_than: DateTime<Utc>,
    /// Report what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Manifest shards read at once.
    pub max_concurrent_manifest_fetches: usize,
    /// Deletes in flight at once.
    pub max_concurrent_deletes: usize,
    /// Told where the collection is, for a progress display.
    pub progress: Option<GcProgressFn>,
}

impl GcOptions {
    pub fn new(delete_object_older_than: DateTime<Utc>) -> Self {
        GcOptions {
            delete_object_older_than,
            dry_run: false,
            max_concurrent_manifest_fetches: 64,
            max_concurrent_deletes: 32,
            progress: None,
        }
    }
}

// By hand: a callback has no `Debug`.
impl fmt::Debug for GcOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcOptions")
            .field("delete_object_older_than", &self.delete_object_older_than)
            .field("dry_run", &self.dry_run)
            .field("max_concurrent_manifest_fetches", &self.max_concurrent_manifest_fetches)
            .field("max_concurrent_deletes", &self.max_concurrent_deletes)
            .field("progress", &self.progress.as_ref().map(|_| "<callback>"))
            .finish()
    }
}

/// The caller's progress callback, if any.
#[derive(Clone, Copy)]
struct Report<'a>(Option<&'a GcProgressFn>);

impl Report<'_> {
    fn step(self, phase: &'static str, done: u64, total: u64) {
        if let Some(progress) = self.0 {
            progress(GcProgress { phase, done, total });
        }
    }
}

/// What a collection deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcSummary {
    pub bytes_deleted: u64,
    pub chunks_deleted: u64,
    pub manifests_deleted: u64,
    pub snapshots_deleted: u64,
    pub transaction_logs_deleted: u64,
    /// Deletes that failed (the objects stay; a later collection retries them).
    pub objects_failed_to_delete: u64,
    /// The first distinct delete errors, at most ten.
    pub delete_errors: Vec<String>,
    /// Phases not run because an earlier one had failures ("transaction_logs", "manifests",
    /// "chunks"): a snapshot that could not be deleted keeps everything it names.
    pub skipped_phases: Vec<String>,
    /// Objects kept only because a writing session's lease covers them.
    pub objects_kept_for_sessions: u64,
}

/// The objects a live snapshot needs.
#[derive(Default)]
struct Reachable {
    snapshots: HashSet<SnapshotId>,
    manifests: HashSet<ManifestId>,
    chunks: HashSet<ChunkId>,
}

/// The object folders, in the order their garbage is deleted: snapshots first, so that a
/// reader asking for a collected snapshot gets `SnapshotNotFound` rather than a missing part.
const FOLDERS: [&str; 4] = ["snapshots/", "transactions/", "manifests/", "chunks/"];
/// The phases' names, as Icechunk's `skipped_phases` gives them.
const PHASES: [&str; 4] = ["snapshots", "transaction_logs", "manifests", "chunks"];

/// An unreachable object old enough to go: its folder (an index into [`FOLDERS`]), its path
/// and its size.
type Doomed = (usize, String, u64);

impl Repository {
    /// Deletes every object unreachable from the refs and older than the cut-off; see the
    /// module documentation.
    pub async fn garbage_collect(&self, options: &GcOptions) -> Result<GcSummary> {
        let started = Utc::now();
        self.check_cutoff(options.delete_object_older_than, started).await?;
        if !options.dry_run {
            self.check_writable("cannot collect garbage").await?;
        }
        let report = Report(options.progress.as_ref());
        // Leases first, then refs (spec §13.3): a session that committed after the refs were
        // read had its lease listed; one whose lease came later wrote nothing old enough.
        let protect_since = self.oldest_live_lease().await?;
        // Never later than this collection's start: what is written after it may belong to
        // a session whose lease came after the leases were listed (spec §13.3). Less the
        // store's timestamp precision: a listed time may be that much early.
        let slack = Duration::from_std(self.storage().timestamp_slack()).unwrap_or(CLOCK_SKEW);
        let cutoff = options.delete_object_older_than.min(started - slack);
        let effective = protect_since.map_or(cutoff, |lease| cutoff.min(lease));
        tracing::info!(%cutoff, %effective, "garbage collection: finding what is reachable");
        let reachable = self.reachable_objects(options.max_concurrent_manifest_fetches, report).await?;
        tracing::info!(
            snapshots = reachable.snapshots.len(),
            manifests = reachable.manifests.len(),
            chunks = reachable.chunks.len(),
            "garbage collection: reachable objects found"
        );
        let (mut summary, doomed) = self.find_garbage(&reachable, cutoff, effective, report).await?;
        drop(reachable);
        if options.dry_run {
            for (kind, _, size) in &doomed {
                summary.count(*kind, *size);
            }
            return Ok(summary);
        }
        tracing::info!(objects = doomed.len(), "garbage collection: deleting");
        let deleted =
            self.delete_garbage(&doomed, options.max_concurrent_deletes, &mut summary, report).await;
        for (kind, path, _) in &doomed {
            if let (0, Some(Ok(id))) = (kind, path.strip_prefix(FOLDERS[0]).map(str::parse::<SnapshotId>)) {
                self.assets().forget_snapshot(&id);
            }
        }
        if deleted > 0 {
            self.update_state(|_| Ok(RepoChange::GarbageCollected { objects: deleted })).await?;
        }
        Ok(summary)
    }

    /// Refuses, before anything is listed, a cut-off in the future (it would delete what
    /// writers are writing now) and one later than the minimum grace period allows.
    async fn check_cutoff(&self, cutoff: DateTime<Utc>, started: DateTime<Utc>) -> Result<()> {
        if cutoff > started + CLOCK_SKEW {
            return Err(IcechunkError::InvalidInput(format!(
                "the garbage collection cut-off {cutoff} is in the future: objects that writers are \
                 writing now would be deleted"
            )));
        }
        let Some(minimum) = self.min_grace_period().await? else { return Ok(()) };
        // Checked: `validate` bounds the minimum, but a saved config is not validated here.
        let latest = i64::try_from(minimum)
            .ok()
            .and_then(Duration::try_seconds)
            .and_then(|period| started.checked_sub_signed(period));
        if latest.is_some_and(|latest| cutoff <= latest) {
            return Ok(());
        }
        let latest = latest.map_or_else(|| format!("{minimum} seconds before now"), |at| at.to_string());
        Err(IcechunkError::InvalidInput(format!(
            "the garbage collection cut-off {cutoff} is later than the repository's minimum grace \
             period of {minimum} seconds allows (gc_min_grace_period_seconds in its config): \
             the cut-off must be {latest} or earlier; nothing was deleted"
        )))
    }

    /// The minimum grace period in seconds: the longer of this handle's config's and the
    /// saved config's, so that a process cannot relax the repository's rule by opening it
    /// with a config of its own (lowering it takes `save_config`).
    async fn min_grace_period(&self) -> Result<Option<u64>> {
        let saved = Self::fetch_config(self.storage().clone()).await?;
        let saved = saved.and_then(|config| config.gc_min_grace_period_seconds);
        Ok(self.config().gc_min_grace_period_seconds.max(saved))
    }

    /// The time of the oldest lease a writing session still holds (leases older than
    /// `MAX_LEASE_AGE` are abandoned, §13.2).
    async fn oldest_live_lease(&self) -> Result<Option<DateTime<Utc>>> {
        let leases = self.storage().list(paths::LEASES).await?;
        let now = Utc::now();
        Ok(leases.into_iter().map(|l| l.last_modified).filter(|at| now - *at < MAX_LEASE_AGE).min())
    }

    /// Every snapshot reachable from a ref, and the shards and chunk objects they name.
    async fn reachable_objects(&self, concurrency: usize, report: Report<'_>) -> Result<Reachable> {
        let snapshots = self.reachable_snapshots().await?;
        let total = snapshots.len() as u64;
        report.step("snapshots", 0, total);
        let on_read = move |done| report.step("snapshots", done, total);
        let shards = self.shards_of(&snapshots, concurrency, on_read).await?;
        let mut reachable = Reachable { snapshots, ..Default::default() };
        let total = shards.len() as u64;
        report.step("manifests", 0, total);
        // Inline shards are read too: their references name chunk objects like any other.
        let mut read = futures::stream::iter(shards)
            .map(|(id, (node, block, info))| async move {
                let inline = info.inline.is_some();
                let shard = self.assets().shard(node, &block, &info).await?;
                let chunks: Vec<ChunkId> = shard
                    .iter()
                    .filter_map(|(_, chunk)| match chunk.location {
                        ChunkLocation::Object { id, .. } => Some(id),
                        _ => None,
                    })
                    .collect();
                Ok::<_, IcechunkError>((id, inline, chunks))
            })
            .buffer_unordered(concurrency.max(1));
        let mut done = 0;
        while let Some((id, inline, chunks)) = read.try_next().await? {
            if !inline {
                reachable.manifests.insert(id);
            }
            reachable.chunks.extend(chunks);
            done += 1;
            report.step("manifests", done, total);
        }
        Ok(reachable)
    }

    /// Lists the object folders: what is garbage (unreachable, written before `effective`),
    /// and in the summary the objects kept only because a lease covers them.
    async fn find_garbage(
        &self,
        reachable: &Reachable,
        cutoff: DateTime<Utc>,
        effective: DateTime<Utc>,
        report: Report<'_>,
    ) -> Result<(GcSummary, Vec<Doomed>)> {
        let listings = self.list_object_folders(reachable, report).await?;
        let mut summary = GcSummary::default();
        let mut doomed = Vec::new();
        for (kind, listed) in listings.into_iter().enumerate() {
            for ListedObject { path, size, last_modified } in listed {
                if reachable.holds(kind, &path) != Some(false) || last_modified >= cutoff {
                    continue;
                }
                if last_modified >= effective {
                    summary.objects_kept_for_sessions += 1;
                    continue;
                }
                doomed.push((kind, format!("{}{path}", FOLDERS[kind]), size));
            }
        }
        Ok((summary, doomed))
    }

    /// The listings of [`FOLDERS`], in its order; the four are listed at once. Where the
    /// store lists names much faster than names with times (local disk), only the objects
    /// that are not reachable are looked at further: a collection that finds little garbage
    /// then costs a walk of the folders, not a `stat` of every object in them.
    async fn list_object_folders(
        &self,
        reachable: &Reachable,
        report: Report<'_>,
    ) -> Result<Vec<Vec<ListedObject>>> {
        let total = FOLDERS.len() as u64;
        report.step("listing", 0, total);
        let mut listings: Vec<Vec<ListedObject>> = FOLDERS.iter().map(|_| Vec::new()).collect();
        let storage = self.storage();
        // Indices, not the folders' names: with a reference in the closure's argument rustc
        // cannot prove the collection's future Send for callers that spawn it.
        let mut listed = futures::stream::iter(0..FOLDERS.len())
            .map(|kind| async move {
                let folder = FOLDERS[kind];
                let listed = match storage.list_paths(folder).await? {
                    Some(paths) => {
                        let unreachable = paths
                            .into_iter()
                            .filter(|path| reachable.holds(kind, path) == Some(false))
                            .collect();
                        storage.describe(folder, unreachable).await?
                    }
                    None => storage.list(folder).await?,
                };
                Ok::<_, IcechunkError>((kind, listed))
            })
            .buffer_unordered(FOLDERS.len());
        let mut done = 0;
        while let Some((kind, objects)) = listed.try_next().await? {
            listings[kind] = objects;
            done += 1;
            report.step("listing", done, total);
        }
        Ok(listings)
    }

    /// Deletes `doomed` one folder (phase) at a time, in [`FOLDERS`]' order, counting into
    /// `summary`; returns how many objects went. After a phase with failures the later ones
    /// are skipped, so that an unreachable snapshot that survived stays whole.
    async fn delete_garbage(
        &self,
        doomed: &[Doomed],
        concurrency: usize,
        summary: &mut GcSummary,
        report: Report<'_>,
    ) -> u64 {
        let mut tally = Tally { summary, report, done: 0, total: doomed.len() as u64, deleted: 0 };
        tally.advance(0);
        let storage = self.storage();
        for (kind, folder) in FOLDERS.into_iter().enumerate() {
            // Owned paths, so that the delete futures are Send for any caller.
            let objects: Vec<(String, u64)> =
                doomed.iter().filter(|d| d.0 == kind).map(|d| (d.1.clone(), d.2)).collect();
            if tally.summary.objects_failed_to_delete > 0 {
                tally.summary.skipped_phases.push(PHASES[kind].to_string());
                // Left for a later collection; counted as done so that a display ends full.
                if !objects.is_empty() {
                    tally.advance(objects.len() as u64);
                }
                continue;
            }
            let before = tally.deleted;
            // In slices, so that progress moves: each a few bulk requests (S3) or batches of
            // unlinks (local disk), see `Storage::delete_many`.
            for slice in objects.chunks(DELETE_SLICE) {
                let paths = slice.iter().map(|(path, _)| path.clone()).collect();
                let results = storage.delete_many(paths, concurrency).await;
                for ((path, size), result) in slice.iter().zip(results) {
                    tally.record(kind, *size, result.err().map(|e| format!("{path}: {e}")));
                }
            }
            tracing::info!(folder, deleted = tally.deleted - before, "garbage collection: phase done");
        }
        tally.deleted
    }
}

/// Objects handed to one `delete_many` call of a collection.
const DELETE_SLICE: usize = 10_000;

/// The running count of the deleting phase, for the summary and the progress report.
struct Tally<'a> {
    summary: &'a mut GcSummary,
    report: Report<'a>,
    done: u64,
    total: u64,
    deleted: u64,
}

impl Tally<'_> {
    fn record(&mut self, kind: usize, size: u64, failure: Option<String>) {
        match failure {
            None => {
                self.summary.count(kind, size);
                self.deleted += 1;
            }
            Some(failure) => {
                tracing::warn!(%failure, "garbage collection: could not delete an object");
                let errors = &mut self.summary.delete_errors;
                if errors.len() < 10 && !errors.contains(&failure) {
                    errors.push(failure);
                }
                self.summary.objects_failed_to_delete += 1;
            }
        }
        self.advance(1);
    }

    fn advance(&mut self, objects: u64) {
        self.done += objects;
        self.report.step("deleting", self.done, self.total);
    }
}

impl Reachable {
    /// Whether the object at `path` (in folder `kind` of [`FOLDERS`]) is reachable; `None`
    /// for a name that is not an object id: never deleted.
    fn holds(&self, kind: usize, path: &str) -> Option<bool> {
        match kind {
            0 | 1 => path.parse::<SnapshotId>().ok().map(|id| self.snapshots.contains(&id)),
            2 => path.parse::<ManifestId>().ok().map(|id| self.manifests.contains(&id)),
            _ => path.parse::<ChunkId>().ok().map(|id| self.chunks.contains(&id)),
        }
    }
}

impl GcSummary {
    fn count(&mut self, kind: usize, size: u64) {
        self.bytes_deleted += size;
        match kind {
            0 => self.snapshots_deleted += 1,
            1 => self.transaction_logs_deleted += 1,
            2 => self.manifests_deleted += 1,
            _ => self.chunks_deleted += 1,
        }
    }
}
