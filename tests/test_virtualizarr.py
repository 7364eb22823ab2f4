"""VirtualiZarr, unmodified, writes references to NetCDF4 files into our repository with its
own Icechunk writer (``vds.vz.to_icechunk``); xarray then reads the repository and must see
exactly what it sees in the files. The files are on local disk, on moto's S3 server and
behind an HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
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
import zarr
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


def moto_container(prefix: str, moto_server: MotoServer) -> Any:
    """A container for ``prefix`` on the moto server."""
    store = ic.s3_store(
        region="us-east-1",
        endpoint_url=moto_server.endpoint,
        allow_http=True,
        s3_compatible=True,
        force_path_style=True,
    )
    return ic.VirtualChunkContainer(prefix, store)


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
    files = [make_netcdf(tmp_path / "f1.nc", 0, 1), make_netcdf(tmp_path / "f2.nc", NT, 2)]
    s3 = moto_server.obstore()
    folder = f"virtual-{tmp_path.name}"
    for f in files:
        s3.put(f"{folder}/{f.name}", f.read_bytes())
    prefix = f"s3://{MOTO_BUCKET}/{folder}/"
    container = moto_container(prefix, moto_server)
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


def test_batched_reads_of_one_file_are_coalesced(tmp_path: Path) -> None:
    """``get_partial_values`` reads the virtual chunks of a batch together: 20 neighbouring
    chunks of one file cost one request, not 20; native chunks, missing chunks and metadata
    in the same batch are read as usual and everything comes back in order."""
    n = 20
    source = tmp_path / "source.bin"
    source.write_bytes(b"HEADER--" + np.arange(4 * n, dtype="<i4").tobytes())
    with serve_folder(tmp_path) as (base, seen):
        repo = repo_with_container(
            ic.VirtualChunkContainer(f"{base}/", ic.http_store()), ic.credentials.HttpAccess
        )
        session = repo.writable_session("main")
        zarr.create_array(
            session.store, name="v", shape=(4 * n,), chunks=(4,), dtype="<i4", compressors=None
        )
        native = zarr.create_array(
            session.store, name="n", shape=(8,), chunks=(4,), dtype="<i4", compressors=None
        )
        native[:4] = [7, 7, 7, 7]
        specs = [
            ic.VirtualChunkSpec(
                index=[i], location=f"{base}/source.bin", offset=8 + 16 * i, length=16
            )
            for i in range(n)
        ]
        assert session.store.set_virtual_refs("v", specs) is None
        session.commit("refs")

        store = repo.readonly_session("main").store
        proto = zarr.core.buffer.default_buffer_prototype()
        from zarr.abc.store import RangeByteRequest, SuffixByteRequest

        keys: list[tuple[str, Any]] = [(f"v/c/{i}", None) for i in reversed(range(n))]
        keys += [("n/c/0", None), ("n/c/1", None), ("v/zarr.json", None)]
        keys += [("v/c/3", RangeByteRequest(4, 8)), ("v/c/5", SuffixByteRequest(4))]
        before = len(seen)
        got = asyncio.run(store.get_partial_values(proto, keys))
        ours = [h for h in seen[before:] if h["method"] == "GET"]
    assert len(ours) == 1, ours
    values = [None if g is None else np.frombuffer(g.to_bytes(), "<i4").tolist() for g in got[:n]]
    assert values == [list(range(4 * i, 4 * i + 4)) for i in reversed(range(n))]
    assert np.frombuffer(got[n].to_bytes(), "<i4").tolist() == [7, 7, 7, 7]
    assert got[n + 1] is None
    assert b'"node_type"' in got[n + 2].to_bytes()
    assert np.frombuffer(got[n + 3].to_bytes(), "<i4").tolist() == [13]
    assert np.frombuffer(got[n + 4].to_bytes(), "<i4").tolist() == [23]


def test_missing_container_credentials_name_the_chunk_and_location(
    tmp_path: Path, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader authorizes an S3 container without credentials (so they come from the
    environment) and the environment has none: reading fails with a typed error naming the
    chunk and the location, and saying where the credentials were looked for."""
    moto_server.put_object(MOTO_BUCKET, f"creds-{tmp_path.name}/f.bin", b"\x01" * 64)
    prefix = f"s3://{MOTO_BUCKET}/creds-{tmp_path.name}/"
    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(moto_container(prefix, moto_server))
    storage = ic.in_memory_storage()
    writer = ic.Repository.create(storage, config=config)
    session = writer.writable_session("main")
    zarr.create_array(
        session.store, name="a", shape=(8,), chunks=(8,), dtype="u1", compressors=None
    )
    session.store.set_virtual_ref("a/c/0", f"{prefix}f.bin", offset=0, length=8)
    session.commit("ref")

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    # No instance metadata either: object_store's lookup of it fails fast on a closed port.
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # None: 2.3's deprecated spelling
        reader = ic.Repository.open(storage, authorize_virtual_chunk_access={prefix: None})
    store = reader.readonly_session("main").store
    with pytest.raises(ic.IcechunkError) as info:
        zarr.open_array(store, path="a", mode="r")[:]
    message = str(info.value)
    assert f"{prefix}f.bin" in message and "a/c/0" in message
    assert "looked up in the environment" in message
