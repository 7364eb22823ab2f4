//! Garbage collection (spec/format.md §13.3): deletes the snapshots, transaction logs,
//! manifest shards and chunk objects that no ref can reach any more, once they are older than
//! the caller's cut-off, and never an object a writing session may still publish (§13.2).
//!
//! Cost: the live snapshots are read, each live manifest shard once however many snapshots
//! share it, and each object folder is listed once; the reachable set is kept as ids
//! (12 bytes each, plus the set's overhead). Deletes run concurrently.

use std::collections::HashSet;

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

/// How to collect.
#[derive(Debug, Clone)]
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
}

impl GcOptions {
    pub fn new(delete_object_older_than: DateTime<Utc>) -> Self {
        GcOptions {
            delete_object_older_than,
            dry_run: false,
            max_concurrent_manifest_fetches: 64,
            max_concurrent_deletes: 32,
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

impl Repository {
    /// Deletes every object unreachable from the refs and older than the cut-off; see the
    /// module documentation.
    pub async fn garbage_collect(&self, options: &GcOptions) -> Result<GcSummary> {
        let started = Utc::now();
        let cutoff = options.delete_object_older_than;
        if cutoff > started + CLOCK_SKEW {
            return Err(IcechunkError::InvalidInput(format!(
                "the garbage collection cut-off {cutoff} is in the future: objects that writers are \
                 writing now would be deleted"
            )));
        }
        if !options.dry_run {
            self.check_writable("cannot collect garbage").await?;
        }
        // Leases first, then refs (spec §13.3): a session that committed after the refs were
        // read had its lease listed; one whose lease came later wrote nothing old enough.
        let protect_since = self.oldest_live_lease().await?;
        // Never later than this collection's start: what is written after it may belong to
        // a session whose lease came after the leases were listed (spec §13.3). Less the
        // store's timestamp precision: a listed time may be that much early.
        let slack = Duration::from_std(self.storage().timestamp_slack()).unwrap_or(CLOCK_SKEW);
        let cutoff = cutoff.min(started - slack);
        let effective = protect_since.map_or(cutoff, |lease| cutoff.min(lease));
        tracing::info!(%cutoff, %effective, "garbage collection: finding what is reachable");
        let reachable = self.reachable_objects(options.max_concurrent_manifest_fetches).await?;
        tracing::info!(
            snapshots = reachable.snapshots.len(),
            manifests = reachable.manifests.len(),
            chunks = reachable.chunks.len(),
            "garbage collection: reachable objects found"
        );
        let listings = futures::future::try_join_all(FOLDERS.map(|f| self.storage().list(f))).await?;
        let mut summary = GcSummary::default();
        let mut doomed: Vec<(usize, String, u64)> = Vec::new();
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
        drop(reachable);
        if options.dry_run {
            for (kind, _, size) in &doomed {
                summary.count(*kind, *size);
            }
            return Ok(summary);
        }
        tracing::info!(objects = doomed.len(), "garbage collection: deleting");
        // One phase per folder, in FOLDERS' order; after a phase with failures the later
        // ones are skipped, so that an unreachable snapshot that survived stays whole.
        let storage = self.storage();
        let mut deleted = 0u64;
        for (kind, folder) in FOLDERS.iter().enumerate() {
            if summary.objects_failed_to_delete > 0 {
                summary.skipped_phases.push(PHASES[kind].to_string());
                continue;
            }
            // Owned paths, so that the delete futures are Send for any caller.
            let objects: Vec<(String, u64)> =
                doomed.iter().filter(|d| d.0 == kind).map(|d| (d.1.clone(), d.2)).collect();
            let attempted = objects.len() as u64;
            let results: Vec<(u64, Option<String>)> = futures::stream::iter(objects)
                .map(|(path, size)| async move {
                    (size, storage.delete(&path).await.err().map(|e| format!("{path}: {e}")))
                })
                .buffered(options.max_concurrent_deletes.max(1))
                .collect()
                .await;
            let mut failures = Vec::new();
            for (size, failure) in results {
                match failure {
                    None => summary.count(kind, size),
                    Some(failure) => failures.push(failure),
                }
            }
            for failure in &failures {
                tracing::warn!(%failure, "garbage collection: could not delete an object");
                if summary.delete_errors.len() < 10 && !summary.delete_errors.contains(failure) {
                    summary.delete_errors.push(failure.clone());
                }
            }
            summary.objects_failed_to_delete += failures.len() as u64;
            deleted += attempted - failures.len() as u64;
            tracing::info!(
                folder,
                deleted = attempted - failures.len() as u64,
                "garbage collection: phase done"
            );
        }
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

    /// The time of the oldest lease a writing session still holds (leases older than
    /// `MAX_LEASE_AGE` are abandoned, §13.2).
    async fn oldest_live_lease(&self) -> Result<Option<DateTime<Utc>>> {
        let leases = self.storage().list(paths::LEASES).await?;
        let now = Utc::now();
        Ok(leases.into_iter().map(|l| l.last_modified).filter(|at| now - *at < MAX_LEASE_AGE).min())
    }

    /// Every snapshot reachable from a ref, and the shards and chunk objects they name.
    async fn reachable_objects(&self, concurrency: usize) -> Result<Reachable> {
        let snapshots = self.reachable_snapshots().await?;
        let shards = self.shards_of(&snapshots, concurrency).await?;
        let mut reachable = Reachable { snapshots, ..Default::default() };
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
        while let Some((id, inline, chunks)) = read.try_next().await? {
            if !inline {
                reachable.manifests.insert(id);
            }
            reachable.chunks.extend(chunks);
        }
        Ok(reachable)
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
