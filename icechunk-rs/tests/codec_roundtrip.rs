//! Property tests of every encoder against its decoder: for any value, `decode(encode(x))`
//! gives `x` back, and the encoder's output passes the decoders' checks (sorted lists, whole
//! coordinates, one location per chunk reference...). The names of this file and of
//! `round_trips.rs` differ on purpose: that one counts storage round trips.

use std::sync::Arc;

use bytes::Bytes;
use icechunk::change_set::{ChangeSet, NodeChange};
use icechunk::format::chunk::{self, BlockTable};
use icechunk::format::header::{self, ObjectType};
use icechunk::format::manifest::{ChunkLocation, ChunkRef, ManifestShard, SourcePin};
use icechunk::format::snapshot::{AncestorInfo, ArrayData, Node, NodeKind, ShardInfo, Snapshot};
use icechunk::format::txlog::{MovedNode, TransactionLog};
use icechunk::ids::{ChunkId, ManifestId};
use icechunk::refs::{RefOp, RefRecord, TipHint, MAX_HINT_SEQ};
use icechunk::repo_info::{Availability, RepoChange, RepoRecord, RepoState, RepoStatus};
use icechunk::session::SessionParts;
use icechunk::virtual_chunks::VirtualChunkContainer;
use icechunk::zarr_json::parse_zarr_json;
use icechunk::{NodeId, RepositoryConfig, SnapshotId, StorageSpec};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::option;
use proptest::prelude::*;

fn snapshot_id() -> impl Strategy<Value = SnapshotId> {
    any::<[u8; 12]>().prop_map(SnapshotId)
}

fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 8]>().prop_map(NodeId)
}

fn segment() -> impl Strategy<Value = String> {
    "[a-z0-9_.é€-]{1,5}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn node_path() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_string()), vec(segment(), 1..4).prop_map(|s| format!("/{}", s.join("/")))]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            btree_map(".{0,4}", inner, 0..4).prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn metadata() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    btree_map(".{0,6}", json_value(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn ancestor() -> impl Strategy<Value = AncestorInfo> {
    (snapshot_id(), proptest::option::of(snapshot_id()), any::<u64>(), ".{0,20}", metadata()).prop_map(
        |(id, parent_id, flushed_at, message, metadata)| AncestorInfo {
            id,
            parent_id,
            flushed_at,
            message,
            metadata,
        },
    )
}

/// Coordinates (or a block index) of `ndim` dimensions.
fn coords(ndim: usize) -> impl Strategy<Value = Vec<u32>> {
    vec(prop_oneof![0u32..4, any::<u32>()], ndim)
}

fn shard_info() -> impl Strategy<Value = ShardInfo> {
    (any::<[u8; 12]>(), any::<u64>(), any::<u64>(), proptest::option::of(vec(any::<u8>(), 0..40))).prop_map(
        |(id, chunk_count, total_bytes, inline)| ShardInfo {
            manifest_id: ManifestId(id),
            chunk_count,
            total_bytes,
            inline: inline.map(Bytes::from),
        },
    )
}

fn node_kind() -> impl Strategy<Value = NodeKind> {
    prop_oneof![
        Just(NodeKind::Group),
        (0usize..4).prop_flat_map(|ndim| {
            (vec(1u32.., ndim), btree_map(coords(ndim), shard_info(), 0..4))
                .prop_map(|(block_shape, shards)| NodeKind::Array(ArrayData { block_shape, shards }))
        }),
    ]
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    let nodes =
        btree_map(node_path(), (node_id(), vec(any::<u8>(), 0..30), node_kind()), 0..6).prop_map(|m| {
            m.into_iter()
                .map(|(path, (id, zarr_json, kind))| {
                    let node = Node { id, path: path.clone(), zarr_json: zarr_json.into(), kind };
                    (path, Arc::new(node))
                })
                .collect()
        });
    (
        snapshot_id(),
        proptest::option::of(snapshot_id()),
        any::<u64>(),
        ".{0,30}",
        metadata(),
        nodes,
        vec(ancestor(), 0..4),
    )
        .prop_map(|(id, parent_id, flushed_at, message, metadata, nodes, ancestors)| Snapshot {
            id,
            parent_id,
            flushed_at,
            message,
            metadata,
            nodes,
            ancestors,
        })
}

fn chunk_ref() -> impl Strategy<Value = ChunkRef> {
    prop_oneof![
        (vec(any::<u8>(), 0..40), any::<u32>()).prop_map(|(bytes, checksum)| ChunkRef {
            length: bytes.len() as u64,
            location: ChunkLocation::Inline(bytes.into()),
            checksum,
        }),
        (any::<[u8; 12]>(), any::<u64>(), any::<u64>(), any::<u32>(), prop_oneof![Just(0u8), 14u8..=30])
            .prop_map(|(id, offset, length, checksum, block_size_log2)| {
                let length = length.min(u64::MAX - offset);
                ChunkRef {
                    location: ChunkLocation::Object { id: ChunkId(id), offset, block_size_log2 },
                    length,
                    checksum,
                }
            }),
        (virtual_location(), any::<u64>(), any::<u64>(), source_pin()).prop_map(
            |(location, offset, length, pin)| {
                let length = length.min(u64::MAX - offset);
                ChunkRef {
                    location: ChunkLocation::Virtual { location: location.into(), offset, pin },
                    length,
                    checksum: 0,
                }
            }
        ),
    ]
}

/// URLs of a few schemes over a few folders and names, so that shards share prefixes.
fn virtual_location() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("s3://b/"), Just("file:///data/"), Just("https://h:8080/x/"), Just("gs://g/")],
        "[a-z]{0,2}(/[a-z]{1,2}){0,2}",
        "[a-z0-9._-]{0,8}",
    )
        .prop_map(|(scheme, folder, name)| format!("{scheme}{folder}/{name}"))
}

fn source_pin() -> impl Strategy<Value = Option<SourcePin>> {
    prop_oneof![
        Just(None),
        "[ -~]{0,12}".prop_map(|etag| Some(SourcePin::ETag(etag))),
        (1u64..).prop_map(|at| Some(SourcePin::LastModified(at))),
    ]
}

fn changed_nodes() -> impl Strategy<Value = Vec<(NodeId, String)>> {
    vec((node_id(), node_path()), 0..4)
}

fn transaction_log() -> impl Strategy<Value = TransactionLog> {
    let chunks = btree_map(
        node_id(),
        (node_path(), (0usize..4).prop_flat_map(|ndim| btree_set(coords(ndim), 1..5))),
        0..4,
    )
    .prop_map(|m| m.into_iter().map(|(id, (path, coords))| ((id, path), coords)).collect());
    (
        changed_nodes(),
        changed_nodes(),
        changed_nodes(),
        changed_nodes(),
        changed_nodes(),
        changed_nodes(),
        chunks,
        btree_map(node_id(), (node_path(), node_path()), 0..4),
    )
        .prop_map(|(ng, na, dg, da, ug, ua, updated_chunks, moved)| TransactionLog {
            new_groups: ng,
            new_arrays: na,
            deleted_groups: dg,
            deleted_arrays: da,
            updated_groups: ug,
            updated_arrays: ua,
            updated_chunks,
            moved_nodes: moved.into_iter().map(|(id, (from, to))| MovedNode { id, from, to }).collect(),
        })
}

fn config() -> impl Strategy<Value = RepositoryConfig> {
    let own =
        (any::<u32>(), any::<i32>(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>());
    // The last: `gc_min_grace_period_seconds`.
    let icechunk_units = (
        option::of(any::<u64>()),
        option::of(any::<u64>()),
        any::<u32>(),
        any::<u32>(),
        option::of(any::<u64>()),
    );
    let containers = proptest::collection::vec(virtual_chunk_container(), 0..3);
    (own, icechunk_units, containers).prop_map(|((a, b, c, d, e, f, g), (h, i, j, k, m), l)| {
        RepositoryConfig {
            inline_chunk_threshold_bytes: a,
            compression_level: b,
            snapshot_cache_size: c,
            manifest_cache_bytes: d,
            max_concurrent_requests: e,
            manifest_shard_size: f,
            inline_manifest_threshold_bytes: g,
            num_snapshot_nodes: h,
            num_chunk_refs: i,
            get_partial_values_concurrency: j,
            repo_update_attempts: k,
            virtual_chunk_containers: l,
            gc_min_grace_period_seconds: m,
        }
    })
}

/// Containers of every store kind, with arbitrary strings where the format holds any.
fn virtual_chunk_container() -> impl Strategy<Value = VirtualChunkContainer> {
    use icechunk::virtual_chunks::{ContainerStore, S3Store};
    let text = "[a-zA-Z0-9 ./:_-]{0,12}";
    let map = || proptest::collection::btree_map(text, text, 0..3);
    let s3 = (option::of(text), option::of(text), any::<bool>(), option::of(any::<u32>())).prop_map(
        |(region, endpoint_url, anonymous, timeout)| S3Store {
            region,
            endpoint_url,
            anonymous,
            network_stream_timeout_seconds: timeout,
            ..Default::default()
        },
    );
    let store = prop_oneof![
        Just(ContainerStore::InMemory),
        text.prop_map(|p| ContainerStore::LocalFileSystem { path: p.into() }),
        s3.clone().prop_map(ContainerStore::S3),
        s3.clone().prop_map(ContainerStore::S3Compatible),
        s3.prop_map(ContainerStore::Tigris),
        map().prop_map(|options| ContainerStore::Gcs { options }),
        map().prop_map(|options| ContainerStore::Azure { options }),
        (map(), map()).prop_map(|(options, headers)| ContainerStore::Http { options, headers }),
    ];
    (option::of(text), text, store).prop_map(|(name, url_prefix, store)| VirtualChunkContainer {
        name,
        url_prefix,
        store,
    })
}

fn array_doc(shape: &[u64]) -> Bytes {
    let chunks: Vec<u64> = shape.iter().map(|s| s.div_ceil(2).max(1)).collect();
    Bytes::from(
        serde_json::json!({
            "zarr_format": 3, "node_type": "array", "shape": shape, "data_type": "uint8",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        })
        .to_string(),
    )
}

fn node_change() -> impl Strategy<Value = NodeChange> {
    let doc = prop_oneof![
        Just(Bytes::from_static(br#"{"zarr_format":3,"node_type":"group"}"#)),
        vec(0u64..10, 0..3).prop_map(|shape| array_doc(&shape)),
    ];
    (node_id(), doc, any::<bool>()).prop_map(|(id, zarr_json, is_new)| NodeChange {
        id,
        node_type: parse_zarr_json("zarr.json", &zarr_json).unwrap(),
        zarr_json,
        is_new,
    })
}

fn session_parts() -> impl Strategy<Value = SessionParts> {
    let storage = prop_oneof![
        Just(StorageSpec::InMemory),
        "[a-z/]{0,12}".prop_map(|p| StorageSpec::LocalFilesystem { path: p.into() }),
    ];
    let config = (1i32..=22, 1u32.., 1u32..).prop_map(|(level, shard, requests)| RepositoryConfig {
        compression_level: level,
        manifest_shard_size: shard,
        max_concurrent_requests: requests,
        ..RepositoryConfig::default()
    });
    let changes = (
        btree_map(node_path(), node_change(), 0..4),
        btree_map(node_path(), node_id(), 0..3),
        btree_map(node_path(), btree_map(coords(2), proptest::option::of(chunk_ref()), 0..4), 0..3),
    )
        .prop_map(|(nodes, deleted, chunks)| ChangeSet {
            nodes,
            deleted,
            chunks,
            moved: Default::default(),
        });
    (
        storage,
        config,
        snapshot_id(),
        proptest::option::of("[a-z][a-z0-9_-]{0,8}"),
        any::<bool>(),
        any::<bool>(),
        changes,
    )
        .prop_map(|(storage, config, base, branch, writable, fork, changes)| SessionParts {
            storage,
            config,
            base,
            branch,
            writable,
            fork,
            changes,
            lease: None,
            owned_leases: Vec::new(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn headers(payload in vec(any::<u8>(), 0..2000), level in proptest::option::of(1i32..=19), kind in 0usize..5) {
        let kind = [ObjectType::Snapshot, ObjectType::Manifest, ObjectType::TransactionLog, ObjectType::Ref,
            ObjectType::Config][kind];
        let stored = header::encode(kind, &payload, level).unwrap();
        prop_assert_eq!(header::decode("p", kind, &stored).unwrap(), payload.clone());
        // Repetitive payloads do get compressed, and read back.
        let repeated: Vec<u8> = payload.iter().cycle().take(payload.len() * 8).copied().collect();
        let stored = header::encode(kind, &repeated, Some(3)).unwrap();
        if repeated.len() > 64 {
            prop_assert_eq!(stored[10], 1);
        }
        prop_assert_eq!(header::decode("p", kind, &stored).unwrap(), repeated);
    }

    #[test]
    fn snapshots(snapshot in snapshot(), level in 1i32..=9) {
        let decoded = Snapshot::decode("s", &snapshot.encode(level).unwrap()).unwrap();
        prop_assert_eq!(decoded, snapshot);
    }

    #[test]
    fn manifest_shards(
        id in any::<[u8; 12]>(),
        node in node_id(),
        (block, refs) in (0usize..4).prop_flat_map(|ndim| (coords(ndim), btree_map(coords(ndim), chunk_ref(), 1..8))),
        level in proptest::option::of(1i32..=9),
    ) {
        let refs: Vec<_> = refs.into_iter().collect();
        let stored = ManifestShard::encode(ManifestId(id), node, &block, &refs, level).unwrap();
        let shard = ManifestShard::decode("m", &stored).unwrap();
        prop_assert_eq!((shard.id(), shard.node_id(), shard.block()), (ManifestId(id), node, block));
        prop_assert_eq!(shard.iter().collect::<Vec<_>>(), refs.clone());
        for (coords, chunk) in &refs {
            prop_assert_eq!(shard.lookup(coords), Some(chunk.clone()));
        }
    }

    #[test]
    fn transaction_logs(log in transaction_log(), id in snapshot_id()) {
        let decoded = TransactionLog::decode("t", &log.encode(id, 3).unwrap()).unwrap();
        prop_assert_eq!(decoded, (id, log));
    }

    #[test]
    fn ref_records(
        snapshot in proptest::option::of(".{0,24}"),
        write_id in ".{0,20}",
        deleted in any::<bool>(),
        at in proptest::option::of(".{0,32}"),
        op in proptest::option::of(prop_oneof![
            Just(RefOp::Create), Just(RefOp::Commit), Just(RefOp::Amend), Just(RefOp::Reset), Just(RefOp::Delete)
        ]),
    ) {
        let record = RefRecord { snapshot, write_id, deleted, at, op };
        prop_assert_eq!(RefRecord::decode("r", &record.encode().unwrap()).unwrap(), record);
    }

    #[test]
    fn repo_records(
        metadata in btree_map(".{0,8}", any::<i64>(), 0..4),
        flags in btree_map("[a-z_]{1,12}", any::<bool>(), 0..4),
        read_only in any::<bool>(),
        reason in proptest::option::of(".{0,16}"),
        config in proptest::option::of(config()),
        at in ".{0,32}",
        write_id in ".{0,20}",
        cuts in btree_map(snapshot_id(), snapshot_id(), 0..3),
        expired in any::<u64>(),
    ) {
        let history_cuts = cuts.iter().map(|(from, to)| (from.to_string(), to.to_string())).collect();
        let state = RepoState {
            status: RepoStatus {
                availability: if read_only { Availability::ReadOnly } else { Availability::Online },
                set_at: at.clone(),
                reason,
            },
            metadata: metadata.into_iter().map(|(k, v)| (k, v.into())).collect(),
            feature_flags: flags,
            config,
            history_cuts,
        };
        let record = RepoRecord { state, change: RepoChange::SnapshotsExpired { count: expired }, at, write_id };
        let decoded = RepoRecord::decode("r", &record.encode().unwrap()).unwrap();
        prop_assert_eq!(decoded.state.cuts().unwrap(), cuts.into_iter().collect());
        prop_assert_eq!(decoded, record);
    }

    #[test]
    fn hints(seq in 1..=MAX_HINT_SEQ, snapshot in proptest::option::of(snapshot_id())) {
        let hint = TipHint { seq, snapshot, record: None };
        prop_assert_eq!(TipHint::decode(&hint.encode()), Some(hint));
    }

    #[test]
    fn configs(config in config()) {
        prop_assert_eq!(RepositoryConfig::decode(&config.encode().unwrap()).unwrap(), config);
    }

    #[test]
    fn block_tables(data in vec(any::<u8>(), 0..70_000), block_size_log2 in 14u8..=16) {
        let bytes = Bytes::from(data);
        let object = chunk::encode_object(&bytes, block_size_log2);
        let at = BlockTable::position(bytes.len() as u64, block_size_log2).unwrap();
        prop_assert_eq!(at.end, object.len() as u64);
        let stored = &object[at.start as usize..];
        let table = BlockTable::decode("c", stored, bytes.len() as u64, block_size_log2, chunk::checksum(&bytes)).unwrap();
        prop_assert_eq!(table.encode(), stored.to_vec());
        prop_assert_eq!(&table, &BlockTable::compute(&bytes, block_size_log2));
        let whole = 0..bytes.len() as u64;
        table.verify("c", &whole, &bytes).unwrap();
    }

    #[test]
    fn forked_sessions(parts in session_parts()) {
        prop_assert_eq!(SessionParts::decode(&parts.encode().unwrap()).unwrap(), parts);
    }
}

/// Unsorted input is not the encoders' to fix, but what they write from sorted input is
/// always accepted: a duplicate or misordered list written by hand is refused.
#[test]
fn hand_written_misorders_are_refused() {
    let chunk =
        |n: u8| ChunkRef { length: 1, location: ChunkLocation::Inline(Bytes::from(vec![n])), checksum: 0 };
    for refs in
        [vec![(vec![1], chunk(1)), (vec![0], chunk(0))], vec![(vec![1], chunk(1)), (vec![1], chunk(2))]]
    {
        let stored = ManifestShard::encode(ManifestId([0; 12]), NodeId([0; 8]), &[0], &refs, None).unwrap();
        assert!(ManifestShard::decode("m", &stored).is_err());
    }
}
