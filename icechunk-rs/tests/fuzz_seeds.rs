//! Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from real objects:
//! repositories built through the engine's public API with inline and object chunks, chunks
//! large enough for block tables, several commits, branches, tags (one deleted), deleted
//! nodes, a 0-d array, shards inline in snapshots and in objects of their own, and the bytes
//! of forked sessions.
//!
//! Not part of the normal test run (it rewrites files of the repository):
//! `cargo test -p icechunk-rs --test fuzz_seeds -- --ignored`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use icechunk::format::header::{self, ObjectType};
use icechunk::format::manifest::{ChunkLocation, ManifestShard};
use icechunk::format::snapshot::{NodeKind, Snapshot};
use icechunk::repo_info::Availability;
use icechunk::{Repository, RepositoryConfig, Session};

use common::*;

/// Seeds per target, in files named by content: the same object gives the same name.
#[derive(Default)]
struct Corpus(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, bytes: &[u8]) {
        let name = format!("{:08x}-{}", icechunk::format::chunk::checksum(bytes), bytes.len());
        self.0.entry(target).or_default().insert(name, bytes.to_vec());
    }

    /// The payload of a stored object: what the targets of one object type take (they frame
    /// it themselves, so that mutations are not all caught by the checksum).
    fn add_payload(&mut self, target: &'static str, object_type: ObjectType, stored: &[u8]) {
        self.add(target, &header::decode(target, object_type, stored).unwrap());
    }

    fn write(&self, root: &Path) {
        for (target, seeds) in &self.0 {
            let dir = root.join(target);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }
}

/// A bigger chunk than one block: its object carries a block table.
const LARGE: usize = 40_000;

async fn build(dir: &Path, config: RepositoryConfig) -> Vec<Vec<u8>> {
    let repo = Repository::create(local_storage(dir), Some(config)).await.unwrap();
    write_commit(
        &repo,
        "main",
        &[
            ("zarr.json", group_json()),
            ("g/zarr.json", group_json()),
            ("g/a/zarr.json", array_json(&[8, 8], &[2, 2], "uint8")),
            ("g/a/c/0/0", pattern(1, 4)),
            ("g/a/c/1/3", pattern(2, 4)),
            ("g/a/c/3/3", pattern(3, 0)),
            ("big/zarr.json", array_json(&[4], &[10_000], "float32")),
            ("big/c/0", pattern(4, LARGE)),
            ("big/c/1", pattern(5, 700)),
            ("scalar/zarr.json", array_json(&[], &[], "float64")),
            ("scalar/c", pattern(6, 8)),
        ],
        "first commit",
    )
    .await;
    let second = write_commit(
        &repo,
        "main",
        &[("g/a/c/2/2", pattern(7, 4)), ("big/c/2", pattern(8, 20_000)), ("tmp/zarr.json", group_json())],
        "second commit",
    )
    .await;
    repo.create_branch("dev", &second).await.unwrap();
    repo.create_tag("v1", &second).await.unwrap();
    repo.create_tag("gone", &second).await.unwrap();
    repo.delete_tag("gone").await.unwrap();

    let session = repo.writable_session("dev").await.unwrap();
    let store = session.store();
    store.delete("tmp/zarr.json").await.unwrap();
    store.delete("g/a/c/1/3").await.unwrap();
    store.set("g/a/c/0/0", pattern(9, 4)).await.unwrap();
    store.set("v2/zarr.json", array_json(&[6], &[3], "int16")).await.unwrap();
    store.set("v2/c/1", pattern(10, 6)).await.unwrap();
    store.delete_dir("scalar").await.unwrap();
    // Forks of this session, as they travel to workers and back.
    let mut wires = Vec::new();
    let fork = session.fork().unwrap();
    wires.push(fork.to_bytes().await.unwrap());
    fork.store().set("big/c/3", pattern(11, LARGE)).await.unwrap();
    fork.store().set("g/a/c/3/2", pattern(12, 4)).await.unwrap();
    fork.store().delete("g/a/c/2/2").await.unwrap();
    wires.push(fork.to_bytes().await.unwrap());
    let worker = Session::from_bytes(&wires[1]).await.unwrap();
    session.merge(&[worker]).unwrap();
    let third = session
        .commit("on dev", Some(serde_json::from_str(r#"{"author":"fuzz","n":1.5}"#).unwrap()), false)
        .await
        .unwrap();
    repo.delete_branch("dev").await.unwrap();
    repo.create_branch("again", &third).await.unwrap();
    for i in 0..3u64 {
        write_commit(&repo, "main", &[("g/a/c/0/1", pattern(20 + i, 4))], &format!("commit {i}")).await;
    }
    wires.push(repo.readonly_session(&tag("v1")).await.unwrap().to_bytes().await.unwrap());
    // Repository records (spec §12) of every kind.
    let metadata = serde_json::from_str(r#"{"owner":"fuzz","nested":{"a":[1,2.5,null,true]}}"#).unwrap();
    repo.update_metadata(metadata).await.unwrap();
    repo.set_feature_flag("create_tag", Some(false)).await.unwrap();
    repo.set_status(Availability::ReadOnly, Some("seeding".into())).await.unwrap();
    repo.set_status(Availability::Online, None).await.unwrap();
    repo.set_feature_flag("create_tag", None).await.unwrap();
    repo.save_config().await.unwrap();
    wires
}

fn collect(dir: &Path, corpus: &mut Corpus) {
    let mut tables = Vec::new();
    for rel in files_under(dir) {
        let bytes = std::fs::read(dir.join(&rel)).unwrap();
        let path = rel.to_string_lossy().replace('\\', "/");
        let top = path.split('/').next().unwrap_or_default();
        let name = path.rsplit('/').next().unwrap_or_default();
        match top {
            "config.json" => corpus.add_payload("config", ObjectType::Config, &bytes),
            "snapshots" => {
                corpus.add_payload("snapshot", ObjectType::Snapshot, &bytes);
                let snapshot = Snapshot::decode(&path, &bytes).unwrap();
                for node in snapshot.nodes.values() {
                    if let NodeKind::Array(array) = &node.kind {
                        for shard in array.shards.values() {
                            if let Some(inline) = &shard.inline {
                                corpus.add_payload("manifest", ObjectType::Manifest, inline);
                                corpus.add("header", inline);
                            }
                        }
                    }
                }
            }
            "manifests" => {
                corpus.add_payload("manifest", ObjectType::Manifest, &bytes);
                tables.push(ManifestShard::decode(&path, &bytes).unwrap());
            }
            "transactions" => corpus.add_payload("txlog", ObjectType::TransactionLog, &bytes),
            "refs" if name == "hint" => {
                corpus.add("hint", &bytes);
                continue;
            }
            "refs" => corpus.add_payload("ref_record", ObjectType::Ref, &bytes),
            "repo" => corpus.add_payload("repo_record", ObjectType::RepoInfo, &bytes),
            _ => continue,
        }
        corpus.add("header", &bytes);
    }
    // Block tables as a reader fetches them, with the reference's length and checksum; and
    // chunks to be written with a table.
    for shard in &tables {
        for (_, chunk) in shard.iter() {
            let ChunkLocation::Object { id, offset, block_size_log2 } = chunk.location else { continue };
            let object = std::fs::read(dir.join("chunks").join(id.to_string())).unwrap();
            let start = (offset + chunk.length) as usize;
            let mut seed = vec![block_size_log2];
            seed.extend_from_slice(&chunk.length.to_le_bytes());
            seed.extend_from_slice(&chunk.checksum.to_le_bytes());
            seed.extend_from_slice(&object[start..]);
            corpus.add("block_table", &seed);
            // Block size 2^14, the chunk's first 3000 bytes repeated 9 times: two blocks.
            let mut whole = vec![0x80, 8];
            whole.extend_from_slice(&object[..object.len().min(3000)]);
            corpus.add("block_table", &whole);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "writes fuzz/corpus; run by hand when the formats change"]
async fn write_fuzz_seed_corpora() {
    let mut corpus = Corpus::default();
    let small_shards = RepositoryConfig {
        inline_manifest_threshold_bytes: 0,
        manifest_shard_size: 4,
        compression_level: 19,
        inline_chunk_threshold_bytes: 16,
        ..RepositoryConfig::default()
    };
    for config in [RepositoryConfig::default(), small_shards] {
        let dir = tempfile::tempdir().unwrap();
        for wire in build(dir.path(), config).await {
            corpus.add("fork", &wire);
        }
        collect(dir.path(), &mut corpus);
    }
    // Hints in the forms a reader meets: the writer's, number only, with trailing words.
    for hint in [&b"7 000G40O40K30E209185G\n"[..], b"12\n", b"+3 000G40O40K30E209185G extra\n", b"1"] {
        corpus.add("hint", hint);
    }
    let root = std::env::var_os("FUZZ_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus"));
    corpus.write(&root);
    for (target, seeds) in &corpus.0 {
        let bytes: usize = seeds.values().map(Vec::len).sum();
        println!("{target}: {} seeds, {bytes} bytes", seeds.len());
    }
}
