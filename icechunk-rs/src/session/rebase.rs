//! Rebase: carry a session's changes onto the commits that landed on its branch since its
//! base, one commit at a time, asking a solver about each conflict.

use std::sync::Arc;

use super::Session;
use crate::change_set::ChangeSet;
use crate::conflicts::{self, Conflict, ConflictSolver};
use crate::error::{IcechunkError, Result};
use crate::history;
use crate::ids::SnapshotId;

impl Session {
    /// Moves this session's base to its branch's tip, keeping its changes as `solver` decides.
    /// On unsolved conflicts: `RebaseFailed`, and the session is left as it was.
    pub async fn rebase(&self, solver: &dyn ConflictSolver) -> Result<()> {
        self.check_writable()?;
        let branch = self
            .branch()
            .ok_or_else(|| IcechunkError::SessionState("only a session on a branch can rebase".into()))?;
        let repo = self.repository().clone();
        let tip = repo.lookup_branch(&branch).await?;
        let (mut base, mut changes): (_, ChangeSet) = {
            let state = self.state();
            (state.base.clone(), ChangeSet::clone(&state.changes))
        };
        if tip == base.id {
            return Ok(());
        }
        // The commits between our base and the tip, oldest first.
        let assets = repo.assets().clone();
        let cuts = self.repository().history_cuts().await?;
        let newer = history::commits_between(assets, base.id, tip, self.inner.runtime.clone(), cuts).await?;
        if !changes.moved.is_empty() {
            // Moves are not carried onto other commits (they would have to be checked against
            // every path those commits took or changed): the session starts over on the tip.
            let conflicts = changes
                .moved
                .values()
                .map(|(from, _)| Conflict::MoveOperationCannotBeRebased { path: from.clone() })
                .collect();
            return Err(IcechunkError::RebaseFailed {
                snapshot: newer.first().copied().unwrap_or(tip),
                conflicts,
            });
        }
        for id in newer {
            let theirs = repo.assets().transaction_log(&id).await?;
            let found = conflicts::detect(&changes, &base, &theirs);
            if !found.is_empty() {
                let unsolved = solver.solve(found, &mut changes);
                if !unsolved.is_empty() {
                    return Err(IcechunkError::RebaseFailed { snapshot: id, conflicts: unsolved });
                }
            }
            base = repo.assets().snapshot(&id).await?;
            conflicts::retarget_deletions(&mut changes, &base);
        }
        let mut state = self.state();
        state.base = base;
        state.changes = Arc::new(changes);
        state.array_infos.clear();
        Ok(())
    }

    /// `commit`, rebasing with `solver` and retrying (up to `tries` rebases) when the branch
    /// moved meanwhile.
    pub async fn commit_rebasing(
        &self,
        message: &str,
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
        allow_empty: bool,
        solver: &dyn ConflictSolver,
        tries: u32,
    ) -> Result<SnapshotId> {
        let mut attempt = 0;
        let mut metadata = metadata;
        loop {
            // After a rebase the commit lands even if the solver dropped every change (the
            // session had changes, or `allow_empty`, when it was first tried), as Icechunk.
            match self.commit(message, metadata.clone(), allow_empty || attempt > 0).await {
                Err(IcechunkError::Conflict { .. }) if attempt < tries => {
                    attempt += 1;
                    self.rebase(solver).await?;
                    record_rebase_attempts(metadata.get_or_insert_with(Default::default), attempt);
                }
                other => return other,
            }
        }
    }
}

/// Records in a commit's metadata how many rebases it took, where Icechunk does:
/// `{"__icechunk": {"rebase_attempts": n}}` (other members of `__icechunk` are kept).
fn record_rebase_attempts(metadata: &mut serde_json::Map<String, serde_json::Value>, attempts: u32) {
    let entry = metadata.entry("__icechunk").or_insert_with(|| serde_json::json!({}));
    if !entry.is_object() {
        *entry = serde_json::json!({});
    }
    if let Some(ours) = entry.as_object_mut() {
        ours.insert("rebase_attempts".into(), attempts.into());
    }
}
