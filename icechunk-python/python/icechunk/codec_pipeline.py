"""``icechunk.CodecPipeline``: zarr's codec pipeline with chunks decoded in Rust.

Opt in through zarr's own switch::

    zarr.config.set({"codec_pipeline.path": "icechunk.CodecPipeline"})
    # or ZARR_CODEC_PIPELINE__PATH=icechunk.CodecPipeline in the environment

For arrays in an :class:`~icechunk.IcechunkStore`, the engine handles a whole batch of chunks
with the interpreter released, as many requests in flight as the repository's
``max_concurrent_requests`` (not zarr's ``async.concurrency``), decoding and encoding with the
zarrs crate's codecs: a read fetches each chunk (of a shard, only the index and the inner
chunks wanted) and copies the part wanted into the output array; a write encodes and stores
each chunk (reading it first when only part of it changes) and, unless the array's config
says ``write_empty_chunks``, deletes a chunk left all fill value, as zarr does.

Everything else is zarr's default pipeline, which this class extends: other stores,
selections other than boxes (integer, strided, fancy indexing), data types other than
native-order numbers, arrays that are not C-contiguous numpy arrays, codecs zarrs does not
know, read-only stores, and any error on the fast path (the default pipeline then handles the
batch again and reports the error as it always does).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from zarr.abc.store import ByteGetter, ByteSetter
from zarr.core.array_spec import ArraySpec
from zarr.core.buffer import NDBuffer
from zarr.core.codec_pipeline import BatchedCodecPipeline
from zarr.core.indexing import SelectorTuple
from zarr.registry import register_pipeline
from zarr.storage import StorePath

from ._icechunk import PyStore
from .store import IcechunkStore

__all__ = ["CodecPipeline"]

ReadItem = tuple[ByteGetter, ArraySpec, SelectorTuple, SelectorTuple, bool]
WriteItem = tuple[ByteSetter, ArraySpec, SelectorTuple, SelectorTuple, bool]
# numpy kinds the fast path copies as raw elements: bools, integers, floats, complex numbers,
# datetimes and timedeltas (zarrs decides whether it knows the array's data type).
NUMERIC_KINDS = frozenset("biufcmM")


class CodecPipeline(BatchedCodecPipeline):
    """zarr's default pipeline, with reads from an IcechunkStore decoded in Rust."""

    async def read(
        self,
        batch_info: Iterable[ReadItem],
        out: NDBuffer,
        drop_axes: tuple[int, ...] = (),
    ) -> Any:
        batch = list(batch_info)
        plan = _native_read(batch, out, drop_axes)
        pending = None if plan is None else plan[0].read_batch_into(*plan[1])
        if pending is not None:
            present = await pending
            if present is not None:
                # zarr >= 3.2 wants each chunk's status (its `array.read_missing_chunks`);
                # earlier versions ignore what `read` returns.
                return tuple({"status": "present" if p else "missing"} for p in present)
        return await super().read(batch, out, drop_axes)

    async def write(
        self,
        batch_info: Iterable[WriteItem],
        value: NDBuffer,
        drop_axes: tuple[int, ...] = (),
    ) -> None:
        batch = list(batch_info)
        plan = _native_write(batch, value, drop_axes)
        pending = None if plan is None else plan[0].write_batch_from(*plan[1])
        if pending is not None and await pending:
            return
        await super().write(batch, value, drop_axes)


# zarr finds pipelines by the qualified name of their class: `icechunk.CodecPipeline`.
CodecPipeline.__module__ = "icechunk"
register_pipeline(CodecPipeline)


def _native_read(
    batch: list[ReadItem], out: NDBuffer, drop_axes: tuple[int, ...]
) -> tuple[PyStore, tuple[Any, ...]] | None:
    """The engine's store and the arguments of its read of ``batch``, or None when it does
    not apply (see the module docs). The engine checks each chunk's store and selections."""
    array = out.as_ndarray_like()
    if not batch or drop_axes or not _plain_array(array, writable=True):
        return None
    engine_and_store = _engine_of(batch)
    if engine_and_store is None:
        return None
    engine, store = engine_and_store
    flat = array.reshape((-1,)).view(np.uint8)
    return engine, (batch, store, flat, list(array.shape), array.dtype.itemsize)


def _native_write(
    batch: list[WriteItem], value: NDBuffer, drop_axes: tuple[int, ...]
) -> tuple[PyStore, tuple[Any, ...]] | None:
    """The engine's store and the arguments of its write of ``batch``, or None when it does
    not apply (see the module docs)."""
    array = value.as_ndarray_like()
    if not batch or drop_axes or not _plain_array(array, writable=False):
        return None
    specs = {
        (spec.dtype.to_native_dtype(), spec.config.write_empty_chunks) for _, spec, *_ in batch
    }
    if len(specs) != 1:
        return None
    ((dtype, write_empty_chunks),) = specs
    if dtype != array.dtype:
        return None
    engine_and_store = _engine_of(batch)
    if engine_and_store is None or engine_and_store[1].read_only:
        return None
    engine, store = engine_and_store
    flat = array.reshape((-1,)).view(np.uint8)
    args = (batch, store, flat, list(array.shape), array.dtype.itemsize)
    return engine, (*args, bool(write_empty_chunks))


def _engine_of(batch: list[ReadItem] | list[WriteItem]) -> tuple[PyStore, IcechunkStore] | None:
    """The engine's store and the IcechunkStore of ``batch``'s first chunk, or None. The engine
    checks that every chunk is in that store and every selection a box."""
    byte_getter = batch[0][0]
    if not isinstance(byte_getter, StorePath) or not isinstance(byte_getter.store, IcechunkStore):
        return None
    store = byte_getter.store
    # A stand-in that passes for an IcechunkStore (zarr's tests wrap stores in mocks) is
    # not one: only a store with the engine's own store behind it takes this path.
    engine = getattr(store, "_store", None)
    if not isinstance(engine, PyStore):
        return None
    return engine, store


def _plain_array(array: Any, *, writable: bool) -> bool:
    """A numpy array of native-order numbers the engine may read (write) as raw bytes."""
    if type(array) is not np.ndarray:
        return False
    dtype = array.dtype
    return bool(
        array.flags.c_contiguous
        and (array.flags.writeable or not writable)
        and dtype.kind in NUMERIC_KINDS
        and dtype.isnative
        and dtype.fields is None
        and dtype.subdtype is None
    )
