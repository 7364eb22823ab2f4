"""Diff semantics (spec/format.md §7): the worked example, and the cases where a node is
touched in several ways within the range. Icechunk 2.3 gives the same for these histories."""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

import icechunk as ic


def as_dict(diff: Any) -> dict[str, Any]:
    out = {
        name: set(getattr(diff, name))
        for name in (
            "new_groups",
            "new_arrays",
            "deleted_groups",
            "deleted_arrays",
            "updated_groups",
            "updated_arrays",
        )
    }
    out["updated_chunks"] = {p: {tuple(c) for c in cs} for p, cs in diff.updated_chunks.items()}
    return {k: v for k, v in out.items() if v}


def commit(repo: ic.Repository, message: str, change: Any) -> str:
    session = repo.writable_session("main")
    change(zarr.open_group(session.store, mode="a"))
    return session.commit(message)


def test_the_spec_worked_example(tmp_path: Any) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))

    def s0(root: zarr.Group) -> None:
        root.create_group("g")
        for name in ("keep", "x"):
            root.create_array(name, shape=(4,), chunks=(2,), dtype="i4")[:] = 1

    def s1(root: zarr.Group) -> None:
        root.create_array("g/tmp", shape=(4,), chunks=(2,), dtype="i4")[:] = 2
        root["keep"][0:2] = 5

    def s2(root: zarr.Group) -> None:
        tmp = root["g/tmp"]
        tmp[2:4] = 3
        tmp.attrs["touched"] = True

    def s3(root: zarr.Group) -> None:
        del root["g/tmp"]
        root["g"].attrs["a"] = 1
        del root["x"]

    def s4(root: zarr.Group) -> None:
        root.create_array("x", shape=(6,), chunks=(3,), dtype="i4")[0:3] = 7
        root.create_array("g/z", shape=(), dtype="i4")[...] = 9

    ids = [
        commit(repo, name, step)
        for name, step in [("s0", s0), ("s1", s1), ("s2", s2), ("s3", s3), ("s4", s4)]
    ]

    def diff(a: int, b: int) -> dict[str, Any]:
        return as_dict(repo.diff(from_snapshot_id=ids[a], to_snapshot_id=ids[b]))

    assert diff(0, 4) == {
        "new_arrays": {"/g/z", "/x"},
        "deleted_arrays": {"/x"},
        "updated_groups": {"/g"},
        "updated_chunks": {"/g/z": {()}, "/keep": {(0,)}, "/x": {(0,)}},
    }
    assert diff(1, 4) == {
        "new_arrays": {"/g/z", "/x"},
        "deleted_arrays": {"/g/tmp", "/x"},
        "updated_arrays": {"/g/tmp"},
        "updated_groups": {"/g"},
        "updated_chunks": {"/g/tmp": {(1,)}, "/g/z": {()}, "/x": {(0,)}},
    }
    assert diff(2, 3) == {"deleted_arrays": {"/g/tmp", "/x"}, "updated_groups": {"/g"}}
    assert diff(4, 4) == {}


def test_a_new_node_updated_later_is_new_and_updated(tmp_path: Any) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    base = repo.lookup_branch("main")
    commit(
        repo,
        "create",
        lambda root: root.create_array("a", data=np.arange(4, dtype="i1"), chunks=(2,)),
    )

    def update(root: zarr.Group) -> None:
        root["a"].attrs["units"] = "m"

    tip = commit(repo, "update", update)
    assert as_dict(repo.diff(from_snapshot_id=base, to_snapshot_id=tip)) == {
        "new_groups": {"/"},
        "new_arrays": {"/a"},
        "updated_arrays": {"/a"},
        "updated_chunks": {"/a": {(0,), (1,)}},
    }
