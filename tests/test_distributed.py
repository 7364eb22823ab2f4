"""Distributed writes: forks that pickle, merge, to_icechunk and store_dask on Dask."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

import icechunk as ic
from icechunk.dask import session_merge_reduction, store_dask
from icechunk.xarray import to_icechunk


def make_dataset(start: str, days: int) -> xr.Dataset:
    time = pd.date_range(start, periods=days, freq="D")
    rng = np.random.default_rng(days)
    return xr.Dataset(
        {
            "temperature": (("time", "x"), rng.normal(15, 5, (days, 4)).astype("float32")),
            "pressure": (("time", "x"), rng.integers(900, 1100, (days, 4)).astype("int32")),
        },
        coords={"time": time, "x": [10.0, 20.0, 30.0, 40.0]},
        attrs={"title": "distributed"},
    )


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# ---- forks, merge and pickling ---------------------------------------------------------
def create(repo: ic.Repository) -> None:
    with repo.transaction("main", message="setup") as store:
        zarr.create_array(store, name="a", shape=(8,), chunks=(2,), dtype="i4", fill_value=0)


def test_forks_pickle_write_and_merge(local_repo: ic.Repository) -> None:
    create(local_repo)
    session = local_repo.writable_session("main")
    forks = []
    for worker in range(4):
        fork = pickle.loads(pickle.dumps(session.fork()))  # as a worker receives it
        assert fork.is_fork and not fork.read_only
        zarr.open_array(fork.store, path="a", mode="r+")[2 * worker : 2 * worker + 2] = worker + 1
        with pytest.raises(ic.SessionStateError, match="merge"):
            fork.commit("a fork cannot commit")
        forks.append(pickle.loads(pickle.dumps(fork.store)).session)  # its store pickles too
    session.merge(*forks)
    session.commit("merged")
    back = zarr.open_array(local_repo.readonly_session(branch="main").store, path="a")
    assert back[:].tolist() == [1, 1, 2, 2, 3, 3, 4, 4]


def test_forks_see_new_arrays_of_the_session(local_repo: ic.Repository) -> None:
    session = local_repo.writable_session("main")
    zarr.create_array(session.store, name="b", shape=(4,), chunks=(2,), dtype="i1")
    fork = pickle.loads(pickle.dumps(session.fork()))
    zarr.open_array(fork.store, path="b", mode="r+")[2:] = 7
    session.merge(fork)
    session.commit("b")
    back = zarr.open_array(local_repo.readonly_session(branch="main").store, path="b")
    assert back[:].tolist() == [0, 0, 7, 7]


def test_merge_refuses_forks_that_wrote_one_chunk(local_repo: ic.Repository) -> None:
    create(local_repo)
    session = local_repo.writable_session("main")
    one, two = session.fork(), session.fork()
    zarr.open_array(one.store, path="a", mode="r+")[0:2] = 1
    zarr.open_array(two.store, path="a", mode="r+")[0:4] = 2
    with pytest.raises(ic.ConflictError, match=r"two forks wrote chunk \[0\] of /a"):
        session.merge(one, two)
    assert not session.has_uncommitted_changes
    with pytest.raises(TypeError):
        session.merge(one.store)  # type: ignore[arg-type]


def test_what_cannot_be_pickled_says_so(local_repo: ic.Repository, repo: ic.Repository) -> None:
    writable = local_repo.writable_session("main")
    for obj in (writable, writable.store):
        with pytest.raises(ValueError) as info:  # Icechunk's class for this refusal
            pickle.dumps(obj)
        assert "fork()" in str(info.value) and "to_icechunk" in str(info.value)
    # A fork of an in-memory repository cannot leave this process: it fails at once.
    fork = repo.writable_session("main").fork()
    with pytest.raises(ic.InvalidInputError, match="in-memory"):
        pickle.dumps(fork)
    # Read-only sessions still travel.
    reader = local_repo.readonly_session(branch="main")
    assert pickle.loads(pickle.dumps(reader)) == reader


def test_store_dask_threads_with_an_in_memory_repo(repo: ic.Repository) -> None:
    # The threaded scheduler never pickles: forks of in-memory repositories work here.
    create(repo)
    session = repo.writable_session("main")
    target = zarr.open_array(session.store, path="a", mode="r+")
    source = da.arange(8, chunks=2, dtype="i4") + 1
    # A target on another session's store is refused (a store taken from the session again
    # later is a new object, and is still the session's).
    other = zarr.open_array(repo.writable_session("main").store, path="a", mode="r+")
    with pytest.raises(ValueError, match="every target"):
        store_dask(session, sources=[source], targets=[other], scheduler="threads")
    store_dask(session, sources=[source], targets=[target], scheduler="threads")
    session.commit("dask")
    back = zarr.open_array(repo.readonly_session(branch="main").store, path="a")
    assert back[:].tolist() == list(range(1, 9))


def test_store_dask_as_icechunk_2_calls_it_merges_in_a_tree(repo: ic.Repository) -> None:
    # Icechunk 2.x: targets opened on a fork's store, no session argument; the merged fork
    # comes back and is merged into the session. split_every=2 over 4 blocks: two levels.
    create(repo)
    session = repo.writable_session("main")
    fork = session.fork()
    target = zarr.open_array(fork.store, path="a", mode="r+")
    source = da.arange(8, chunks=2, dtype="i4") * 3
    merged = store_dask(sources=[source], targets=[target], split_every=2, scheduler="threads")
    assert merged is fork
    session.merge(merged)
    session.commit("2.x form")
    back = zarr.open_array(repo.readonly_session(branch="main").store, path="a")
    assert back[:].tolist() == [3 * i for i in range(8)]
    with pytest.raises(ValueError, match="split_every"):
        store_dask(sources=[source], targets=[target], split_every=1, scheduler="threads")
    with pytest.raises(ValueError, match="compute"):
        store_dask(sources=[source], targets=[target], compute=False)


def test_session_merge_reduction_merges_forks_held_in_blocks(repo: ic.Repository) -> None:
    create(repo)
    session = repo.writable_session("main")
    fork = session.fork()

    def write(block: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        start, stop = block_info[0]["array-location"][0] if block_info else (0, 0)
        own = fork.fork()
        zarr.open_array(own.store, path="a", mode="r+")[start:stop] = block + 100
        return np.array([own], dtype=object)

    source = da.arange(8, chunks=2, dtype="i4")
    written = source.map_blocks(write, dtype=object, chunks=((1,) * 4,))
    merged = session_merge_reduction(written, split_every=3, scheduler="threads")
    session.merge(merged)
    session.commit("reduced")
    back = zarr.open_array(repo.readonly_session(branch="main").store, path="a")
    assert back[:].tolist() == [100 + i for i in range(8)]


# ---- on a dask.distributed cluster of 2 worker processes ---------------------------------
def test_store_dask_on_worker_processes(local_repo: ic.Repository, client: object) -> None:
    session = local_repo.writable_session("main")
    big = zarr.create_array(session.store, name="big", shape=(40, 30), chunks=(10, 10), dtype="f8")
    source = da.random.default_rng(1).random((40, 30), chunks=(10, 10))
    expected = source.compute()
    store_dask(session, sources=[source], targets=[big])
    # A second array into a region of one that already holds data.
    zarr.create_array(session.store, name="r", shape=(20,), chunks=(5,), dtype="i8")
    region_target = zarr.open_array(session.store, path="r", mode="r+")
    store_dask(
        session,
        sources=[da.arange(10, chunks=5)],
        targets=[region_target],
        regions=[(slice(10, 20),)],
    )
    session.commit("from workers")
    reader = local_repo.readonly_session(branch="main")
    np.testing.assert_array_equal(zarr.open_array(reader.store, path="big")[:], expected)
    assert zarr.open_array(reader.store, path="r")[:].tolist() == [0] * 10 + list(range(10))


def test_to_icechunk_on_worker_processes_then_append(
    local_repo: ic.Repository, client: object
) -> None:
    ds = make_dataset("2024-01-01", 12).chunk({"time": 3, "x": 2})
    session = local_repo.writable_session("main")
    to_icechunk(ds, session, group="weather")
    assert session.status().updated_chunks  # the workers' chunks are merged in
    session.commit("dataset")

    back = xr.open_zarr(
        local_repo.readonly_session(branch="main").store, group="weather", consolidated=False
    )
    xr.testing.assert_identical(back.load(), ds.load())
    assert back.temperature.encoding["chunks"] == (3, 2)

    more = make_dataset("2024-01-13", 6).chunk({"time": 3, "x": 2})
    session = local_repo.writable_session("main")
    to_icechunk(more, session, group="weather", append_dim="time")
    session.commit("append six days")
    both = xr.open_zarr(
        local_repo.readonly_session(branch="main").store, group="weather", consolidated=False
    )
    xr.testing.assert_identical(both.load(), xr.concat([ds, more], dim="time").load())


def test_to_icechunk_region_and_dataarray(local_repo: ic.Repository) -> None:
    ds = make_dataset("2024-01-01", 8)
    session = local_repo.writable_session("main")
    to_icechunk(ds.chunk({"time": 4}), session, mode="w")
    session.commit("full")
    # Overwrite the second half through a region, with the threaded scheduler.
    half = (ds.isel(time=slice(4, 8)) * 0 + 1).chunk({"time": 4}).drop_vars(["x"])
    session = local_repo.writable_session("main")
    with dask.config.set(scheduler="threads"):
        to_icechunk(half, session, region={"time": slice(4, 8)})
    session.commit("region")
    back = xr.open_zarr(local_repo.readonly_session(branch="main").store, consolidated=False)
    assert back.temperature[:4].values.tolist() == ds.temperature[:4].values.tolist()
    assert (back.temperature[4:].values == 1).all()
    # A DataArray is written as a one-variable dataset.
    session = local_repo.writable_session("main")
    to_icechunk(ds.temperature.chunk({"time": 4}).rename("t2"), session, group="da")
    session.commit("dataarray")
    back = xr.open_zarr(local_repo.readonly_session(branch="main").store, group="da")
    np.testing.assert_array_equal(back.t2.values, ds.temperature.values)
