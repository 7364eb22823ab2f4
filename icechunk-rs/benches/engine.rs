//! Hot paths of the engine: manifest shard encode/decode, chunk reference lookup, snapshot
//! node lookup, a one-chunk commit as the array grows, opening a repository to read one
//! chunk, and the block tables of range reads. Run: `cargo bench -p icechunk-rs --bench engine`.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use icechunk::format::chunk::{self, BlockTable};
use icechunk::format::manifest::{ChunkLocation, ChunkRef, ManifestShard};
use icechunk::format::snapshot::{Node, NodeKind, Snapshot};
use icechunk::ids::{ChunkId, ManifestId, NodeId, SnapshotId};
use icechunk::storage::new_local_filesystem_storage;
use icechunk::{Repository, VersionInfo};

fn refs(n: u32) -> Vec<(Vec<u32>, ChunkRef)> {
    let side = (n as f64).sqrt().ceil() as u32;
    (0..n)
        .map(|i| {
            let location = ChunkLocation::Object { id: ChunkId::random(), offset: 0, block_size_log2: 14 };
            (vec![i / side, i % side], ChunkRef { location, length: 40_000, checksum: i })
        })
        .collect()
}

fn manifests(c: &mut Criterion) {
    let mut group = c.benchmark_group("manifest");
    group.sample_size(10);
    for n in [4096u32, 1_000_000] {
        let refs = refs(n);
        let encoded =
            ManifestShard::encode(ManifestId::random(), NodeId::random(), &[0, 0], &refs, Some(3)).unwrap();
        group.bench_with_input(BenchmarkId::new("encode", n), &refs, |b, refs| {
            b.iter(|| {
                ManifestShard::encode(ManifestId::random(), NodeId::random(), &[0, 0], refs, Some(3)).unwrap()
            })
        });
        group.bench_with_input(BenchmarkId::new("decode", n), &encoded, |b, encoded| {
            b.iter(|| ManifestShard::decode("bench", encoded).unwrap())
        });
        let shard = ManifestShard::decode("bench", &encoded).unwrap();
        let probe = refs[refs.len() / 3].0.clone();
        group.bench_with_input(BenchmarkId::new("lookup", n), &probe, |b, probe| {
            b.iter(|| shard.lookup(probe).unwrap())
        });
    }
    group.finish();
}

fn snapshot_lookup(c: &mut Criterion) {
    let nodes: BTreeMap<String, Arc<Node>> = (0..1000)
        .map(|i| {
            let path = format!("/group{}/array{i}", i % 10);
            let node = Node {
                id: NodeId::random(),
                path: path.clone(),
                zarr_json: Bytes::from_static(b"{}"),
                kind: NodeKind::Group,
            };
            (path, Arc::new(node))
        })
        .collect();
    let snapshot = Snapshot {
        id: SnapshotId::random(),
        parent_id: None,
        flushed_at: 0,
        message: String::new(),
        metadata: Default::default(),
        nodes,
        ancestors: Vec::new(),
    };
    let encoded = snapshot.encode(3).unwrap();
    c.bench_function("snapshot/decode 1000 nodes", |b| {
        b.iter(|| Snapshot::decode("bench", &encoded).unwrap())
    });
    c.bench_function("snapshot/node lookup", |b| b.iter(|| snapshot.node("/group7/array517").unwrap()));
}

fn array_json(side: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"zarr_format":3,"node_type":"array","shape":[{side},{side}],"data_type":"float32",
        "chunk_grid":{{"name":"regular","configuration":{{"chunk_shape":[1,1]}}}},
        "chunk_key_encoding":{{"name":"default","configuration":{{"separator":"/"}}}},
        "fill_value":0.0,"codecs":[{{"name":"bytes","configuration":{{"endian":"little"}}}}]}}"#
    ))
}

/// A local-disk repository whose array has side x side chunks, all written.
async fn populated_repo(dir: &std::path::Path, side: u64) -> Repository {
    let repo = Repository::create(new_local_filesystem_storage(dir).unwrap(), None).await.unwrap();
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set("zarr.json", array_json(side)).await.unwrap();
    for i in 0..side {
        for j in 0..side {
            store.set(&format!("c/{i}/{j}"), Bytes::from(vec![(i + j) as u8; 4])).await.unwrap();
        }
    }
    session.commit("populate", None, false).await.unwrap();
    repo
}

fn commits(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("commit one chunk (local disk)");
    group.sample_size(20);
    for side in [100u64, 316, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let repo = rt.block_on(populated_repo(dir.path(), side));
        let mut n = 0u8;
        group.bench_function(BenchmarkId::from_parameter(side * side), |b| {
            b.to_async(&rt).iter(|| {
                n = n.wrapping_add(1);
                let repo = repo.clone();
                async move {
                    let session = repo.writable_session("main").await.unwrap();
                    session.store().set("c/5/7", Bytes::from(vec![n; 4])).await.unwrap();
                    session.commit("one chunk", None, false).await.unwrap()
                }
            })
        });
        if side == 1000 {
            let path = dir.path().to_path_buf();
            group.bench_function("open repository + read one chunk (1M chunks)", |b| {
                b.to_async(&rt).iter(|| {
                    let path = path.clone();
                    async move {
                        let repo = Repository::open(new_local_filesystem_storage(path).unwrap(), None)
                            .await
                            .unwrap();
                        let session =
                            repo.readonly_session(&VersionInfo::BranchTip("main".into())).await.unwrap();
                        session.store().get("c/500/500", None).await.unwrap().unwrap()
                    }
                })
            });
        }
    }
    group.finish();
}

/// What a range read adds: writing a chunk's table, and checking a fetched table against the
/// chunk's checksum (once per chunk object; the table is then cached).
fn block_tables(c: &mut Criterion) {
    let mut group = c.benchmark_group("block table");
    for len in [1usize << 20, 64 << 20] {
        let data = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let log2 = chunk::block_size_log2_for(len as u64);
        let object = chunk::encode_object(&data, log2);
        let whole = chunk::checksum(&data);
        let table = object.slice(len..);
        let mib = len >> 20;
        group.bench_function(format!("encode object {mib} MiB"), |b| {
            b.iter(|| chunk::encode_object(&data, log2))
        });
        group.bench_function(format!("verify table {mib} MiB ({} blocks)", table.len() / 4), |b| {
            b.iter(|| BlockTable::decode("c", &table, len as u64, log2, whole).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, manifests, snapshot_lookup, commits, block_tables);
criterion_main!(benches);
