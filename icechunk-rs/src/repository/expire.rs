//! Snapshot expiration (spec/format.md §13.1): history older than a cut-off leaves the
//! ancestry of every ref. Snapshots are immutable, so nothing is rewritten: the repository's
//! state records, for each kept snapshot whose parent expired, the kept ancestor its history
//! continues with. Expired snapshots stay readable by id until garbage collection deletes
//! them; then reading them is `SnapshotNotFound`.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;

use super::Repository;
use crate::error::{IcechunkError, Result};
use crate::history::{self, SnapshotInfo};
use crate::ids::SnapshotId;
use crate::refs::{RefRecord, MAIN_BRANCH};
use crate::repo_info::RepoChange;
use crate::sync::current_runtime;

/// What an expiry did, or in a dry run would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExpiryReport {
    /// The snapshots that left history (as strings in JSON).
    #[serde(serialize_with = "ids_as_strings")]
    pub expired: BTreeSet<SnapshotId>,
    /// Branches deleted because their tip was older than the cut-off, in name order.
    pub deleted_branches: Vec<String>,
    /// Tags deleted likewise.
    pub deleted_tags: Vec<String>,
    /// Nothing was written: the report is what a real run would do.
    pub dry_run: bool,
}

fn ids_as_strings<S: serde::Serializer>(
    ids: &BTreeSet<SnapshotId>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_seq(ids.iter().map(SnapshotId::to_string))
}

/// What one walk of history saw of a snapshot.
struct Walked {
    parent: Option<SnapshotId>,
    written_at: DateTime<Utc>,
}

impl Repository {
    /// The repository's first snapshot (record 1 of `main`): never expired.
    pub async fn root_snapshot(&self) -> Result<SnapshotId> {
        let path = format!("refs/branch.{MAIN_BRANCH}/{:020}", 1);
        let stored = self
            .storage()
            .get(&path)
            .await?
            .ok_or_else(|| IcechunkError::corrupt(&path, "the first record of `main` is missing"))?;
        RefRecord::decode(&path, &stored)?
            .snapshot_id(&path)?
            .ok_or_else(|| IcechunkError::corrupt(&path, "the first record of `main` names no snapshot"))
    }

    /// Expires the snapshots written before `older_than` (exclusive) from the history of
    /// every tag and branch (tags first, then branches, each in name order). The root
    /// snapshot and every ref's tip are kept, except that with `delete_expired_branches` /
    /// `delete_expired_tags` a ref whose tip is older than the cut-off is deleted (`main`
    /// never is) and its tip expires too. Returns the expired snapshots; see
    /// [`Self::expire_snapshots_report`] for the refs deleted, or for a dry run.
    pub async fn expire_snapshots(
        &self,
        older_than: DateTime<Utc>,
        delete_expired_branches: bool,
        delete_expired_tags: bool,
    ) -> Result<BTreeSet<SnapshotId>> {
        let report = self
            .expire_snapshots_report(older_than, delete_expired_branches, delete_expired_tags, false)
            .await?;
        Ok(report.expired)
    }

    /// [`Self::expire_snapshots`], reporting the refs it deleted too. With `dry_run`, nothing
    /// is written (no ref is deleted, the repository's state is not updated, so a read-only
    /// repository is fine) and the report says what a real run at this moment would expire
    /// and delete.
    pub async fn expire_snapshots_report(
        &self,
        older_than: DateTime<Utc>,
        delete_expired_branches: bool,
        delete_expired_tags: bool,
        dry_run: bool,
    ) -> Result<ExpiryReport> {
        if older_than > Utc::now() {
            return Err(IcechunkError::InvalidInput(format!(
                "the expiry cut-off {older_than} is in the future: it would expire every snapshot"
            )));
        }
        // Independent reads, at once: on object storage each is a round trip.
        let (state, root, tags, branches) =
            futures::try_join!(self.state(), self.root_snapshot(), self.list_tags(), self.list_branches())?;
        if !dry_run {
            state.check_writable("cannot expire snapshots")?;
        }
        let cuts = std::sync::Arc::new(state.cuts()?);
        let mut report = ExpiryReport { dry_run, ..Default::default() };
        let mut kept_tips = Vec::new();
        let mut expired_tips = Vec::new();
        for tag in &tags {
            let tip = self.lookup_tag(tag).await?;
            let old = self.lookup_snapshot(&tip).await?.written_at < older_than;
            if old && delete_expired_tags && tip != root {
                if !dry_run {
                    self.delete_tag(tag).await?;
                }
                report.deleted_tags.push(tag.clone());
                expired_tips.push(tip);
            } else {
                kept_tips.push(tip);
            }
        }
        for branch in &branches {
            let tip = self.lookup_branch(branch).await?;
            let old = self.lookup_snapshot(&tip).await?.written_at < older_than;
            if old && delete_expired_branches && branch != MAIN_BRANCH && tip != root {
                if !dry_run {
                    self.delete_branch(branch).await?;
                }
                report.deleted_branches.push(branch.clone());
                expired_tips.push(tip);
            } else {
                kept_tips.push(tip);
            }
        }

        // Every snapshot of every history, walked once (histories share their older part).
        // A deleted ref's history is walked too: its old snapshots expire with it.
        let runtime = current_runtime()?;
        let mut walked: HashMap<SnapshotId, Walked> = HashMap::new();
        for tip in kept_tips.iter().chain(&expired_tips) {
            let mut history = history::ancestry(self.assets().clone(), *tip, runtime.clone(), cuts.clone());
            while let Some(SnapshotInfo { id, parent_id, written_at, .. }) = history.try_next().await? {
                if walked.insert(id, Walked { parent: parent_id, written_at }).is_some() {
                    break;
                }
            }
        }
        let tips: HashSet<SnapshotId> = kept_tips.iter().copied().collect();
        let (expired, new_cuts) = plan_cuts(&walked, root, &tips, older_than);
        report.expired = expired;
        if dry_run || (new_cuts.is_empty() && report.expired.is_empty()) {
            return Ok(report);
        }
        let count = report.expired.len() as u64;
        let expired_names: HashSet<String> = report.expired.iter().map(|id| id.to_string()).collect();
        self.update_state(|state| {
            // Cuts of snapshots that just expired are of no use any more.
            state.history_cuts.retain(|from, _| !expired_names.contains(from));
            state.history_cuts.extend(new_cuts.iter().cloned());
            Ok(RepoChange::SnapshotsExpired { count })
        })
        .await?;
        tracing::info!(expired = count, cuts = new_cuts.len(), "snapshots expired");
        Ok(report)
    }
}

/// The snapshots of `walked` that expire, and the cuts that skip them: each kept snapshot
/// whose parent expired continues with its nearest kept ancestor.
fn plan_cuts(
    walked: &HashMap<SnapshotId, Walked>,
    root: SnapshotId,
    tips: &HashSet<SnapshotId>,
    older_than: DateTime<Utc>,
) -> (BTreeSet<SnapshotId>, Vec<(String, String)>) {
    let kept: HashSet<SnapshotId> = walked
        .iter()
        .filter(|(id, w)| **id == root || tips.contains(id) || w.written_at >= older_than)
        .map(|(id, _)| *id)
        .collect();
    let expired: BTreeSet<SnapshotId> = walked.keys().filter(|id| !kept.contains(id)).copied().collect();
    let nearest_kept = |mut id: Option<SnapshotId>| {
        while let Some(current) = id {
            if kept.contains(&current) {
                return Some(current);
            }
            id = walked.get(&current).and_then(|w| w.parent);
        }
        None
    };
    let mut cuts = Vec::new();
    for id in &kept {
        if let Some(parent) = walked[id].parent.filter(|p| !kept.contains(p)) {
            let target = nearest_kept(Some(parent)).unwrap_or(root);
            cuts.push((id.to_string(), target.to_string()));
        }
    }
    (expired, cuts)
}
