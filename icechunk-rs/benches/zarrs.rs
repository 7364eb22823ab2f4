//! zarrs reading every chunk of a 2000 x 2000 float32 array through `icechunk::zarrs`,
//! against zarrs on its own filesystem store over the same data written as plain Zarr:
//! "a" in 400 chunks of 100 x 100, "b" in 40,000 chunks of 10 x 10 (target: the adapter at
//! most 1.2x the filesystem store's time). Both stores sit on local disk, written once with
//! zarrs; the repository's array is committed and read through a read-only session, with
//! zarrs's sync API (as the filesystem store) and its async one; and, for reference, the
//! engine's `Store::get` of every chunk without zarrs.
//! Run: `cargo bench -p icechunk-rs --features zarrs --bench zarrs`.

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::StreamExt;
use icechunk::storage::new_local_filesystem_storage;
use icechunk::zarrs::ZarrsStore;
use icechunk::{Repository, VersionInfo};
use zarrs::array::{data_type, Array, ArrayBuilder};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{ReadableWritableListableStorageTraits, ReadableWritableStorageTraits};

const SIDE: u64 = 2000;
const CASES: [(&str, u64); 2] = [("a", 100), ("b", 10)];

fn values() -> Vec<f32> {
    (0..SIDE * SIDE).map(|i| (i % 9973) as f32 * 0.5).collect()
}

/// Writes the array `name` with chunks of `chunk` x `chunk` through zarrs's sync API.
fn write<S: ReadableWritableListableStorageTraits + ?Sized + 'static>(store: Arc<S>, name: &str, chunk: u64) {
    let array = ArrayBuilder::new(vec![SIDE, SIDE], vec![chunk, chunk], data_type::float32(), 0.0f32)
        .build(store, &format!("/{name}"))
        .unwrap();
    array.store_metadata().unwrap();
    array.store_array_subset(&array.subset_all(), values()).unwrap();
}

/// Opens `name` and reads every chunk (zarrs decodes them in parallel on its own threads).
fn read_all<S: ReadableWritableStorageTraits + ?Sized + 'static>(store: &Arc<S>, name: &str) -> Vec<f32> {
    let array = Array::open(store.clone(), &format!("/{name}")).unwrap();
    array.retrieve_array_subset::<Vec<f32>>(&array.subset_all()).unwrap()
}

/// The same with zarrs's async API (the adapter's async traits, no thread blocks).
async fn read_all_async(store: &Arc<ZarrsStore>, name: &str) -> Vec<f32> {
    let array = Array::async_open(store.clone(), &format!("/{name}")).await.unwrap();
    array.async_retrieve_array_subset::<Vec<f32>>(&array.subset_all()).await.unwrap()
}

/// The engine alone, no zarrs: every chunk's bytes through `Store::get`, a few at a time
/// (what the adapter's reads cost below zarrs's decoding and scheduling).
async fn engine_get_all(store: &ZarrsStore, name: &str, chunk: u64) -> usize {
    let side = SIDE / chunk;
    let keys = (0..side).flat_map(|i| (0..side).map(move |j| format!("{name}/c/{i}/{j}")));
    let reads = keys.map(|key| async move { store.store().get(&key, None).await.unwrap().unwrap().len() });
    futures::stream::iter(reads).buffer_unordered(4).fold(0, |total, len| async move { total + len }).await
}

fn setup(dir: &Path, runtime: &tokio::runtime::Runtime) -> (Arc<FilesystemStore>, Arc<ZarrsStore>) {
    let plain = Arc::new(FilesystemStore::new(dir.join("plain.zarr")).unwrap());
    let (repo, session) = runtime.block_on(async {
        let repo =
            Repository::create(new_local_filesystem_storage(dir.join("repo")).unwrap(), None).await.unwrap();
        let session = repo.writable_session("main").await.unwrap();
        (repo, session)
    });
    let writable = Arc::new(ZarrsStore::with_runtime(session.clone(), runtime.handle().clone()));
    for (name, chunk) in CASES {
        write(plain.clone(), name, chunk);
        write(writable.clone(), name, chunk);
    }
    let readonly = runtime.block_on(async {
        session.commit("bench arrays", None, false).await.unwrap();
        repo.readonly_session(&VersionInfo::BranchTip("main".into())).await.unwrap()
    });
    (plain, Arc::new(ZarrsStore::with_runtime(readonly, runtime.handle().clone())))
}

fn read_every_chunk(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (plain, ours) = setup(dir.path(), &runtime);
    let want = values();
    let mut group = c.benchmark_group("zarrs_read_all");
    group.sample_size(10);
    for (name, chunk) in CASES {
        assert!(read_all(&plain, name) == want && read_all(&ours, name) == want, "{name}: values differ");
        group.bench_function(BenchmarkId::new("filesystem", name), |b| b.iter(|| read_all(&plain, name)));
        group.bench_function(BenchmarkId::new("icechunk", name), |b| b.iter(|| read_all(&ours, name)));
        group.bench_function(BenchmarkId::new("icechunk_async", name), |b| {
            b.to_async(&runtime).iter(|| read_all_async(&ours, name))
        });
        group.bench_function(BenchmarkId::new("engine_get", name), |b| {
            b.to_async(&runtime).iter(|| engine_get_all(&ours, name, chunk))
        });
    }
    group.finish();
}

criterion_group!(benches, read_every_chunk);
criterion_main!(benches);
