//! The engine side of `icechunk.CodecPipeline` (zarr's opt-in codec pipeline switch): batches
//! of chunks decoded into, or encoded from, a numpy array's memory in Rust. Polled first on
//! the caller's thread, the interpreter released (`future_into_py`): a batch of one chunk
//! usually finishes there; a larger one spawns its chunks' tasks and goes to the runtime.

use std::ops::Range;

use icechunk::zarrs::chunk_batches::{read_chunks_into, write_chunks_from, Batch, ChunkBox, Memory};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;

use crate::errors::invalid_input;
use crate::runtime::future_into_py;
use crate::store::PyStore;

/// A box per dimension, as `(start, stop)` pairs.
type PyBox = Vec<(u64, u64)>;

fn chunk_boxes(keys: Vec<String>, chunks: Vec<PyBox>, arrays: Vec<PyBox>) -> PyResult<Vec<ChunkBox>> {
    if keys.len() != chunks.len() || keys.len() != arrays.len() {
        return Err(invalid_input("keys, chunk_boxes and array_boxes differ in length"));
    }
    let ranges =
        |boxed: PyBox| boxed.into_iter().map(|(start, stop)| start..stop).collect::<Vec<Range<u64>>>();
    Ok(keys
        .into_iter()
        .zip(chunks.into_iter().zip(arrays))
        .map(|(key, (chunk, array))| ChunkBox { key, chunk: ranges(chunk), array: ranges(array) })
        .collect())
}

/// The buffer of a C-contiguous byte array (`writable`: that the engine may write).
fn byte_buffer(array: &Bound<'_, PyAny>, writable: bool) -> PyResult<PyBuffer<u8>> {
    let buffer = PyBuffer::<u8>::get(array)?;
    if (writable && buffer.readonly()) || !buffer.is_c_contiguous() {
        return Err(invalid_input("the array must be a C-contiguous byte buffer (writable to read into)"));
    }
    Ok(buffer)
}

#[pymethods]
impl PyStore {
    /// Reads the chunks `keys`, the box `chunk_boxes[i]` of chunk i into the box
    /// `array_boxes[i]` of `out` (a writable, C-contiguous byte buffer holding an array of
    /// `shape` elements of `item_size` bytes in the machine's byte order). Awaits, when done,
    /// whether each chunk exists (its box is the fill value if not); None when the caller
    /// must read the batch itself (zarr's default pipeline): a codec, data type or key this
    /// path does not cover, or an error, which the default pipeline then reports.
    #[allow(clippy::too_many_arguments)]
    fn read_chunks_into<'py>(
        &self,
        py: Python<'py>,
        keys: Vec<String>,
        chunk_boxes: Vec<PyBox>,
        array_boxes: Vec<PyBox>,
        out: &Bound<'py, PyAny>,
        shape: Vec<u64>,
        item_size: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reads = self::chunk_boxes(keys, chunk_boxes, array_boxes)?;
        let buffer = byte_buffer(out, true)?;
        let store = self.store.clone();
        let concurrency = store.session().repository().config().max_concurrent_requests as usize;
        future_into_py(py, async move {
            // SAFETY: `buffer` keeps the array's memory alive and in place (an exported numpy
            // array cannot be resized) until this future ends, and the Python side leaves the
            // array alone until the awaitable has finished.
            let bytes =
                unsafe { std::slice::from_raw_parts_mut(buffer.buf_ptr().cast::<u8>(), buffer.len_bytes()) };
            let outcome =
                read_chunks_into(&store, &reads, Memory { bytes, shape, item_size }, concurrency).await;
            drop(buffer);
            Ok(match outcome {
                Batch::Done(present) => Some(present),
                Batch::Fallback(_) => None,
            })
        })
    }

    /// Writes the box `array_boxes[i]` of `value` (a C-contiguous byte buffer holding an
    /// array of `shape` elements of `item_size` bytes, machine byte order; `shape` empty: one
    /// element for every box) into the box `chunk_boxes[i]` of chunk `keys[i]`. A chunk left
    /// all fill value is deleted unless `write_empty_chunks`. Awaits True when done; False
    /// when the caller must write the batch itself (zarr's default pipeline), as for reads.
    #[allow(clippy::too_many_arguments)]
    fn write_chunks_from<'py>(
        &self,
        py: Python<'py>,
        keys: Vec<String>,
        chunk_boxes: Vec<PyBox>,
        array_boxes: Vec<PyBox>,
        value: &Bound<'py, PyAny>,
        shape: Vec<u64>,
        item_size: usize,
        write_empty_chunks: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let writes = self::chunk_boxes(keys, chunk_boxes, array_boxes)?;
        let buffer = byte_buffer(value, false)?;
        let store = self.store.clone();
        let concurrency = store.session().repository().config().max_concurrent_requests as usize;
        future_into_py(py, async move {
            // SAFETY: as for reads; the engine only reads this memory.
            let bytes =
                unsafe { std::slice::from_raw_parts(buffer.buf_ptr().cast::<u8>(), buffer.len_bytes()) };
            let value = Memory { bytes, shape, item_size };
            let outcome = write_chunks_from(&store, &writes, value, write_empty_chunks, concurrency).await;
            drop(buffer);
            Ok(matches!(outcome, Batch::Done(_)))
        })
    }
}
