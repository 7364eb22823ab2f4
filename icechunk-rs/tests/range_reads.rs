//! Byte ranges of chunks reach storage as ranges: reading a sharded array's index (a suffix)
//! and one inner chunk fetches those bytes (rounded out to checksum blocks) and the chunk's
//! block table, not the whole chunk; and every byte returned is verified.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::counting::CountingStorage;
use common::*;
use icechunk::store::ByteRange;
use icechunk::{ErrorKind, Repository};

const SHARD: &str = "arr/c/0";
const SHARD_LEN: usize = 1 << 20;
const BLOCK: u64 = 16 * 1024;

/// A repository holding one 1 MiB chunk (as a sharded array's shard would be).
async fn fixture(dir: &std::path::Path) -> Bytes {
    let repo = local_repo(dir).await;
    let shard = pattern(42, SHARD_LEN);
    write_commit(
        &repo,
        "main",
        &[
            ("zarr.json", group_json()),
            ("arr/zarr.json", array_json(&[1], &[1], "uint8")),
            (SHARD, shard.clone()),
        ],
        "one large chunk",
    )
    .await;
    shard
}

async fn open_counting(dir: &std::path::Path) -> (Arc<CountingStorage>, icechunk::Store) {
    let counting = Arc::new(CountingStorage::new(local_storage(dir)));
    let repo = Repository::open(counting.clone(), None).await.unwrap();
    let store = repo.readonly_session(&main_branch()).await.unwrap().store();
    (counting, store)
}

fn chunk_file(dir: &std::path::Path) -> std::path::PathBuf {
    let files = files_under(&dir.join("chunks"));
    assert_eq!(files.len(), 1, "{files:?}");
    dir.join("chunks").join(&files[0])
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_and_an_inner_chunk_fetch_blocks_not_the_whole_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let shard = fixture(dir.path()).await;
    // The object is the chunk followed by its table: 64 blocks of 16 KiB, 4 bytes each.
    assert_eq!(std::fs::read(chunk_file(dir.path())).unwrap().len(), SHARD_LEN + 64 * 4);
    let (counting, store) = open_counting(dir.path()).await;

    // The index of a sharded chunk: its last bytes. First read: the table and the last block.
    let index = store.get(SHARD, Some(ByteRange::Suffix(16 * 64 + 4))).await.unwrap().unwrap();
    assert_eq!(index, shard.slice(SHARD_LEN - 1028..));
    let (requests, bytes) = counting.take();
    assert_eq!((requests, bytes), (2, BLOCK + 64 * 4), "table + one block");

    // An inner chunk in the middle, across a block boundary: two blocks, the table is cached.
    let start = 10 * BLOCK - 100;
    let inner =
        store.get(SHARD, Some(ByteRange::Bounded { start, end: start + 5000 })).await.unwrap().unwrap();
    assert_eq!(inner, shard.slice(start as usize..start as usize + 5000));
    assert_eq!(counting.take(), (1, 2 * BLOCK));

    // Offsets, suffixes past the start, empty and out-of-range ranges behave as slices do.
    for (range, want) in [
        (ByteRange::Offset(SHARD_LEN as u64 - 10), shard.slice(SHARD_LEN - 10..)),
        (ByteRange::Suffix(2 * SHARD_LEN as u64), shard.clone()),
        (ByteRange::Bounded { start: 7, end: 7 }, Bytes::new()),
        (ByteRange::Bounded { start: 2 * SHARD_LEN as u64, end: 3 * SHARD_LEN as u64 }, Bytes::new()),
    ] {
        assert_eq!(store.get(SHARD, Some(range)).await.unwrap().unwrap(), want, "{range:?}");
    }
    // The whole chunk is one read of exactly its bytes (not the table).
    counting.take();
    assert_eq!(store.get(SHARD, None).await.unwrap().unwrap(), shard);
    assert_eq!(counting.take(), (1, SHARD_LEN as u64));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flipped_byte_fails_the_ranges_over_it_and_only_those() {
    let dir = tempfile::tempdir().unwrap();
    let shard = fixture(dir.path()).await;
    let file = chunk_file(dir.path());
    let original = std::fs::read(&file).unwrap();
    let mut damaged = original.clone();
    damaged[5 * BLOCK as usize + 3] ^= 0x40;
    std::fs::write(&file, &damaged).unwrap();
    let (_, store) = open_counting(dir.path()).await;
    let over = ByteRange::Bounded { start: 5 * BLOCK, end: 5 * BLOCK + 10 };
    assert_kind(store.get(SHARD, Some(over)).await, ErrorKind::Format);
    let elsewhere = ByteRange::Bounded { start: 7 * BLOCK, end: 8 * BLOCK + 10 };
    assert_eq!(
        store.get(SHARD, Some(elsewhere)).await.unwrap().unwrap(),
        shard.slice(7 * 16384..8 * 16384 + 10)
    );
    assert_kind(store.get(SHARD, None).await, ErrorKind::Format);

    // A damaged table fails every range read (it no longer adds up to the chunk's checksum);
    // the whole chunk, whose bytes are intact, still reads.
    let mut damaged = original;
    damaged[SHARD_LEN + 9] ^= 0x01;
    std::fs::write(&file, &damaged).unwrap();
    let (_, store) = open_counting(dir.path()).await;
    assert_kind(store.get(SHARD, Some(ByteRange::Suffix(16))).await, ErrorKind::Format);
    assert_eq!(store.get(SHARD, None).await.unwrap().unwrap(), shard);
}

#[tokio::test(flavor = "multi_thread")]
async fn ranges_of_chunks_still_uploading_come_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let session = repo.writable_session("main").await.unwrap();
    let store = session.store();
    store.set("zarr.json", group_json()).await.unwrap();
    store.set("arr/zarr.json", array_json(&[1], &[1], "uint8")).await.unwrap();
    let shard = pattern(7, SHARD_LEN);
    store.set(SHARD, shard.clone()).await.unwrap();
    let got = store.get(SHARD, Some(ByteRange::Suffix(100))).await.unwrap().unwrap();
    assert_eq!(got, shard.slice(SHARD_LEN - 100..));
}
