//! The engine side of `icechunk.CodecPipeline` (zarr's opt-in codec pipeline switch): batches
//! of chunks decoded into, or encoded from, a numpy array's memory in Rust. Polled first on
//! the caller's thread, the interpreter released (`future_into_py`): a batch of one chunk
//! usually finishes there; a larger one spawns its chunks' tasks and goes to the runtime.

use std::ops::Range;

use icechunk::zarrs::chunk_batches::{read_chunks_into, write_chunks_from, Batch, ChunkBox, Memory};
use pyo3::buffer::PyBuffer;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PySlice, PyTuple};

use crate::errors::invalid_input;
use crate::runtime::future_into_py;
use crate::store::PyStore;

/// Each chunk of zarr's `batch` as a [`ChunkBox`], if every one is in `store` (the same
/// Python object) and both its selections are boxes; None otherwise.
fn boxes_of_batch(batch: &Bound<'_, PyAny>, store: &Bound<'_, PyAny>) -> PyResult<Option<Vec<ChunkBox>>> {
    let py = batch.py();
    let Ok(items) = batch.cast::<PyList>() else {
        return Ok(None);
    };
    let mut boxes = Vec::with_capacity(items.len());
    for item in items.iter() {
        let Ok(item) = item.cast::<PyTuple>() else {
            return Ok(None);
        };
        if item.len() < 4 {
            return Ok(None);
        }
        let getter = item.get_item(0)?;
        match getter.getattr(intern!(py, "store")) {
            Ok(of) if of.is(store) => {}
            _ => return Ok(None),
        }
        let Ok(key) = getter.getattr(intern!(py, "path"))?.extract::<String>() else {
            return Ok(None);
        };
        let (Some(chunk), Some(array)) = (box_of(&item.get_item(2)?)?, box_of(&item.get_item(3)?)?) else {
            return Ok(None);
        };
        boxes.push(ChunkBox { key, chunk, array });
    }
    Ok(Some(boxes))
}

/// A selection as a range per dimension when it is a tuple of slices of step 1 (or none)
/// with both ends given as non-negative integers, `start <= stop` (as zarr's indexers make
/// them for boxes); None otherwise.
fn box_of(selection: &Bound<'_, PyAny>) -> PyResult<Option<Vec<Range<u64>>>> {
    let py = selection.py();
    let Ok(parts) = selection.cast::<PyTuple>() else {
        return Ok(None);
    };
    let mut ranges = Vec::with_capacity(parts.len());
    for part in parts.iter() {
        let Ok(slice) = part.cast::<PySlice>() else {
            return Ok(None);
        };
        let step = slice.getattr(intern!(py, "step"))?;
        if !step.is_none() && !matches!(step.extract::<i64>(), Ok(1)) {
            return Ok(None);
        }
        let start = slice.getattr(intern!(py, "start"))?.extract::<u64>();
        let stop = slice.getattr(intern!(py, "stop"))?.extract::<u64>();
        match (start, stop) {
            (Ok(start), Ok(stop)) if start <= stop => ranges.push(start..stop),
            _ => return Ok(None),
        }
    }
    Ok(Some(ranges))
}

/// The buffer of a C-contiguous byte array (`writable`: that the engine may write).
fn byte_buffer(array: &Bound<'_, PyAny>, writable: bool) -> PyResult<PyBuffer<u8>> {
    let buffer = PyBuffer::<u8>::get(array)?;
    if (writable && buffer.readonly()) || !buffer.is_c_contiguous() {
        return Err(invalid_input("the array must be a C-contiguous byte buffer (writable to read into)"));
    }
    Ok(buffer)
}

/// A writable numpy buffer lent to the engine's read tasks. Holding the buffer keeps the
/// array alive and its memory in place (an exported numpy array cannot be resized), however
/// long a task keeps its share; the engine writes into it only until the read's awaitable has
/// finished, and the Python side leaves the array alone until then.
struct Exported(PyBuffer<u8>);

impl AsMut<[u8]> for Exported {
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: `byte_buffer` checked that the buffer is writable and C-contiguous, and the
        // memory stays valid while the buffer is held (above); `&mut self` makes this the only
        // slice of it on the Rust side.
        unsafe { std::slice::from_raw_parts_mut(self.0.buf_ptr().cast::<u8>(), self.0.len_bytes()) }
    }
}

#[pymethods]
impl PyStore {
    /// Reads zarr's batch (items `(byte_getter, spec, chunk_selection, out_selection, ...)`):
    /// the box `chunk_selection` of each chunk into the box `out_selection` of `out` (a
    /// writable, C-contiguous byte buffer holding an array of `shape` elements of
    /// `item_size` bytes in the machine's byte order). None at once when the batch is not for
    /// this path: a chunk not in `store` (this store's Python object) or a selection that is
    /// not a box (unit-step slices with both ends). Else an awaitable of whether each chunk
    /// exists (its box is the fill value if not), or of None when the caller must read the
    /// batch itself (zarr's default pipeline): a codec, data type or key this path does not
    /// cover, or an error, which the default pipeline then reports. The batch is walked here
    /// rather than in Python: for 40,000 small chunks that was a sixth of a read.
    fn read_batch_into<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        store: &Bound<'py, PyAny>,
        out: &Bound<'py, PyAny>,
        shape: Vec<u64>,
        item_size: usize,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(reads) = boxes_of_batch(batch, store)? else {
            return Ok(None);
        };
        let bytes = Exported(byte_buffer(out, true)?);
        let store = self.store.clone();
        let concurrency = store.session().repository().config().max_concurrent_requests as usize;
        future_into_py(py, async move {
            let outcome =
                read_chunks_into(&store, &reads, Memory { bytes, shape, item_size }, concurrency).await;
            Ok(match outcome {
                Batch::Done(present) => Some(present),
                Batch::Fallback(_) => None,
            })
        })
        .map(Some)
    }

    /// Writes zarr's batch (items `(byte_setter, spec, chunk_selection, value_selection,
    /// ...)`): the box `value_selection` of `value` (a C-contiguous byte buffer holding an
    /// array of `shape` elements of `item_size` bytes, machine byte order; `shape` empty: one
    /// element for every box) into the box `chunk_selection` of each chunk. A chunk left all
    /// fill value is deleted unless `write_empty_chunks`. None at once when the batch is not
    /// for this path, as for reads; else an awaitable of True when done, False when the
    /// caller must write the batch itself (zarr's default pipeline).
    #[allow(clippy::too_many_arguments)]
    fn write_batch_from<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        store: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        shape: Vec<u64>,
        item_size: usize,
        write_empty_chunks: bool,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(writes) = boxes_of_batch(batch, store)? else {
            return Ok(None);
        };
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
        .map(Some)
    }
}
