"""The repository's own state through the Python API: status, metadata, feature flags, the
saved config, the operations log, chunk storage statistics (Icechunk 2.3's names)."""

from __future__ import annotations

import asyncio
import datetime as dt
import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def make(tmp_path: Path) -> ic.Repository:
    return ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))


def test_read_only_status_refuses_writes_and_keeps_reads(tmp_path: Path) -> None:
    repo = make(tmp_path)
    tip = repo.lookup_branch("main")
    assert repo.status.availability == ic.RepoAvailability.online
    repo.set_status(
        ic.RepoStatus(ic.RepoAvailability.read_only, limited_availability_reason="move")
    )
    status = repo.get_status()
    assert status.availability == ic.RepoAvailability.read_only
    assert status.limited_availability_reason == "move"
    assert (dt.datetime.now(dt.UTC) - status.set_at).total_seconds() < 60
    for write in (
        lambda: repo.writable_session("main"),
        lambda: repo.create_branch("dev", tip),
        lambda: repo.create_tag("v1", tip),
        lambda: repo.set_metadata({"a": 1}),
        lambda: repo.save_config(),
    ):
        with pytest.raises(ic.ReadOnlyError, match="read-only"):
            write()
    # Another process opening the repository sees the status too; reads work.
    again = ic.Repository.open(ic.local_filesystem_storage(str(tmp_path)))
    with pytest.raises(ic.ReadOnlyError):
        again.writable_session("main")
    assert again.readonly_session(branch="main").snapshot_id == tip
    repo.set_status(ic.RepoStatus(ic.RepoAvailability.online))
    session = again.writable_session("main")
    zarr.create_group(session.store)
    session.commit("back online")


def test_metadata_set_update_and_async(tmp_path: Path) -> None:
    repo = make(tmp_path)
    assert repo.metadata == {} and repo.get_metadata() == {}
    repo.set_metadata({"owner": "climate", "n": 1})
    assert repo.update_metadata({"n": 2, "tags": ["x"]}) == {
        "owner": "climate",
        "n": 2,
        "tags": ["x"],
    }
    assert asyncio.run(repo.get_metadata_async())["n"] == 2
    asyncio.run(repo.set_metadata_async({}))
    assert repo.metadata == {}
    with pytest.raises(TypeError):
        repo.set_metadata({"bad": object()})
    assert repo.metadata == {}


def test_feature_flags(tmp_path: Path) -> None:
    repo = make(tmp_path)
    tip = repo.lookup_branch("main")
    flags = {f.name: f for f in repo.feature_flags()}
    assert set(flags) == {"move_node", "create_tag", "delete_tag"}
    assert all(f.enabled and f.default_enabled and f.setting is None for f in flags.values())
    repo.set_feature_flag("create_tag", False)
    assert [f.name for f in repo.disabled_feature_flags()] == ["create_tag"]
    assert "create_tag" not in {f.name for f in repo.enabled_feature_flags()}
    with pytest.raises(ic.SessionStateError, match="create_tag"):
        repo.create_tag("v1", tip)
    assert repo.list_tags() == set()
    repo.set_feature_flag("create_tag", None)
    repo.create_tag("v1", tip)
    with pytest.raises(ic.InvalidInputError, match="unknown feature flag"):
        repo.set_feature_flag("teleport", True)


def test_saved_config_round_trips_and_applies_on_open(tmp_path: Path) -> None:
    repo = make(tmp_path)
    storage = ic.local_filesystem_storage(str(tmp_path))
    created = ic.Repository.fetch_config(storage)
    assert created == repo.config
    wanted = ic.RepositoryConfig(inline_chunk_threshold_bytes=7)
    reopened = repo.reopen(wanted)
    assert reopened.config.inline_chunk_threshold_bytes == 7
    assert ic.Repository.open(storage).config == created  # not stored until saved
    reopened.save_config()
    assert ic.Repository.fetch_config(storage) == reopened.config
    assert asyncio.run(ic.Repository.fetch_config_async(storage)) == reopened.config
    assert ic.Repository.open(storage).config.inline_chunk_threshold_bytes == 7
    assert pickle.loads(pickle.dumps(reopened.config)) == reopened.config
    with pytest.raises(ic.RepositoryNotFoundError):
        ic.Repository.fetch_config(ic.local_filesystem_storage(str(tmp_path / "none")))
    with pytest.raises(ic.InvalidInputError):
        repo.reopen(ic.RepositoryConfig(compression_level=99))


def test_ops_log_lists_every_change_newest_first(tmp_path: Path) -> None:
    repo = make(tmp_path)
    first = repo.lookup_branch("main")
    repo.create_branch("dev", first)
    with repo.transaction("main", message="group") as store:
        zarr.create_group(store)
    second = repo.lookup_branch("main")
    repo.reset_branch("dev", second)
    repo.create_tag("v1", second)
    repo.delete_tag("v1")
    repo.update_metadata({"a": 1})
    repo.set_feature_flag("move_node", False)
    updates = list(repo.ops_log())
    kinds = [type(u.kind).__name__ for u in updates]
    assert kinds == [
        "FeatureFlagChanged",
        "MetadataChanged",
        "TagDeleted",
        "TagCreated",
        "BranchReset",
        "NewCommit",
        "BranchCreated",
        "RepoInitialized",
    ], kinds
    assert updates[0].kind.id == 3 and updates[0].kind.new_value is False
    assert updates[2].kind.previous_snap_id == second
    assert updates[4].kind.previous_snap_id == first
    assert updates[5].kind.new_snap_id == second
    times = [u.updated_at for u in updates]
    assert times == sorted(times, reverse=True)
    assert all(u.backup_path for u in updates)
    assert [type(u.kind).__name__ for u in asyncio.run(repo.ops_log_async())] == kinds


def test_chunk_storage_stats_and_manifest_files(tmp_path: Path) -> None:
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=0, inline_manifest_threshold_bytes=0)
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)), config)
    assert repo.total_chunks_storage() == 0
    with repo.transaction("main", message="data") as store:
        array = zarr.create_array(
            store, name="a", shape=(8,), chunks=(4,), dtype="i8", compressors=None
        )
        array[:] = np.arange(8)
    stats = repo.chunk_storage_stats()
    on_disk = sum(f.stat().st_size for f in (tmp_path / "chunks").iterdir())
    assert stats.native_bytes == on_disk == repo.total_chunks_storage() == 64
    assert stats.total_bytes == stats.non_virtual_bytes == 64 and stats.virtual_bytes == 0
    (manifest,) = repo.list_manifest_files(repo.lookup_branch("main"))
    assert manifest.num_chunk_refs == 2
    assert manifest.size_bytes == (tmp_path / "manifests" / manifest.id).stat().st_size
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.list_manifest_files("0" * 20)


def test_rebased_commit_records_attempts_and_lands_with_no_changes_left(tmp_path: Path) -> None:
    repo = make(tmp_path)
    with repo.transaction("main", message="array") as store:
        zarr.create_array(store, name="a", shape=(4,), chunks=(2,), dtype="i4", fill_value=0)
    ours, theirs = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(theirs.store, path="a")[0:2] = 1
    theirs.commit("theirs")
    zarr.open_array(ours.store, path="a")[0:2] = 2
    solver = ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseTheirs)
    snapshot = ours.commit("ours", rebase_with=solver)
    assert repo.lookup_branch("main") == snapshot
    assert repo.lookup_snapshot(snapshot).metadata == {"__icechunk": {"rebase_attempts": 1}}
    assert zarr.open_array(repo.readonly_session("main").store, path="a")[:].tolist() == [
        1,
        1,
        0,
        0,
    ]


def test_ancestry_graph_draws_every_branch_or_one_line(tmp_path: Path) -> None:
    repo = make(tmp_path)
    with repo.transaction("main", message="first") as store:
        zarr.create_group(store)
    base = repo.lookup_branch("main")
    repo.create_branch("dev", base)
    repo.create_tag("v1", base)
    with repo.transaction("dev", message="on dev\nmore lines") as store:
        zarr.open_group(store).attrs["x"] = 1

    graph = repo.ancestry_graph(plain=True)
    lines = str(graph).splitlines()
    assert lines[0].startswith("│ ● ") and lines[0].endswith("(dev) on dev")
    assert lines[2].startswith("●─╯ ") and lines[2].endswith("(main, tag: v1) first")
    assert lines[4].startswith("● ") and lines[4].endswith("Repository initialized")
    assert "\x1b[" not in str(graph) and "\x1b[38;2;" in str(repo.ancestry_graph())
    svg = graph._repr_svg_()
    assert svg.startswith("<svg") and svg.count("<circle") == 3

    dev_line = str(asyncio.run(repo.ancestry_graph_async(branch="dev", plain=True)))
    assert [line.split(" ", 2)[-1] for line in dev_line.splitlines()[::2]] == [
        "(dev) on dev",
        "(main, tag: v1) first",
        "Repository initialized",
    ]
    assert len(str(repo.ancestry_graph(tag="v1", plain=True)).splitlines()) == 3
    with pytest.raises(ic.InvalidInputError):
        repo.ancestry_graph(branch="main", tag="v1")
    with pytest.raises(ic.RefNotFoundError):
        repo.ancestry_graph(branch="nope")
