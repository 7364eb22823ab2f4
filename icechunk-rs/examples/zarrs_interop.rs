//! zarrs on an Icechunk repository on local disk, for the cross-language tests
//! (tests/test_zarrs_interop.py) and as an example of the `zarrs` feature.
//!
//! ```text
//! cargo run -p icechunk-rs --features zarrs --example zarrs_interop -- read REPO ARRAY...
//! cargo run -p icechunk-rs --features zarrs --example zarrs_interop -- write REPO
//! ```
//!
//! `read` prints one JSON object: for each array path, its shape, data type, fill value,
//! attributes and values (row-major) read with zarrs's sync API from the tip of `main`. `write` creates a
//! repository and commits, on `main`, the arrays of [`write`] (values from formulas the
//! Python test recomputes).

use std::error::Error;
use std::sync::Arc;

use icechunk::storage::new_local_filesystem_storage;
use icechunk::zarrs::ZarrsStore;
use icechunk::{Repository, VersionInfo};
use serde_json::{json, Value};
use zarrs::array::chunk_key_encoding::V2ChunkKeyEncoding;
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{data_type, Array, ArrayBuilder, ChunkKeySeparator};
use zarrs::group::GroupBuilder;
use zarrs::storage::{ReadableStorageTraits, StoreKey};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new()?;
    let output = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["read", repo, ref arrays @ ..] if !arrays.is_empty() => read(&runtime, repo, arrays)?,
        ["write", repo] => write(&runtime, repo)?,
        _ => return Err("usage: zarrs_interop read REPO ARRAY... | write REPO".into()),
    };
    println!("{output}");
    Ok(())
}

fn read(runtime: &tokio::runtime::Runtime, repo: &str, paths: &[&str]) -> Result<Value> {
    let session = runtime.block_on(async {
        let repo = Repository::open(new_local_filesystem_storage(repo)?, None).await?;
        repo.readonly_session(&VersionInfo::BranchTip("main".into())).await
    })?;
    // Sync zarrs from this thread, outside the runtime: the store runs the engine on it.
    let store = Arc::new(ZarrsStore::with_runtime(session, runtime.handle().clone()));
    let mut arrays = serde_json::Map::new();
    for path in paths {
        arrays.insert(path.to_string(), read_array(&store, path)?);
    }
    Ok(Value::Object(arrays))
}

fn read_array(store: &Arc<ZarrsStore>, path: &str) -> Result<Value> {
    // zarrs's node paths are absolute; a key's prefix is not.
    let relative = path.trim_matches('/');
    let array = Array::open(store.clone(), &format!("/{relative}"))?;
    // The data type as zarr.json names it: zarrs's API is typed, JSON is not.
    let key = StoreKey::new(format!("{relative}/zarr.json").trim_start_matches('/'))?;
    let metadata: Value = serde_json::from_slice(&store.get(&key)?.ok_or("no zarr.json")?)?;
    let data_type = metadata["data_type"].as_str().ok_or("data_type is not a name")?.to_string();
    let all = array.subset_all();
    let values = match data_type.as_str() {
        "bool" => json!(array.retrieve_array_subset::<Vec<bool>>(&all)?),
        "int8" => json!(array.retrieve_array_subset::<Vec<i8>>(&all)?),
        "int16" => json!(array.retrieve_array_subset::<Vec<i16>>(&all)?),
        "int32" => json!(array.retrieve_array_subset::<Vec<i32>>(&all)?),
        "int64" => json!(array.retrieve_array_subset::<Vec<i64>>(&all)?),
        "uint8" => json!(array.retrieve_array_subset::<Vec<u8>>(&all)?),
        "uint16" => json!(array.retrieve_array_subset::<Vec<u16>>(&all)?),
        "uint32" => json!(array.retrieve_array_subset::<Vec<u32>>(&all)?),
        "uint64" => json!(array.retrieve_array_subset::<Vec<u64>>(&all)?),
        "float32" => json!(array.retrieve_array_subset::<Vec<f32>>(&all)?),
        "float64" => json!(array.retrieve_array_subset::<Vec<f64>>(&all)?),
        other => return Err(format!("data type {other} is not supported here").into()),
    };
    Ok(json!({
        "shape": array.shape(),
        "data_type": data_type,
        "fill_value": metadata["fill_value"],
        "attributes": array.attributes(),
        "values": values,
    }))
}

/// The arrays written, with zarrs's sync API: a group with attributes; float32 with zstd
/// (edge chunks partial); int32 sharded; a 0-d float64; uint16 with a fill value and one
/// chunk written; int64 with the `v2` chunk key encoding, uint8 with `default` and `.`.
fn write(runtime: &tokio::runtime::Runtime, repo: &str) -> Result<Value> {
    let (repo, session) = runtime.block_on(async {
        let repo = Repository::create(new_local_filesystem_storage(repo)?, None).await?;
        let session = repo.writable_session("main").await?;
        Ok::<_, icechunk::IcechunkError>((repo, session))
    })?;
    let store = Arc::new(ZarrsStore::with_runtime(session.clone(), runtime.handle().clone()));
    let mut root = GroupBuilder::new().build(store.clone(), "/")?;
    root.attributes_mut().insert("written_by".into(), "zarrs".into());
    root.store_metadata()?;
    GroupBuilder::new().build(store.clone(), "/group")?.store_metadata()?;

    let zstd = ArrayBuilder::new(vec![30, 20], vec![8, 8], data_type::float32(), f32::NAN)
        .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(3, false))])
        .build(store.clone(), "/group/zstd")?;
    zstd.store_metadata()?;
    zstd.store_array_subset(&zstd.subset_all(), (0..600).map(|i| i as f32 * 0.5 - 10.0).collect::<Vec<_>>())?;

    let sharded = ArrayBuilder::new(vec![64, 48], vec![32, 24], data_type::int32(), 0i32)
        .subchunk_shape(vec![8, 8])
        .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(1, false))])
        .build(store.clone(), "/group/sharded")?;
    sharded.store_metadata()?;
    sharded.store_array_subset(
        &sharded.subset_all(),
        (0..64 * 48).map(|i| i * 3 - 5000).collect::<Vec<i32>>(),
    )?;

    let scalar = ArrayBuilder::new(Vec::<u64>::new(), Vec::<u64>::new(), data_type::float64(), 0.0f64)
        .build(store.clone(), "/scalar")?;
    scalar.store_metadata()?;
    scalar.store_array_subset(&scalar.subset_all(), vec![3.25f64])?;

    let sparse = ArrayBuilder::new(vec![10, 10], vec![5, 5], data_type::uint16(), 7u16)
        .build(store.clone(), "/sparse")?;
    sparse.store_metadata()?;
    sparse.store_chunk(&[0, 1], (100..125).collect::<Vec<u16>>())?;

    let mut v2 = ArrayBuilder::new(vec![6, 4], vec![3, 2], data_type::int64(), 0i64);
    let v2 = v2.chunk_key_encoding(V2ChunkKeyEncoding::new_dot()).build(store.clone(), "/v2dot")?;
    v2.store_metadata()?;
    v2.store_array_subset(&v2.subset_all(), (0..24).collect::<Vec<i64>>())?;

    let mut dot = ArrayBuilder::new(vec![5, 5], vec![2, 2], data_type::uint8(), 0u8);
    let dot =
        dot.chunk_key_encoding_default_separator(ChunkKeySeparator::Dot).build(store.clone(), "/dot")?;
    dot.store_metadata()?;
    dot.store_array_subset(&dot.subset_all(), (0..25).collect::<Vec<u8>>())?;

    let snapshot = runtime.block_on(session.commit("written by zarrs", None, false))?;
    drop(repo);
    Ok(json!({ "snapshot": snapshot.to_string() }))
}
