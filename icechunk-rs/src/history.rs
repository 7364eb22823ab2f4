//! History: a snapshot and its ancestors, newest first, read through the ancestor summaries
//! each snapshot carries (spec/format.md, §5.1), so that long histories cost few fetches.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::asset_cache::AssetCache;
use crate::error::{IcechunkError, Result};
use crate::format::snapshot::AncestorInfo;
use crate::ids::SnapshotId;

#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    pub parent_id: Option<SnapshotId>,
    pub written_at: DateTime<Utc>,
    pub message: String,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl From<AncestorInfo> for SnapshotInfo {
    fn from(info: AncestorInfo) -> Self {
        SnapshotInfo {
            id: info.id,
            parent_id: info.parent_id,
            written_at: Utc.timestamp_micros(info.flushed_at as i64).single().unwrap_or_default(),
            message: info.message,
            metadata: info.metadata,
        }
    }
}

/// Expired history (spec/format.md §13.1): for a snapshot whose ancestors were expired,
/// the ancestor its history continues with instead of its stored parent.
pub type HistoryCuts = Arc<HashMap<SnapshotId, SnapshotId>>;

/// `start` and its ancestors, newest first, fetched as the stream is read; at a snapshot in
/// `cuts`, the history continues with the ancestor named there. The snapshot that continues
/// the history after a run of summaries is fetched on `runtime` while the run is consumed.
pub fn ancestry(
    assets: Arc<AssetCache>,
    start: SnapshotId,
    runtime: tokio::runtime::Handle,
    cuts: HistoryCuts,
) -> BoxStream<'static, Result<SnapshotInfo>> {
    let start = (VecDeque::<SnapshotInfo>::new(), Some(start));
    futures::stream::try_unfold(start, move |(mut buffered, next)| {
        let (assets, runtime, cuts) = (assets.clone(), runtime.clone(), cuts.clone());
        async move {
            if let Some(mut info) = buffered.pop_front() {
                if let Some(kept) = cuts.get(&info.id) {
                    // The summaries after this one are expired history.
                    info.parent_id = Some(*kept);
                    return Ok(Some((info, (VecDeque::new(), Some(*kept)))));
                }
                return Ok(Some((info, (buffered, next))));
            }
            let Some(id) = next else { return Ok(None) };
            let snapshot = assets.snapshot(&id).await?;
            let mut info: SnapshotInfo = snapshot.summary().into();
            let next = match cuts.get(&id) {
                Some(kept) => {
                    info.parent_id = Some(*kept);
                    Some(*kept)
                }
                None => {
                    buffered.extend(snapshot.ancestors.iter().cloned().map(SnapshotInfo::from));
                    snapshot.ancestors.last().map_or(snapshot.parent_id, |a| a.parent_id)
                }
            };
            if let Some(next) = next {
                let assets = assets.clone();
                runtime.spawn(async move {
                    // Only a prefetch: the stream fetches it again (from the cache) and
                    // reports any error then.
                    let _ = assets.snapshot(&next).await;
                });
            }
            Ok(Some((info, (buffered, next))))
        }
    })
    .boxed()
}

/// The snapshots after `from` up to and including `to`, oldest first; `NotAncestor` if
/// `from` is not `to` or one of its ancestors.
pub async fn commits_between(
    assets: Arc<AssetCache>,
    from: SnapshotId,
    to: SnapshotId,
    runtime: tokio::runtime::Handle,
    cuts: HistoryCuts,
) -> Result<Vec<SnapshotId>> {
    let mut between = Vec::new();
    let mut history = ancestry(assets, to, runtime, cuts);
    while let Some(info) = history.try_next().await? {
        if info.id == from {
            between.reverse();
            return Ok(between);
        }
        between.push(info.id);
    }
    Err(IcechunkError::NotAncestor { from: from.to_string(), to: to.to_string() })
}
