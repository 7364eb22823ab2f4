//! zarrs on a session (feature `zarrs`): arrays zarrs writes through the adapter commit and
//! read back equal through a new read-only session, with the async API and the sync one;
//! reading one inner chunk of a shard fetches a small part of it; listing, sizes and erasing
//! follow the engine's key space; bad keys and read-only writes fail with the engine's error.

mod common;

use std::sync::Arc;

use common::counting::CountingStorage;
use common::*;
use icechunk::zarrs::{engine_error, ZarrsStore};
use icechunk::{ErrorKind, Repository, Session};
use zarrs::array::chunk_key_encoding::V2ChunkKeyEncoding;
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{data_type, Array, ArrayBuilder, ArrayError, ChunkKeySeparator};
use zarrs::group::{Group, GroupBuilder};
use zarrs::node::Node;
use zarrs::storage::{
    AsyncListableStorageTraits, AsyncReadableStorageTraits, AsyncWritableStorageTraits,
    ListableStorageTraits, ReadableStorageTraits, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

const SIDE: u64 = 20;

fn zstd_values() -> Vec<f32> {
    (0..SIDE * SIDE).map(|i| i as f32 * 0.25 - 7.0).collect()
}

fn sharded_values() -> Vec<u16> {
    (0..64 * 64).map(|i| (i * 7 % 65_521) as u16).collect()
}

/// The engine error a zarrs call failed with, however zarrs wrapped it.
#[track_caller]
fn engine_kind<T: std::fmt::Debug>(result: Result<T, StorageError>) -> ErrorKind {
    let error = result.expect_err("an error");
    engine_error(&error).unwrap_or_else(|| panic!("not an engine error: {error:?}")).kind()
}

#[track_caller]
fn array_engine_kind<T: std::fmt::Debug>(result: Result<T, ArrayError>) -> ErrorKind {
    match result.expect_err("an error") {
        ArrayError::StorageError(e) => engine_kind::<()>(Err(e)),
        other => panic!("not a storage error: {other:?}"),
    }
}

/// The hierarchy the round-trip writes: a group with attributes; arrays with zstd (edge
/// chunks partial), sharding, no dimensions, a fill value and one chunk written, and the
/// other chunk key encodings.
async fn write_hierarchy(store: Arc<ZarrsStore>) {
    GroupBuilder::new().build(store.clone(), "/").unwrap().async_store_metadata().await.unwrap();
    let mut group = GroupBuilder::new().build(store.clone(), "/g").unwrap();
    group.attributes_mut().insert("title".into(), "zarrs on icechunk".into());
    group.async_store_metadata().await.unwrap();

    let zstd = ArrayBuilder::new(vec![SIDE, SIDE], vec![8, 8], data_type::float32(), 0.0f32)
        .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, true))])
        .build(store.clone(), "/g/zstd")
        .unwrap();
    zstd.async_store_metadata().await.unwrap();
    zstd.async_store_array_subset(&zstd.subset_all(), zstd_values()).await.unwrap();

    let sharded = ArrayBuilder::new(vec![64, 64], vec![32, 32], data_type::uint16(), 0u16)
        .subchunk_shape(vec![8, 8])
        .build(store.clone(), "/g/sharded")
        .unwrap();
    sharded.async_store_metadata().await.unwrap();
    sharded.async_store_array_subset(&sharded.subset_all(), sharded_values()).await.unwrap();

    let scalar = ArrayBuilder::new(Vec::<u64>::new(), Vec::<u64>::new(), data_type::float64(), 0.0f64)
        .build(store.clone(), "/scalar")
        .unwrap();
    scalar.async_store_metadata().await.unwrap();
    scalar.async_store_array_subset(&scalar.subset_all(), vec![42.5f64]).await.unwrap();

    let sparse = ArrayBuilder::new(vec![10, 10], vec![5, 5], data_type::int32(), -1i32)
        .build(store.clone(), "/sparse")
        .unwrap();
    sparse.async_store_metadata().await.unwrap();
    sparse.async_store_chunk(&[1, 1], vec![9i32; 25]).await.unwrap();

    for (path, v2, separator) in [
        ("/dot", false, ChunkKeySeparator::Dot),
        ("/v2", true, ChunkKeySeparator::Dot),
        ("/v2slash", true, ChunkKeySeparator::Slash),
    ] {
        let mut builder = ArrayBuilder::new(vec![4, 6], vec![2, 3], data_type::int64(), 0i64);
        if v2 {
            builder.chunk_key_encoding(V2ChunkKeyEncoding::new(separator));
        } else {
            builder.chunk_key_encoding_default_separator(separator);
        }
        let array = builder.build(store.clone(), path).unwrap();
        array.async_store_metadata().await.unwrap();
        array.async_store_array_subset(&array.subset_all(), (0..24i64).collect::<Vec<_>>()).await.unwrap();
    }
}

/// Reads the hierarchy back with zarrs's sync API and checks every value.
fn check_hierarchy(store: Arc<ZarrsStore>) {
    let group = Group::open(store.clone(), "/g").unwrap();
    assert_eq!(group.attributes()["title"], "zarrs on icechunk");

    let zstd = Array::open(store.clone(), "/g/zstd").unwrap();
    assert_eq!(zstd.retrieve_array_subset::<Vec<f32>>(&zstd.subset_all()).unwrap(), zstd_values());
    let sharded = Array::open(store.clone(), "/g/sharded").unwrap();
    assert_eq!(sharded.retrieve_array_subset::<Vec<u16>>(&sharded.subset_all()).unwrap(), sharded_values());
    let scalar = Array::open(store.clone(), "/scalar").unwrap();
    assert_eq!(scalar.retrieve_array_subset::<Vec<f64>>(&scalar.subset_all()).unwrap(), vec![42.5]);

    let sparse = Array::open(store.clone(), "/sparse").unwrap();
    let values = sparse.retrieve_array_subset::<Vec<i32>>(&sparse.subset_all()).unwrap();
    let want: Vec<i32> = (0..100).map(|i| if i / 10 >= 5 && i % 10 >= 5 { 9 } else { -1 }).collect();
    assert_eq!(values, want);

    for path in ["/dot", "/v2", "/v2slash"] {
        let array = Array::open(store.clone(), path).unwrap();
        assert_eq!(
            array.retrieve_array_subset::<Vec<i64>>(&array.subset_all()).unwrap(),
            (0..24).collect::<Vec<_>>()
        );
    }
}

fn prefix(p: &str) -> StorePrefix {
    StorePrefix::new(p).unwrap()
}

fn key(k: &str) -> StoreKey {
    StoreKey::new(k).unwrap()
}

fn keys(listed: &[StoreKey]) -> Vec<&str> {
    listed.iter().map(|k| k.as_str()).collect()
}

async fn committed_hierarchy(repo: &Repository) -> Session {
    let session = repo.writable_session("main").await.unwrap();
    write_hierarchy(Arc::new(ZarrsStore::new(session.clone()))).await;
    session.commit("zarrs wrote this", None, false).await.unwrap();
    repo.readonly_session(&main_branch()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn zarrs_arrays_commit_and_read_back_through_a_new_session() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let readonly = committed_hierarchy(&repo).await;
    let store = Arc::new(ZarrsStore::new(readonly));
    // Sync zarrs on a worker thread of this runtime.
    check_hierarchy(store.clone());

    // The chunk keys of every encoding are the engine's, and only written chunks exist.
    let listed = ListableStorageTraits::list_prefix(&*store, &prefix("sparse/")).unwrap();
    assert_eq!(keys(&listed), ["sparse/c/1/1", "sparse/zarr.json"]);
    let dot = AsyncListableStorageTraits::list_prefix(&*store, &prefix("dot/")).await.unwrap();
    assert_eq!(keys(&dot), ["dot/c.0.0", "dot/c.0.1", "dot/c.1.0", "dot/c.1.1", "dot/zarr.json"]);
    let v2 = AsyncListableStorageTraits::list_prefix(&*store, &prefix("v2/")).await.unwrap();
    assert_eq!(keys(&v2), ["v2/0.0", "v2/0.1", "v2/1.0", "v2/1.1", "v2/zarr.json"]);
    let v2slash = ListableStorageTraits::list_prefix(&*store, &prefix("v2slash/1/")).unwrap();
    assert_eq!(keys(&v2slash), ["v2slash/1/0", "v2slash/1/1"]);
    assert_eq!(
        keys(&ListableStorageTraits::list_prefix(&*store, &prefix("scalar/")).unwrap()),
        ["scalar/c", "scalar/zarr.json"]
    );
    let all = ListableStorageTraits::list(&*store).unwrap();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted: {all:?}");
    // Two groups; zstd 3 x 3 chunks, sharded 2 x 2 shards, the scalar 1, sparse 1, three 2 x 2.
    assert_eq!(all.len(), 2 + (1 + 9) + (1 + 4) + (1 + 1) + (1 + 1) + 3 * (1 + 4), "{all:?}");

    // list_dir: keys and folders.
    let root = ListableStorageTraits::list_dir(&*store, &StorePrefix::root()).unwrap();
    assert_eq!(keys(root.keys()), ["zarr.json"]);
    let folders: Vec<&str> = root.prefixes().iter().map(|p| p.as_str()).collect();
    assert_eq!(folders, ["dot/", "g/", "scalar/", "sparse/", "v2/", "v2slash/"]);
    let scalar = AsyncListableStorageTraits::list_dir(&*store, &prefix("scalar/")).await.unwrap();
    assert_eq!(keys(scalar.keys()), ["scalar/c", "scalar/zarr.json"]);
    assert!(scalar.prefixes().is_empty());
    let sparse = ListableStorageTraits::list_dir(&*store, &prefix("sparse/c/")).unwrap();
    assert!(sparse.keys().is_empty());
    assert_eq!(sparse.prefixes(), &[prefix("sparse/c/1/")]);
    let v2 = ListableStorageTraits::list_dir(&*store, &prefix("v2/")).unwrap();
    assert_eq!(keys(v2.keys()), ["v2/0.0", "v2/0.1", "v2/1.0", "v2/1.1", "v2/zarr.json"]);
    let children: Vec<String> =
        Node::open(&store, "/g").unwrap().children().iter().map(|n| n.path().as_str().to_string()).collect();
    assert_eq!(children, ["/g/sharded", "/g/zstd"]);

    // Sizes: a chunk's stored length, a missing key, a whole array.
    let chunk = ReadableStorageTraits::get(&*store, &key("v2/0.0")).unwrap().unwrap();
    assert_eq!(chunk.len(), 6 * 8);
    assert_eq!(ReadableStorageTraits::size_key(&*store, &key("v2/0.0")).unwrap(), Some(48));
    assert_eq!(AsyncReadableStorageTraits::size_key(&*store, &key("v2/9.9")).await.unwrap(), None);
    let metadata = ReadableStorageTraits::size_key(&*store, &key("v2/zarr.json")).unwrap().unwrap();
    assert_eq!(ListableStorageTraits::size_prefix(&*store, &prefix("v2/")).unwrap(), metadata + 4 * 48);
    assert!(AsyncListableStorageTraits::size(&*store).await.unwrap() > 4 * 48);
}

#[test]
fn the_sync_api_works_from_threads_outside_any_runtime() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let readonly = runtime.block_on(async {
        let repo = local_repo(dir.path()).await;
        committed_hierarchy(&repo).await
    });
    check_hierarchy(Arc::new(ZarrsStore::with_runtime(readonly.clone(), runtime.handle().clone())));

    // Without a runtime to run on, or inside a current-thread one, a typed error, no panic.
    let orphan = ZarrsStore::new(readonly.clone());
    assert_eq!(engine_kind(ReadableStorageTraits::get(&orphan, &key("zarr.json"))), ErrorKind::SessionState);
    let current_thread = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    current_thread.block_on(async {
        let inside = ZarrsStore::with_runtime(readonly.clone(), runtime.handle().clone());
        assert_eq!(
            engine_kind(ReadableStorageTraits::get(&inside, &key("zarr.json"))),
            ErrorKind::SessionState
        );
        // The async API is fine there.
        let got = AsyncReadableStorageTraits::get(&inside, &key("zarr.json")).await.unwrap();
        assert!(got.unwrap().starts_with(b"{"));
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn one_inner_chunk_of_a_shard_fetches_a_small_part_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = local_repo(dir.path()).await;
    let session = repo.writable_session("main").await.unwrap();
    let store = Arc::new(ZarrsStore::new(session.clone()));
    // One shard of 1024 x 512 u32 (2 MiB, uncompressed: sizes are predictable), inner
    // chunks of 32 x 32 (4 KiB).
    let array = ArrayBuilder::new(vec![1024, 512], vec![1024, 512], data_type::uint32(), 0u32)
        .subchunk_shape(vec![32, 32])
        .build(store.clone(), "/big")
        .unwrap();
    array.async_store_metadata().await.unwrap();
    let values: Vec<u32> = (0..1024 * 512).collect();
    array.async_store_array_subset(&array.subset_all(), values.clone()).await.unwrap();
    session.commit("one shard", None, false).await.unwrap();

    let counting = Arc::new(CountingStorage::new(local_storage(dir.path())));
    let repo = Repository::open(counting.clone(), None).await.unwrap();
    let store = Arc::new(ZarrsStore::new(repo.readonly_session(&main_branch()).await.unwrap()));
    let shard_len = AsyncReadableStorageTraits::size_key(&*store, &key("big/c/0/0")).await.unwrap().unwrap();
    assert!(shard_len > 2 << 20, "{shard_len}");
    counting.take();

    let array = Array::async_open(store.clone(), "/big").await.unwrap();
    let inner = array.async_retrieve_array_subset::<Vec<u32>>(&[64..96, 480..512]).await.unwrap();
    let want: Vec<u32> = (64..96).flat_map(|r| (480..512).map(move |c| r * 512 + c)).collect();
    assert_eq!(inner, want);
    let (requests, bytes) = counting.take();
    // The index (16 bytes per inner chunk: 8 KiB) and the inner chunk (4 KiB), each rounded
    // out to the engine's checksum blocks, and the block table: far less than the shard.
    assert!(requests >= 2, "{requests} requests");
    assert!(bytes * 40 < shard_len, "{bytes} bytes of a {shard_len}-byte shard in {requests} requests");
    eprintln!("one inner chunk: {bytes} bytes in {requests} requests, of a {shard_len}-byte shard");

    // The same through the sync API.
    let sync_array = Array::open(store.clone(), "/big").unwrap();
    let corner = sync_array.retrieve_array_subset::<Vec<u32>>(&[0..32, 0..32]).unwrap();
    assert_eq!(corner, (0..32).flat_map(|r| (0..32).map(move |c| r * 512 + c)).collect::<Vec<u32>>());
    let (_, bytes) = counting.take();
    assert!(bytes * 40 < shard_len, "{bytes} bytes of a {shard_len}-byte shard");

    // Suffix and bounded ranges reach the engine as ranges.
    let ranges = Box::new([zarrs::storage::byte_range::ByteRange::Suffix(16), (4..12).into()].into_iter());
    let got = ReadableStorageTraits::get_partial_many(&*store, &key("big/c/0/0"), ranges).unwrap().unwrap();
    let got: Vec<_> = got.map(Result::unwrap).collect();
    assert_eq!((got[0].len(), got[1].len()), (16, 8));
    assert_eq!(&got[1][..], &[1u32, 2].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_erase_and_bad_keys_go_through_the_engine() {
    let repo = mem_repo().await;
    let session = repo.writable_session("main").await.unwrap();
    let store = Arc::new(ZarrsStore::new(session.clone()));
    write_hierarchy(store.clone()).await;

    // Keys outside the Zarr key space, or naming nothing writable, are the engine's errors.
    assert_eq!(
        engine_kind(AsyncReadableStorageTraits::get(&*store, &key("a/../zarr.json")).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(engine_kind(ReadableStorageTraits::get(&*store, &StoreKey::root())), ErrorKind::InvalidInput);
    let no_array = WritableStorageTraits::set(&*store, &key("nowhere/c/0"), bytes::Bytes::from_static(b"x"));
    let error = no_array.unwrap_err();
    assert!(error.to_string().contains("invalid key `nowhere/c/0`"), "{error}");
    assert_eq!(engine_error(&error).unwrap().kind(), ErrorKind::InvalidInput);
    assert_eq!(
        engine_kind(AsyncWritableStorageTraits::set(&*store, &key("g/.zarray"), bytes::Bytes::new()).await),
        ErrorKind::InvalidInput
    );
    // A v2 metadata probe is simply absent (zarrs and zarr-python probe for them).
    assert_eq!(ReadableStorageTraits::get(&*store, &key("g/.zattrs")).unwrap(), None);

    // erase: a chunk, then a whole array; erase_prefix of a folder of chunks.
    AsyncWritableStorageTraits::erase(&*store, &key("v2/0.0")).await.unwrap();
    assert_eq!(ReadableStorageTraits::get(&*store, &key("v2/0.0")).unwrap(), None);
    let v2 = Array::open(store.clone(), "/v2").unwrap();
    let values = v2.retrieve_array_subset::<Vec<i64>>(&v2.subset_all()).unwrap();
    assert_eq!(&values[..3], &[0, 0, 0], "the erased chunk reads as the fill value");
    WritableStorageTraits::erase_prefix(&*store, &prefix("v2slash/1/")).unwrap();
    assert_eq!(
        keys(&ListableStorageTraits::list_prefix(&*store, &prefix("v2slash/")).unwrap()),
        ["v2slash/0/0", "v2slash/0/1", "v2slash/zarr.json"]
    );
    AsyncWritableStorageTraits::erase_prefix(&*store, &prefix("g/")).await.unwrap();
    assert!(ListableStorageTraits::list_prefix(&*store, &prefix("g/")).unwrap().is_empty());
    // A partial write patches the value.
    WritableStorageTraits::set_partial(
        &*store,
        &key("dot/c.0.0"),
        8,
        bytes::Bytes::from(7i64.to_le_bytes().to_vec()),
    )
    .unwrap();
    let dot = Array::open(store.clone(), "/dot").unwrap();
    assert_eq!(dot.retrieve_chunk::<Vec<i64>>(&[0, 0]).unwrap(), [0, 7, 2, 6, 7, 8]);
    session.commit("erased", None, false).await.unwrap();

    // A read-only session's storage refuses every write with the engine's read-only error.
    let readonly = Arc::new(ZarrsStore::new(repo.readonly_session(&main_branch()).await.unwrap()));
    let bytes = bytes::Bytes::from_static(b"{}");
    assert_eq!(
        engine_kind(WritableStorageTraits::set(&*readonly, &key("zarr.json"), bytes.clone())),
        ErrorKind::ReadOnly
    );
    assert_eq!(
        engine_kind(AsyncWritableStorageTraits::set(&*readonly, &key("zarr.json"), bytes).await),
        ErrorKind::ReadOnly
    );
    assert_eq!(engine_kind(WritableStorageTraits::erase(&*readonly, &key("dot/c.0.0"))), ErrorKind::ReadOnly);
    assert_eq!(
        engine_kind(AsyncWritableStorageTraits::erase_prefix(&*readonly, &StorePrefix::root()).await),
        ErrorKind::ReadOnly
    );
    let dot = Array::open(readonly.clone(), "/dot").unwrap();
    assert_eq!(array_engine_kind(dot.store_chunk(&[0, 0], vec![1i64; 6])), ErrorKind::ReadOnly);
    assert_eq!(dot.retrieve_chunk::<Vec<i64>>(&[0, 0]).unwrap(), [0, 7, 2, 6, 7, 8]);
}
