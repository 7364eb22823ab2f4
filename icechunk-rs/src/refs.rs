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
use futures::{StreamExt, TryStreamExt};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};
use crate::format::header::{self, ObjectType};
use crate::ids::SnapshotId;
use crate::storage::Storage;

pub const MAIN_BRANCH: &str = "main";
const SEQ_WIDTH: usize = 20;
/// The highest record number a hint may name (spec §8.2), so that `seq + 1` always fits.
pub const MAX_HINT_SEQ: u64 = (1 << 63) - 2;

/// One ref object's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefRecord {
    /// Absent in a tombstone.
    pub snapshot: Option<String>,
    /// Random per write: lets a writer recognise its own create after a lost response.
    pub write_id: String,
    #[serde(default)]
    pub deleted: bool,
    /// When the record was written (RFC 3339, UTC), for the operations log; absent in records
    /// of older writers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// What moved the ref, for the operations log; absent in records of older writers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<RefOp>,
}

/// Why a ref record was written (spec §8.1, member `op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefOp {
    /// The branch or tag was created (for `main`: the repository was).
    Create,
    /// A commit moved the branch to a child of its tip.
    Commit,
    /// An amend replaced the branch's tip.
    Amend,
    /// The branch was pointed elsewhere.
    Reset,
    /// The ref was deleted.
    Delete,
    /// Written by a newer version of this format: shown as a reset.
    #[serde(other)]
    Unknown,
}

/// Now, as the `at` of records (microseconds, like Python's datetimes).
pub fn timestamp_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl RefRecord {
    fn new(snapshot: Option<SnapshotId>, op: RefOp) -> Self {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        RefRecord {
            deleted: snapshot.is_none(),
            snapshot: snapshot.map(|s| s.to_string()),
            write_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            at: Some(timestamp_now()),
            op: Some(op),
        }
    }

    /// When the record was written, if it says (and says it readably: the log is advisory).
    pub fn written_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let at = chrono::DateTime::parse_from_rfc3339(self.at.as_deref()?).ok()?;
        Some(at.with_timezone(&chrono::Utc))
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

    /// The stored object: header (type 4, no compression) and compact JSON, members in the
    /// order of spec §8.1.
    pub fn encode(&self) -> Result<Bytes> {
        let json = serde_json::to_vec(self).expect("a ref record serializes");
        header::encode(ObjectType::Ref, &json, None)
    }

    /// Decodes a stored ref object (spec §8.1): one JSON object with unique member names,
    /// `write_id` a string, `snapshot` a string or null (missing: null), `deleted` a boolean
    /// (missing: false); unknown members are ignored. Whether `snapshot` is a valid id is
    /// checked when the record is used ([`Self::snapshot_id`]).
    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        crate::format::decode_json_object(path, ObjectType::Ref, "ref record", stored)
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

    /// Where the next resolution of this branch starts: only record `seq + 1` is read then.
    pub fn as_hint(&self) -> TipHint {
        let snapshot = self.record.snapshot.as_deref().and_then(|s| s.parse().ok());
        TipHint { seq: self.seq, snapshot, record: Some(self.record.clone()) }
    }
}

/// Where a branch's tip was recently: from the `hint` object, or remembered by this process.
/// Never trusted: resolving from it always checks that record `seq + 1` does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipHint {
    pub seq: u64,
    /// The snapshot record `seq` names, so that a reader can fetch it while checking the tip.
    pub snapshot: Option<SnapshotId>,
    /// Record `seq` itself, when this process has read or written it (records never change).
    pub record: Option<RefRecord>,
}

impl TipHint {
    /// The `hint` object (spec §8.2): the number, a space, the snapshot id, a line feed.
    pub fn encode(&self) -> Bytes {
        match self.snapshot {
            Some(id) => Bytes::from(format!("{} {id}\n", self.seq)),
            None => Bytes::from(format!("{}\n", self.seq)),
        }
    }

    /// Parses a `hint` object (spec §8.2): UTF-8 words separated by white space; the first is
    /// the number (ASCII digits, optionally after `+`, 1 to 2^63 − 2), the second, if it is a
    /// valid snapshot id, that record's snapshot; more words are ignored. Anything else is no
    /// hint, never an error: a hint is never trusted.
    pub fn decode(stored: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(stored).ok()?;
        let mut words = text.split_whitespace();
        let number = words.next()?;
        let digits = number.strip_prefix('+').unwrap_or(number);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq = digits.parse::<u64>().ok()?;
        // An absurd value would only send us probing: ignore it.
        if seq == 0 || seq > MAX_HINT_SEQ {
            return None;
        }
        let snapshot = words.next().and_then(|w| w.parse().ok());
        Some(TipHint { seq, snapshot, record: None })
    }
}

/// The branch's `hint` object, if there is a readable one.
pub async fn read_hint(storage: &dyn Storage, name: &str) -> Result<Option<TipHint>> {
    Ok(storage.get(&branch_hint_path(name)).await?.and_then(|stored| TipHint::decode(&stored)))
}

async fn write_hint(storage: &dyn Storage, name: &str, hint: &TipHint) {
    // Best effort: a stale hint only costs readers a few more probes.
    if let Err(e) = storage.put(&branch_hint_path(name), hint.encode()).await {
        tracing::debug!(branch = name, error = %e, "could not update the branch hint");
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
    Ok(listed.iter().filter_map(|o| record_seq(&o.path)).max().unwrap_or(0))
}

/// The number of a listed record: record names are made only of ASCII digits (spec §8.2
/// step 3); `+1` or a temporary file is not a record.
pub(crate) fn record_seq(name: &str) -> Option<u64> {
    name.bytes().all(|b| b.is_ascii_digit()).then(|| name.parse::<u64>().ok()).flatten()
}

/// Every record of a branch, oldest first, tombstones included (for the operations log).
pub async fn branch_records(storage: &dyn Storage, name: &str) -> Result<Vec<(u64, RefRecord)>> {
    let listed = storage.list(&format!("{}/", branch_folder(name))).await?;
    let mut seqs: Vec<u64> = listed.iter().filter_map(|o| record_seq(&o.path)).collect();
    seqs.sort_unstable();
    futures::stream::iter(seqs)
        .map(|seq| async move {
            let path = branch_record_path(name, seq);
            let record = read_record(storage, &path)
                .await?
                .ok_or_else(|| IcechunkError::corrupt(&path, "listed ref record vanished"))?;
            Ok::<_, IcechunkError>((seq, record))
        })
        .buffered(32)
        .try_collect()
        .await
}

/// A tag's record and tombstone, if they exist (for the operations log).
pub async fn tag_records(
    storage: &dyn Storage,
    name: &str,
) -> Result<(Option<RefRecord>, Option<RefRecord>)> {
    let (created, deleted) = (tag_path(name), tag_tombstone_path(name));
    futures::try_join!(read_record(storage, &created), read_record(storage, &deleted))
}

/// The names of every branch and tag folder, deleted ones included: `(branches, tags)`.
pub async fn ref_folders(storage: &dyn Storage) -> Result<(Vec<String>, Vec<String>)> {
    let folders = storage.list_folders("refs/").await?;
    let named = |prefix: &str| -> Vec<String> {
        folders.iter().filter_map(|f| f.strip_prefix(prefix)).map(str::to_string).collect()
    };
    Ok((named("branch."), named("tag.")))
}

/// The last record, found without listing (plain HTTP servers cannot list): records are
/// numbered 1, 2, 3... without gaps, so steps that double, then bisection, find the last one
/// in about 2 log2(n) reads. `known` exists (or is 0). The number after the result was read
/// as missing during this call, so the result is the tip.
async fn probed_tip(
    storage: &dyn Storage,
    name: &str,
    known: Option<BranchTip>,
) -> Result<Option<BranchTip>> {
    let known = known.map(|tip| (tip.seq, tip.record));
    let read = |seq| async move { read_record(storage, &branch_record_path(name, seq)).await };
    let found = probe_last(known, read).await?;
    Ok(found.map(|(seq, record)| BranchTip { seq, record }))
}

/// The last of records numbered 1, 2, 3... without gaps, by reading only (see [`probed_tip`]);
/// shared with the repository's own records ([`crate::repo_info`]).
pub(crate) async fn probe_last<T, F, Fut>(known: Option<(u64, T)>, read: F) -> Result<Option<(u64, T)>>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let mut lo = known;
    let mut step = 1;
    let mut hi = loop {
        let probe = lo.as_ref().map_or(0, |(seq, _)| *seq) + step;
        match read(probe).await? {
            Some(found) => lo = Some((probe, found)),
            None => break probe,
        }
        step *= 2;
    };
    loop {
        let lo_seq = lo.as_ref().map_or(0, |(seq, _)| *seq);
        if hi - lo_seq <= 1 {
            return Ok(lo);
        }
        let mid = lo_seq + (hi - lo_seq) / 2;
        match read(mid).await? {
            Some(found) => lo = Some((mid, found)),
            None => hi = mid,
        }
    }
}

/// Probes past a hint that turned out stale before listing the folder instead.
const MAX_PROBES: u64 = 8;

/// Checks a hint: `Ok(Ok(tip))` when record `seq + 1` is free, `Ok(Err(next))` when the
/// tip is further on (`next` is the first number not yet seen), `Ok(Err(0))` when the hint
/// points past the records.
async fn check_hint(
    storage: &dyn Storage,
    name: &str,
    hint: &TipHint,
) -> Result<std::result::Result<BranchTip, (Option<BranchTip>, u64)>> {
    let seq = hint.seq;
    let (at_path, after_path) = (branch_record_path(name, seq), branch_record_path(name, seq + 1));
    let after = read_record(storage, &after_path);
    let (at, after) = match &hint.record {
        Some(record) => (Some(record.clone()), after.await?),
        None => futures::try_join!(read_record(storage, &at_path), after)?,
    };
    Ok(match (at, after) {
        (Some(record), None) => Ok(BranchTip { seq, record }),
        (Some(_), Some(record)) => Err((Some(BranchTip { seq: seq + 1, record }), seq + 2)),
        // A hint ahead of the records.
        (None, _) => Err((None, 0)),
    })
}

/// Where a tip search starts.
#[derive(Debug, Clone)]
pub enum TipStart {
    /// Nothing known: the `hint` object is read first.
    ReadHint,
    /// The `hint` object, already read (`None`: there is none, or it is unreadable).
    Hint(Option<TipHint>),
    /// A tip this process saw; if it is stale, the `hint` object is tried next.
    Remembered(TipHint),
}

/// Finds the tip from `start`: record `seq` and `seq + 1` are read together; past a stale
/// hint the fresher `hint` object is tried, then a few probes forward, then a listing of the
/// folder (or, on stores that cannot list, doubling probes and bisection).
pub async fn branch_tip(storage: &dyn Storage, name: &str, start: TipStart) -> Result<Option<BranchTip>> {
    let (start, remembered) = match start {
        TipStart::ReadHint => (read_hint(storage, name).await?, false),
        TipStart::Hint(hint) => (hint, false),
        TipStart::Remembered(hint) => (Some(hint), true),
    };
    let mut tip: Option<BranchTip> = None;
    let mut next = 0;
    if let Some(hint) = &start {
        match check_hint(storage, name, hint).await? {
            Ok(tip) => return Ok(Some(tip)),
            Err((seen, after)) => (tip, next) = (seen, after),
        }
        // A remembered tip went stale: others committed. Their hint is likely current.
        if remembered {
            if let Some(fresh) = read_hint(storage, name).await?.filter(|h| h.seq >= next) {
                match check_hint(storage, name, &fresh).await? {
                    Ok(found) => return Ok(Some(found)),
                    Err((Some(seen), after)) => (tip, next) = (Some(seen), after),
                    Err((None, _)) => {}
                }
            }
        }
    }
    let mut probes = 0;
    loop {
        if next == 0 || probes == MAX_PROBES {
            if !storage.can_list() {
                return probed_tip(storage, name, tip).await;
            }
            let seq = highest_listed_seq(storage, name).await?;
            if seq < next.saturating_sub(1) {
                return Err(IcechunkError::corrupt(branch_folder(name), "ref records vanished"));
            }
            if seq > 0 && seq + 1 != next {
                let path = branch_record_path(name, seq);
                let record = read_record(storage, &path)
                    .await?
                    .ok_or_else(|| IcechunkError::corrupt(&path, "listed ref record vanished"))?;
                tip = Some(BranchTip { seq, record });
            }
            next = seq + 1;
            probes = 0;
        }
        match read_record(storage, &branch_record_path(name, next)).await? {
            Some(record) => {
                tip = Some(BranchTip { seq: next, record });
                next += 1;
                probes += 1;
            }
            None => return Ok(tip),
        }
    }
}

/// The snapshot at a branch's tip, or `RefNotFound`.
pub fn tip_snapshot(name: &str, tip: Option<&BranchTip>) -> Result<SnapshotId> {
    let not_found = || IcechunkError::RefNotFound { kind: "branch", name: name.to_string() };
    tip.ok_or_else(not_found)?.snapshot_id(name)?.ok_or_else(not_found)
}

/// What the caller of [`move_branch`] knows of the branch's tip before it starts.
#[derive(Debug, Clone)]
pub enum KnownTip {
    /// Nothing: the tip is looked up.
    Unknown,
    /// A tip this process read or wrote (it may be stale: a lost race looks the tip up).
    Seen(BranchTip),
    /// The branch has no record yet: a repository this process is creating, whose location
    /// it listed empty before it created the config. Record 1 is written straight away (if
    /// another writer has it, the race is lost and the tip looked up, as ever).
    NoRecord,
}

/// Moves a branch to `target` (`None` deletes it) if `precondition` accepts the current tip
/// snapshot (`None`: no branch). Races are settled by create-if-absent of the next record;
/// a loser re-reads the tip and re-checks the precondition.
///
/// With `start` (a tip this process knows), the first attempt creates record `start.seq + 1`
/// without reading anything: creating it proves `start` was the tip, since a record is only
/// ever created right after the one before it. Returns the new tip. The hint is written
/// afterwards on `runtime`, off the caller's critical path.
pub async fn move_branch<F>(
    storage: &Arc<dyn Storage>,
    name: &str,
    target: Option<SnapshotId>,
    op: RefOp,
    start: KnownTip,
    precondition: F,
    runtime: &tokio::runtime::Handle,
) -> Result<BranchTip>
where
    F: Fn(Option<SnapshotId>) -> Result<()>,
{
    validate_ref_name(name)?;
    let record = RefRecord::new(target, op);
    let stored = record.encode()?;
    // The first attempt starts from what the caller knows; after a lost race, from storage.
    let mut known = match start {
        KnownTip::Unknown => None,
        KnownTip::Seen(tip) => Some(Some(tip)),
        KnownTip::NoRecord => Some(None),
    };
    loop {
        let tip = match known.take() {
            Some(tip) => tip,
            None => branch_tip(storage.as_ref(), name, TipStart::ReadHint).await?,
        };
        let current = match &tip {
            Some(tip) => tip.snapshot_id(name)?,
            None => None,
        };
        precondition(current)?;
        let seq = tip.map_or(1, |t| t.seq + 1);
        let path = branch_record_path(name, seq);
        let won = storage.put_if_absent(&path, stored.clone()).await?
            || read_record(storage.as_ref(), &path).await?.is_some_and(|r| r.write_id == record.write_id);
        if won {
            let tip = BranchTip { seq, record };
            let hint = TipHint { record: None, ..tip.as_hint() };
            // Written after the record (a hint must never be ahead of it), off the commit's
            // critical path.
            let storage = storage.clone();
            let name = name.to_string();
            runtime.spawn(async move { write_hint(storage.as_ref(), &name, &hint).await });
            return Ok(tip);
        }
        tracing::debug!(branch = name, seq, "lost the race for a ref record; re-checking");
    }
}

pub async fn list_branches(storage: &dyn Storage) -> Result<BTreeSet<String>> {
    let folders = storage.list_folders("refs/").await?;
    let names: Vec<String> =
        folders.iter().filter_map(|f| f.strip_prefix("branch.")).map(str::to_string).collect();
    let alive = try_join_all(names.iter().map(|name| async move {
        let tip = branch_tip(storage, name, TipStart::ReadHint).await?;
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
    let record = RefRecord::new(Some(snapshot), RefOp::Create);
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
    let record = RefRecord::new(None, RefOp::Delete);
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
    // A tag is a folder with a `ref` object and no `deleted` object (spec §8.3): a folder
    // without `ref` (a crashed create, or stray objects) is no tag.
    let alive = try_join_all(names.iter().map(|name| async move {
        let (record, tombstone) = (tag_path(name), tag_tombstone_path(name));
        let (record, tombstone) = futures::try_join!(storage.get(&record), storage.get(&tombstone))?;
        Ok::<_, IcechunkError>(record.is_some() && tombstone.is_none())
    }))
    .await?;
    Ok(names.into_iter().zip(alive).filter_map(|(n, a)| a.then_some(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Result<RefRecord> {
        RefRecord::decode("r", &header::encode(ObjectType::Ref, json.as_bytes(), None).unwrap())
    }

    #[test]
    fn ref_records_follow_the_spec() {
        let id = "000G40O40K30E209185G";
        let good = record(&format!(r#"{{"snapshot":"{id}","write_id":"0123456789abcdef","deleted":false}}"#))
            .unwrap();
        assert_eq!(good.snapshot_id("r").unwrap().unwrap().to_string(), id);
        // Whitespace between tokens, unknown members, a missing `deleted`, a null snapshot.
        let spaced =
            record(&format!(" {{ \"write_id\" : \"w\", \"snapshot\": \"{id}\", \"x\": [1, {{}}] }}\n"))
                .unwrap();
        assert!(!spaced.deleted);
        let tombstone = record(r#"{"snapshot":null,"write_id":"w","deleted":true}"#).unwrap();
        assert_eq!(tombstone.snapshot_id("r").unwrap(), None);
        assert_eq!(record(r#"{"write_id":"w","deleted":true}"#).unwrap(), tombstone);
        for bad in [
            r#"{"snapshot":null,"deleted":true}"#.to_string(),
            r#"{"snapshot":null,"write_id":7}"#.to_string(),
            r#"{"snapshot":null,"write_id":null}"#.to_string(),
            r#"{"snapshot":1,"write_id":"w"}"#.to_string(),
            r#"{"write_id":"w","deleted":"no"}"#.to_string(),
            r#"{"write_id":"w","deleted":null}"#.to_string(),
            r#"{"write_id":"w","write_id":"w"}"#.to_string(),
            r#"{"write_id":"w","x":1,"x":2}"#.to_string(),
            r#"{"write_id":"w"} {}"#.to_string(),
            "\u{feff}{\"write_id\":\"w\"}".to_string(),
            r#"["write_id"]"#.to_string(),
            "".to_string(),
        ] {
            assert_eq!(record(&bad).unwrap_err().kind(), crate::error::ErrorKind::Format, "{bad}");
        }
        // A live record without a valid snapshot id is Corrupt when used.
        for snapshot in ["null", "\"000g40o40k30e209185g\"", "\"000G40O40K30E209185H\"", "\"x\""] {
            let r = record(&format!(r#"{{"snapshot":{snapshot},"write_id":"w"}}"#)).unwrap();
            assert!(r.snapshot_id("r").is_err(), "{snapshot}");
        }
    }

    #[test]
    fn hints_follow_the_grammar() {
        let id: SnapshotId = "000G40O40K30E209185G".parse().unwrap();
        let hint = |s: &str| TipHint::decode(s.as_bytes()).map(|h| (h.seq, h.snapshot));
        assert_eq!(hint("7 000G40O40K30E209185G\n"), Some((7, Some(id))));
        assert_eq!(
            TipHint { seq: 7, snapshot: Some(id), record: None }.encode(),
            &b"7 000G40O40K30E209185G\n"[..]
        );
        assert_eq!(hint("7"), Some((7, None)));
        assert_eq!(hint("  +7\t000G40O40K30E209185G more words\r\n"), Some((7, Some(id))));
        assert_eq!(hint("007 nonsense"), Some((7, None)));
        assert_eq!(hint(&format!("{MAX_HINT_SEQ}")), Some((MAX_HINT_SEQ, None)));
        for bad in [
            "",
            " \n",
            "0",
            "-1",
            "+",
            "++1",
            "1.0",
            "0x10",
            "7a",
            "a 7",
            "9223372036854775807",
            "99999999999999999999999",
        ] {
            assert_eq!(hint(bad), None, "{bad:?}");
        }
        assert_eq!(TipHint::decode(b"\xff 7"), None);
    }

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
