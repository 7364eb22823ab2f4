//! `ancestry_graph`: the snapshots and refs that the drawing of history shows
//! (`crate::history_graph` lays them out and draws them).

use std::collections::HashMap;

use futures::StreamExt;

use super::{Repository, VersionInfo};
use crate::error::Result;
use crate::history_graph::{self, RefLabel, Row};
use crate::ids::SnapshotId;

impl Repository {
    /// The history drawing's rows: every branch as a tree (`main` leftmost), or, given a
    /// version, that version's line of history. Rows carry the branches and tags pointing
    /// at their snapshot.
    pub async fn ancestry_graph(&self, version: Option<&VersionInfo>) -> Result<Vec<Row>> {
        let (branches, tags) = futures::try_join!(self.list_branches(), self.list_tags())?;
        let branch_tips = futures::future::try_join_all(branches.iter().map(|b| self.lookup_branch(b)));
        let tag_targets = futures::future::try_join_all(tags.iter().map(|t| self.lookup_tag(t)));
        let (branch_tips, tag_targets) = futures::try_join!(branch_tips, tag_targets)?;

        let mut labels: HashMap<SnapshotId, Vec<RefLabel>> = HashMap::new();
        for (name, tip) in branches.iter().zip(&branch_tips) {
            labels.entry(*tip).or_default().push(RefLabel::Branch(name.clone()));
        }
        for (name, target) in tags.iter().zip(&tag_targets) {
            labels.entry(*target).or_default().push(RefLabel::Tag(name.clone()));
        }
        let tips: Vec<SnapshotId> = match version {
            Some(version) => vec![self.resolve_version(version).await?],
            None => {
                // `main` first, then the other branches by name (list_branches is sorted).
                let mut named: Vec<(&String, &SnapshotId)> = branches.iter().zip(&branch_tips).collect();
                named.sort_by_key(|(name, _)| (name.as_str() != "main", name.as_str()));
                named.into_iter().map(|(_, tip)| *tip).collect()
            }
        };

        let mut snapshots = HashMap::new();
        for tip in &tips {
            if snapshots.contains_key(tip) {
                continue;
            }
            // Stop at the first snapshot already drawn: its ancestors are drawn too.
            let mut history = self.ancestry(&VersionInfo::Snapshot(*tip)).await?;
            while let Some(info) = history.next().await.transpose()? {
                if snapshots.contains_key(&info.id) {
                    break;
                }
                snapshots.insert(info.id, info);
            }
        }
        Ok(history_graph::layout(&tips, &snapshots, &labels))
    }
}
