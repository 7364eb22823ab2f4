"""``IcechunkStore``: a zarr v3 store over a session, natively async."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from icechunk import _store_ranges
from icechunk._store_virtual import VirtualRefs
from icechunk.errors import InvalidInputError, NodeNotFoundError, NotFoundError, ReadOnlyError

if TYPE_CHECKING:
    import numpy as np

    from icechunk._icechunk import PySession
    from icechunk.session import Session

__all__ = ["IcechunkStore"]

_READ_ONLY = "store was opened in read-only mode and does not support writing"


ChunkBatch = tuple[
    "np.ndarray[Any, np.dtype[np.uint32]]",
    "np.ndarray[Any, np.dtype[np.uint8]]",
    list[str],
    "np.ndarray[Any, np.dtype[np.uint64]]",
    "np.ndarray[Any, np.dtype[np.uint64]]",
    dict[int, bytes],
]


def _chunk_batch(
    rows: list[tuple[list[int], int, str, int, int, bytes | None]],
) -> ChunkBatch:
    """Rows of chunk references as columns (``array_chunk_iterator``)."""
    import numpy as np

    ndim = len(rows[0][0])
    return (
        np.array([r[0] for r in rows], dtype=np.uint32).reshape(len(rows), ndim),
        np.array([r[1] for r in rows], dtype=np.uint8),
        [r[2] for r in rows],
        np.array([r[3] for r in rows], dtype=np.uint64),
        np.array([r[4] for r in rows], dtype=np.uint64),
        {i: r[5] for i, r in enumerate(rows) if r[5] is not None},
    )


def _range_args(byte_range: ByteRequest | None) -> tuple[int | None, int | None, int | None]:
    """(start, end, suffix) for the core's ``get``."""
    if byte_range is None:
        return None, None, None
    if isinstance(byte_range, RangeByteRequest):
        return byte_range.start, byte_range.end, None
    if isinstance(byte_range, OffsetByteRequest):
        return byte_range.offset, None, None
    if isinstance(byte_range, SuffixByteRequest):
        return None, None, byte_range.suffix
    raise TypeError(f"Unexpected byte_range, got {byte_range}.")


class IcechunkStore(VirtualRefs, Store):
    """The zarr store of a ``Session``: reads see the session's snapshot plus its own
    uncommitted writes; writes go to the session until ``Session.commit``.

    Get it from ``session.store``. ``read_only=True`` gives a read-only view of a writable
    session; a read-only session cannot give a writable store.
    """

    def __init__(self, session: Session, read_only: bool | None = None) -> None:
        if read_only is None:
            read_only = session.read_only
        elif not read_only and session.read_only:
            raise ReadOnlyError(
                "a read-only session cannot give a writable store: use "
                "repo.writable_session(branch)"
            )
        super().__init__(read_only=read_only)
        self._session = session
        self._store = session._session.store()

    @property
    def session(self) -> Session:
        return self._session

    @property
    def _core_session(self) -> PySession:
        return self._session._session

    @functools.cached_property
    def _partial_values_concurrency(self) -> int:
        """Reads one ``get_partial_values`` call keeps in flight (the repository config's
        ``get_partial_values_concurrency``; fixed for a session, so read once)."""
        return int(self._session._session.config.get_partial_values_concurrency)

    @functools.cached_property
    def _may_hold_virtual_chunks(self) -> bool:
        """Whether the repository has virtual chunk containers (none: no virtual chunk can
        be read, so batches skip the coalescing pass)."""
        return bool(json.loads(self._session._session.config.virtual_chunk_containers or "[]"))

    # ---- identity, pickling ----------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IcechunkStore)
            and self._session == other._session
            and self.read_only == other.read_only
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return (
            f"<IcechunkStore {mode} snapshot={self._session.snapshot_id} "
            f"branch={self._session.branch!r}>"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Pickling the session raises for writable sessions that are not forks.
        return {"session": self._session, "read_only": self._read_only, "open": self._is_open}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._session = state["session"]
        self._read_only = state["read_only"]
        self._is_open = state["open"]
        self._store = self._session._session.store()

    def with_read_only(self, read_only: bool = False) -> IcechunkStore:
        return IcechunkStore(self._session, read_only=read_only)

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(_READ_ONLY)

    # ---- capabilities ----------------------------------------------------------------
    @property
    def supports_writes(self) -> bool:
        return True

    @property
    def supports_deletes(self) -> bool:
        return True

    @property
    def supports_listing(self) -> bool:
        return True

    @property
    def supports_consolidated_metadata(self) -> bool:
        # Every read already sees one consistent snapshot; nothing to consolidate.
        return False

    # ---- reads -----------------------------------------------------------------------
    async def get(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        data = await self._store.get(key, *_range_args(byte_range))
        return None if data is None else prototype.buffer.from_bytes(data)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        key_ranges = list(key_ranges)
        virtual: list[bytes | None] = [None] * len(key_ranges)
        if len(key_ranges) > 1 and self._may_hold_virtual_chunks:
            # Virtual chunks are read as one batch: neighbouring ranges of one source file
            # come with one request. Everything else is read key by key below.
            requests = [(key, *_range_args(rng)) for key, rng in key_ranges]
            virtual = await self._store.get_virtual_chunks(requests)
        limit = asyncio.Semaphore(self._partial_values_concurrency)

        async def get_one(key: str, rng: ByteRequest | None) -> Buffer | None:
            async with limit:
                return await self.get(key, prototype, rng)

        async def value(index: int, key: str, rng: ByteRequest | None) -> Buffer | None:
            data = virtual[index]
            if data is not None:
                return prototype.buffer.from_bytes(data)
            return await get_one(key, rng)

        return list(
            await asyncio.gather(*(value(i, key, rng) for i, (key, rng) in enumerate(key_ranges)))
        )

    async def get_ranges(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_concurrency: int = 10,
        max_gap_bytes: int = 1024 * 1024,
        max_coalesced_bytes: int = 16 * 1024 * 1024,
    ) -> AsyncIterator[Sequence[tuple[int, Buffer | None]]]:
        """Many byte ranges of ``key``, nearby ones read together: one batch of
        ``(input index, Buffer)`` per read, in completion order. Failures (a missing key is
        ``FileNotFoundError``) come as an exception group."""
        async for batch in _store_ranges.get_ranges(
            self.get,
            key,
            byte_ranges,
            prototype,
            max_concurrency,
            max_gap_bytes,
            max_coalesced_bytes,
        ):
            yield batch

    def get_ranges_sync(
        self,
        key: str,
        byte_ranges: Sequence[ByteRequest | None],
        *,
        prototype: BufferPrototype,
        max_gap_bytes: int = 1024 * 1024,
        max_coalesced_bytes: int = 16 * 1024 * 1024,
    ) -> Sequence[tuple[int, Buffer | None]]:
        """``get_ranges`` without an event loop: the same reads, one after another."""
        return _store_ranges.get_ranges_sync(
            lambda k, proto, rng: self.get_sync(k, prototype=proto, byte_range=rng),
            key,
            byte_ranges,
            prototype,
            max_gap_bytes,
            max_coalesced_bytes,
        )

    async def array_chunk_iterator(
        self, array_path: str, batch_size: int = 100_000
    ) -> AsyncIterator[ChunkBatch]:
        """Every chunk reference of the array at ``array_path``, as columnar batches of at
        most ``batch_size`` rows, in coordinate order: ``(coords (n, ndim) uint32, kinds
        uint8 (ChunkType values), paths (chunk object id; "" inline), offsets uint64, lengths
        uint64, {row: bytes} of the inline rows)``. Missing chunks are not listed."""
        if batch_size < 1:
            raise InvalidInputError("batch_size must be at least 1")
        # Icechunk takes "a" as well as "/g/a".
        path = array_path if array_path.startswith("/") else "/" + array_path
        rows = await self._session._session.chunk_refs_async(path)
        for start in range(0, len(rows), batch_size):
            yield _chunk_batch(rows[start : start + batch_size])

    async def exists(self, key: str) -> bool:
        return await self._store.exists(key)

    async def getsize(self, key: str) -> int:
        try:
            return await self._store.getsize(key)
        except NotFoundError as e:
            raise FileNotFoundError(key) from e

    async def getsize_prefix(self, prefix: str) -> int:
        return await self._store.getsize_prefix(prefix)

    async def list(self) -> AsyncIterator[str]:
        for key in await self._store.list():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in await self._store.list_prefix(prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        for name in await self._store.list_dir(prefix):
            yield name

    async def is_empty(self, prefix: str) -> bool:
        if prefix != "" and not prefix.endswith("/"):
            prefix += "/"
        return not await self._store.list_prefix(prefix)

    # ---- writes ----------------------------------------------------------------------
    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        if not isinstance(value, Buffer):
            raise TypeError(f"IcechunkStore.set(): expected a zarr Buffer, got {type(value)}")
        await self._store.set(key, value.to_bytes())

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        self._check_writable()
        await self._store.set_if_not_exists(key, value.to_bytes())

    async def delete(self, key: str) -> None:
        self._check_writable()
        await self._store.delete(key)

    async def delete_dir(self, prefix: str) -> None:
        self._check_writable()
        await self._store.delete_dir(prefix)

    async def clear(self) -> None:
        """Delete every group and array of this session (history is untouched)."""
        self._check_writable()
        await self._store.delete_dir("")

    def sync_clear(self) -> None:
        """``clear``, blocking (the GIL released)."""
        self._check_writable()
        self._store.delete_dir_sync("")

    async def set_partial_values(
        self, key_start_values: Iterable[tuple[str, int, bytes | bytearray | memoryview]]
    ) -> None:
        """Write ``value`` into the value at ``key`` from byte ``start`` on, for each triple:
        the value is read, patched (grown with zeros if it is too short) and written back;
        nothing is written if any key is missing."""
        self._check_writable()
        patches: dict[str, list[tuple[int, bytes]]] = {}
        for key, start, value in key_start_values:
            if start < 0:
                raise InvalidInputError(f"set_partial_values: negative start {start} for {key!r}")
            patches.setdefault(key, []).append((start, bytes(value)))
        current: dict[str, bytearray] = {}
        for key in patches:
            stored = await self._store.get(key)
            if stored is None:
                raise NodeNotFoundError(f"set_partial_values: key {key!r} not found")
            current[key] = bytearray(stored)
        for key, edits in patches.items():
            patched = current[key]
            for start, value in edits:
                if len(patched) < start + len(value):
                    patched.extend(bytes(start + len(value) - len(patched)))
                patched[start : start + len(value)] = value
            await self._store.set(key, bytes(patched))

    # ---- synchronous access (zarr's SupportsSyncStore) --------------------------------
    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        data = self._store.get_sync(key, *_range_args(byte_range))
        if data is None:
            return None
        return (prototype or default_buffer_prototype()).buffer.from_bytes(data)

    def set_sync(self, key: str, value: Buffer) -> None:
        self._check_writable()
        self._store.set_sync(key, value.to_bytes())

    def delete_sync(self, key: str) -> None:
        self._check_writable()
        self._store.delete_sync(key)
