//! Batches of chunks of a session's arrays read into, or written from, the caller's array in
//! memory, encoded and decoded by zarrs's codecs (feature `codecs`): the engine side of the
//! Python package's opt-in codec pipeline (`icechunk.CodecPipeline`).
//!
//! zarr-python hands a pipeline, per chunk, its key, a box of the chunk and the box of the
//! caller's array it maps to. Here every chunk is handled in a task of its own (on object
//! storage, as many in flight as the repository's `max_concurrent_requests` and a memory
//! budget allow: [`in_flight`]): a read fetches and decodes it (of a sharded chunk only the
//! index and the inner chunks wanted) and the task copies its box into the output; a write
//! stores the box whole, or reads, updates and stores the chunk, and, as zarr does unless
//! told to write empty chunks, deletes a chunk left all fill value.
//!
//! Anything this path does not cover, or any error on it, answers [`Batch::Fallback`] rather
//! than an error: the caller then handles the batch with zarr's default pipeline, which
//! raises exactly the errors it always does (a missing object, a corrupt chunk, a read-only
//! session) and supports what zarrs does not. (A write that fails halfway is done again
//! whole by the default pipeline: each chunk's value depends only on the caller's array.)

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use futures::StreamExt;
use zarrs::array::{Array, ArrayBytes, ArrayMetadata, ArraySubset, CodecOptions};
use zarrs::metadata::v3::MetadataV3;

use super::ZarrsStore;
use crate::storage::{reading_inline, InlineReads};
use crate::store::{keys, Store};

/// One chunk of a batch: its key, a box of it (a range per dimension, in the chunk's own
/// coordinates) and the box of the caller's array it maps to (the same lengths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkBox {
    pub key: String,
    pub chunk: Vec<Range<u64>>,
    pub array: Vec<Range<u64>>,
}

/// The caller's array: C-ordered, `shape` elements of `item_size` bytes each in the machine's
/// byte order. Written by reads, which lend it to their chunks' tasks (so it is owned, or a
/// handle that keeps the memory alive); a write reads it (a 0-d one stands for every element).
#[derive(Debug)]
pub struct Memory<B> {
    pub bytes: B,
    pub shape: Vec<u64>,
    pub item_size: usize,
}

/// How a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Done. For each chunk of a read, whether it exists (false: its box is the fill value);
    /// empty for a write.
    Done(Vec<bool>),
    /// Nothing can be promised (about the output of a read, about which chunks a write
    /// stored): handle the batch another way. Why, for logs.
    Fallback(String),
}

fn outcome(result: Result<Vec<bool>, Reason>) -> Batch {
    match result {
        Ok(present) => Batch::Done(present),
        Err(reason) => {
            tracing::debug!(%reason, "codec pipeline: falling back to zarr's");
            Batch::Fallback(reason)
        }
    }
}

/// Reads `reads` into `out` (see the module docs). `concurrency` chunks at most in flight.
/// Once this returns, or its future is dropped, nothing more is written into `out`, though
/// tasks still in flight may hold it (and so keep it alive) until their requests end.
pub async fn read_chunks_into<B: AsMut<[u8]> + Send + 'static>(
    store: &Store,
    reads: &[ChunkBox],
    out: Memory<B>,
    concurrency: usize,
) -> Batch {
    outcome(try_read(store, reads, out, concurrency).await)
}

/// Writes the boxes of `value` that `writes` name into their chunks (see the module docs);
/// `write_empty_chunks` false deletes a chunk that ends up all fill value.
pub async fn write_chunks_from(
    store: &Store,
    writes: &[ChunkBox],
    value: Memory<&[u8]>,
    write_empty_chunks: bool,
    concurrency: usize,
) -> Batch {
    outcome(try_write(store, writes, value, write_empty_chunks, concurrency).await.map(|()| Vec::new()))
}

/// How many of a batch's `jobs` are in flight at once, each holding `held(job)` bytes of
/// chunk data while it is. On object storage, up to `concurrency` (the repository's
/// `max_concurrent_requests`), since requests in flight hide latency, and as many as
/// [`BYTES_IN_FLIGHT`] pays for, counting the chunk data and the connection of each.
/// On local disk or in memory a chunk's task is a page-cache copy and a decode, CPU work: more
/// tasks than the runtime has threads only pile decoded chunks up waiting for their copy, which
/// costs memory and gains nothing, so there a few per thread.
fn in_flight(store: &Store, concurrency: usize, jobs: &[Job], held: impl Fn(&Job) -> usize) -> usize {
    if store.session().repository().storage().spec().is_local() {
        return cpu_bound(concurrency);
    }
    let heaviest = jobs.iter().map(held).max().unwrap_or(0);
    spread_evenly(jobs.len(), concurrency.min(affordable(heaviest)))
}

/// Requests in flight that [`BYTES_IN_FLIGHT`] pays for when each holds `held` bytes of chunk
/// data; never fewer than [`MIN_REQUESTS_IN_FLIGHT`].
fn affordable(held: usize) -> usize {
    (BYTES_IN_FLIGHT / held.saturating_add(REQUEST_COST)).max(MIN_REQUESTS_IN_FLIGHT)
}

/// The memory a batch's requests to object storage may hold at once: what the chunks in
/// flight weigh, decoded, and their connections. The session's uploads have the same budget.
/// Measured reading 400 chunks of 40 KB from S3 behind 20 ms: this budget keeps 50 in flight,
/// 0.33 s, at the peak memory of zarr's own pipeline at ten a time (1.1 s; medians of 9 runs
/// 143.2 MB against 143.5); 200 in flight (the repository's default allows 256) took 0.18 s
/// and 15 MB more.
const BYTES_IN_FLIGHT: usize = 4 << 20;

/// What a request in flight costs beyond its chunk: the buffers of its connection, which the
/// client then keeps for the next request (measured on S3: about 28 KB a connection).
const REQUEST_COST: usize = 32 << 10;

/// Requests in flight however large the chunks: a batch of large chunks is bound by latency.
const MIN_REQUESTS_IN_FLIGHT: usize = 16;

/// Requests in flight for `chunks` requests, at most `limit`: as few as still take the fewest
/// rounds of requests. 400 chunks under a limit of 256 take two rounds either way, and 200 in
/// flight take them with 56 fewer connections open (each costs [`REQUEST_COST`]).
fn spread_evenly(chunks: usize, limit: usize) -> usize {
    let limit = limit.max(1);
    let rounds = chunks.div_ceil(limit).max(1);
    chunks.div_ceil(rounds).clamp(1, limit)
}

/// A few chunks per runtime thread, at most `concurrency`: for work that waits on nothing.
fn cpu_bound(concurrency: usize) -> usize {
    let threads = tokio::runtime::Handle::try_current().map_or(1, |h| h.metrics().num_workers());
    concurrency.clamp(1, 2 * threads.max(1))
}

type Reason = String;

/// One chunk of a batch: its index in the batch, its array and coordinates, the subset of it
/// and whether that subset is all of the chunk.
struct Job {
    index: usize,
    array: Arc<Array<ZarrsStore>>,
    coords: Vec<u64>,
    subset: ArraySubset,
    whole: bool,
    /// The whole chunk's bytes, decoded.
    chunk_bytes: usize,
}

/// Resolves and checks every chunk of a batch against the caller's array (`shape`, `item_size`).
async fn jobs(
    store: &Store,
    boxes: &[ChunkBox],
    shape: &[u64],
    item_size: usize,
) -> Result<Vec<Job>, Reason> {
    let mut arrays: HashMap<String, Arc<Array<ZarrsStore>>> = HashMap::new();
    let mut jobs = Vec::with_capacity(boxes.len());
    for (index, chunk_box) in boxes.iter().enumerate() {
        let (path, coords) = store
            .chunk_of_key(&chunk_box.key)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{:?} is not a chunk key", chunk_box.key))?;
        let array = match arrays.get(&path) {
            Some(array) => array.clone(),
            None => {
                let array = Arc::new(open_array(store, &path, item_size).await?);
                arrays.insert(path, array.clone());
                array
            }
        };
        let chunk_shape = array.chunk_shape(&coords).map_err(|e| e.to_string())?;
        check_box(chunk_box, shape, chunk_shape.as_slice())?;
        let subset = ArraySubset::new_with_ranges(&chunk_box.chunk);
        let whole = subset.start().iter().all(|&s| s == 0)
            && subset.shape().iter().zip(&chunk_shape).all(|(&n, d)| n == d.get());
        let chunk_bytes = chunk_shape.iter().map(|d| d.get() as usize).product::<usize>() * item_size;
        jobs.push(Job { index, array, coords, subset, whole, chunk_bytes });
    }
    Ok(jobs)
}

async fn try_read<B: AsMut<[u8]> + Send + 'static>(
    store: &Store,
    reads: &[ChunkBox],
    out: Memory<B>,
    concurrency: usize,
) -> Result<Vec<bool>, Reason> {
    let Memory { mut bytes, shape, item_size } = out;
    check_memory(bytes.as_mut().len(), &shape, item_size)?;
    let jobs = jobs(store, reads, &shape, item_size).await?;
    // A read holds its box of the chunk, decoded, until its task has copied it.
    let concurrency = in_flight(store, concurrency, &jobs, |job| job.subset.num_elements_usize() * item_size);
    let spread = jobs.len() > 1;
    let output = LentOutput::new(bytes, shape, item_size);
    let mut fetched = futures::stream::iter(jobs)
        .map(|job| {
            let store = store.clone();
            let index = job.index;
            let (key, at) = (reads[index].key.clone(), reads[index].array.clone());
            let output = output.share();
            let read = async move {
                let (present, decoded) = read_chunk(&store, &job, &key).await?;
                output.copy_in(&decoded.into_fixed().map_err(|e| e.to_string())?, &at)?;
                Ok::<_, Reason>((index, present))
            };
            in_a_task_if(spread, read)
        })
        .buffer_unordered(concurrency);
    let mut present = vec![false; reads.len()];
    while let Some(done) = fetched.next().await {
        let (index, exists) = done?;
        present[index] = exists;
    }
    Ok(present)
}

/// The output of a read, lent to its chunks' tasks: each copies its box in as soon as it has
/// decoded it. Copying in the task, rather than handing decoded chunks back to the batch,
/// keeps no decoded chunk waiting: measured reading 400 chunks of 40 KB from S3 with 50 in
/// flight, up to 49 decoded chunks (2 MB) waited for the batch's own task to be polled,
/// behind the chunks' tasks on the same runtime threads.
///
/// Copies take turns (a lock): boxes the caller says are apart may not be, and a copy is a
/// few microseconds. The batch closes the output when it ends or is dropped; later copies
/// are skipped, so a batch that falls back to zarr's pipeline, or was cancelled, writes
/// nothing more into the caller's array.
struct LentOutput<B>(Arc<std::sync::Mutex<Output<B>>>);

struct Output<B> {
    bytes: B,
    shape: Vec<u64>,
    item_size: usize,
    open: bool,
}

/// A task's share of a [`LentOutput`].
struct OutputShare<B>(Arc<std::sync::Mutex<Output<B>>>);

impl<B: AsMut<[u8]>> LentOutput<B> {
    fn new(bytes: B, shape: Vec<u64>, item_size: usize) -> Self {
        Self(Arc::new(std::sync::Mutex::new(Output { bytes, shape, item_size, open: true })))
    }

    fn share(&self) -> OutputShare<B> {
        OutputShare(self.0.clone())
    }
}

impl<B> Drop for LentOutput<B> {
    fn drop(&mut self) {
        // Waits for a copy under way: none starts after this.
        let mut output = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        output.open = false;
    }
}

impl<B: AsMut<[u8]>> OutputShare<B> {
    /// Copies `decoded`, a C-ordered box of the lengths of `at`, into the output at `at`,
    /// unless the batch has ended.
    fn copy_in(&self, decoded: &[u8], at: &[Range<u64>]) -> Result<(), Reason> {
        let mut output = self.0.lock().map_err(|_| "a copy into the output panicked".to_string())?;
        let Output { bytes, shape, item_size, open } = &mut *output;
        if !*open {
            return Ok(());
        }
        copy_box(decoded, bytes.as_mut(), shape, at, *item_size)
    }
}

/// The job's box of its chunk (at `key`), decoded, and whether the chunk exists (zarr
/// reports missing chunks: its `read_missing_chunks = False` raises). A whole chunk is one
/// lookup and one read; a part of one goes through zarrs's partial decoder (of a shard, only
/// its index and the inner chunks wanted are read), after a lookup of its own.
async fn read_chunk(store: &Store, job: &Job, key: &str) -> Result<(bool, ArrayBytes<'static>), Reason> {
    let Job { array, coords, subset, whole, .. } = job;
    let options = CodecOptions::default();
    if *whole {
        let found = array
            .async_retrieve_chunk_if_exists_opt::<ArrayBytes<'static>>(coords, &options)
            .await
            .map_err(|e| e.to_string())?;
        return match found {
            Some(decoded) => Ok((true, decoded)),
            None => {
                // A whole chunk: the subset has as many elements as the chunk.
                let elements = subset.num_elements();
                let fill = ArrayBytes::new_fill_value(array.data_type(), elements, array.fill_value())
                    .map_err(|e| e.to_string())?;
                Ok((false, fill))
            }
        };
    }
    let present = store.exists(key).await.map_err(|e| e.to_string())?;
    let decoded = array
        .async_retrieve_chunk_subset_opt::<ArrayBytes<'static>>(coords, subset, &options)
        .await
        .map_err(|e| e.to_string())?;
    Ok((present, decoded))
}

async fn try_write(
    store: &Store,
    writes: &[ChunkBox],
    value: Memory<&[u8]>,
    write_empty_chunks: bool,
    concurrency: usize,
) -> Result<(), Reason> {
    let Memory { bytes, shape, item_size } = value;
    // A 0-d value is one element for every box (zarr broadcasts scalars).
    check_memory(bytes.len(), &shape, item_size)?;
    let options = CodecOptions::default().with_store_empty_chunks(write_empty_chunks);
    let jobs = jobs(store, writes, &shape, item_size).await?;
    // A whole chunk is encoded and handed to the session's uploads, which keep the storage's
    // requests in flight on their own: CPU work, a few per thread (more would only hold
    // encoded chunks waiting for room among the uploads). A part of a chunk is read first
    // (its other elements stay), a round trip each: as many as the storage takes.
    let all_whole = jobs.iter().all(|job| job.whole);
    // A part of a chunk holds all of it, decoded and then encoded.
    let concurrency = if all_whole {
        cpu_bound(concurrency)
    } else {
        in_flight(store, concurrency, &jobs, |job| 2 * job.chunk_bytes)
    };
    let spread = jobs.len() > 1;
    let mut stored = futures::stream::iter(jobs)
        .map(|Job { index, array, coords, subset, .. }| {
            let part = ArrayBytes::new_flen(gather_box(bytes, &shape, &writes[index].array, item_size));
            let write = async move {
                array
                    .async_store_chunk_subset_opt(&coords, &subset, part, &options)
                    .await
                    .map_err(|e| e.to_string())
            };
            in_a_task_if(spread, write)
        })
        .buffer_unordered(concurrency);
    while let Some(done) = stored.next().await {
        done?;
    }
    Ok(())
}

/// Bytes of local-disk objects a chunk's task reads on the runtime thread that runs it: a
/// chunk or the parts of a shard from the page cache cost less than a hand-off to the
/// blocking pool, and the task decodes on that thread next anyway.
const TASK_INLINE_READS: u64 = 4 << 20;

/// Runs `work` in a task of its own when `spread` (decoding and encoding are CPU work, spread
/// over the runtime's threads), else right here (a batch of one chunk: no hand-off at all, so
/// the caller's first poll may finish it).
async fn in_a_task_if<T: Send + 'static>(
    spread: bool,
    work: impl Future<Output = Result<T, Reason>> + Send + 'static,
) -> Result<T, Reason> {
    if spread {
        let task = tokio::spawn(reading_inline(InlineReads::UpTo(TASK_INLINE_READS), work));
        task.await.map_err(|e| e.to_string())?
    } else {
        work.await
    }
}

/// The zarrs array at `path`, from the session's own metadata, if zarrs can decode it into
/// elements of `item_size` bytes.
async fn open_array(store: &Store, path: &str, item_size: usize) -> Result<Array<ZarrsStore>, Reason> {
    let metadata_key = format!("{}{}", keys::node_key_prefix(path), keys::METADATA_KEY);
    let json = store
        .get(&metadata_key, None)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no metadata at {metadata_key}"))?;
    let template = array_template(path, json)?;
    match template.data_type().fixed_size() {
        Some(size) if size == item_size => {
            Ok(template.with_storage(Arc::new(ZarrsStore::new(store.session().clone()))))
        }
        size => Err(format!("{path}: elements of {size:?} bytes, the output's of {item_size}")),
    }
}

/// Arrays already built, by path and zarr.json, bound to no storage. Parsing the metadata and
/// building the codec chain costs more than decoding a small chunk, and Dask asks for one
/// chunk a batch; a template holds no session, so caching it keeps none alive.
type Templates = quick_cache::sync::Cache<(String, bytes::Bytes), Arc<Array<()>>>;

fn array_template(path: &str, json: bytes::Bytes) -> Result<Arc<Array<()>>, Reason> {
    static TEMPLATES: std::sync::OnceLock<Templates> = std::sync::OnceLock::new();
    let templates = TEMPLATES.get_or_init(|| {
        register_standard_data_types();
        Templates::new(256)
    });
    let key = (path.to_string(), json);
    if let Some(template) = templates.get(&key) {
        return Ok(template);
    }
    let metadata: ArrayMetadata = serde_json::from_slice(&key.1).map_err(|e| e.to_string())?;
    let template =
        Arc::new(Array::new_with_metadata(Arc::new(()), path, metadata).map_err(|e| e.to_string())?);
    templates.insert(key, template.clone());
    Ok(template)
}

/// Registers the data types zarr-python writes (numeric and bool) with zarrs, found by their
/// names alone. zarrs otherwise looks a name up among every data type it knows, and two of
/// those match names with regular expressions compiled on first use: about 0.6 MB of the regex
/// engine's code then mapped into every process that opens an array through the pipeline.
/// Other names still take zarrs's own lookup.
fn register_standard_data_types() {
    use zarrs::array::data_type::api::{register_data_type_v3, DataTypeRuntimePluginV3};
    use zarrs::plugin::PluginUnsupportedError;
    let create = |metadata: &MetadataV3| match STANDARD_DATA_TYPES.iter().find(|(n, _)| *n == metadata.name())
    {
        Some((_, create)) => create(metadata),
        None => Err(PluginUnsupportedError::new(metadata.name().to_string(), "data type".to_string()).into()),
    };
    let standard = |name: &str| STANDARD_DATA_TYPES.iter().any(|(n, _)| *n == name);
    register_data_type_v3(DataTypeRuntimePluginV3::new(standard, create));
}

type CreateDataType = fn(&MetadataV3) -> Result<zarrs::array::DataType, zarrs::plugin::PluginCreateError>;

/// The data types zarr-python writes, by name, and the zarrs constructor of each.
const STANDARD_DATA_TYPES: [(&str, CreateDataType); 14] = {
    use zarrs::array::data_type::api::DataTypeTraitsV3;
    use zarrs::array::data_type::*;
    [
        ("bool", BoolDataType::create),
        ("int8", Int8DataType::create),
        ("int16", Int16DataType::create),
        ("int32", Int32DataType::create),
        ("int64", Int64DataType::create),
        ("uint8", UInt8DataType::create),
        ("uint16", UInt16DataType::create),
        ("uint32", UInt32DataType::create),
        ("uint64", UInt64DataType::create),
        ("float16", Float16DataType::create),
        ("float32", Float32DataType::create),
        ("float64", Float64DataType::create),
        ("complex64", Complex64DataType::create),
        ("complex128", Complex128DataType::create),
    ]
};

fn check_memory(len: usize, shape: &[u64], item_size: usize) -> Result<(), Reason> {
    let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d));
    let wanted = elements.and_then(|n| n.checked_mul(item_size as u64));
    if item_size == 0 || wanted != Some(len as u64) {
        return Err(format!("memory of {len} bytes is not {shape:?} x {item_size}"));
    }
    Ok(())
}

/// Refuses boxes that do not fit the chunk and the caller's array (of `shape`; a 0-d one
/// broadcasts), or differ in size: the copies read and write memory the caller owns.
fn check_box(
    chunk_box: &ChunkBox,
    shape: &[u64],
    chunk_shape: &[std::num::NonZeroU64],
) -> Result<(), Reason> {
    let ChunkBox { key, chunk, array } = chunk_box;
    let in_array = shape.is_empty()
        || (array.len() == shape.len()
            && array.iter().zip(shape).all(|(r, &d)| r.start <= r.end && r.end <= d));
    let fits = chunk.len() == chunk_shape.len()
        && chunk.len() == array.len()
        && chunk.iter().zip(chunk_shape).all(|(r, d)| r.start <= r.end && r.end <= d.get())
        && chunk.iter().zip(array).all(|(c, o)| c.end - c.start == o.end - o.start)
        && in_array;
    if fits {
        Ok(())
    } else {
        Err(format!("{key}: boxes {chunk:?} -> {array:?} do not fit"))
    }
}

/// The byte offset in a C-ordered array of `shape` of each innermost row of the box `at`, in
/// C order, and the bytes of a row; `None` for an empty box. A 0-d box is one row of one
/// element.
fn box_rows(shape: &[u64], at: &[Range<u64>], item_size: usize) -> Option<(Vec<usize>, usize)> {
    let lens: Vec<usize> = at.iter().map(|r| (r.end - r.start) as usize).collect();
    if lens.contains(&0) {
        return None;
    }
    let Some((&row_len, outer)) = lens.split_last() else {
        return Some((vec![0], item_size));
    };
    // Strides, in elements.
    let mut strides = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1] as usize;
    }
    let origin: usize = at.iter().zip(&strides).map(|(r, s)| r.start as usize * s).sum();
    let mut offsets = Vec::with_capacity(outer.iter().product());
    let mut index = vec![0usize; outer.len()];
    loop {
        let element = origin + index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>();
        offsets.push(element * item_size);
        let mut d = outer.len();
        loop {
            if d == 0 {
                return Some((offsets, row_len * item_size));
            }
            d -= 1;
            index[d] += 1;
            if index[d] < outer[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

fn box_bytes(at: &[Range<u64>], item_size: usize) -> usize {
    at.iter().map(|r| (r.end - r.start) as usize).product::<usize>() * item_size
}

/// Copies `src`, a C-ordered box of the lengths of `at`, into the C-ordered array `dst` of
/// `shape` at `at`: one slice copy per innermost row.
fn copy_box(
    src: &[u8],
    dst: &mut [u8],
    shape: &[u64],
    at: &[Range<u64>],
    item_size: usize,
) -> Result<(), Reason> {
    if src.len() != box_bytes(at, item_size) {
        return Err(format!("decoded {} bytes for a box {at:?} of {item_size}-byte elements", src.len()));
    }
    if let Some((offsets, row)) = box_rows(shape, at, item_size) {
        for (&offset, part) in offsets.iter().zip(src.chunks_exact(row)) {
            dst[offset..offset + row].copy_from_slice(part);
        }
    }
    Ok(())
}

/// The box `at` of the C-ordered array `src` of `shape`, as a C-ordered array of its own. A
/// 0-d `src` is one value for every element of the box (zarr broadcasts a scalar).
pub(super) fn gather_box(src: &[u8], shape: &[u64], at: &[Range<u64>], item_size: usize) -> Vec<u8> {
    let wanted = box_bytes(at, item_size);
    if shape.is_empty() {
        return src[..item_size].repeat(wanted / item_size);
    }
    let mut bytes = Vec::with_capacity(wanted);
    if let Some((offsets, row)) = box_rows(shape, at, item_size) {
        for offset in offsets {
            bytes.extend_from_slice(&src[offset..offset + row]);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_spread_evenly_over_the_fewest_rounds() {
        assert_eq!(spread_evenly(400, 256), 200); // two rounds either way
        assert_eq!(spread_evenly(513, 256), 171); // three rounds
        assert_eq!(spread_evenly(256, 256), 256);
        assert_eq!(spread_evenly(100, 256), 100);
        assert_eq!(spread_evenly(1, 256), 1);
        assert_eq!(spread_evenly(0, 256), 1);
        assert_eq!(spread_evenly(10, 0), 1); // a limit of 0 still makes progress
    }

    #[test]
    fn requests_in_flight_fit_the_memory_budget() {
        assert_eq!(affordable(40_000), 57); // workload (a)'s chunks
        assert_eq!(affordable(0), 128); // the connections alone
        assert_eq!(affordable(10 << 20), MIN_REQUESTS_IN_FLIGHT); // large chunks: latency first
        assert_eq!(affordable(usize::MAX), MIN_REQUESTS_IN_FLIGHT);
    }

    #[test]
    fn standard_data_types_are_found_by_name_and_others_still_resolve() {
        use zarrs::array::DataType;
        use zarrs::metadata::v3::MetadataV3;
        register_standard_data_types();
        let sizes = [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 8, 16];
        for ((name, _), size) in STANDARD_DATA_TYPES.iter().zip(sizes) {
            let data_type = DataType::from_metadata(&MetadataV3::new(*name)).unwrap();
            assert_eq!(data_type.fixed_size(), Some(size), "{name}");
        }
        // Configuration the standard types do not take is refused, as zarrs's own lookup does.
        let configured = MetadataV3::new_with_configuration(
            "int8",
            serde_json::Map::from_iter([("x".to_string(), serde_json::Value::from(1))]),
        );
        assert!(DataType::from_metadata(&configured).is_err());
        // Names outside the list take zarrs's own lookup (here one of its regular expressions).
        assert_eq!(DataType::from_metadata(&MetadataV3::new("r16")).unwrap().fixed_size(), Some(2));
        assert!(DataType::from_metadata(&MetadataV3::new("float33")).is_err());
    }

    #[test]
    fn copies_boxes_into_place() {
        // A 3x4 output of u16, filled with the 2x2 box [[1,2],[3,4]] at rows 1..3, cols 2..4.
        let src: Vec<u8> = [1u16, 2, 3, 4].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut dst = vec![0u8; 3 * 4 * 2];
        copy_box(&src, &mut dst, &[3, 4], &[1..3, 2..4], 2).unwrap();
        let values: Vec<u16> = dst.chunks_exact(2).map(|b| u16::from_ne_bytes([b[0], b[1]])).collect();
        assert_eq!(values, [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4]);
        // 0-d, empty boxes, and a size mismatch.
        let mut one = [0u8; 4];
        copy_box(&[9, 9, 9, 9], &mut one, &[], &[], 4).unwrap();
        assert_eq!(one, [9; 4]);
        copy_box(&[], &mut dst, &[3, 4], &[1..1, 0..4], 2).unwrap();
        assert!(copy_box(&[1, 2], &mut dst, &[3, 4], &[0..1, 0..2], 2).is_err());
    }

    #[test]
    fn tasks_copy_into_the_output_only_while_the_batch_lasts() {
        // A 2x2 output of u8; a task's share copies its box in while the batch holds the
        // output, and nothing once the batch has ended (fallen back, failed or been dropped).
        let output = LentOutput::new(vec![0u8; 4], vec![2, 2], 1);
        let early = output.share();
        let late = output.share();
        early.copy_in(&[1, 2], &[0..1, 0..2]).unwrap();
        assert!(early.copy_in(&[1], &[0..1, 0..2]).is_err()); // the wrong size
        drop(output);
        late.copy_in(&[3, 4], &[1..2, 0..2]).unwrap();
        let bytes = std::mem::take(&mut late.0.lock().unwrap().bytes);
        assert_eq!(bytes, [1, 2, 0, 0]);
    }

    #[test]
    fn gathers_boxes_and_broadcasts_scalars() {
        // 3x4 of u8: 0..12; the box rows 1..3, cols 1..3 is [5, 6, 9, 10].
        let src: Vec<u8> = (0..12).collect();
        assert_eq!(gather_box(&src, &[3, 4], &[1..3, 1..3], 1), [5, 6, 9, 10]);
        assert_eq!(gather_box(&src, &[3, 4], &[0..3, 3..4], 1), [3, 7, 11]);
        assert_eq!(gather_box(&src, &[3, 4], &[2..2, 0..4], 1), Vec::<u8>::new());
        assert_eq!(gather_box(&[7, 8], &[], &[0..2, 0..3], 2), [7, 8].repeat(6));
        // A round trip through copy_box.
        let mut back = vec![0u8; 12];
        copy_box(&gather_box(&src, &[3, 4], &[0..2, 1..4], 1), &mut back, &[3, 4], &[0..2, 1..4], 1).unwrap();
        assert_eq!(back, [0, 1, 2, 3, 0, 5, 6, 7, 0, 0, 0, 0]);
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // one range per dimension
    fn refuses_boxes_outside_the_chunk_or_the_array() {
        let shape = [4, 4];
        let chunk = [std::num::NonZeroU64::new(2).unwrap(); 2];
        let boxed =
            |c: Vec<Range<u64>>, o: Vec<Range<u64>>| ChunkBox { key: "a/c/0/0".into(), chunk: c, array: o };
        assert!(check_box(&boxed(vec![0..2, 0..2], vec![2..4, 2..4]), &shape, &chunk).is_ok());
        assert!(check_box(&boxed(vec![0..3, 0..2], vec![1..4, 2..4]), &shape, &chunk).is_err());
        assert!(check_box(&boxed(vec![0..2, 0..2], vec![3..5, 2..4]), &shape, &chunk).is_err());
        assert!(check_box(&boxed(vec![0..2, 0..1], vec![2..4, 2..4]), &shape, &chunk).is_err());
        assert!(check_box(&boxed(vec![0..2], vec![2..4]), &shape, &chunk).is_err());
        // A scalar value broadcasts to any box.
        assert!(check_box(&boxed(vec![0..2, 0..2], vec![5..7, 0..2]), &[], &chunk).is_ok());
        assert!(check_memory(16, &shape, 1).is_ok());
        assert!(check_memory(15, &shape, 1).is_err());
        assert!(check_memory(0, &shape, 0).is_err());
    }
}
