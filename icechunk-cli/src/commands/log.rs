//! `icechunk log REPO [--branch B | --tag T | --snapshot ID] [-n N]`: history, newest first.

use futures::TryStreamExt;
use serde_json::json;

use icechunk::{Repository, SnapshotInfo, VersionInfo};

use crate::error::CliResult;
use crate::output::{self, Output};
use crate::refs::{checked_name, snapshot_id};

/// Where the history starts: at most one is set; none means the tip of main.
pub struct Start {
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub snapshot: Option<String>,
}

impl Start {
    fn version(&self) -> CliResult<VersionInfo> {
        Ok(match (&self.branch, &self.tag, &self.snapshot) {
            (_, Some(tag), _) => VersionInfo::Tag(checked_name(tag)?.to_string()),
            (_, _, Some(id)) => VersionInfo::Snapshot(snapshot_id(id)?),
            (Some(branch), _, _) => VersionInfo::BranchTip(checked_name(branch)?.to_string()),
            (None, None, None) => VersionInfo::BranchTip("main".to_string()),
        })
    }
}

pub async fn run(repo: &Repository, out: Output, start: Start, max_count: Option<usize>) -> CliResult {
    let version = start.version()?;
    let mut history = repo.ancestry(&version).await?;
    let mut snapshots: Vec<SnapshotInfo> = Vec::new();
    while max_count.is_none_or(|n| snapshots.len() < n) {
        match history.try_next().await? {
            Some(info) => snapshots.push(info),
            None => break,
        }
    }
    let document = json!(snapshots
        .iter()
        .map(|s| json!({
            "id": s.id.to_string(),
            "parent_id": s.parent_id.map(|p| p.to_string()),
            "written_at": s.written_at.to_rfc3339(),
            "message": s.message,
            "metadata": s.metadata,
        }))
        .collect::<Vec<_>>());
    out.show(document, || {
        let rows = snapshots
            .iter()
            .map(|s| {
                vec![
                    s.id.to_string(),
                    s.written_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    // One line per snapshot: a message's first line.
                    s.message.lines().next().unwrap_or_default().to_string(),
                ]
            })
            .collect();
        output::table(&["snapshot", "written at", "message"], rows, &[])
    })
}
