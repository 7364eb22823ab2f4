//! Branches and tags, built on create-if-absent only.
//!
//! A branch is a folder of numbered ref records, `refs/branch.<name>/<seq>`; its tip is the
//! record with the highest number. Moving the branch creates record `tip + 1`: of racing
//! writers exactly one creates it, the others see it exists and re-check their precondition.
//! `hint` holds a recent number so that finding the tip costs two round trips however long
//! the history; it is only a starting point and never trusted.
//! A tag is `refs/tag.<name>/ref`, created once; deleting it creates `refs/tag.<name>/deleted`,
//! so a tag name is never reused.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::try_join_all;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};
use crate::format::header::{self, ObjectType};
use crate::format::SnapshotId;
use crate::storage::Storage;

pub const MAIN_BRANCH: &str = "main";
const SEQ_WIDTH: usize = 20;

/// One ref object's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefRecord {
    /// Absent in a tombstone.
    pub snapshot: Option<String>,
    /// Random per write: lets a writer recognise its own create after a lost response.
    pub write_id: String,
    #[serde(default)]
    pub deleted: bool,
}

impl RefRecord {
    fn new(snapshot: Option<SnapshotId>) -> Self {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        RefRecord {
            deleted: snapshot.is_none(),
            snapshot: snapshot.map(|s| s.to_string()),
            write_id: id.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    pub fn snapshot_id(&self, path: &str) -> Result<Option<SnapshotId>> {
        match (&self.snapshot, self.deleted) {
            (_, true) => Ok(None),
            (Some(id), false) => id
                .parse()
                .map(Some)
                .map_err(|_| IcechunkError::corrupt(path, "ref names an invalid snapshot id")),
            (None, false) => Err(IcechunkError::corrupt(path, "ref names no snapshot")),
        }
    }

    fn encode(&self) -> Result<Bytes> {
        let json = serde_json::to_vec(self).expect("a ref record serializes");
        header::encode(ObjectType::Ref, &json, None)
    }

    fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        let json = header::decode(path, ObjectType::Ref, stored)?;
        serde_json::from_slice(&json)
            .map_err(|e| IcechunkError::corrupt(path, format!("invalid ref record: {e}")))
    }
}

/// Git-like rules, so that every name is also a safe object path segment.
pub fn validate_ref_name(name: &str) -> Result<()> {
    let invalid = |reason| Err(IcechunkError::InvalidRefName { name: name.to_string(), reason });
    if name.is_empty() {
        return invalid("a name cannot be empty");
    }
    if name.len() > 255 {
        return invalid("a name has at most 255 bytes");
    }
    if name.contains("..") {
        return invalid("a name cannot contain `..`");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return invalid("a name cannot start with `.` or `-`");
    }
    if name.ends_with('.') || name.ends_with(".lock") {
        return invalid("a name cannot end with `.` or `.lock`");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("a name cannot contain spaces or control characters");
    }
    if name.chars().any(|c| "/\\~^:?*[@{}#%".contains(c)) {
        return invalid("a name cannot contain any of / \\ ~ ^ : ? * [ @ { } # %");
    }
    Ok(())
}

fn branch_folder(name: &str) -> String {
    format!("refs/branch.{name}")
}

fn branch_record_path(name: &str, seq: u64) -> String {
    format!("{}/{seq:0width$}", branch_folder(name), width = SEQ_WIDTH)
}

fn branch_hint_path(name: &str) -> String {
    format!("{}/hint", branch_folder(name))
}

/// The newest record of a branch, possibly a tombstone.
#[derive(Debug, Clone)]
pub struct BranchTip {
    pub seq: u64,
    pub record: RefRecord,
}

impl BranchTip {
    pub fn snapshot_id(&self, branch: &str) -> Result<Option<SnapshotId>> {
        self.record.snapshot_id(&branch_record_path(branch, self.seq))
    }
}

async fn read_record(storage: &dyn Storage, path: &str) -> Result<Option<RefRecord>> {
    match storage.get(path).await? {
        Some(stored) => Ok(Some(RefRecord::decode(path, &stored)?)),
        None => Ok(None),
    }
}

/// The highest record number in a branch's folder, by listing (when the hint is no help).
async fn highest_listed_seq(storage: &dyn Storage, name: &str) -> Result<u64> {
    let listed = storage.list(&format!("{}/", branch_folder(name))).await?;
    Ok(listed.iter().filter_map(|o| o.path.parse::<u64>().ok()).max().unwrap_or(0))
}

/// Finds the tip: start at the hint (or the listing), then probe forward until a number is free.
pub async fn branch_tip(storage: &dyn Storage, name: &str) -> Result<Option<BranchTip>> {
    let hint = storage
        .get(&branch_hint_path(name))
        .await?
        .and_then(|b| std::str::from_utf8(&b).ok().and_then(|s| s.trim().parse::<u64>().ok()))
        // Never trusted: an absurd value only sends us to the listing.
        .filter(|seq| *seq > 0 && *seq < u64::MAX / 2);
    let mut tip: Option<BranchTip> = None;
    let mut next = 1;
    if let Some(seq) = hint {
        let (at, after) = (branch_record_path(name, seq), branch_record_path(name, seq + 1));
        let (at_hint, after_hint) =
            futures::try_join!(read_record(storage, &at), read_record(storage, &after))?;
        match (at_hint, after_hint) {
            (Some(record), None) => return Ok(Some(BranchTip { seq, record })),
            (Some(_), Some(record)) => {
                tip = Some(BranchTip { seq: seq + 1, record });
                next = seq + 2;
            }
            // A hint ahead of the records: fall back to listing.
            (None, _) => {}
        }
    }
    if tip.is_none() {
        let seq = highest_listed_seq(storage, name).await?;
        if seq > 0 {
            let path = branch_record_path(name, seq);
            let record = read_record(storage, &path)
                .await?
                .ok_or_else(|| IcechunkError::corrupt(&path, "listed ref record vanished"))?;
            tip = Some(BranchTip { seq, record });
        }
        next = seq + 1;
    }
    loop {
        match read_record(storage, &branch_record_path(name, next)).await? {
            Some(record) => {
                tip = Some(BranchTip { seq: next, record });
                next += 1;
            }
            None => return Ok(tip),
        }
    }
}

/// The snapshot at a branch's tip, or `RefNotFound`.
pub async fn branch_snapshot(storage: &dyn Storage, name: &str) -> Result<SnapshotId> {
    validate_ref_name(name)?;
    let not_found = || IcechunkError::RefNotFound { kind: "branch", name: name.to_string() };
    let tip = branch_tip(storage, name).await?.ok_or_else(not_found)?;
    tip.snapshot_id(name)?.ok_or_else(not_found)
}

/// Moves a branch to `target` (`None` deletes it) if `precondition` accepts the current tip
/// snapshot (`None`: no branch). Races are settled by create-if-absent of the next record;
/// a loser re-reads the tip and re-checks the precondition.
pub async fn move_branch<F>(
    storage: &dyn Storage,
    name: &str,
    target: Option<SnapshotId>,
    precondition: F,
) -> Result<()>
where
    F: Fn(Option<SnapshotId>) -> Result<()>,
{
    validate_ref_name(name)?;
    let record = RefRecord::new(target);
    let stored = record.encode()?;
    loop {
        let tip = branch_tip(storage, name).await?;
        let current = match &tip {
            Some(tip) => tip.snapshot_id(name)?,
            None => None,
        };
        precondition(current)?;
        let seq = tip.map_or(1, |t| t.seq + 1);
        let path = branch_record_path(name, seq);
        let won = storage.put_if_absent(&path, stored.clone()).await?
            || read_record(storage, &path).await?.is_some_and(|r| r.write_id == record.write_id);
        if won {
            // Best effort: a stale hint only costs readers a few more probes.
            let _ = storage.put(&branch_hint_path(name), Bytes::from(seq.to_string())).await;
            return Ok(());
        }
        tracing::debug!(branch = name, seq, "lost the race for a ref record; re-checking");
    }
}

pub async fn list_branches(storage: &dyn Storage) -> Result<BTreeSet<String>> {
    let folders = storage.list_folders("refs/").await?;
    let names: Vec<String> =
        folders.iter().filter_map(|f| f.strip_prefix("branch.")).map(str::to_string).collect();
    let alive = try_join_all(names.iter().map(|name| async move {
        let tip = branch_tip(storage, name).await?;
        Ok::<_, IcechunkError>(match tip {
            Some(tip) => tip.snapshot_id(name)?.is_some(),
            None => false,
        })
    }))
    .await?;
    Ok(names.into_iter().zip(alive).filter_map(|(n, a)| a.then_some(n)).collect())
}

fn tag_path(name: &str) -> String {
    format!("refs/tag.{name}/ref")
}

fn tag_tombstone_path(name: &str) -> String {
    format!("refs/tag.{name}/deleted")
}

pub async fn create_tag(storage: &dyn Storage, name: &str, snapshot: SnapshotId) -> Result<()> {
    validate_ref_name(name)?;
    let record = RefRecord::new(Some(snapshot));
    let path = tag_path(name);
    let created = storage.put_if_absent(&path, record.encode()?).await?
        || read_record(storage, &path).await?.is_some_and(|r| r.write_id == record.write_id);
    if created {
        Ok(())
    } else {
        Err(IcechunkError::RefAlreadyExists { kind: "tag", name: name.to_string() })
    }
}

pub async fn tag_snapshot(storage: &dyn Storage, name: &str) -> Result<SnapshotId> {
    validate_ref_name(name)?;
    let path = tag_path(name);
    let tombstone = tag_tombstone_path(name);
    let (record, tombstone) = futures::try_join!(read_record(storage, &path), storage.get(&tombstone))?;
    let not_found = || IcechunkError::RefNotFound { kind: "tag", name: name.to_string() };
    match (record, tombstone) {
        (Some(record), None) => record.snapshot_id(&path)?.ok_or_else(not_found),
        _ => Err(not_found()),
    }
}

pub async fn delete_tag(storage: &dyn Storage, name: &str) -> Result<()> {
    tag_snapshot(storage, name).await?;
    let record = RefRecord::new(None);
    let path = tag_tombstone_path(name);
    let deleted = storage.put_if_absent(&path, record.encode()?).await?
        || read_record(storage, &path).await?.is_some_and(|r| r.write_id == record.write_id);
    if deleted {
        Ok(())
    } else {
        Err(IcechunkError::RefNotFound { kind: "tag", name: name.to_string() })
    }
}

pub async fn list_tags(storage: &Arc<dyn Storage>) -> Result<BTreeSet<String>> {
    let folders = storage.list_folders("refs/").await?;
    let names: Vec<String> =
        folders.iter().filter_map(|f| f.strip_prefix("tag.")).map(str::to_string).collect();
    let alive = try_join_all(names.iter().map(|name| async move {
        Ok::<_, IcechunkError>(storage.get(&tag_tombstone_path(name)).await?.is_none())
    }))
    .await?;
    Ok(names.into_iter().zip(alive).filter_map(|(n, a)| a.then_some(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["main", "dev", "feature-1", "v1.0", "release_2024"] {
            assert!(validate_ref_name(good).is_ok(), "{good}");
        }
        for bad in ["", "..", "a/b", "/a", " a", "a b", "a\u{7}", ".hidden", "x.lock", "a..b"] {
            assert!(validate_ref_name(bad).is_err(), "{bad:?}");
        }
    }
}
