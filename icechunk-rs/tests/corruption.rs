//! Damaged objects on local disk are reported as errors (kind Format, or Storage for refs),
//! never returned as wrong bytes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use common::*;
use futures::TryStreamExt;
use icechunk::{ByteRange, ErrorKind, IcechunkError, Repository, RepositoryConfig, SnapshotId};

const KEYS: [&str; 4] = ["zarr.json", "arr/zarr.json", "arr/c/0/0", "arr/c/1/1"];

fn big_chunk() -> Bytes {
    pattern(42, 1000)
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    s0: SnapshotId,
    s1: SnapshotId,
    expected: BTreeMap<String, Option<Bytes>>,
}

/// A local repository with one commit: a group, an array, one external chunk (1000 bytes),
/// one inline chunk (10 bytes). Its manifest shard is inside the snapshot.
async fn fixture() -> Fixture {
    fixture_with(RepositoryConfig::default()).await
}

/// The same, with the manifest shard in an object of its own.
async fn fixture_with_manifest_object() -> Fixture {
    fixture_with(RepositoryConfig { inline_manifest_threshold_bytes: 0, ..Default::default() }).await
}

async fn fixture_with(config: RepositoryConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let inline_max = config.inline_manifest_threshold_bytes;
    let repo = Repository::create(local_storage(&root), Some(config)).await.unwrap();
    let s0 = repo.lookup_branch("main").await.unwrap();
    let values = [
        group_json(),
        array_json(&[128, 128], &[64, 64], "uint8"),
        big_chunk(),
        Bytes::from_static(b"0123456789"),
    ];
    let items: Vec<(&str, Bytes)> = KEYS.iter().copied().zip(values.iter().cloned()).collect();
    let s1 = write_commit(&repo, "main", &items, "data").await;
    let expected = KEYS.iter().map(|k| k.to_string()).zip(values.into_iter().map(Some)).collect();
    let fx = Fixture { _dir: dir, root, s0, s1, expected };
    assert_eq!(read_everything(&fx.root).await.unwrap(), fx.expected, "fixture reads back");
    let manifests = files_under(&fx.root.join("manifests")).len();
    assert_eq!(manifests, usize::from(inline_max == 0), "manifest objects");
    fx
}

/// Every read path, through a fresh repository handle (so that nothing is cached):
/// open, branch lookup, session, ancestry, every key.
async fn read_everything(root: &Path) -> Result<BTreeMap<String, Option<Bytes>>, IcechunkError> {
    let repo = Repository::open(local_storage(root), None).await?;
    let tip = repo.lookup_branch("main").await?;
    let history: Vec<_> = repo.ancestry(&main_branch()).await?.try_collect().await?;
    // Ancestry comes mostly from summaries inside the tip; read every snapshot object too.
    for info in &history {
        repo.lookup_snapshot(&info.id).await?;
    }
    let session = repo.readonly_session(&snap(&tip)).await?;
    let store = session.store();
    let mut out = BTreeMap::new();
    for k in KEYS {
        out.insert(k.to_string(), store.get(k, None).await?);
    }
    Ok(out)
}

fn only_file(dir: &Path) -> PathBuf {
    let files = files_under(dir);
    assert_eq!(files.len(), 1, "expected one file under {}: {files:?}", dir.display());
    dir.join(&files[0])
}

/// The header bytes, then about 32 positions spread over the rest, then the last byte.
fn positions(len: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..16.min(len)).collect();
    if len > 16 {
        p.extend((0..32).map(|k| 16 + k * (len - 16) / 32));
        p.push(len - 1);
    }
    p.sort();
    p.dedup();
    p
}

/// Flips byte `pos` of `file`, runs `check`, restores the file.
async fn with_flipped_byte<F, Fut>(file: &Path, pos: usize, check: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let original = std::fs::read(file).unwrap();
    let mut bad = original.clone();
    bad[pos] ^= 0xFF;
    std::fs::write(file, &bad).unwrap();
    check().await;
    std::fs::write(file, &original).unwrap();
}

/// Flips each chosen byte of `file` in turn: every read path must fail with one of `kinds`;
/// after restoring the byte, everything reads back right again.
async fn assert_every_flip_detected(fx: &Fixture, file: &Path, kinds: &[ErrorKind]) {
    let len = std::fs::metadata(file).unwrap().len() as usize;
    for pos in positions(len) {
        with_flipped_byte(file, pos, || async {
            match read_everything(&fx.root).await {
                Ok(got) => panic!(
                    "flipping byte {pos} of {} went unnoticed; read {}",
                    file.display(),
                    if got == fx.expected { "the right values" } else { "WRONG values" }
                ),
                Err(e) => assert!(
                    kinds.contains(&e.kind()),
                    "flipping byte {pos} of {}: kind {:?}, want one of {kinds:?}: {e}",
                    file.display(),
                    e.kind()
                ),
            }
        })
        .await;
        assert_eq!(read_everything(&fx.root).await.unwrap(), fx.expected, "after restoring byte {pos}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_chunk_object_is_detected() {
    let fx = fixture().await;
    let file = only_file(&fx.root.join("chunks"));
    assert_eq!(std::fs::read(&file).unwrap(), big_chunk().to_vec(), "chunk objects are raw bytes");
    assert_every_flip_detected(&fx, &file, &[ErrorKind::Format]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_chunk_ranged_read_is_never_wrong_bytes() {
    let fx = fixture().await;
    let file = only_file(&fx.root.join("chunks"));
    with_flipped_byte(&file, 500, || async {
        let repo = open_local(&fx.root).await;
        let store = repo.readonly_session(&main_branch()).await.unwrap().store();
        // The inline chunk is unaffected.
        assert_eq!(store.get("arr/c/1/1", None).await.unwrap(), Some(Bytes::from_static(b"0123456789")));
        let ranges = [
            ByteRange::Bounded { start: 400, end: 600 },
            ByteRange::Bounded { start: 500, end: 501 },
            ByteRange::Offset(100),
            ByteRange::Suffix(600),
        ];
        for range in ranges {
            let got = store.get("arr/c/0/0", Some(range)).await;
            match got {
                Err(e) => assert_eq!(e.kind(), ErrorKind::Format, "{range:?}: {e}"),
                Ok(bytes) => {
                    panic!("{range:?} over a corrupt byte returned {:?} bytes", bytes.map(|b| b.len()))
                }
            }
        }
        // A range that avoids the damaged byte may be served, but only with the right bytes.
        match store.get("arr/c/0/0", Some(ByteRange::Bounded { start: 0, end: 100 })).await {
            Ok(bytes) => assert_eq!(bytes, Some(big_chunk().slice(0..100))),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Format, "{e}"),
        }
        assert_kind(store.get("arr/c/0/0", None).await, ErrorKind::Format);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_manifest_is_detected() {
    let fx = fixture_with_manifest_object().await;
    let file = only_file(&fx.root.join("manifests"));
    assert_every_flip_detected(&fx, &file, &[ErrorKind::Format]).await;
    // Metadata lives in the snapshot: it stays readable while the manifest is damaged.
    with_flipped_byte(&file, 20, || async {
        let repo = open_local(&fx.root).await;
        let store = repo.readonly_session(&main_branch()).await.unwrap().store();
        assert_eq!(store.get("arr/zarr.json", None).await.unwrap(), fx.expected["arr/zarr.json"]);
        assert_kind(store.get("arr/c/1/1", None).await, ErrorKind::Format);
        assert_kind(store.get("arr/c/0/0", Some(ByteRange::Suffix(3))).await, ErrorKind::Format);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_snapshots_are_detected() {
    let fx = fixture().await;
    for id in [fx.s1, fx.s0] {
        let file = fx.root.join("snapshots").join(id.to_string());
        assert!(file.is_file(), "{} exists", file.display());
        assert_every_flip_detected(&fx, &file, &[ErrorKind::Format]).await;
    }
    let file = fx.root.join("snapshots").join(fx.s1.to_string());
    with_flipped_byte(&file, 30, || async {
        let repo = open_local(&fx.root).await;
        assert_kind(repo.lookup_snapshot(&fx.s1).await, ErrorKind::Format);
        assert_kind(repo.readonly_session(&snap(&fx.s1)).await.map(|_| ()), ErrorKind::Format);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_branch_ref_is_detected() {
    let fx = fixture().await;
    let folder = fx.root.join("refs").join("branch.main");
    let mut records: Vec<PathBuf> = files_under(&folder)
        .into_iter()
        .filter(|p| p.to_str().is_some_and(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit())))
        .collect();
    records.sort();
    assert_eq!(records.len(), 2, "create + one commit: {records:?}");
    let tip = folder.join(records.last().unwrap());
    assert_every_flip_detected(&fx, &tip, &[ErrorKind::Format, ErrorKind::Storage]).await;
    with_flipped_byte(&tip, 25, || async {
        let repo = open_local(&fx.root).await;
        let kind = err_kind(repo.lookup_branch("main").await);
        assert!(matches!(kind, ErrorKind::Format | ErrorKind::Storage), "{kind:?}");
        let kind = err_kind(repo.writable_session("main").await.map(|_| ()));
        assert!(matches!(kind, ErrorKind::Format | ErrorKind::Storage), "{kind:?}");
    })
    .await;
    assert_eq!(open_local(&fx.root).await.lookup_branch("main").await.unwrap(), fx.s1);
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_hint_is_never_trusted() {
    let fx = fixture().await;
    let hint = fx.root.join("refs").join("branch.main").join("hint");
    for content in ["0", "1", "2", "3", "999", "garbage", "", "-1", "18446744073709551615"] {
        std::fs::write(&hint, content).unwrap();
        assert_eq!(read_everything(&fx.root).await.unwrap(), fx.expected, "hint {content:?}");
        assert_eq!(
            open_local(&fx.root).await.lookup_branch("main").await.unwrap(),
            fx.s1,
            "hint {content:?}"
        );
    }
    std::fs::remove_file(&hint).unwrap();
    assert_eq!(open_local(&fx.root).await.lookup_branch("main").await.unwrap(), fx.s1);
    // Commits still work with a bad hint, and the tip is found afterwards.
    std::fs::write(&hint, "1").unwrap();
    let repo = open_local(&fx.root).await;
    let s2 = write_commit(&repo, "main", &[("arr/c/0/1", pattern(1, 700))], "after bad hint").await;
    assert_eq!(ancestry_ids(&open_local(&fx.root).await, &main_branch()).await, vec![s2, fx.s1, fx.s0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_config_is_detected() {
    let fx = fixture().await;
    let file = fx.root.join("config.json");
    assert_every_flip_detected(&fx, &file, &[ErrorKind::Format]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_transaction_log_never_gives_a_wrong_diff() {
    let fx = fixture().await;
    let repo = open_local(&fx.root).await;
    let good = repo.diff(&snap(&fx.s0), &snap(&fx.s1)).await.unwrap();
    let file = fx.root.join("transactions").join(fx.s1.to_string());
    assert!(file.is_file(), "{} exists", file.display());
    let len = std::fs::metadata(&file).unwrap().len() as usize;
    for pos in positions(len) {
        with_flipped_byte(&file, pos, || async {
            let repo = open_local(&fx.root).await;
            match repo.diff(&snap(&fx.s0), &snap(&fx.s1)).await {
                Ok(d) => assert_eq!(d, good, "byte {pos}: a diff from a damaged log must be right"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Format, "byte {pos}: {e}"),
            }
        })
        .await;
    }
}

/// A manifest shard that is valid and carries the id it was reached through, but belongs to
/// another node or block, is refused (spec §5: readers check `node_id` and `block`).
#[tokio::test(flavor = "multi_thread")]
async fn a_shard_of_another_node_or_block_is_refused() {
    use icechunk::format::manifest::ManifestShard;
    use icechunk::NodeId;
    let fx = fixture_with_manifest_object().await;
    let file = fx.root.join("manifests").join(&files_under(&fx.root.join("manifests"))[0]);
    let good = std::fs::read(&file).unwrap();
    let shard = ManifestShard::decode("m", &good).unwrap();
    let refs: Vec<_> = shard.iter().collect();
    let other_node =
        ManifestShard::encode(shard.id(), NodeId::random(), &shard.block(), &refs, Some(3)).unwrap();
    let other_block = ManifestShard::encode(shard.id(), shard.node_id(), &[9, 9], &refs, Some(3)).unwrap();
    for stored in [other_node, other_block] {
        std::fs::write(&file, &stored).unwrap();
        let err = read_everything(&fx.root).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Format, "{err}");
        assert!(err.to_string().contains("holds block"), "{err}");
    }
    std::fs::write(&file, &good).unwrap();
    assert_eq!(read_everything(&fx.root).await.unwrap(), fx.expected);
}

/// A transaction log stored under another snapshot's id is refused, not used for a diff.
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_log_under_another_id_is_refused() {
    let fx = fixture().await;
    let logs = fx.root.join("transactions");
    std::fs::copy(logs.join(fx.s0.to_string()), logs.join(fx.s1.to_string())).unwrap();
    let repo = open_local(&fx.root).await;
    let err = repo.diff(&snap(&fx.s0), &snap(&fx.s1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Format, "{err}");
    assert!(err.to_string().contains("does not match its name"), "{err}");
}

/// A tag folder without its `ref` object (a crash can leave one) is no tag (spec §8.3).
#[tokio::test(flavor = "multi_thread")]
async fn a_tag_folder_without_its_ref_is_not_a_tag() {
    let fx = fixture().await;
    let repo = open_local(&fx.root).await;
    repo.create_tag("kept", &fx.s1).await.unwrap();
    repo.create_tag("gone", &fx.s1).await.unwrap();
    repo.delete_tag("gone").await.unwrap();
    let ghost = fx.root.join("refs").join("tag.ghost");
    std::fs::create_dir_all(&ghost).unwrap();
    std::fs::write(ghost.join("stray"), b"x").unwrap();
    let tags = repo.list_tags().await.unwrap();
    assert_eq!(tags.into_iter().collect::<Vec<_>>(), vec!["kept".to_string()]);
    assert_eq!(err_kind(repo.lookup_tag("ghost").await), ErrorKind::RefNotFound);
}
