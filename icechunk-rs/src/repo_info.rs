//! The repository's own mutable state: availability (status), metadata, feature flags and
//! the saved config (spec §12).
//!
//! Like a branch, it is a folder of numbered records, `repo/<seq>`, created with
//! create-if-absent only: each record holds the whole state after one change, and that
//! change. Of racing writers exactly one creates record `tip + 1`; the others re-read the
//! tip and apply their change again to the state they find, so an `update_metadata` never
//! loses a concurrent one. Changes here are rare (administrative), so the tip is found by
//! listing the folder (or, where a store cannot list, by probing), with no hint object.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::RepositoryConfig;
use crate::error::{IcechunkError, Result};
use crate::format::header::{self, ObjectType};
use crate::refs::{self, timestamp_now};
use crate::storage::Storage;

pub type JsonMap = serde_json::Map<String, serde_json::Value>;

const FOLDER: &str = "repo";
const SEQ_WIDTH: usize = 20;

fn record_path(seq: u64) -> String {
    format!("{FOLDER}/{seq:0width$}", width = SEQ_WIDTH)
}

/// Whether the repository takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    #[default]
    Online,
    /// Sessions can read; nothing that writes (a writable session, a commit, a ref change,
    /// a change of metadata, config or flags) is accepted until the status is set back.
    ReadOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoStatus {
    pub availability: Availability,
    /// RFC 3339, UTC.
    pub set_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Default for RepoStatus {
    /// A repository without records (created before this state existed) has always been
    /// online.
    fn default() -> Self {
        RepoStatus { availability: Availability::Online, set_at: "1970-01-01T00:00:00Z".into(), reason: None }
    }
}

impl RepoStatus {
    pub fn set_at(&self) -> DateTime<Utc> {
        parse_time(&self.set_at).unwrap_or_default()
    }

    /// `Ok` when the repository takes writes; else `ReadOnly`, saying since when and why.
    pub fn check_writable(&self, what: &str) -> Result<()> {
        match self.availability {
            Availability::Online => Ok(()),
            Availability::ReadOnly => Err(IcechunkError::RepositoryReadOnly(format!(
                "{what}: the repository's status is read-only (set at {}{})",
                self.set_at,
                self.reason.as_ref().map(|r| format!(", reason: {r}")).unwrap_or_default()
            ))),
        }
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc))
}

/// A switch for one operation of the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureFlag {
    /// Stable numbers, as Icechunk numbers the same flags.
    pub id: u32,
    pub name: &'static str,
    pub default_enabled: bool,
}

/// Every flag this version knows; a record may name others (kept, not applied).
pub const FEATURE_FLAGS: [FeatureFlag; 3] = [
    FeatureFlag { id: 3, name: "move_node", default_enabled: true },
    FeatureFlag { id: 4, name: "create_tag", default_enabled: true },
    FeatureFlag { id: 5, name: "delete_tag", default_enabled: true },
];

pub fn feature_flag(name: &str) -> Result<FeatureFlag> {
    FEATURE_FLAGS.iter().copied().find(|f| f.name == name).ok_or_else(|| {
        let known: Vec<&str> = FEATURE_FLAGS.iter().map(|f| f.name).collect();
        IcechunkError::InvalidInput(format!("unknown feature flag {name:?}; known: {}", known.join(", ")))
    })
}

/// The state after a change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RepoState {
    pub status: RepoStatus,
    pub metadata: JsonMap,
    /// Explicit settings only; a flag not named here has its default.
    pub feature_flags: BTreeMap<String, bool>,
    /// The config saved with `save_config`; without one, `config.json`'s applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<RepositoryConfig>,
    /// Expired history (§13.1): snapshot id -> the kept ancestor its history continues with.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub history_cuts: BTreeMap<String, String>,
}

impl RepoState {
    /// `history_cuts` as ids; a member that is not a pair of snapshot ids is Corrupt.
    pub fn cuts(&self) -> Result<std::collections::HashMap<crate::ids::SnapshotId, crate::ids::SnapshotId>> {
        let parse = |s: &str| {
            s.parse::<crate::ids::SnapshotId>().map_err(|_| {
                IcechunkError::corrupt("repo/", format!("`{s}` in history_cuts is not a snapshot id"))
            })
        };
        self.history_cuts.iter().map(|(from, to)| Ok((parse(from)?, parse(to)?))).collect()
    }
}

impl RepoState {
    /// The setting of a flag, or its default.
    pub fn flag_enabled(&self, flag: FeatureFlag) -> bool {
        self.feature_flags.get(flag.name).copied().unwrap_or(flag.default_enabled)
    }

    /// `Ok` when the repository takes writes.
    pub fn check_writable(&self, what: &str) -> Result<()> {
        self.status.check_writable(what)
    }

    /// `Ok` when `flag` is enabled.
    pub fn check_flag(&self, name: &str) -> Result<()> {
        let flag = feature_flag(name)?;
        if self.flag_enabled(flag) {
            Ok(())
        } else {
            Err(IcechunkError::SessionState(format!(
                "{name} is disabled by a feature flag of the repository"
            )))
        }
    }
}

/// The change a record made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RepoChange {
    StatusChanged,
    MetadataChanged,
    ConfigChanged,
    FeatureFlagChanged {
        name: String,
        value: Option<bool>,
    },
    /// `expire_snapshots` cut history (§13.1): how many snapshots left it.
    SnapshotsExpired {
        count: u64,
    },
    /// `garbage_collect` ran (§13.3): how many objects it deleted.
    GarbageCollected {
        objects: u64,
    },
    /// Written by a newer version of this format.
    #[serde(other)]
    Unknown,
}

/// One `repo/<seq>` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoRecord {
    pub state: RepoState,
    pub change: RepoChange,
    /// RFC 3339, UTC.
    pub at: String,
    /// Random per write: lets a writer recognise its own create after a lost response.
    pub write_id: String,
}

impl RepoRecord {
    pub fn written_at(&self) -> DateTime<Utc> {
        parse_time(&self.at).unwrap_or_default()
    }

    /// Header (type 6, no compression) and compact JSON.
    pub fn encode(&self) -> Result<Bytes> {
        let json = serde_json::to_vec(self).expect("a repository record serializes");
        header::encode(ObjectType::RepoInfo, &json, None)
    }

    /// Decodes a stored record: one JSON object with unique member names; unknown members
    /// are ignored, missing members of `state` take their defaults.
    pub fn decode(path: &str, stored: &[u8]) -> Result<Self> {
        crate::format::decode_json_object(path, ObjectType::RepoInfo, "repository record", stored)
    }
}

async fn read_record(storage: &dyn Storage, seq: u64) -> Result<Option<RepoRecord>> {
    let path = record_path(seq);
    match storage.get(&path).await? {
        Some(stored) => Ok(Some(RepoRecord::decode(&path, &stored)?)),
        None => Ok(None),
    }
}

/// The newest record, if any.
pub async fn latest(storage: &dyn Storage) -> Result<Option<(u64, RepoRecord)>> {
    if !storage.can_list() {
        return refs::probe_last(None, |seq| async move { read_record(storage, seq).await }).await;
    }
    let listed = storage.list(&format!("{FOLDER}/")).await?;
    let Some(seq) = listed.iter().filter_map(|o| refs::record_seq(&o.path)).max() else { return Ok(None) };
    let record = read_record(storage, seq)
        .await?
        .ok_or_else(|| IcechunkError::corrupt(record_path(seq), "listed repository record vanished"))?;
    Ok(Some((seq, record)))
}

/// The current state (the default one without records).
pub async fn current(storage: &dyn Storage) -> Result<RepoState> {
    Ok(latest(storage).await?.map(|(_, r)| r.state).unwrap_or_default())
}

/// Every record, oldest first (for the operations log).
pub async fn all_records(storage: &dyn Storage) -> Result<Vec<RepoRecord>> {
    let Some((last, newest)) = latest(storage).await? else { return Ok(Vec::new()) };
    let mut records = futures::future::try_join_all((1..last).map(|seq| async move {
        read_record(storage, seq)
            .await?
            .ok_or_else(|| IcechunkError::corrupt(record_path(seq), "repository record missing"))
    }))
    .await?;
    records.push(newest);
    Ok(records)
}

/// Applies `change` to the newest state and stores the result as the next record; `change`
/// may refuse (an error) and says what it did. A writer that loses the race for a record
/// number re-reads and applies its change again, up to `retries` times. Refused while the
/// repository is read-only, except a change of status.
pub async fn update<F>(storage: &dyn Storage, retries: u32, change: F) -> Result<RepoState>
where
    F: Fn(&mut RepoState) -> Result<RepoChange>,
{
    let mut write_id = [0u8; 8];
    rand::rng().fill_bytes(&mut write_id);
    let write_id: String = write_id.iter().map(|b| format!("{b:02x}")).collect();
    for _ in 0..=retries {
        let (seq, mut state) = match latest(storage).await? {
            Some((seq, record)) => (seq, record.state),
            None => (0, RepoState::default()),
        };
        let status_before = state.status.clone();
        let made = change(&mut state)?;
        if made != RepoChange::StatusChanged {
            status_before.check_writable("cannot change the repository")?;
        }
        let record = RepoRecord { state, change: made, at: timestamp_now(), write_id: write_id.clone() };
        let won = storage.put_if_absent(&record_path(seq + 1), record.encode()?).await?
            || read_record(storage, seq + 1).await?.is_some_and(|r| r.write_id == write_id);
        if won {
            return Ok(record.state);
        }
        tracing::debug!(seq = seq + 1, "lost the race for a repository record; re-applying the change");
    }
    Err(IcechunkError::UpdateAttemptsExhausted { what: "the repository's state", attempts: retries + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Result<RepoRecord> {
        RepoRecord::decode("r", &header::encode(ObjectType::RepoInfo, json.as_bytes(), None).unwrap())
    }

    #[test]
    fn records_follow_the_spec() {
        let minimal = record(
            r#"{"state":{},"change":{"kind":"metadata_changed"},"at":"2026-01-02T03:04:05Z","write_id":"w"}"#,
        )
        .unwrap();
        assert_eq!(minimal.state, RepoState::default());
        assert_eq!(minimal.change, RepoChange::MetadataChanged);
        let future = record(
            r#"{"state":{"x":1},"change":{"kind":"defragmented","n":1},"at":"t","write_id":"w","y":2}"#,
        )
        .unwrap();
        assert_eq!(future.change, RepoChange::Unknown);
        for bad in [
            r#"{"state":{},"change":{"kind":"metadata_changed"},"at":"t"}"#,
            r#"{"state":{"status":{"availability":"offline","set_at":"t"}},"change":{"kind":"status_changed"},"at":"t","write_id":"w"}"#,
            r#"{"state":{},"state":{},"change":{"kind":"metadata_changed"},"at":"t","write_id":"w"}"#,
        ] {
            assert_eq!(record(bad).unwrap_err().kind(), crate::error::ErrorKind::Format, "{bad}");
        }
        let mut state = RepoState::default();
        state.feature_flags.insert("create_tag".into(), false);
        let full = RepoRecord {
            state,
            change: RepoChange::FeatureFlagChanged { name: "create_tag".into(), value: Some(false) },
            at: timestamp_now(),
            write_id: "w".into(),
        };
        assert_eq!(RepoRecord::decode("r", &full.encode().unwrap()).unwrap(), full);
        assert!(full.state.check_flag("create_tag").is_err());
        assert!(full.state.check_flag("delete_tag").is_ok());
        assert!(full.state.check_flag("nonsense").is_err());
    }
}
