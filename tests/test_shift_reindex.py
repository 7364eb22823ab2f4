"""Moving an array's chunks within its chunk grid (Icechunk 2.3's ``Session.shift_array`` and
``Session.reindex_array``, with ``_async`` twins of ours): only chunk references move, none is
copied. The expected arrays are what Icechunk 2.3 gives for the same calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import icechunk as ic

Mapping = Callable[[Iterable[int]], Iterable[int] | None]
ARANGE = np.arange(8)
SPARSE = np.array([0, 1, -1, -1, 4, 5, -1, -1])  # chunks 0 and 2 only (fill value -1)


def make_repo(
    data: np.ndarray = ARANGE,
    chunks: tuple[int, ...] = (2,),
    shards: tuple[int, ...] | None = None,
    storage: ic.Storage | None = None,
) -> ic.Repository:
    """Array /a (int32, fill value -1) holding ``data``, written where it is not -1; group /grp."""
    repo = ic.Repository.create(storage or ic.in_memory_storage())
    with repo.transaction("main", message="array") as store:
        root = zarr.group(store)
        array = root.create_array(
            "a", shape=data.shape, chunks=chunks, shards=shards, dtype="i4", fill_value=-1
        )
        array[...] = data
        root.create_group("grp")
    return repo


def read(session: ic.Session) -> list[Any]:
    return zarr.open_array(session.store, path="a", mode="r")[...].tolist()


def coordinates(session: ic.Session) -> list[tuple[int, ...]]:
    async def collect() -> list[tuple[int, ...]]:
        return [c async for c in session.chunk_coordinates("/a")]

    return asyncio.run(collect())


def updated_chunks(session: ic.Session) -> set[tuple[int, ...]]:
    return {tuple(c) for c in session.status().updated_chunks.get("/a", set())}


# ---- shift_array ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset", "expected"),
    [
        (ARANGE, [1], [-1, -1, 0, 1, 2, 3, 4, 5]),
        (ARANGE, [-1], [2, 3, 4, 5, 6, 7, -1, -1]),
        (ARANGE, (3,), [-1, -1, -1, -1, -1, -1, 0, 1]),
        (ARANGE, [0], [0, 1, 2, 3, 4, 5, 6, 7]),
        (ARANGE, [10], [-1] * 8),
        (SPARSE, [1], [-1, -1, 0, 1, -1, -1, 4, 5]),
        (np.arange(7), [1], [-1, -1, 0, 1, 2, 3, 4]),  # a partial last chunk
    ],
)
def test_shift(data: np.ndarray, offset: list[int], expected: list[int]) -> None:
    repo = make_repo(data)
    session = repo.writable_session("main")
    session.shift_array("/a", offset)
    assert read(session) == expected
    session.commit("shifted")
    assert read(repo.readonly_session("main")) == expected


def test_shift_2d_and_its_status() -> None:
    repo = make_repo(np.arange(24).reshape(4, 6), chunks=(2, 2))
    session = repo.writable_session("main")
    session.shift_array("/a", [1, -1])
    expected = np.full((4, 6), -1)
    expected[2:, :4] = np.arange(24).reshape(4, 6)[:2, 2:]
    assert read(session) == expected.tolist()
    # As in 2.3: every position written or cleared counts as changed.
    assert updated_chunks(session) == {(i, j) for i in range(2) for j in range(3)}


def test_shift_by_zero_rewrites_every_reference() -> None:
    session = make_repo().writable_session("main")
    session.shift_array("/a", [0])
    assert read(session) == ARANGE.tolist()
    assert session.has_uncommitted_changes  # as 2.3
    assert updated_chunks(session) == {(0,), (1,), (2,), (3,)}


def test_sparse_shift_lists_the_moved_chunks() -> None:
    session = make_repo(SPARSE).writable_session("main")
    assert coordinates(session) == [(0,), (2,)]
    session.shift_array("/a", [1])
    assert coordinates(session) == [(1,), (3,)]


def test_moves_copy_no_chunk(tmp_path: Path) -> None:
    location = str(tmp_path / "repo")
    # 1 KiB of noise a chunk: chunk objects, even compressed.
    chunk = list(np.random.default_rng(0).integers(0, 2**31, size=(4, 256)))
    repo = make_repo(
        np.concatenate(chunk), chunks=(256,), storage=ic.local_filesystem_storage(location)
    )
    chunk_objects = sorted((tmp_path / "repo" / "chunks").rglob("*"))
    assert len(chunk_objects) == 4
    session = repo.writable_session("main")
    session.shift_array("/a", [-1])
    session.reindex_array("/a", lambda c: [2 - c[0]] if c[0] < 3 else None)
    session.commit("moved")
    assert sorted((tmp_path / "repo" / "chunks").rglob("*")) == chunk_objects
    expected = np.concatenate([chunk[3], chunk[2], chunk[1], [-1] * 256])
    reader = ic.Repository.open(ic.local_filesystem_storage(location))
    assert read(reader.readonly_session("main")) == expected.tolist()


def test_sharded_arrays_move_shards() -> None:
    # The chunk grid of zarr's keys: shards of 2 chunks of 1 element.
    repo = make_repo(chunks=(1,), shards=(2,))
    session = repo.writable_session("main")
    assert coordinates(session) == [(0,), (1,), (2,), (3,)]
    session.shift_array("/a", [1])
    assert read(session) == [-1, -1, 0, 1, 2, 3, 4, 5]
    session = repo.writable_session("main")
    session.reindex_array("/a", lambda c: [3] if c[0] == 0 else None)
    assert read(session) == [0, 1, 2, 3, 4, 5, 0, 1]
    with pytest.raises(ic.InvalidInputError):
        session.reindex_array("/a", lambda c: [4])


def test_chunks_written_in_the_session_move() -> None:
    repo = ic.Repository.create(ic.in_memory_storage())
    session = repo.writable_session("main")
    array = zarr.create_array(session.store, name="a", shape=(6,), chunks=(2,), dtype="i4")
    array[:] = [1, 2, 3, 4, 5, 6]
    session.shift_array("/a", [1])
    assert read(session) == [0, 0, 1, 2, 3, 4]


# ---- reindex_array -------------------------------------------------------------------------


def up(c: list[int]) -> list[int] | None:
    return [c[0] + 1] if c[0] < 3 else None


def down(c: list[int]) -> list[int] | None:
    return [c[0] - 1] if c[0] >= 1 else None


@pytest.mark.parametrize(
    ("data", "forward", "backward", "expected"),
    [
        # A move leaves its source; `None` leaves a chunk in place.
        (ARANGE, up, None, [0, 1, 0, 1, 2, 3, 4, 5]),
        (ARANGE, up, down, [-1, -1, 0, 1, 2, 3, 4, 5]),
        (ARANGE, lambda c: (c[0] + 1,) if c[0] < 3 else None, None, [0, 1, 0, 1, 2, 3, 4, 5]),
        (ARANGE, down, None, [2, 3, 4, 5, 6, 7, 6, 7]),
        # Every chunk moves as it was: permutations work.
        (ARANGE, lambda c: [3 - c[0]], None, [6, 7, 4, 5, 2, 3, 0, 1]),
        # Onto one position: the last in coordinate order wins.
        (ARANGE, lambda c: [0], None, [6, 7, 2, 3, 4, 5, 6, 7]),
        (ARANGE, lambda c: [3] if c[0] == 0 else None, None, [0, 1, 2, 3, 4, 5, 0, 1]),
        # backward clears what it maps to nothing, unless a chunk moves in.
        (ARANGE, up, lambda c: None, [-1, -1, 0, 1, 2, 3, 4, 5]),
        (ARANGE, lambda c: None, lambda c: None, [-1] * 8),
        (ARANGE, lambda c: None, lambda c: c, ARANGE.tolist()),
        # ... or to a position that had no chunk.
        (SPARSE, lambda c: [c[0] + 1], down, [-1, -1, 0, 1, -1, -1, 4, 5]),
        (SPARSE, lambda c: None, lambda c: [1], [-1] * 8),
        (SPARSE, lambda c: None, lambda c: [2], SPARSE.tolist()),
    ],
)
def test_reindex(
    data: np.ndarray, forward: Mapping, backward: Mapping | None, expected: list[int]
) -> None:
    repo = make_repo(data)
    session = repo.writable_session("main")
    session.reindex_array("/a", forward, backward)
    assert read(session) == expected
    if session.has_uncommitted_changes:
        snapshot = session.commit("reindexed")
        assert read(repo.readonly_session(snapshot_id=snapshot)) == expected


def test_reindex_2d() -> None:
    data = np.arange(24).reshape(4, 6)
    session = make_repo(data, chunks=(2, 2)).writable_session("main")
    seen: list[list[int]] = []

    def forward(c: list[int]) -> list[int]:
        seen.append(c)
        return [c[1] % 2, c[0]]

    session.reindex_array("/a", forward)
    assert seen == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    expected = [[4, 5, 16, 17, 4, 5], [10, 11, 22, 23, 10, 11]]
    expected += [[2, 3, 14, 15, 16, 17], [8, 9, 20, 21, 22, 23]]
    assert read(session) == expected


def test_only_existing_chunks_are_visited() -> None:
    session = make_repo(SPARSE).writable_session("main")
    forwards: list[list[int]] = []
    backwards: list[list[int]] = []
    session.reindex_array(
        "/a",
        lambda c: forwards.append(c) or [c[0] + 1],
        lambda c: backwards.append(c) or down(c),
    )
    assert forwards == backwards == [[0], [2]]


def test_changes_are_what_moved() -> None:
    repo = make_repo()
    session = repo.writable_session("main")
    session.reindex_array("/a", lambda c: None, lambda c: c)
    assert not session.has_uncommitted_changes
    session.reindex_array("/a", lambda c: [3] if c[0] == 0 else None)
    assert updated_chunks(session) == {(3,)}


# ---- refusals: typed errors, the session unchanged --------------------------------------------


@pytest.mark.parametrize(
    ("forward", "backward"),
    [
        (lambda c: [c[0] + 1], None),  # off the grid
        (lambda c: [c[0] - 1], None),  # negative
        (lambda c: [c[0], 0], None),  # too many coordinates
        (lambda c: [], None),
        (lambda c: "x", None),  # not coordinates
        (lambda c: 1, None),
        (lambda c: [0.5], None),
        (lambda c: None, lambda c: [c[0] + 5]),
        (lambda c: None, lambda c: [c[0] - 1]),
    ],
)
def test_bad_coordinates_are_refused(forward: Mapping, backward: Mapping | None) -> None:
    session = make_repo().writable_session("main")
    with pytest.raises(ic.InvalidInputError) as refused:
        session.reindex_array("/a", forward, backward)
    assert isinstance(refused.value, ValueError)
    assert refused.value.kind == ic.ErrorKind.INVALID_CHUNK_INDEX
    assert not session.has_uncommitted_changes
    assert read(session) == ARANGE.tolist()


def test_an_exception_of_a_mapping_is_raised_as_an_icechunk_error() -> None:
    session = make_repo().writable_session("main")

    def failing(c: list[int]) -> list[int]:
        return [3 - c[0]] if c[0] < 2 else [1 // 0]

    with pytest.raises(ic.IcechunkError, match="ZeroDivisionError") as raised:
        session.reindex_array("/a", failing)
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    assert raised.value.kind == "unknown"  # as 2.3
    assert not session.has_uncommitted_changes

    class Stop(BaseException):
        pass

    def interrupted(c: list[int]) -> list[int]:
        raise Stop

    with pytest.raises(Stop):  # interrupts pass unchanged
        session.reindex_array("/a", lambda c: None, interrupted)
    with pytest.raises(TypeError):
        session.reindex_array("/a", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        session.reindex_array("/a", up, 5)  # type: ignore[arg-type]
    assert not session.has_uncommitted_changes


@pytest.mark.parametrize(
    ("path", "error", "kind"),
    [
        ("/nope", ic.NodeNotFoundError, "node-not-found"),
        ("/grp", ic.InvalidInputError, "not-an-array"),
        ("/", ic.InvalidInputError, "not-an-array"),
        ("a", ic.InvalidInputError, "invalid-path"),
    ],
)
def test_paths_of_no_array_are_refused(path: str, error: type[ic.IcechunkError], kind: str) -> None:
    session = make_repo().writable_session("main")
    with pytest.raises(error) as shifting:
        session.shift_array(path, [1])
    with pytest.raises(error) as reindexing:
        session.reindex_array(path, up)
    assert shifting.value.kind == reindexing.value.kind == kind
    assert not session.has_uncommitted_changes


@pytest.mark.parametrize("offset", [[1, 1], []])
def test_an_offset_per_dimension(offset: list[int]) -> None:
    # Deliberately stricter than 2.3, which ignores extra values and panics on too few.
    session = make_repo().writable_session("main")
    with pytest.raises(ic.InvalidInputError, match="dimensions"):
        session.shift_array("/a", offset)
    assert not session.has_uncommitted_changes


def test_only_writable_sessions_move_chunks() -> None:
    repo = make_repo()

    def not_called(c: list[int]) -> None:
        raise AssertionError("a refused reindex calls no mapping")

    with pytest.raises(ic.ReadOnlyError):
        repo.readonly_session("main").shift_array("/a", [1])
    with pytest.raises(ic.ReadOnlyError):
        repo.readonly_session("main").reindex_array("/a", not_called)
    rearrange = repo.rearrange_session("main")
    with pytest.raises(ic.SessionStateError):
        rearrange.shift_array("/a", [1])
    with pytest.raises(ic.SessionStateError):
        rearrange.reindex_array("/a", not_called, not_called)
    committed = repo.writable_session("main")
    committed.shift_array("/a", [1])
    committed.commit("shifted")
    with pytest.raises(ic.ReadOnlyError):
        committed.shift_array("/a", [1])
    with pytest.raises(TypeError):
        repo.writable_session("main").shift_array("/a", [1.5])  # type: ignore[list-item]


# ---- async twins ---------------------------------------------------------------------------


def test_async_twins() -> None:
    repo = make_repo()

    async def move() -> str:
        session = repo.writable_session("main")
        await session.shift_array_async("/a", [-1])
        await session.reindex_array_async("/a", lambda c: [2 - c[0]] if c[0] < 3 else None, down)
        with pytest.raises(ic.InvalidInputError):
            await session.reindex_array_async("/a", lambda c: [9])
        with pytest.raises(ic.InvalidInputError):
            await session.shift_array_async("/a", [1, 2])
        return await session.commit_async("moved")

    snapshot = asyncio.run(move())
    assert read(repo.readonly_session(snapshot_id=snapshot)) == [6, 7, 4, 5, 2, 3, -1, -1]
