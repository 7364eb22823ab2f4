"""VirtualiZarr, unmodified, writes references to NetCDF4 files into our repository with its
own Icechunk writer (``vds.vz.to_icechunk``); xarray then reads the repository and must see
exactly what it sees in the files. The files are on local disk, on moto's S3 server and
behind an HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _range_http import serve_folder
from conftest import MOTO_ACCESS_KEY_ID, MOTO_BUCKET, MOTO_SECRET_ACCESS_KEY, MotoServer

import icechunk as ic

virtualizarr = pytest.importorskip("virtualizarr", reason="pip install '.[test]' installs it")
from obspec_utils.registry import ObjectStoreRegistry  # noqa: E402
from virtualizarr.parsers import HDFParser  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

NT, NY, NX = 4, 5, 6


def make_netcdf(path: Path, first_day: int, seed: int) -> Path:
    """A NetCDF4 file: a chunked zlib+shuffle variable with a fill value, a contiguous one,
    a 2-D one without time, a non-dimension coordinate, dimension coordinates, attributes."""
    rng = np.random.default_rng(seed)
    temp = (rng.random((NT, NY, NX)) * 30).astype("float32")
    temp[0, 0, 0] = np.nan
    ds = xr.Dataset(
        {
            "temp": (("time", "lat", "lon"), temp, {"units": "degC", "long_name": "air"}),
            "pressure": (("time", "lat", "lon"), rng.random((NT, NY, NX)) * 1000.0),
            # The same in every file: appending along time keeps the first file's.
            "mask": (("lat", "lon"), (np.arange(NY * NX).reshape(NY, NX) % 3 == 0).astype("int16")),
        },
        coords={
            "time": pd.date_range("2000-01-01", periods=NT, freq="D")
            + pd.Timedelta(days=first_day),
            "lat": ("lat", np.linspace(-10, 10, NY), {"units": "degrees_north"}),
            "lon": ("lon", np.linspace(100, 125, NX)),
            "area": (("lat", "lon"), (np.arange(NY * NX).reshape(NY, NX) * 1.5).astype("float32")),
        },
        attrs={"title": "virtual test", "version": 1.5},
    )
    ds.to_netcdf(
        path,
        engine="h5netcdf",
        encoding={
            "temp": {"zlib": True, "shuffle": True, "chunksizes": (2, 5, 3), "_FillValue": -9999.0},
            "pressure": {"contiguous": True},
            "mask": {"contiguous": True},
            "area": {"contiguous": True},
            "time": {"units": "days since 2000-01-01", "dtype": "int32"},
        },
    )
    return path


def expected(*paths: Path) -> xr.Dataset:
    loaded = [xr.open_dataset(p, engine="h5netcdf").load() for p in paths]
    if len(loaded) == 1:
        return loaded[0]
    return xr.concat(
        loaded,
        dim="time",
        data_vars="minimal",
        coords="minimal",
        compat="equals",
        combine_attrs="override",
        join="exact",
    )


def repo_with_container(container: Any, credential: Any) -> ic.Repository:
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(container)
    return ic.Repository.create(
        ic.in_memory_storage(),
        config=config,
        authorize_virtual_chunk_access={container.url_prefix: credential},
    )


def write_and_check(
    repo: ic.Repository, urls: list[str], registry: Any, files: list[Path]
) -> xr.Dataset:
    """Writes the first file, then appends the others along time, each in its own commit;
    returns what xarray reads from the repository at the end."""
    for i, url in enumerate(urls):
        vds = virtualizarr.open_virtual_dataset(url, registry=registry, parser=HDFParser())
        session = repo.writable_session("main")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vds.vz.to_icechunk(session.store, append_dim="time" if i else None)
        session.commit(f"file {i}")
        got = xr.open_zarr(
            repo.readonly_session("main").store, consolidated=False, zarr_format=3
        ).load()
        want = expected(*files[: i + 1])
        want.attrs = dict(got.attrs) if i else want.attrs
        xr.testing.assert_identical(got, want)
    return got


def test_local_netcdf_files(tmp_path: Path) -> None:
    from obstore.store import LocalStore

    folder = tmp_path / "data"
    folder.mkdir()
    files = [make_netcdf(folder / "f1.nc", 0, 1), make_netcdf(folder / "f2.nc", NT, 2)]
    prefix = f"file://{folder}/"
    repo = repo_with_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(folder))),
        ic.credentials.LocalFileSystemAccess,
    )
    registry = ObjectStoreRegistry({"file://": LocalStore()})
    got = write_and_check(repo, [f"file://{p}" for p in files], registry, files)
    assert got.sizes["time"] == 2 * NT

    session = repo.readonly_session("main")
    assert session.all_virtual_chunk_locations() == [f"{prefix}f1.nc", f"{prefix}f2.nc"]
    assert session.chunk_type("/temp", [0, 0, 0]) == ic.ChunkType.virtual
    # Dimension coordinates are loaded into the repository, not referenced.
    assert session.chunk_type("/time", [0]) != ic.ChunkType.virtual
    # The references are pinned: a source rewritten after the write is refused, not read.
    make_netcdf(folder / "f1.nc", 0, 3)
    # VirtualiZarr pins a second past the write; a rewrite in that second cannot be told
    # apart by time, so this one is dated a minute later.
    later = time.time() + 60
    os.utime(folder / "f1.nc", (later, later))
    stale = repo.readonly_session("main")
    with pytest.raises(ic.IcechunkError, match=r"f1\.nc"):
        xr.open_zarr(stale.store, consolidated=False, zarr_format=3)["temp"].load()


def test_netcdf_on_s3(tmp_path: Path, moto_server: MotoServer) -> None:
    from obstore.store import S3Store

    files = [make_netcdf(tmp_path / "f1.nc", 0, 1), make_netcdf(tmp_path / "f2.nc", NT, 2)]
    s3 = S3Store(
        MOTO_BUCKET,
        endpoint=moto_server.endpoint,
        region="us-east-1",
        access_key_id=MOTO_ACCESS_KEY_ID,
        secret_access_key=MOTO_SECRET_ACCESS_KEY,
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )
    folder = f"virtual-{tmp_path.name}"
    for f in files:
        s3.put(f"{folder}/{f.name}", f.read_bytes())
    prefix = f"s3://{MOTO_BUCKET}/{folder}/"
    container = ic.VirtualChunkContainer(
        prefix,
        ic.s3_store(
            region="us-east-1",
            endpoint_url=moto_server.endpoint,
            allow_http=True,
            s3_compatible=True,
            force_path_style=True,
        ),
    )
    credential = ic.containers_credentials(
        {
            prefix: ic.s3_static_credentials(
                access_key_id=MOTO_ACCESS_KEY_ID, secret_access_key=MOTO_SECRET_ACCESS_KEY
            )
        }
    )[prefix]
    repo = repo_with_container(container, credential)
    registry = ObjectStoreRegistry({f"s3://{MOTO_BUCKET}": s3})
    write_and_check(repo, [f"{prefix}{f.name}" for f in files], registry, files)


def test_netcdf_behind_http(tmp_path: Path) -> None:
    from obstore.store import HTTPStore

    files = [make_netcdf(tmp_path / "f1.nc", 0, 1), make_netcdf(tmp_path / "f2.nc", NT, 2)]
    with serve_folder(tmp_path) as (base, seen):
        repo = repo_with_container(
            ic.VirtualChunkContainer(f"{base}/", ic.http_store()), ic.credentials.HttpAccess
        )
        registry = ObjectStoreRegistry(
            {base: HTTPStore.from_url(base, client_options={"allow_http": True})}
        )
        write_and_check(repo, [f"{base}/{f.name}" for f in files], registry, files)
    # Our reads were ranged and conditional on the pin VirtualiZarr wrote.
    ours = [h for h in seen if "icechunk" in h.get("user-agent", "")]
    assert ours and all("range" in h and "if-unmodified-since" in h for h in ours)


def test_unauthorized_container_is_refused_with_its_prefix(tmp_path: Path) -> None:
    from obstore.store import LocalStore

    folder = tmp_path / "data"
    folder.mkdir()
    path = make_netcdf(folder / "f1.nc", 0, 1)
    prefix = f"file://{folder}/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        ic.VirtualChunkContainer(prefix, ic.local_filesystem_store(str(folder)))
    )
    storage = ic.local_filesystem_storage(str(tmp_path / "repo"))
    repo = ic.Repository.create(
        storage, config=config, authorize_virtual_chunk_access={prefix: None}
    )
    vds = virtualizarr.open_virtual_dataset(
        f"file://{path}",
        registry=ObjectStoreRegistry({"file://": LocalStore()}),
        parser=HDFParser(),
    )
    session = repo.writable_session("main")
    vds.vz.to_icechunk(session.store)
    session.commit("refs")
    # Another reader opens the repository without authorizing the container.
    reader = ic.Repository.open(storage)
    store = reader.readonly_session("main").store
    with pytest.raises(ic.InvalidInputError, match=re.escape(prefix)):
        xr.open_zarr(store, consolidated=False, zarr_format=3)["temp"].load()
