"""Default commit metadata and the inspect_* documents of Icechunk 2.3's Repository."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk as ic


def test_default_commit_metadata_applies_to_sessions_opened_after(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(str(tmp_path)))
    with repo.transaction("main", message="root") as store:
        zarr.create_group(store)
    before = repo.writable_session("main")
    repo.set_default_commit_metadata({"author": "ci", "run": 1})
    assert repo.default_commit_metadata() == {"author": "ci", "run": 1}
    after = repo.writable_session("main")
    zarr.create_group(after.store, path="a")
    snapshot = after.commit("with defaults", metadata={"run": 2})
    assert repo.lookup_snapshot(snapshot).metadata == {"author": "ci", "run": 2}
    zarr.create_group(before.store, path="b", attributes={"x": 1})
    with pytest.raises(ic.ConflictError):
        before.commit("opened before")
    before.rebase(ic.ConflictDetector())
    assert repo.lookup_snapshot(before.commit("opened before")).metadata == {}
    repo.set_default_commit_metadata({})
    assert repo.default_commit_metadata() == {}


async def test_inspect_documents(tmp_path: Path) -> None:
    repo = ic.Repository.create(
        ic.local_filesystem_storage(str(tmp_path)),
        ic.RepositoryConfig(inline_manifest_threshold_bytes=0, inline_chunk_threshold_bytes=8),
    )
    with repo.transaction("main", message="one") as store:
        zarr.create_array(
            store, name="a", shape=(4,), chunks=(2,), dtype="i8", attributes={"u": "m"}
        )[:] = np.arange(4)
    tip = repo.lookup_branch("main")
    repo.create_tag("v1", tip)

    snapshot = repo.inspect_snapshot(tip)
    assert snapshot == await repo.inspect_snapshot_async(tip)
    assert (snapshot["id"], snapshot["message"]) == (tip, "one")
    nodes = {node["path"]: node for node in snapshot["nodes"]}
    array = nodes["/a"]
    assert array["type"] == "array" and array["zarr_json"]["attributes"] == {"u": "m"}
    assert array["id"] == repo.readonly_session(branch="main").get_node_id("/a")
    (manifest_ref,) = array["manifests"]
    assert manifest_ref["chunk_count"] == 2 and not manifest_ref["inline"]

    manifest = repo.inspect_manifest(manifest_ref["manifest_id"])
    assert manifest["node_id"] == array["id"]
    assert [ref["coords"] for ref in manifest["refs"]] == [[0], [1]]
    assert {ref["location"] for ref in manifest["refs"]} == {"object"}

    log = repo.inspect_transaction_log(tip)
    assert [n["path"] for n in log["new_arrays"]] == ["/a"]
    assert log["updated_chunks"][0]["coords"] == [[0], [1]]

    info = await repo.inspect_repo_info_async()
    assert info["branches"] == {"main": tip} and info["tags"] == {"v1": tip}
    assert info["config"]["inline_chunk_threshold_bytes"] == 8 and info["format_version"] == 1

    with pytest.raises(ic.SnapshotNotFoundError):
        repo.inspect_snapshot("0" * 20)
    with pytest.raises(ic.InvalidInputError):
        repo.inspect_manifest("not an id")
    with pytest.raises(ic.InvalidInputError):
        repo.inspect_manifest("0" * 20)  # no such manifest object
