//! The repository's objects as JSON documents, for people and tools that look inside
//! (`Repository.inspect_snapshot` and friends): every field of the object, ids in their text
//! form, times in RFC 3339, each node's `zarr.json` as JSON.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use crate::asset_cache::AssetCache;
use crate::error::{IcechunkError, Result};
use crate::format::manifest::{ChunkLocation, ManifestShard, SourcePin};
use crate::format::paths;
use crate::format::snapshot::{NodeKind, Snapshot};
use crate::format::txlog::{ChangedNode, TransactionLog};
use crate::ids::{ManifestId, SnapshotId};

fn time(micros: u64) -> Value {
    let at = Utc.timestamp_micros(micros as i64).single().unwrap_or_default();
    Value::String(at.to_rfc3339())
}

/// A snapshot: its commit, nodes (with their shards) and ancestor summaries.
pub fn snapshot(snapshot: &Snapshot) -> Value {
    let nodes: Vec<Value> = snapshot
        .nodes
        .values()
        .map(|node| {
            let zarr_json: Value = serde_json::from_slice(&node.zarr_json)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&node.zarr_json).into_owned()));
            let mut doc = json!({"id": node.id.to_string(), "path": node.path, "zarr_json": zarr_json});
            match &node.kind {
                NodeKind::Group => doc["type"] = json!("group"),
                NodeKind::Array(array) => {
                    doc["type"] = json!("array");
                    doc["block_shape"] = json!(array.block_shape);
                    doc["manifests"] = array
                        .shards
                        .iter()
                        .map(|(block, shard)| {
                            json!({
                                "block": block,
                                "manifest_id": shard.manifest_id.to_string(),
                                "chunk_count": shard.chunk_count,
                                "total_bytes": shard.total_bytes,
                                "inline": shard.inline.is_some(),
                            })
                        })
                        .collect();
                }
            }
            doc
        })
        .collect();
    let ancestors: Vec<Value> = snapshot
        .ancestors
        .iter()
        .map(|a| json!({"id": a.id.to_string(), "flushed_at": time(a.flushed_at), "message": a.message}))
        .collect();
    json!({
        "id": snapshot.id.to_string(),
        "parent_id": snapshot.parent_id.map(|id| id.to_string()),
        "flushed_at": time(snapshot.flushed_at),
        "message": snapshot.message,
        "metadata": snapshot.metadata,
        "nodes": nodes,
        "ancestors": ancestors,
    })
}

/// A manifest shard: its node, block and chunk references.
pub fn manifest(shard: &ManifestShard) -> Value {
    let refs: Vec<Value> = shard
        .iter()
        .map(|(coords, chunk)| {
            let mut doc = json!({"coords": coords, "length": chunk.length, "checksum": chunk.checksum});
            match chunk.location {
                ChunkLocation::Inline(_) => doc["location"] = json!("inline"),
                ChunkLocation::Virtual { location, offset, pin } => {
                    doc["location"] = json!("virtual");
                    doc["url"] = json!(&*location);
                    doc["offset"] = json!(offset);
                    match pin {
                        Some(SourcePin::ETag(etag)) => doc["pin_etag"] = json!(etag),
                        Some(SourcePin::LastModified(at)) => doc["pin_last_modified"] = json!(at),
                        None => {}
                    }
                }
                ChunkLocation::Object { id, offset, block_size_log2 } => {
                    doc["location"] = json!("object");
                    doc["chunk_id"] = json!(id.to_string());
                    doc["offset"] = json!(offset);
                    doc["block_size_log2"] = json!(block_size_log2);
                }
            }
            doc
        })
        .collect();
    json!({
        "id": shard.id().to_string(),
        "node_id": shard.node_id().to_string(),
        "block": shard.block(),
        "refs": refs,
    })
}

/// A transaction log: what its commit changed.
pub fn transaction_log(id: &SnapshotId, log: &TransactionLog) -> Value {
    let nodes = |list: &[ChangedNode]| -> Value {
        list.iter().map(|(id, path)| json!({"node_id": id.to_string(), "path": path})).collect()
    };
    let chunks: Vec<Value> = log
        .updated_chunks
        .iter()
        .map(|((id, path), coords)| json!({"node_id": id.to_string(), "path": path, "coords": coords}))
        .collect();
    json!({
        "id": id.to_string(),
        "new_groups": nodes(&log.new_groups),
        "new_arrays": nodes(&log.new_arrays),
        "deleted_groups": nodes(&log.deleted_groups),
        "deleted_arrays": nodes(&log.deleted_arrays),
        "updated_groups": nodes(&log.updated_groups),
        "updated_arrays": nodes(&log.updated_arrays),
        "updated_chunks": chunks,
        "moved_nodes": log
            .moved_nodes
            .iter()
            .map(|m| json!({"node_id": m.id.to_string(), "from": m.from, "to": m.to}))
            .collect::<Vec<_>>(),
    })
}

/// The manifest shard stored as object `manifests/<id>`. Small shards live inside their
/// snapshot instead (`inline` in its document) and are not objects of their own.
pub async fn manifest_object(assets: &AssetCache, id: &ManifestId) -> Result<ManifestShard> {
    let path = paths::manifest(id);
    let stored = assets.storage().get(&path).await?.ok_or_else(|| {
        IcechunkError::InvalidInput(format!(
            "no manifest object {id}: a small manifest lives inside its snapshot (see inspect_snapshot)"
        ))
    })?;
    let shard = ManifestShard::decode(&path, &stored)?;
    if shard.id() != *id {
        return Err(IcechunkError::corrupt(path, "manifest id does not match its name"));
    }
    Ok(shard)
}
