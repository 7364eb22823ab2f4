"""``IcechunkStore.get_ranges`` / ``get_ranges_sync``: many byte ranges of one key, with
nearby ranges coalesced into one read (zarr's newer ``Store`` API, as Icechunk 2.3 has it).

Plain ranges (``RangeByteRequest``) sorted by start are merged while the gap to the next is
at most ``max_gap_bytes`` and the merged read stays within ``max_coalesced_bytes``; every
other request (whole value, offset, suffix) is a read of its own. Each read's ranges are
cut out of its bytes and reported together, as ``(input index, Buffer)`` pairs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from zarr.abc.store import ByteRequest, RangeByteRequest
from zarr.core.buffer import Buffer, BufferPrototype

Batch = Sequence[tuple[int, Buffer | None]]


@dataclass
class _Read:
    """One read: ``request`` and, for a merged read, the ranges (index, start, end) in it."""

    request: ByteRequest | None
    index: int = -1
    parts: list[tuple[int, int, int]] = field(default_factory=list)


def _plan(
    byte_ranges: Sequence[ByteRequest | None], max_gap_bytes: int, max_coalesced_bytes: int
) -> list[_Read]:
    reads: list[_Read] = []
    plain: list[tuple[int, int, int]] = []
    for i, request in enumerate(byte_ranges):
        if isinstance(request, RangeByteRequest):
            plain.append((i, request.start, request.end))
        else:
            reads.append(_Read(request, index=i))
    plain.sort(key=lambda part: (part[1], part[2]))
    group: list[tuple[int, int, int]] = []
    end = 0  # the end of the group's merged read
    for part in plain:
        if group:
            start = group[0][1]
            if part[1] - end <= max_gap_bytes and max(end, part[2]) - start <= max_coalesced_bytes:
                group.append(part)
                end = max(end, part[2])
                continue
            reads.append(_Read(RangeByteRequest(start, end), parts=group))
        group, end = [part], part[2]
    if group:
        reads.append(_Read(RangeByteRequest(group[0][1], end), parts=group))
    return reads


def _cut(read: _Read, key: str, got: Buffer | None, prototype: BufferPrototype) -> Batch:
    if got is None:
        raise FileNotFoundError(key)
    if not read.parts:
        return [(read.index, got)]
    data = got.to_bytes()
    base = read.parts[0][1]
    return [
        (i, prototype.buffer.from_bytes(data[start - base : end - base]))
        for i, start, end in read.parts
    ]


async def get_ranges(
    get: Callable[[str, BufferPrototype, ByteRequest | None], Awaitable[Buffer | None]],
    key: str,
    byte_ranges: Sequence[ByteRequest | None],
    prototype: BufferPrototype,
    max_concurrency: int,
    max_gap_bytes: int,
    max_coalesced_bytes: int,
) -> AsyncIterator[Batch]:
    """One batch per read, in the order the reads complete; failures as an exception group
    (the other reads cancelled)."""
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    limit = asyncio.Semaphore(max_concurrency)

    async def one(read: _Read) -> Batch:
        async with limit:
            return _cut(read, key, await get(key, prototype, read.request), prototype)

    tasks = [
        asyncio.ensure_future(one(r))
        for r in _plan(byte_ranges, max_gap_bytes, max_coalesced_bytes)
    ]
    try:
        for next_done in asyncio.as_completed(tasks):
            try:
                batch = await next_done
            except Exception as e:
                raise BaseExceptionGroup(f"reading ranges of {key!r} failed", [e]) from None
            yield batch
    finally:
        for task in tasks:
            task.cancel()


def get_ranges_sync(
    get_sync: Callable[[str, BufferPrototype, ByteRequest | None], Buffer | None],
    key: str,
    byte_ranges: Sequence[ByteRequest | None],
    prototype: BufferPrototype,
    max_gap_bytes: int,
    max_coalesced_bytes: int,
) -> Batch:
    """Every range, read by the same plan one read after another."""
    out: list[tuple[int, Buffer | None]] = []
    for read in _plan(byte_ranges, max_gap_bytes, max_coalesced_bytes):
        try:
            out.extend(_cut(read, key, get_sync(key, prototype, read.request), prototype))
        except Exception as e:
            raise BaseExceptionGroup(f"reading ranges of {key!r} failed", [e]) from None
    return out
