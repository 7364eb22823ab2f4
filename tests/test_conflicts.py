"""Concurrent writers: conflict detection, rebase with solvers, commit(rebase_with=...).

Includes 8 OS processes committing to one branch at once, overlapping writers under
UseOurs / UseTheirs, and a property test of rebase against a model.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import icechunk as ic
from icechunk.conflicts import Conflict, ConflictType

spawn = mp.get_context("spawn")

N_CHUNKS = 8


def make_array(repo: ic.Repository, size: int) -> None:
    with repo.transaction("main", message="setup") as store:
        zarr.create_array(store, name="a", shape=(size,), chunks=(1,), dtype="i4", fill_value=0)


def write(session: ic.Session, values: dict[int, int]) -> None:
    array = zarr.open_array(session.store, path="a", mode="r+")
    for index, value in values.items():
        array[index] = value


def read(repo: ic.Repository, branch: str = "main") -> np.ndarray:
    return zarr.open_array(repo.readonly_session(branch=branch).store, path="a", mode="r")[:]


def race(repo: ic.Repository, ours: dict[int, int], theirs: dict[int, int]) -> ic.Session:
    """Two sessions from one base; `theirs` commits first, ours is returned uncommitted."""
    session = repo.writable_session("main")
    other = repo.writable_session("main")
    write(other, theirs)
    other.commit("theirs")
    write(session, ours)
    return session


# ---- solvers, rebase and commit(rebase_with) in one process ----------------------------
def test_disjoint_chunks_rebase_cleanly(repo: ic.Repository) -> None:
    make_array(repo, N_CHUNKS)
    session = race(repo, {1: 11}, {2: 22})
    with pytest.raises(ic.ConflictError):
        session.commit("plain commit fails")
    session.rebase(ic.ConflictDetector())
    session.commit("ours")
    assert read(repo).tolist() == [0, 11, 22, 0, 0, 0, 0, 0]
    assert [s.message for s in repo.ancestry(branch="main")][:3] == ["ours", "theirs", "setup"]


def test_commit_and_transaction_rebase_with(repo: ic.Repository) -> None:
    make_array(repo, N_CHUNKS)
    session = race(repo, {3: 33}, {4: 44})
    session.commit("ours", rebase_with=ic.ConflictDetector())
    moved = repo.writable_session("main")
    with repo.transaction("main", message="tx", rebase_with=ic.ConflictDetector()) as store:
        zarr.open_array(store, path="a", mode="r+")[5] = 55
        write(moved, {6: 66})
        moved.commit("meanwhile")
    assert read(repo).tolist() == [0, 0, 0, 33, 44, 55, 66, 0]


def test_detector_lists_the_conflicts(repo: ic.Repository) -> None:
    make_array(repo, N_CHUNKS)
    session = race(repo, {1: 1, 2: 2, 5: 5}, {2: 20, 5: 50, 6: 60})
    tip = repo.lookup_branch("main")
    with pytest.raises(ic.RebaseFailedError) as info:
        session.commit("ours", rebase_with=ic.ConflictDetector())
    err = info.value
    assert isinstance(err, ic.ConflictError)
    assert err.snapshot == tip
    assert err.conflicts == [Conflict("ChunkDoubleUpdate", "/a", [(2,), (5,)])]
    conflict = err.conflicts[0]
    assert conflict.conflict_type is ConflictType.ChunkDoubleUpdate
    assert conflict.conflict_type == "ChunkDoubleUpdate"
    assert conflict.path == "/a" and conflict.conflicted_chunks == [(2,), (5,)]
    assert "ChunkDoubleUpdate at /a chunks [2], [5]" in str(err)
    # It pickles (errors cross process boundaries in Dask and multiprocessing).
    copy = pickle.loads(pickle.dumps(err))
    assert copy.conflicts == err.conflicts and copy.snapshot == err.snapshot
    assert str(copy) == str(err)
    # The failed rebase changed nothing: another solver still applies.
    with pytest.raises(ic.RebaseFailedError):
        session.rebase(ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.Fail))
    session.rebase(ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseOurs))
    session.commit("ours")
    assert read(repo).tolist() == [0, 1, 2, 0, 0, 5, 60, 0]


@pytest.mark.parametrize("rule", [ic.VersionSelection.UseOurs, ic.VersionSelection.UseTheirs])
def test_overlapping_chunks_follow_the_rule(repo: ic.Repository, rule: ic.VersionSelection) -> None:
    make_array(repo, N_CHUNKS)
    session = race(repo, {1: 1, 2: 2, 3: 3}, {2: 20, 3: 30, 4: 40})
    session.commit("ours", rebase_with=ic.BasicConflictSolver(on_chunk_conflict=rule))
    if rule is ic.VersionSelection.UseOurs:
        assert read(repo).tolist() == [0, 1, 2, 3, 40, 0, 0, 0]
    else:
        assert read(repo).tolist() == [0, 1, 20, 30, 40, 0, 0, 0]


def test_node_conflicts_and_delete_rules(repo: ic.Repository) -> None:
    make_array(repo, N_CHUNKS)
    # Both create the same array: no solver settles that.
    session = repo.writable_session("main")
    other = repo.writable_session("main")
    zarr.create_array(other.store, name="b", shape=(2,), chunks=(1,), dtype="i1")
    other.commit("their b")
    zarr.create_array(session.store, name="b", shape=(3,), chunks=(1,), dtype="i1")
    with pytest.raises(ic.RebaseFailedError) as info:
        session.rebase(ic.BasicConflictSolver())
    assert [(c.conflict_type, c.path) for c in info.value.conflicts] == [
        (ConflictType.NewNodeConflictsWithExistingNode, "/b")
    ]
    # We delete an array they wrote into: our delete wins unless told to fail.
    session = repo.writable_session("main")
    other = repo.writable_session("main")
    write(other, {0: 7})
    other.commit("their write")
    session.store.delete_sync("a/zarr.json")
    strict = ic.BasicConflictSolver(fail_on_delete_of_updated_array=True)
    with pytest.raises(ic.RebaseFailedError, match="DeleteOfUpdatedArray"):
        session.rebase(strict)
    session.commit("delete a", rebase_with=ic.BasicConflictSolver())
    assert "/a" in repo.diff(from_snapshot_id=other.snapshot_id, to_branch="main").deleted_arrays


def test_solver_arguments_are_checked(repo: ic.Repository) -> None:
    session = repo.writable_session("main")
    with pytest.raises(TypeError, match="conflict solver"):
        session.rebase("UseOurs")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="VersionSelection"):
        ic.BasicConflictSolver(on_chunk_conflict="UseOurs")  # type: ignore[arg-type]
    assert "UseTheirs" in repr(
        ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseTheirs)
    )
    # Nothing moved: rebasing is a no-op.
    session.rebase(ic.ConflictDetector())
    with pytest.raises(ic.ReadOnlyError):
        repo.readonly_session(branch="main").rebase(ic.ConflictDetector())


# ---- many OS processes on one branch ----------------------------------------------------
PROCESSES = 8
ROUNDS = 20


def commit_disjoint(path: str, me: int, rounds: int) -> None:
    """Child process: `rounds` commits, each writing chunk me * rounds + i."""
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    for i in range(rounds):
        session = repo.writable_session("main")
        write(session, {me * rounds + i: me * 1000 + i + 1})
        session.commit(f"p{me} c{i}", rebase_with=ic.ConflictDetector())


def commit_overlapping(path: str, me: int, rounds: int, rule: int) -> None:
    """Child process: commits writing 3 of 6 chunks, overlapping the other processes'."""
    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    solver = ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection(rule))
    for i in range(rounds):
        session = repo.writable_session("main")
        chunks = [(me + i + k) % 6 for k in range(3)]
        write(session, dict.fromkeys(chunks, me * 1000 + i + 1))
        meta = {"base": session.snapshot_id, "chunks": chunks, "value": me * 1000 + i + 1}
        # UseTheirs may drop all of ours: the commit still lands, empty.
        session.commit(f"p{me} c{i}", metadata=meta, allow_empty=True, rebase_with=solver)


def run_processes(target: object, args: list[tuple[object, ...]], timeout: float = 120) -> None:
    procs = [spawn.Process(target=target, args=a) for a in args]  # type: ignore[arg-type]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
    for p in procs:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0] * len(procs)


def test_processes_commit_disjoint_chunks_with_rebase(tmp_path: Path) -> None:
    path = str(tmp_path / "repo")
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    make_array(repo, PROCESSES * ROUNDS)
    run_processes(commit_disjoint, [(path, me, ROUNDS) for me in range(PROCESSES)])

    expected = [me * 1000 + i + 1 for me in range(PROCESSES) for i in range(ROUNDS)]
    assert read(repo).tolist() == expected
    messages = [s.message for s in repo.ancestry(branch="main")]
    assert len(messages) == PROCESSES * ROUNDS + 2  # + setup + the repository's first
    assert set(messages[: PROCESSES * ROUNDS]) == {
        f"p{me} c{i}" for me in range(PROCESSES) for i in range(ROUNDS)
    }
    # Each process's commits landed in its own order.
    for me in range(PROCESSES):
        mine = [m for m in reversed(messages) if m.startswith(f"p{me} ")]
        assert mine == [f"p{me} c{i}" for i in range(ROUNDS)]


@pytest.mark.parametrize("rule", [ic.VersionSelection.UseOurs, ic.VersionSelection.UseTheirs])
def test_processes_overlapping_chunks_follow_the_rule(
    tmp_path: Path, rule: ic.VersionSelection
) -> None:
    path = str(tmp_path / "repo")
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    make_array(repo, 6)
    procs, rounds = 4, 6
    run_processes(commit_overlapping, [(path, me, rounds, rule.value) for me in range(procs)])

    history = list(repo.ancestry(branch="main"))[: procs * rounds]
    assert len({s.message for s in history}) == procs * rounds
    order = {s.id: n for n, s in enumerate(reversed(history))}  # oldest first
    written: dict[str, set[int]] = {}
    for s in history:
        diff = repo.diff(from_snapshot_id=s.parent_id, to_snapshot_id=s.id)
        written[s.id] = {c[0] for c in diff.updated_chunks.get("/a", [])}
    for s in history:
        intended = set(s.metadata["chunks"])
        # Commits that landed between this writer's base and its own commit.
        landed_since = {
            c
            for t in history
            if order[t.id] < order[s.id]
            and (s.metadata["base"] not in order or order[t.id] > order[s.metadata["base"]])
            for c in written[t.id]
        }
        if rule is ic.VersionSelection.UseOurs:
            assert written[s.id] == intended
        else:
            assert written[s.id] == intended - landed_since, s.message
    # Each chunk holds the value of the newest commit that wrote it.
    final = read(repo).tolist()
    for chunk in range(6):
        newest = next(s for s in history if chunk in written[s.id])
        assert final[chunk] == newest.metadata["value"]


# ---- property: rebase against a model ---------------------------------------------------
changes = st.dictionaries(st.integers(0, N_CHUNKS - 1), st.integers(1, 9), max_size=N_CHUNKS)
solvers = st.sampled_from(["detector", "ours", "theirs", "fail"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=changes, ours=changes, theirs=changes, solver_name=solvers)
def test_rebase_matches_the_model(
    base: dict[int, int], ours: dict[int, int], theirs: dict[int, int], solver_name: str
) -> None:
    """Random chunk writes of theirs and ours on one base, against "apply in order"."""
    repo = ic.Repository.create(ic.in_memory_storage())
    make_array(repo, N_CHUNKS)
    if base:
        session = repo.writable_session("main")
        write(session, base)
        session.commit("base")
    start = [base.get(i, 0) for i in range(N_CHUNKS)]
    session = race(repo, ours, theirs) if theirs else None
    if session is None:  # they wrote nothing: nothing to rebase onto
        return
    solver = {
        "detector": ic.ConflictDetector(),
        "ours": ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseOurs),
        "theirs": ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseTheirs),
        "fail": ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.Fail),
    }[solver_name]
    both = sorted(set(ours) & set(theirs))
    if both and solver_name in ("detector", "fail"):
        with pytest.raises(ic.RebaseFailedError) as info:
            session.rebase(solver)
        assert info.value.conflicts == [Conflict("ChunkDoubleUpdate", "/a", [(c,) for c in both])]
        return
    session.rebase(solver)
    if solver_name == "theirs":  # what is left of ours: the chunks they did not write
        assert {tuple(c) for c in session.status().updated_chunks.get("/a", [])} == {
            (c,) for c in set(ours) - set(theirs)
        }
    if ours:
        session.commit("ours", allow_empty=True)  # UseTheirs may have dropped all of ours
    expected = list(start)
    first, second = (ours, theirs) if solver_name == "theirs" else (theirs, ours)
    for writes in (first, second):
        for index, value in writes.items():
            expected[index] = value
    assert read(repo).tolist() == expected
