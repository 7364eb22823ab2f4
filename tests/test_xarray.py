"""xarray (and dask) on icechunk, as in the talk: to_zarr into a session, commit, read back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import icechunk as ic


def make_dataset(start: str, days: int) -> xr.Dataset:
    time = pd.date_range(start, periods=days, freq="D")
    rng = np.random.default_rng(days)
    return xr.Dataset(
        {
            "temperature": (
                ("time", "x"),
                rng.normal(15, 5, (days, 3)).astype("float32"),
                {"units": "degC"},
            )
        },
        coords={"time": time, "x": [10.0, 20.0, 30.0]},
        attrs={"title": "talk example", "source": "test"},
    )


def test_to_zarr_open_zarr_and_append(repo: ic.Repository) -> None:
    repo.create_branch("test-xarray", repo.lookup_branch("main"))
    ds = make_dataset("2024-01-01", 5)
    session = repo.writable_session(branch="test-xarray")
    ds.to_zarr(session.store, group="my_group", zarr_format=3, consolidated=False)
    first = session.commit("My first commit 😊")

    reader = repo.readonly_session(branch="test-xarray")
    back = xr.open_zarr(reader.store, group="my_group", consolidated=False)
    xr.testing.assert_identical(back.load(), ds)
    assert back.attrs == ds.attrs and back.temperature.attrs["units"] == "degC"

    more = make_dataset("2024-01-06", 3)
    session = repo.writable_session(branch="test-xarray")
    more.to_zarr(session.store, group="my_group", append_dim="time", consolidated=False)
    session.commit("append three days")

    both = xr.open_zarr(
        repo.readonly_session(branch="test-xarray").store, group="my_group", consolidated=False
    )
    xr.testing.assert_identical(both.load(), xr.concat([ds, more], dim="time"))
    # The first version is still there, and main never saw any of it.
    old = xr.open_zarr(
        repo.readonly_session(snapshot_id=first).store, group="my_group", consolidated=False
    )
    assert old.sizes["time"] == 5
    with pytest.raises(FileNotFoundError):
        xr.open_zarr(
            repo.readonly_session(branch="main").store, group="my_group", consolidated=False
        )
    assert (
        "/my_group/temperature" in repo.diff(from_branch="main", to_branch="test-xarray").new_arrays
    )


def test_dask_reads_a_pickled_store(local_repo: ic.Repository) -> None:
    from dask.distributed import Client, LocalCluster

    ds = make_dataset("2024-01-01", 8)
    with local_repo.transaction("main", message="data") as store:
        ds.to_zarr(
            store, zarr_format=3, consolidated=False, encoding={"temperature": {"chunks": (2, 3)}}
        )
    store = local_repo.readonly_session(branch="main").store
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        lazy = xr.open_zarr(store, consolidated=False, chunks={"time": 2})
        assert lazy.temperature.data.npartitions == 4
        total = float(lazy.temperature.sum().compute())
    assert total == pytest.approx(float(ds.temperature.sum()), rel=1e-6)
