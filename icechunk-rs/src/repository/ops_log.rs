//! The operations log: every change of a ref and of the repository's state, newest first.
//!
//! Nothing is written for it: it is read back from the records the changes made anyway
//! (branch records, tag records and tombstones, `repo/` records), each of which says when
//! it was written and why (spec §8.1, §12). Its cost is one listing per ref folder and one
//! read per record, all concurrent. Times come from the writers' clocks; records of older
//! writers that did not record a time sort last, at the Unix epoch.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::Repository;
use crate::error::{IcechunkError, Result};
use crate::refs::{self, RefOp, RefRecord, MAIN_BRANCH};
use crate::repo_info::{self, RepoChange, RepoStatus};

/// What one entry of the log records; snapshot ids in their text form.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationKind {
    RepoInitialized,
    BranchCreated {
        name: String,
    },
    BranchDeleted {
        name: String,
        previous_snapshot: Option<String>,
    },
    BranchReset {
        name: String,
        previous_snapshot: Option<String>,
    },
    NewCommit {
        branch: String,
        new_snapshot: Option<String>,
    },
    CommitAmended {
        branch: String,
        previous_snapshot: Option<String>,
        new_snapshot: Option<String>,
    },
    TagCreated {
        name: String,
    },
    TagDeleted {
        name: String,
        previous_snapshot: Option<String>,
    },
    StatusChanged {
        status: RepoStatus,
    },
    MetadataChanged,
    ConfigChanged,
    FeatureFlagChanged {
        id: u32,
        name: String,
        value: Option<bool>,
    },
    /// `expire_snapshots` cut history.
    ExpirationRan,
    /// `garbage_collect` deleted objects.
    GcRan,
    /// A record of a newer format version.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub kind: OperationKind,
    pub at: DateTime<Utc>,
    /// The record that says so.
    pub path: String,
}

fn at(record: &RefRecord) -> DateTime<Utc> {
    record.written_at().unwrap_or_default()
}

/// The entries of one branch's records, oldest first.
fn branch_operations(name: &str, records: &[(u64, RefRecord)]) -> Vec<Operation> {
    let mut previous: Option<&RefRecord> = None;
    let mut out = Vec::with_capacity(records.len());
    for (seq, record) in records {
        let before = previous.filter(|p| !p.deleted).and_then(|p| p.snapshot.clone());
        let kind = if record.deleted {
            OperationKind::BranchDeleted { name: name.into(), previous_snapshot: before }
        } else if previous.is_none_or(|p| p.deleted) || record.op == Some(RefOp::Create) {
            if name == MAIN_BRANCH && *seq == 1 {
                OperationKind::RepoInitialized
            } else {
                OperationKind::BranchCreated { name: name.into() }
            }
        } else {
            let new = record.snapshot.clone();
            match record.op {
                // Records of writers older than `op` were nearly all commits.
                Some(RefOp::Commit) | None => {
                    OperationKind::NewCommit { branch: name.into(), new_snapshot: new }
                }
                Some(RefOp::Amend) => OperationKind::CommitAmended {
                    branch: name.into(),
                    previous_snapshot: before,
                    new_snapshot: new,
                },
                _ => OperationKind::BranchReset { name: name.into(), previous_snapshot: before },
            }
        };
        out.push(Operation { kind, at: at(record), path: format!("refs/branch.{name}/{seq:020}") });
        previous = Some(record);
    }
    out
}

fn repo_operation(seq: usize, record: repo_info::RepoRecord) -> Operation {
    let at = record.written_at();
    let kind = match record.change {
        RepoChange::StatusChanged => OperationKind::StatusChanged { status: record.state.status.clone() },
        RepoChange::MetadataChanged => OperationKind::MetadataChanged,
        RepoChange::ConfigChanged => OperationKind::ConfigChanged,
        RepoChange::FeatureFlagChanged { name, value } => {
            let id = repo_info::feature_flag(&name).map_or(0, |f| f.id);
            OperationKind::FeatureFlagChanged { id, name, value }
        }
        RepoChange::SnapshotsExpired { .. } => OperationKind::ExpirationRan,
        RepoChange::GarbageCollected { .. } => OperationKind::GcRan,
        RepoChange::Unknown => OperationKind::Unknown,
    };
    Operation { kind, at, path: format!("repo/{:020}", seq + 1) }
}

impl Repository {
    /// Every change of a ref and of the repository's state, newest first.
    pub async fn ops_log(&self) -> Result<Vec<Operation>> {
        let storage = self.storage().as_ref();
        let ((branches, tags), repo_records) =
            futures::try_join!(refs::ref_folders(storage), repo_info::all_records(storage))?;
        let branch_ops = futures::stream::iter(branches)
            .map(|name| async move {
                let records = refs::branch_records(storage, &name).await?;
                Ok::<_, IcechunkError>(branch_operations(&name, &records))
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>();
        let tag_ops = futures::stream::iter(tags)
            .map(|name| async move {
                let (created, deleted) = refs::tag_records(storage, &name).await?;
                let mut ops = Vec::new();
                if let Some(created) = &created {
                    let path = format!("refs/tag.{name}/ref");
                    ops.push(Operation {
                        kind: OperationKind::TagCreated { name: name.clone() },
                        at: at(created),
                        path,
                    });
                }
                if let Some(deleted) = &deleted {
                    let previous_snapshot = created.and_then(|c| c.snapshot);
                    let path = format!("refs/tag.{name}/deleted");
                    let kind = OperationKind::TagDeleted { name: name.clone(), previous_snapshot };
                    ops.push(Operation { kind, at: at(deleted), path });
                }
                Ok::<_, IcechunkError>(ops)
            })
            .buffer_unordered(16)
            .try_collect::<Vec<_>>();
        let (branch_ops, tag_ops) = futures::try_join!(branch_ops, tag_ops)?;
        let mut log: Vec<Operation> = branch_ops.into_iter().chain(tag_ops).flatten().collect();
        log.extend(repo_records.into_iter().enumerate().map(|(seq, record)| repo_operation(seq, record)));
        // Newest first; at equal times, the later path (a later record of one folder) first.
        log.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.path.cmp(&a.path)));
        Ok(log)
    }
}
