"""IcechunkStore.get_ranges / get_ranges_sync: many byte ranges of one key, nearby ones read
together, values equal to slices of the whole object."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import zarr
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype

import icechunk as ic

PROTO = default_buffer_prototype()


@pytest.fixture
def store() -> ic.IcechunkStore:
    repo = ic.Repository.create(ic.in_memory_storage())
    with repo.transaction("main", message="data") as store:
        array = zarr.create_array(
            store, name="a", shape=(4096,), chunks=(4096,), dtype="u1", compressors=None
        )
        array[:] = np.arange(4096) % 251
    return repo.readonly_session("main").store


REQUESTS = [
    RangeByteRequest(0, 10),
    RangeByteRequest(2000, 2100),
    RangeByteRequest(20, 30),  # 10 bytes after the first: read with it
    None,
    OffsetByteRequest(4000),
    SuffixByteRequest(5),
]


def expected(whole: bytes) -> list[bytes]:
    return [whole[0:10], whole[2000:2100], whole[20:30], whole, whole[4000:], whole[-5:]]


async def collect(store: ic.IcechunkStore, **kw: int) -> list[list[tuple[int, bytes]]]:
    batches = []
    async for batch in store.get_ranges("a/c/0", REQUESTS, prototype=PROTO, **kw):
        batches.append([(i, b.to_bytes()) for i, b in batch if b is not None])
    return batches


def test_ranges_coalesce_and_equal_slices(store: ic.IcechunkStore) -> None:
    whole = (np.arange(4096) % 251).astype(np.uint8).tobytes()
    batches = asyncio.run(collect(store, max_gap_bytes=16))
    got = {i: data for batch in batches for i, data in batch}
    assert [got[i] for i in range(len(REQUESTS))] == expected(whole)
    # 0..10 and 20..30 in one read; 2000..2100 too far; the other three on their own.
    assert sorted(sorted(i for i, _ in batch) for batch in batches) == [[0, 2], [1], [3], [4], [5]]
    # With no gap allowed and a small bound, every range is a read of its own.
    assert len(asyncio.run(collect(store, max_gap_bytes=0, max_coalesced_bytes=8))) == 6

    synced = store.get_ranges_sync("a/c/0", REQUESTS, prototype=PROTO, max_gap_bytes=16)
    assert sorted((i, b.to_bytes()) for i, b in synced if b is not None) == sorted(
        enumerate(expected(whole))
    )


def test_a_missing_key_is_an_exception_group(store: ic.IcechunkStore) -> None:
    async def read_missing() -> None:
        async for _ in store.get_ranges("a/c/9", [None], prototype=PROTO):
            pass

    with pytest.raises(BaseExceptionGroup) as group:
        asyncio.run(read_missing())
    assert group.group_contains(FileNotFoundError)
    with pytest.raises(BaseExceptionGroup) as group:
        store.get_ranges_sync("a/c/9", [RangeByteRequest(0, 4)], prototype=PROTO)
    assert group.group_contains(FileNotFoundError)
    with pytest.raises(ValueError):
        asyncio.run(collect(store, max_concurrency=0))


def test_array_chunk_iterator_lists_references_in_columns() -> None:
    repo = ic.Repository.create(ic.in_memory_storage())
    session = repo.writable_session("main")
    big = zarr.create_array(
        session.store, name="g/a", shape=(4, 1000), chunks=(1, 1000), dtype="u1", compressors=None
    )
    big[:3] = 7  # rows 0..2: 1000 B each, above the 512 B inline threshold: chunk objects
    small = zarr.create_array(session.store, name="s", shape=(3,), chunks=(1,), dtype="u1")
    small[:] = [1, 0, 3]  # chunk 1 holds the fill value: not written
    session.commit("data")

    async def batches(path: str, size: int) -> list[tuple]:  # type: ignore[type-arg]
        store = repo.readonly_session("main").store
        return [b async for b in store.array_chunk_iterator(path, batch_size=size)]

    ((coords, kinds, paths, offsets, lengths, inlined),) = asyncio.run(batches("s", 10))
    assert coords.tolist() == [[0], [2]] and coords.dtype == np.uint32
    assert offsets.tolist() == [0, 0]
    assert kinds.tolist() == [int(ic.ChunkType.inline)] * 2 and paths == ["", ""]
    assert set(inlined) == {0, 1} and lengths.tolist() == [len(inlined[0]), len(inlined[1])]

    parts = asyncio.run(batches("/g/a", 2))
    assert [p[0].shape for p in parts] == [(2, 2), (1, 2)]
    rows = np.concatenate([p[0] for p in parts]).tolist()
    assert rows == [[0, 0], [1, 0], [2, 0]]
    session = repo.readonly_session("main")
    objects = {key for key, _ in repo.storage.list_objects()}
    for coords, kinds, paths, _, lengths, inlined in parts:
        for i, c in enumerate(coords.tolist()):
            assert kinds[i] == int(session.chunk_type("/g/a", c)) == int(ic.ChunkType.native)
            assert lengths[i] == 1000
            assert f"chunks/{paths[i]}" in objects
            assert (i in inlined) == (kinds[i] == int(ic.ChunkType.inline))

    with pytest.raises(ic.NodeNotFoundError):
        asyncio.run(batches("nope", 10))
    with pytest.raises(ic.InvalidInputError):
        asyncio.run(batches("g", 10))
    with pytest.raises(ic.InvalidInputError):
        asyncio.run(batches("s", 0))
