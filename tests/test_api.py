"""The Python API: round trips, and the typed errors of each misuse."""

from __future__ import annotations

import datetime as dt
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def write_array(repo: ic.Repository, value: int, message: str, branch: str = "main") -> str:
    session = repo.writable_session(branch)
    if "a" in zarr.open_group(session.store, mode="a"):
        zarr.open_array(session.store, path="a")[:] = value
    else:
        zarr.create_array(
            session.store, name="a", data=np.full((4, 3), value, np.int16), chunks=(2, 2)
        )
    return session.commit(message)


def read_array(session: ic.Session) -> np.ndarray:
    return zarr.open_array(session.store, path="a", mode="r")[:]


# ---- repositories ------------------------------------------------------------------------
def test_create_open_exists(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(tmp_path / "r")
    assert not ic.Repository.exists(storage)
    with pytest.raises(ic.RepositoryNotFoundError):
        ic.Repository.open(storage)
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=16, manifest_shard_size=100)
    repo = ic.Repository.create(storage, config)
    assert ic.Repository.exists(storage)
    with pytest.raises(ic.AlreadyExistsError):
        ic.Repository.create(storage)
    reopened = ic.Repository.open(ic.local_filesystem_storage(tmp_path / "r"))
    assert reopened.config.inline_chunk_threshold_bytes == 16
    assert reopened.config.manifest_shard_size == 100
    assert reopened.config == repo.config
    assert ic.Repository.open_or_create(storage).config == repo.config
    assert ic.Repository.open_or_create(ic.in_memory_storage()).list_branches() == {"main"}
    assert repo.list_branches() == {"main"}
    (root,) = list(repo.ancestry(branch="main"))
    assert root.parent_id is None


def test_repository_config() -> None:
    default = ic.RepositoryConfig()
    assert default == ic.RepositoryConfig.default()
    assert default.inline_chunk_threshold_bytes is None  # unset: the engine's default applies
    applied = ic.Repository.create(ic.in_memory_storage(), default).config
    assert applied.inline_chunk_threshold_bytes == 512
    assert applied.manifest_shard_size == 4096
    custom = ic.RepositoryConfig(compression_level=5)
    custom.max_concurrent_requests = 8
    assert pickle.loads(pickle.dumps(custom)) == custom
    assert "level=5" in repr(custom) and custom.compression_level == 5
    with pytest.raises(ic.InvalidInputError):
        ic.Repository.create(ic.in_memory_storage(), ic.RepositoryConfig(manifest_shard_size=0))


def test_write_commit_read_and_history(repo: ic.Repository) -> None:
    first = write_array(repo, 1, "ones")
    second = write_array(repo, 2, "twos")
    assert repo.lookup_branch("main") == second
    np.testing.assert_array_equal(read_array(repo.readonly_session(branch="main")), 2)
    np.testing.assert_array_equal(read_array(repo.readonly_session(snapshot_id=first)), 1)

    history = list(repo.ancestry(branch="main"))
    assert [s.message for s in history] == ["twos", "ones", "Repository initialized"]
    assert [s.id for s in history[:2]] == [second, first]
    assert history[0].parent_id == first
    assert all(s.written_at.tzinfo is not None for s in history)
    assert history[0].written_at.utcoffset() == dt.timedelta(0)
    assert history[0].written_at >= history[1].written_at
    assert repo.lookup_snapshot(first) == history[1]
    assert repo.lookup_snapshot(first).message == "ones"
    assert next(s.id for s in repo.ancestry(snapshot_id=first)) == first


def test_commit_metadata_round_trips(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    zarr.create_group(session.store)
    meta = {"author": "me", "n": 3, "x": 1.5, "ok": True, "none": None, "l": [1, "a", [2]]}
    sid = session.commit("with metadata", metadata=meta)
    assert repo.lookup_snapshot(sid).metadata == meta
    with pytest.raises(TypeError):
        repo.writable_session("main").commit("bad", metadata={"x": object()}, allow_empty=True)


def test_as_of(repo: ic.Repository) -> None:
    first = write_array(repo, 1, "ones")
    time.sleep(0.01)
    middle = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    write_array(repo, 2, "twos")
    session = repo.readonly_session(branch="main", as_of=middle)
    assert session.snapshot_id == first
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.readonly_session(branch="main", as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(ValueError):
        repo.readonly_session(tag="v1", as_of=middle)


def test_session_properties_status_and_discard(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    session = repo.writable_session("main")
    held = session.store
    assert not session.read_only and session.branch == "main" and session.snapshot_id == base
    assert not session.has_uncommitted_changes
    assert session.status().is_empty()
    zarr.create_array(session.store, name="a", data=np.zeros((4, 3), np.int16), chunks=(2, 2))
    assert session.has_uncommitted_changes
    status = session.status()
    assert status.new_arrays == {"/a"}
    assert status.new_groups == {"/"}
    session.discard_changes()
    assert not session.has_uncommitted_changes
    with pytest.raises(ic.SessionStateError, match="allow_empty"):
        session.commit("nothing")
    empty = session.commit("nothing", allow_empty=True)
    assert repo.lookup_branch("main") == empty == session.snapshot_id
    # A committed session is done: it writes no more. A store taken from it now is read-only,
    # which zarr refuses to open for writing (a ValueError, as with Icechunk 2.3); one taken
    # before the commit gets the write refused by the engine.
    assert session.read_only and session.store.read_only and not held.read_only
    with pytest.raises(ValueError, match="read-only"):
        zarr.create_group(session.store)
    with pytest.raises(ic.ReadOnlyError):
        zarr.create_group(held)
    ro = repo.readonly_session(branch="main")
    assert ro.read_only and ro.store.read_only and ro.branch == "main"


def test_readonly_session_refuses_writes(repo: ic.Repository) -> None:
    write_array(repo, 1, "ones")
    session = repo.readonly_session(branch="main")
    with pytest.raises(ic.ReadOnlyError):
        zarr.open_array(session.store, path="a")[:] = 5
    with pytest.raises(ic.SessionStateError):  # as Icechunk
        session.commit("no", allow_empty=True)
    with pytest.raises(ic.ReadOnlyError):
        ic.IcechunkStore(session, read_only=False)
    # A read-only view of a writable session.
    writable = repo.writable_session("main")
    view = writable.store.with_read_only(True)
    assert view.read_only and not writable.store.read_only
    with pytest.raises(ValueError, match="read-only"):
        zarr.open_array(view, path="a")[:] = 5


def test_conflicting_commits(repo: ic.Repository) -> None:
    base = write_array(repo, 1, "ones")
    s1, s2 = repo.writable_session("main"), repo.writable_session("main")
    zarr.open_array(s1.store, path="a")[:] = 2
    zarr.open_array(s2.store, path="a")[:] = 3
    winner = s1.commit("first")
    with pytest.raises(ic.ConflictError) as info:
        s2.commit("second")
    assert info.value.expected_parent == base
    assert info.value.actual_parent == winner
    assert isinstance(info.value, ic.IcechunkError)
    assert s2.has_uncommitted_changes  # nothing lost
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.expected_parent, copy.actual_parent) == (base, winner)
    # Rebasing keeps our write of the chunk both wrote (tests/test_conflicts.py has more).
    s2.rebase(ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseOurs))
    s2.commit("second")
    np.testing.assert_array_equal(read_array(repo.readonly_session(branch="main")), 3)


def test_transaction(repo: ic.Repository) -> None:
    with repo.transaction("main", message="made", metadata={"k": "v"}) as store:
        assert isinstance(store, ic.IcechunkStore)
        zarr.create_array(store, name="a", data=np.ones((2, 2), np.int8))
    (info, *_) = repo.ancestry(branch="main")
    assert (info.message, info.metadata) == ("made", {"k": "v"})
    tip = repo.lookup_branch("main")
    with pytest.raises(RuntimeError, match="boom"):
        with repo.transaction("main", message="never") as store:
            zarr.open_array(store, path="a")[:] = 7
            raise RuntimeError("boom")
    assert repo.lookup_branch("main") == tip
    assert read_array(repo.readonly_session(branch="main")).tolist() == [[1, 1], [1, 1]]


# ---- branches and tags -------------------------------------------------------------------
def test_branches(repo: ic.Repository) -> None:
    first = write_array(repo, 1, "ones")
    repo.create_branch("dev", first)
    assert repo.list_branches() == {"main", "dev"}
    assert repo.lookup_branch("dev") == first
    dev_tip = write_array(repo, 5, "fives", branch="dev")
    assert repo.lookup_branch("dev") == dev_tip
    assert repo.lookup_branch("main") == first
    with pytest.raises(ic.AlreadyExistsError):
        repo.create_branch("dev", first)
    repo.delete_branch("dev")
    assert repo.list_branches() == {"main"}
    with pytest.raises(ic.RefNotFoundError):
        repo.lookup_branch("dev")
    with pytest.raises(ic.RefNotFoundError):
        repo.writable_session("dev")
    with pytest.raises(ic.RefNotFoundError):
        repo.delete_branch("dev")
    with pytest.raises(ic.SessionStateError):  # Icechunk's class: valid name, refused operation
        repo.delete_branch("main")
    repo.create_branch("dev", dev_tip)  # a deleted branch's name can be used again
    assert repo.lookup_branch("dev") == dev_tip


@pytest.mark.parametrize("name", ["", "..", "a/b", ".hidden", "-x", "sp ace", "x.lock", "t~1"])
def test_invalid_ref_names(repo: ic.Repository, name: str) -> None:
    sid = repo.lookup_branch("main")
    with pytest.raises(ic.InvalidInputError):
        repo.create_branch(name, sid)
    with pytest.raises(ValueError):
        repo.create_tag(name, sid)


def test_tags(repo: ic.Repository) -> None:
    first = write_array(repo, 1, "ones")
    repo.create_tag("v1", first)
    write_array(repo, 2, "twos")
    assert repo.list_tags() == {"v1"}
    assert repo.lookup_tag("v1") == first
    np.testing.assert_array_equal(read_array(repo.readonly_session(tag="v1")), 1)
    assert next(s.id for s in repo.ancestry(tag="v1")) == first
    with pytest.raises(ic.AlreadyExistsError):
        repo.create_tag("v1", first)
    repo.delete_tag("v1")
    assert repo.list_tags() == set()
    with pytest.raises(ic.RefNotFoundError):
        repo.lookup_tag("v1")
    with pytest.raises(ic.AlreadyExistsError):  # a tag name is never reused
        repo.create_tag("v1", first)
    with pytest.raises(ic.RefNotFoundError):
        repo.readonly_session(tag="nope")


def test_snapshot_id_errors(repo: ic.Repository) -> None:
    with pytest.raises(ic.InvalidInputError):
        repo.lookup_snapshot("not an id")
    missing = "0" * 20
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.lookup_snapshot(missing)
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.create_branch("b", missing)
    with pytest.raises(KeyError):  # NotFoundError is also a KeyError
        repo.readonly_session(snapshot_id=missing)
    with pytest.raises(ValueError, match="exactly one"):
        repo.readonly_session(branch="main", tag="v1")
    with pytest.raises(ValueError):
        repo.readonly_session()


def test_diff(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    session = repo.writable_session("main")
    root = zarr.create_group(session.store)
    root.create_group("g")
    root.create_array("a", shape=(4, 4), chunks=(2, 2), dtype="i4", fill_value=0)
    root.create_array("b", shape=(2,), chunks=(1,), dtype="i4")
    v1 = session.commit("layout")
    repo.create_tag("v1", v1)

    session = repo.writable_session("main")
    arr = zarr.open_array(session.store, path="a")
    arr[0:2, 2:4] = 1
    arr.attrs["units"] = "m"
    zarr.open_group(session.store).attrs["title"] = "t"
    del zarr.open_group(session.store)["b"]
    v2 = session.commit("change")

    d = repo.diff(from_snapshot_id=base, to_tag="v1")
    assert d.new_groups == {"/", "/g"}
    assert d.new_arrays == {"/a", "/b"}
    d = repo.diff(from_tag="v1", to_branch="main")
    assert d.new_arrays == set() and d.new_groups == set()
    assert d.deleted_arrays == {"/b"}
    assert d.updated_arrays == {"/a"}
    assert d.updated_groups == {"/"}
    assert d.updated_chunks == {"/a": [[0, 1]]}  # lists of coordinate lists, as Icechunk
    assert repo.diff(from_snapshot_id=v2, to_snapshot_id=v2).is_empty()
    with pytest.raises(ic.InvalidInputError):  # not an ancestor
        repo.diff(from_branch="main", to_tag="v1")
    assert "updated_chunks" in repr(d)


# ---- pickling ----------------------------------------------------------------------------
def test_pickle_readonly_session_and_store(local_repo: ic.Repository) -> None:
    sid = write_array(local_repo, 3, "threes")
    session = local_repo.readonly_session(branch="main")
    copy = pickle.loads(pickle.dumps(session))
    assert copy == session and copy.snapshot_id == sid
    np.testing.assert_array_equal(read_array(copy), 3)
    store = pickle.loads(pickle.dumps(session.store))
    assert store == session.store and store.read_only
    repo = pickle.loads(pickle.dumps(local_repo))
    assert repo.lookup_branch("main") == sid


def test_pickle_writable_session_is_refused(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    for obj in (session, session.store):
        with pytest.raises(ValueError, match=r"fork\(\).*to_icechunk"):
            pickle.dumps(obj)


def test_in_memory_storage_pickles_within_process_only(repo: ic.Repository) -> None:
    write_array(repo, 4, "fours")
    copy = pickle.loads(pickle.dumps(repo.readonly_session(branch="main")))
    np.testing.assert_array_equal(read_array(copy), 4)
    storage = ic.in_memory_storage()
    state = pickle.dumps(storage)
    del storage
    with pytest.raises(ic.InvalidInputError, match="in-memory"):
        pickle.loads(state)


def test_storage_equality_and_repr(tmp_path: Path) -> None:
    a = ic.local_filesystem_storage(tmp_path)
    assert a == ic.local_filesystem_storage(tmp_path)
    assert a != ic.local_filesystem_storage(tmp_path / "other")
    m = ic.in_memory_storage()
    assert m == m and m != ic.in_memory_storage()
    assert "local_filesystem_storage" in repr(a) and repr(m) == "in_memory_storage()"


# ---- errors ------------------------------------------------------------------------------
def test_exception_tree() -> None:
    assert issubclass(ic.RebaseFailedError, ic.ConflictError)
    assert issubclass(ic.ConflictError, ic.IcechunkError)
    for cls in (
        ic.RepositoryNotFoundError,
        ic.RefNotFoundError,
        ic.SnapshotNotFoundError,
        ic.NodeNotFoundError,
    ):
        assert issubclass(cls, ic.NotFoundError)
    assert issubclass(ic.NotFoundError, KeyError) and issubclass(ic.NotFoundError, ic.IcechunkError)
    assert issubclass(ic.InvalidInputError, ValueError)
    for cls in (
        ic.AlreadyExistsError,
        ic.ReadOnlyError,
        ic.SessionStateError,
        ic.StorageError,
        ic.FormatError,
    ):
        assert issubclass(cls, ic.IcechunkError)
    assert str(ic.RefNotFoundError("branch `x` not found")) == "branch `x` not found"


def test_invalid_keys_are_refused(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    store = session.store._store
    import asyncio

    async def run() -> None:
        for key in ["/abs", "a//b", "a/../b", "a/.zarray"]:
            with pytest.raises(ic.InvalidInputError):
                await store.set(key, b"{}")
        with pytest.raises(ic.InvalidInputError):  # a chunk of no array
            await store.set("x/c/0", b"1")
        with pytest.raises(ic.InvalidInputError):  # metadata must be zarr v3 metadata
            await store.set("zarr.json", b"not json")

    asyncio.run(run())


def test_conflict_stubs() -> None:
    assert ic.VersionSelection.UseTheirs.name == "UseTheirs"
    assert isinstance(ic.ConflictDetector(), ic.ConflictSolver)
