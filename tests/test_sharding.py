"""Sharded arrays (zarr's sharding codec) through the store: zarr reads a shard's index as a
suffix range and each inner chunk as a bounded range; the store serves those ranges from the
chunk object's verified blocks (icechunk-rs/tests/range_reads.rs counts the bytes fetched)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def test_sharded_arrays_round_trip_and_partial_reads(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    data = np.random.default_rng(1).random((200, 300))  # incompressible: 80 KB shards
    with repo.transaction("main", message="sharded") as store:
        array = zarr.create_array(
            store, name="s", shape=data.shape, chunks=(10, 20), shards=(100, 100), dtype="f8"
        )
        array[:] = data
    array = zarr.open_array(repo.readonly_session(branch="main").store, path="s", mode="r")
    np.testing.assert_array_equal(array[:], data)
    np.testing.assert_array_equal(array[13:57, 211:299], data[13:57, 211:299])
    assert array[199, 299] == data[199, 299]
    # A shard object is far larger than one checksum block: range reads use its block table.
    assert max(p.stat().st_size for p in (tmp_path / "chunks").iterdir()) > 64 * 1024


def test_a_flipped_byte_in_a_shard_is_refused_where_it_is_read(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    data = np.random.default_rng(2).random((100, 100))  # 100 inner chunks of 800 bytes
    with repo.transaction("main", message="sharded") as store:
        zarr.create_array(
            store, name="s", shape=data.shape, chunks=(10, 10), shards=(100, 100), dtype="f8"
        )[:] = data
    (shard,) = (tmp_path / "chunks").iterdir()
    raw = bytearray(shard.read_bytes())
    raw[100] ^= 0x01  # inside the first inner chunk, (0, 0), and the first 16 KiB block
    shard.write_bytes(bytes(raw))
    array = zarr.open_array(repo.readonly_session(branch="main").store, path="s", mode="r")
    # Inner chunk (5, 5) is at bytes 44000.. of the shard: another block, served.
    np.testing.assert_array_equal(array[50:60, 50:60], data[50:60, 50:60])
    # zarr 3.4 reads a shard's inner chunks in a task group: the error comes inside a group.
    with pytest.raises((ic.FormatError, ExceptionGroup)) as info:
        array[0:10, 0:10]
    assert isinstance(info.value, ic.FormatError) or info.group_contains(ic.FormatError)
