"""``Repository.rewrite_manifests`` (Icechunk 2.3's name): every manifest shard laid out again
by the repository's current configuration, the data read back unchanged, no chunk copied."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def open_with_shards_of(path: Path, refs: int, *, create: bool = False) -> ic.Repository:
    config = ic.RepositoryConfig(manifest_shard_size=refs, inline_manifest_threshold_bytes=0)
    storage = ic.local_filesystem_storage(str(path))
    if create:
        return ic.Repository.create(storage, config)
    return ic.Repository.open(storage, config)


def chunk_files(path: Path) -> set[str]:
    return {p.name for p in (path / "chunks").rglob("*") if p.is_file()}


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A repository with a 40x40 array of 4x4 chunks (100 chunks), 25 references a shard."""
    repo = open_with_shards_of(tmp_path, 25, create=True)
    data = np.arange(1600, dtype="int32").reshape(40, 40)
    with repo.transaction("main", message="filled") as store:
        zarr.create_array(store, name="a", shape=(40, 40), chunks=(4, 4), dtype="int32")[:] = data
    return tmp_path, data


def read(repo: ic.Repository, **version: str) -> np.ndarray:
    session = repo.readonly_session(**version)
    return np.asarray(zarr.open_array(session.store, path="a", mode="r")[:])


def test_rewrite_fits_all_references_in_one_shard(filled: tuple[Path, np.ndarray]) -> None:
    path, data = filled
    small = open_with_shards_of(path, 25)
    before = small.lookup_branch("main")
    assert len(small.list_manifest_files(before)) == 4
    chunks = chunk_files(path)

    large = open_with_shards_of(path, 1000)
    new = large.rewrite_manifests("compact", branch="main", metadata={"who": "ops"})
    assert large.lookup_branch("main") == new
    files = large.list_manifest_files(new)
    assert [f.num_chunk_refs for f in files] == [100]
    np.testing.assert_array_equal(read(large, branch="main"), data)
    np.testing.assert_array_equal(read(large, snapshot_id=before), data)
    assert chunk_files(path) == chunks  # no chunk copied or written
    snapshot = large.lookup_snapshot(new)
    assert (snapshot.message, snapshot.parent_id) == ("compact", before)
    assert snapshot.metadata["who"] == "ops"
    assert snapshot.metadata["manifest_layout"]["manifest_shard_size"] == 1000
    diff = large.diff(from_snapshot_id=before, to_snapshot_id=new)
    assert not diff.updated_chunks and not diff.updated_arrays


def test_rewrite_can_amend_and_has_an_async_twin(filled: tuple[Path, np.ndarray]) -> None:
    path, data = filled
    repo = open_with_shards_of(path, 10)
    tip = repo.lookup_branch("main")
    parent = repo.lookup_snapshot(tip).parent_id
    amended = asyncio.run(
        repo.rewrite_manifests_async("smaller", branch="main", commit_method="amend")
    )
    assert repo.lookup_snapshot(amended).parent_id == parent
    files = repo.list_manifest_files(amended)
    assert len(files) > 4 and max(f.num_chunk_refs for f in files) <= 10
    assert sum(f.num_chunk_refs for f in files) == 100
    np.testing.assert_array_equal(read(repo, branch="main"), data)


def test_rewrite_bad_input_changes_nothing(filled: tuple[Path, np.ndarray]) -> None:
    path, _ = filled
    repo = open_with_shards_of(path, 1000)
    tip = repo.lookup_branch("main")
    with pytest.raises(ValueError, match="commit_method"):
        repo.rewrite_manifests("m", branch="main", commit_method="squash")  # type: ignore[arg-type]
    with pytest.raises(ic.IcechunkError, match="nope"):
        repo.rewrite_manifests("m", branch="nope")
    with pytest.raises(TypeError):
        repo.rewrite_manifests("m", branch="main", metadata={"x": object()})
    repo.set_status(ic.RepoStatus(ic.RepoAvailability.read_only))
    with pytest.raises(ic.ReadOnlyError):
        repo.rewrite_manifests("m", branch="main")
    assert repo.lookup_branch("main") == tip
