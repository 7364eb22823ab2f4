"""Moving groups and arrays (Icechunk 2.3's ``Repository.rearrange_session`` and
``Session.move``): a rename of a subtree that keeps every chunk without copying it, recorded in
the transaction log (``Diff.moved_nodes``), refused with Icechunk's exception classes, and never
rebased."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic
import spec_reader as sr


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def repo(path: Path) -> ic.Repository:
    """/g (group) with /g/a (array, 2 chunk objects) and /g/sub (group); /x (array)."""
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(path)),
        ic.RepositoryConfig(inline_chunk_threshold_bytes=16),
    )
    with repo.transaction("main", message="hierarchy") as store:
        root = zarr.group(store)
        g = root.create_group("g")
        g.create_group("sub")
        a = g.create_array("a", shape=(8,), chunks=(4,), dtype="i8", compressors=None)
        a[:] = np.arange(8)  # 32 bytes a chunk: chunk objects
        root.create_array("x", shape=(2,), chunks=(1,), dtype="i1", fill_value=0)
    return repo


def chunk_objects(path: Path) -> list[Path]:
    return sorted((path / "chunks").rglob("*"))


def members(session: ic.Session) -> list[str]:
    group = zarr.open_group(session.store, mode="r")
    return sorted(name for name, _ in group.members(max_depth=None))


def test_move_keeps_chunks_without_copying(repo: ic.Repository, path: Path) -> None:
    before = repo.lookup_branch("main")
    chunks = chunk_objects(path)
    assert len(chunks) == 2
    session = repo.rearrange_session("main")
    assert session.mode == ic.SessionMode.rearrange and not session.read_only
    node_id = session.get_node_id("/g/a")
    session.move("/g", "/h")
    assert session.has_uncommitted_changes
    assert session.status().moved_nodes == [("/g", "/h"), ("/g/a", "/h/a"), ("/g/sub", "/h/sub")]
    np.testing.assert_array_equal(zarr.open_array(session.store, path="h/a", mode="r")[:], range(8))
    session.move("/h/a", "/b")  # one pair per node, from its first path
    assert session.status().moved_nodes == [("/g/a", "/b"), ("/g", "/h"), ("/g/sub", "/h/sub")]
    after = session.commit("moved")

    assert chunk_objects(path) == chunks  # no chunk written
    reader = repo.readonly_session(branch="main")
    assert members(reader) == ["b", "h", "h/sub", "x"]
    np.testing.assert_array_equal(zarr.open_array(reader.store, path="b", mode="r")[:], range(8))
    assert reader.get_node_id("/b") == node_id
    with pytest.raises(ic.NodeNotFoundError):
        reader.get_node_id("/g/a")
    diff = repo.diff(from_snapshot_id=before, to_snapshot_id=after)
    assert diff.moved_nodes == [("/g/a", "/b"), ("/g", "/h"), ("/g/sub", "/h/sub")]
    assert not (diff.new_arrays or diff.deleted_groups or diff.updated_chunks)
    assert not diff.is_empty()
    # The old version reads at the old paths.
    old = repo.readonly_session(snapshot_id=before)
    np.testing.assert_array_equal(zarr.open_array(old.store, path="g/a", mode="r")[:], range(8))
    # The spec's reader sees the same hierarchy and the same diff from the log.
    spec = sr.Repository.open(path)
    assert spec.diff(before, after)["moved_nodes"] == diff.moved_nodes
    log = repo.inspect_transaction_log(after)
    assert [(m["from"], m["to"]) for m in log["moved_nodes"]] == diff.moved_nodes


def test_a_move_back_is_no_change(repo: ic.Repository) -> None:
    session = repo.rearrange_session("main")
    session.move("/x", "/y")
    session.move("/y", "/x")
    assert session.status().moved_nodes == []
    assert not session.has_uncommitted_changes


@pytest.mark.parametrize(
    ("source", "target", "error", "words"),
    [
        ("/g", "/x", ic.AlreadyExistsError, "overwrite"),
        ("/g", "/nope/h", ic.SessionStateError, "does not exist"),
        ("/g", "/x/h", ic.SessionStateError, "is an array"),
        ("/g", "/g/sub/h", ic.SessionStateError, "itself"),
        ("/g", "/g", ic.SessionStateError, "itself"),
        ("/", "/h", ic.SessionStateError, "itself"),
        ("/nope", "/h", ic.NodeNotFoundError, "/nope"),
        ("g", "/h", ic.InvalidInputError, "start with"),
    ],
)
def test_refused_moves_change_nothing(
    repo: ic.Repository, source: str, target: str, error: type[Exception], words: str
) -> None:
    tip = repo.lookup_branch("main")
    session = repo.rearrange_session("main")
    with pytest.raises(error, match=words):
        session.move(source, target)
    assert not session.has_uncommitted_changes
    assert members(session) == ["g", "g/a", "g/sub", "x"]
    with pytest.raises(ic.SessionStateError):
        session.commit("nothing")
    assert repo.lookup_branch("main") == tip


def test_sessions_keep_to_their_kind(repo: ic.Repository) -> None:
    writable = repo.writable_session("main")
    with pytest.raises(ic.SessionStateError, match="rearrange session"):
        writable.move("/g", "/h")
    rearrange = repo.rearrange_session("main")
    with pytest.raises(ic.SessionStateError, match="moves only"):
        zarr.open_group(rearrange.store).create_group("new")
    with pytest.raises(ic.SessionStateError, match="moves only"):
        zarr.open_array(rearrange.store, path="x")[0] = 1
    rearrange.move("/x", "/y")
    rearrange.discard_changes()
    assert members(rearrange) == ["g", "g/a", "g/sub", "x"]


def test_feature_flag_off_refuses_rearrange_sessions(repo: ic.Repository) -> None:
    repo.set_feature_flag("move_node", False)
    with pytest.raises(ic.SessionStateError) as refused:
        repo.rearrange_session("main")
    assert refused.value.kind == ic.ErrorKind.FEATURE_FLAG_DISABLED
    repo.set_feature_flag("move_node", None)
    repo.rearrange_session("main")


def test_a_move_is_not_rebased(repo: ic.Repository) -> None:
    mover = repo.rearrange_session("main")
    writer = repo.writable_session("main")
    zarr.open_group(writer.store).attrs["k"] = 1
    theirs = writer.commit("theirs")
    mover.move("/x", "/y")
    with pytest.raises(ic.ConflictError) as conflict:
        mover.commit("move")
    assert conflict.value.actual_parent == theirs
    with pytest.raises(ic.RebaseFailedError) as failed:
        mover.commit("move", rebase_with=ic.ConflictDetector())
    assert [(c.conflict_type, c.path) for c in failed.value.conflicts] == [
        (ic.ConflictType.MoveOperationCannotBeRebased, "/x")
    ]
    with pytest.raises(ic.RebaseFailedError):
        mover.rebase(ic.BasicConflictSolver())
    assert repo.lookup_branch("main") == theirs
    assert mover.has_uncommitted_changes
    # Started over on the tip, it lands.
    again = repo.rearrange_session("main")
    again.move("/x", "/y")
    again.commit("move")
    assert members(repo.readonly_session(branch="main")) == ["g", "g/a", "g/sub", "y"]


def test_a_change_to_a_moved_node_is_not_rebased(repo: ic.Repository) -> None:
    writer = repo.writable_session("main")
    zarr.open_array(writer.store, path="g/a")[0] = 100
    mover = repo.rearrange_session("main")
    mover.move("/g", "/h")
    mover.commit("move")
    with pytest.raises(ic.RebaseFailedError) as failed:
        writer.commit("write", rebase_with=ic.ConflictDetector())
    assert {c.conflict_type for c in failed.value.conflicts} == {
        ic.ConflictType.MoveOperationCannotBeRebased
    }


async def test_async_twins(repo: ic.Repository, path: Path) -> None:
    chunks = chunk_objects(path)
    session = await repo.rearrange_session_async("main")
    await session.move_async("/g/a", "/a")
    with pytest.raises(ic.AlreadyExistsError):
        await session.move_async("/x", "/a")
    await session.commit_async("moved")
    assert chunk_objects(path) == chunks
    reader = await repo.readonly_session_async(branch="main")
    np.testing.assert_array_equal(zarr.open_array(reader.store, path="a", mode="r")[:], range(8))
    writable = await repo.writable_session_async("main")
    with pytest.raises(ic.SessionStateError):
        await writable.move_async("/a", "/b")


def test_diff_over_several_commits_agrees_with_the_spec_reader(
    repo: ic.Repository, path: Path
) -> None:
    start = repo.lookup_branch("main")
    with repo.transaction("main", message="new array") as store:
        zarr.create_array(store, name="g/n", shape=(2,), chunks=(1,), dtype="i1")[:] = 1
    for source, target in [("/g", "/h"), ("/h/n", "/n"), ("/x", "/h/x")]:
        session = repo.rearrange_session("main")
        session.move(source, target)
        session.commit(f"{source} -> {target}")
    tip = repo.lookup_branch("main")
    diff = repo.diff(from_snapshot_id=start, to_snapshot_id=tip)
    # /g/n was created in the range: new at its last path, not moved.
    assert diff.new_arrays == {"/n"}
    assert diff.updated_chunks == {"/n": [[0], [1]]}
    assert diff.moved_nodes == [
        ("/g", "/h"),
        ("/g/a", "/h/a"),
        ("/g/sub", "/h/sub"),
        ("/x", "/h/x"),
    ]
    spec = sr.Repository.open(path)
    for older in [start, *[info.id for info in repo.ancestry(branch="main")][1:4]]:
        mine = spec.diff(older, tip)
        theirs = repo.diff(from_snapshot_id=older, to_snapshot_id=tip)
        assert mine["moved_nodes"] == theirs.moved_nodes
        assert mine["new_arrays"] == theirs.new_arrays
