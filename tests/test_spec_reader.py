"""A reader written from spec/format.md alone (tests/spec_reader) against repositories the
engine writes: every node, every chunk, refs, history and diffs must agree byte for byte, and
damaged objects must be refused.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zstandard
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync

import icechunk as ic
import spec_reader as sr
from spec_reader import format_generated as fb
from spec_reader import ids, objects
from spec_reader.crc import combine, crc32c, shift
from spec_reader.objects import ChunkRef
from spec_reader.repository import fold_logs, parse_hint
from spec_reader.storage import MemoryStorage

# ---------------------------------------------------------------- helpers


async def _collect(store: ic.IcechunkStore) -> list[str]:
    return [key async for key in store.list()]


def engine_keys(session: ic.Session) -> list[str]:
    return sorted(sync(_collect(session.store)))


def engine_get(session: ic.Session, key: str, byte_range: Any = None) -> bytes | None:
    value = session.store.get_sync(key, byte_range=byte_range)
    return None if value is None else value.to_bytes()


def raw_set(store: ic.IcechunkStore, key: str, value: bytes) -> None:
    sync(store.set(key, default_buffer_prototype().buffer.from_bytes(value)))


def norm_diff(diff: Any) -> dict[str, Any]:
    """An engine Diff or a reader diff, as plain sets."""

    def get(name: str) -> Any:
        return diff[name] if isinstance(diff, dict) else getattr(diff, name)

    out: dict[str, Any] = {
        name: set(get(name))
        for name in (
            "new_groups",
            "new_arrays",
            "deleted_groups",
            "deleted_arrays",
            "updated_groups",
            "updated_arrays",
        )
    }
    out["updated_chunks"] = {
        path: {tuple(c) for c in coords} for path, coords in get("updated_chunks").items()
    }
    out["moved_nodes"] = [tuple(pair) for pair in get("moved_nodes")]
    return out


def assert_snapshot_matches(reader: sr.Repository, repo: ic.Repository, snapshot_id: str) -> int:
    """Every key of the snapshot: same listing, same bytes. Returns the number of keys."""
    session = repo.readonly_session(snapshot_id=snapshot_id)
    keys = sorted(reader.keys(snapshot_id))
    assert keys == engine_keys(session)
    for key in keys:
        assert reader.get(snapshot_id, key) == engine_get(session, key), key
    # The node list: metadata keys, and node types from the documents.
    for node in reader.nodes(snapshot_id):
        doc = json.loads(node.zarr_json)
        assert doc["node_type"] == ("array" if node.is_array else "group"), node.path
        if node.is_array:
            assert len(node.block_shape) == len(doc["shape"])
    return len(keys)


def assert_history_matches(reader: sr.Repository, repo: ic.Repository, branch: str) -> list[str]:
    tip = reader.lookup_branch(branch)
    assert tip == repo.lookup_branch(branch)
    mine = list(reader.ancestry(tip))
    theirs = list(repo.ancestry(branch=branch))
    assert [i.id for i in mine] == [i.id for i in theirs]
    for a, b in zip(mine, theirs, strict=True):
        assert a.parent_id == b.parent_id
        assert a.message == b.message
        assert a.metadata == b.metadata
        micros = round(b.written_at.timestamp() * 1_000_000)
        assert abs(a.flushed_at - micros) <= 1
    return [i.id for i in mine]


def engine(path: Path) -> ic.Repository:
    """The repository at `path`, opened afresh by the engine."""
    return ic.Repository.open(ic.local_filesystem_storage(str(path)))


def array(store: Any, name: str, **kwargs: Any) -> zarr.Array:
    kwargs.setdefault("fill_value", 0)
    return zarr.create_array(store, name=name, **kwargs)


def build_history(repo: ic.Repository) -> dict[str, str]:
    """Groups and arrays, inline and object chunks, deleted and re-created nodes, a 0-d array,
    the v2 chunk key encoding, an empty chunk, branches and tags. Returns named snapshots."""
    rng = np.random.default_rng(42)
    snaps: dict[str, str] = {}

    s = repo.writable_session("main")
    root = zarr.create_group(s.store, attributes={"title": "spec reader"})
    root.create_group("g", attributes={"a": 1})
    root.create_group("old")
    array(s.store, "g/small", shape=(20, 20), chunks=(3, 3), dtype="f8")[:] = rng.random((20, 20))
    big = array(s.store, "big", shape=(100, 60), chunks=(50, 30), dtype="f8")
    big[:] = rng.random((100, 60))
    array(s.store, "g/scalar", shape=(), chunks=(), dtype="i4")[...] = 7
    array(
        s.store,
        "v2",
        shape=(6, 4),
        chunks=(2, 2),
        dtype="u1",
        chunk_key_encoding={"name": "v2", "separator": "."},
    )[:] = np.arange(24, dtype="u1").reshape(6, 4)
    array(
        s.store,
        "slash",
        shape=(4, 4),
        chunks=(2, 2),
        dtype="i2",
        chunk_key_encoding={"name": "v2", "separator": "/"},
    )[0:2, :] = 5
    sparse = array(s.store, "old/sparse", shape=(1000,), chunks=(10,), dtype="i8")
    sparse[0:10] = 1
    sparse[500:510] = 2
    snaps["c1"] = s.commit("first", metadata={"step": 1})
    repo.create_tag("v1", snaps["c1"])

    s = repo.writable_session("main")
    zarr.open_array(s.store, path="g/small")[0:3, 0:3] = -1.0
    zarr.open_array(s.store, path="big").attrs["units"] = "m"
    sync(s.store.delete("old/sparse/c/50"))
    zarr.open_array(s.store, path="g/scalar")[...] = 8
    snaps["c2"] = s.commit("second")

    s = repo.writable_session("main")
    g = zarr.open_group(s.store, path="g")
    del g["small"]
    array(s.store, "g/small", shape=(5,), chunks=(2,), dtype="i1")[:] = 3  # same path, new node
    del zarr.open_group(s.store)["old"]
    e = array(s.store, "g/empty", shape=(4,), chunks=(2,), dtype="u1")
    raw_set(s.store, "g/empty/c/0", b"")  # a chunk of zero bytes: present, not absent
    e.attrs["note"] = "chunk 0 is empty"
    snaps["c3"] = s.commit("third: delete and re-create")

    repo.create_branch("dev", snaps["c2"])
    s = repo.writable_session("dev")
    array(s.store, "dev_only", shape=(3,), chunks=(3,), dtype="f4")[:] = 1.5
    snaps["dev1"] = s.commit("on dev")
    repo.create_tag("dev-tip", snaps["dev1"])
    repo.create_tag("gone", snaps["c1"])
    repo.delete_tag("gone")
    repo.create_branch("tmp", snaps["c1"])
    repo.delete_branch("tmp")

    s = repo.writable_session("main")
    zarr.open_group(s.store, path="g").attrs["b"] = 2
    array(s.store, "g/small2", shape=(3,), chunks=(1,), dtype="i1")[:] = 1
    snaps["c4"] = s.commit("fourth")
    return snaps


CONFIGS = {
    "defaults": ic.RepositoryConfig(),
    "objects_only": ic.RepositoryConfig(
        inline_chunk_threshold_bytes=0, inline_manifest_threshold_bytes=0, manifest_shard_size=4
    ),
    "all_inline": ic.RepositoryConfig(inline_chunk_threshold_bytes=1 << 20, manifest_shard_size=16),
    "mixed_manifests": ic.RepositoryConfig(
        inline_chunk_threshold_bytes=100, inline_manifest_threshold_bytes=600, manifest_shard_size=8
    ),
}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp(request.param) / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)), CONFIGS[request.param])
    snaps = build_history(repo)
    return request.param, path, repo, snaps


# ---------------------------------------------------------------- the engine's repositories


def test_every_key_of_every_snapshot(written: Any) -> None:
    name, path, repo, snaps = written
    reader = sr.Repository.open(path)
    total = 0
    for branch in ("main", "dev"):
        for snapshot_id in assert_history_matches(reader, repo, branch):
            total += assert_snapshot_matches(reader, repo, snapshot_id)
    assert total > 100
    # The shapes the configurations are meant to produce.
    kinds = {"inline": 0, "object": 0, "inline_manifest": 0, "manifest_object": 0, "empty": 0}
    for snapshot_id in snaps.values():
        for node in reader.nodes(snapshot_id):
            for shard in node.shards:
                kinds["inline_manifest" if shard.inline_manifest else "manifest_object"] += 1
            for ref in reader.chunk_refs(node):
                kinds["inline" if ref.inline_data is not None else "object"] += 1
                kinds["empty"] += ref.length == 0
    assert kinds["empty"] > 0
    if name == "objects_only":
        assert kinds["inline"] == kinds["empty"] and kinds["inline_manifest"] == 0
    if name == "all_inline":
        assert kinds["object"] == 0 and kinds["manifest_object"] == 0
    if name in ("defaults", "mixed_manifests"):
        assert kinds["inline"] > kinds["empty"] and kinds["object"] > 0
    if name == "mixed_manifests":
        assert kinds["inline_manifest"] > 0 and kinds["manifest_object"] > 0


def test_refs_and_tags(written: Any) -> None:
    _, path, repo, snaps = written
    reader = sr.Repository.open(path)
    assert reader.list_branches() == repo.list_branches() == {"main", "dev"}
    assert reader.list_tags() == repo.list_tags() == {"v1", "dev-tip"}
    for tag in ("v1", "dev-tip"):
        assert reader.lookup_tag(tag) == repo.lookup_tag(tag)
    for missing in ("gone", "never"):
        with pytest.raises(sr.RefNotFoundError):
            reader.lookup_tag(missing)
        with pytest.raises(ic.RefNotFoundError):
            repo.lookup_tag(missing)
    for missing in ("tmp", "never"):
        with pytest.raises(sr.RefNotFoundError):
            reader.lookup_branch(missing)
        with pytest.raises(ic.RefNotFoundError):
            repo.lookup_branch(missing)
    with pytest.raises(sr.InvalidInputError):
        reader.lookup_branch("a/b")
    assert reader.branch_tip("tmp").record.deleted
    assert reader.lookup_branch("dev") == snaps["dev1"]


def test_diffs_and_transaction_logs(written: Any) -> None:
    _, path, repo, snaps = written
    reader = sr.Repository.open(path)
    history = list(reversed(assert_history_matches(reader, repo, "main")))
    for i, a in enumerate(history):
        for b in history[i:]:
            mine = norm_diff(reader.diff(a, b))
            theirs = norm_diff(repo.diff(from_snapshot_id=a, to_snapshot_id=b))
            assert mine == theirs, (a, b)
    with pytest.raises(sr.NotAncestorError):
        reader.diff(snaps["c3"], snaps["c1"])
    # Delete and re-create in one commit: two nodes at one path, told apart by id.
    log = reader.transaction_log(snaps["c3"])
    [(old_id, _)] = [e for e in log.deleted_arrays if e[1] == "/g/small"]
    [(new_id, _)] = [e for e in log.new_arrays if e[1] == "/g/small"]
    assert old_id != new_id
    assert reader.diff(snaps["c2"], snaps["c3"])["updated_chunks"]["/g/small"] == {(0,), (1,), (2,)}
    # The 0-d array: ndim 0, its one chunk [].
    log = reader.transaction_log(snaps["c2"])
    assert {path: c for (_, path), c in log.updated_chunks.items()}["/g/scalar"] == {()}


def test_files_on_disk_are_the_objects_of_section_3(written: Any) -> None:
    _, path, _, snaps = written
    reader = sr.Repository.open(path)
    snapshots = set()
    for snapshot_id in snaps.values():
        snapshots.update(i.id for i in reader.ancestry(snapshot_id))
    manifests, chunks = set(), set()
    for snapshot_id in snapshots:
        for node in reader.nodes(snapshot_id):
            manifests.update(s.manifest_id for s in node.shards if s.inline_manifest is None)
            chunks.update(r.chunk_id for r in reader.chunk_refs(node) if r.chunk_id)
    patterns = [
        r"config\.json",
        r"snapshots/[0-9A-V]{20}",
        r"transactions/[0-9A-V]{20}",
        r"manifests/[0-9A-V]{20}",
        r"chunks/[0-9A-V]{20}",
        r"refs/branch\.[^/]+/([0-9]{20}|hint)",
        r"refs/tag\.[^/]+/(ref|deleted)",
    ]
    files = {p.relative_to(path).as_posix() for p in Path(path).rglob("*") if p.is_file()}
    for f in files:
        assert any(re.fullmatch(p, f) for p in patterns), f
    assert {f"snapshots/{s}" for s in snapshots} <= files
    assert {f"transactions/{s}" for s in snapshots} <= files
    assert {f"manifests/{m}" for m in manifests} <= files
    assert {f"chunks/{c}" for c in chunks} <= files
    # Compressed objects declare their content size (§4.2).
    for f in files:
        data = (Path(path) / f).read_bytes()
        if data[:8] == b"ZARRACID" and data[10] == 1:
            assert zstandard.get_frame_parameters(data[16:]).content_size < 2**31


def test_range_reads_of_chunks_without_tables(written: Any) -> None:
    _, path, repo, snaps = written
    reader = sr.Repository.open(path)
    session = repo.readonly_session(snapshot_id=snaps["c1"])
    node = reader.node(snaps["c1"], "/big")
    ref = reader.chunk_ref(node, (1, 1))
    assert ref.block_size_log2 == 0 and ref.length > 1000
    key = "big/c/1/1"
    length = ref.length
    cases = [
        ((10, 20), zarr.abc.store.RangeByteRequest(10, 20)),
        ((0, length + 50), zarr.abc.store.RangeByteRequest(0, length + 50)),
        ((length + 5, length + 9), zarr.abc.store.RangeByteRequest(length + 5, length + 9)),
        ((7, None), zarr.abc.store.OffsetByteRequest(7)),
        ((None, None, 30), zarr.abc.store.SuffixByteRequest(30)),
        ((None, None, length + 30), zarr.abc.store.SuffixByteRequest(length + 30)),
    ]
    for args, request in cases:
        assert reader.read_chunk_range(ref, *args) == engine_get(session, key, request), args
    with pytest.raises(sr.InvalidInputError):
        reader.read_chunk_range(ref, 9, 3)
    with pytest.raises(ic.InvalidInputError):
        session.store._store.get_sync(key, 9, 3)


# ---------------------------------------------------------------- long histories and hints


@pytest.fixture(scope="module")
def long_history(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("long") / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)))
    s = repo.writable_session("main")
    array(s.store, "a", shape=(400,), chunks=(1,), dtype="u1")
    s.commit("array")
    for i in range(330):
        s = repo.writable_session("main")
        raw_set(s.store, f"a/c/{i}", bytes([i % 256]) * (1 + i % 3))
        s.commit(f"commit {i}", metadata={"i": i})
    return path, repo


def test_long_history_chains_ancestor_summaries(long_history: Any) -> None:
    path, repo = long_history
    reader = sr.Repository.open(path)
    ids_ = assert_history_matches(reader, repo, "main")
    assert len(ids_) == 332  # the initial snapshot, the array, 330 chunk commits
    fetched = [k for k in reader.stats.gets if k.startswith("snapshots/")]
    assert 2 <= len(fetched) <= 3, fetched  # 332 entries, in runs of at most 201
    tip = reader.lookup_branch("main")
    assert_snapshot_matches(reader, repo, tip)
    assert reader.diff(ids_[10], tip)["updated_chunks"]["/a"] == {(i,) for i in range(320, 330)}


def write_hint(path: Path, text: bytes) -> None:
    (path / "refs" / "branch.main" / "hint").write_bytes(text)


def test_branch_resolution_from_any_hint(long_history: Any) -> None:
    path, _ = long_history
    folder = path / "refs" / "branch.main"
    records = sorted(int(n) for n in os.listdir(folder) if n.isdigit())
    last = records[-1]
    tip = sr.Repository.open(path).lookup_branch("main")
    original = (folder / "hint").read_bytes()
    assert re.fullmatch(rb"[1-9][0-9]* [0-9A-V]{20}\n", original)
    some_id = ids.encode(bytes(12))
    cases = {
        # hint -> (LISTs expected, GETs of records at most)
        original: (0, 2),
        f"{last}".encode(): (0, 2),
        f"  +{last:05d}\t{some_id} extra words\r\n".encode(): (0, 2),
        f"{last} not-an-id\n".encode(): (0, 2),
        f"{last - 5}\n".encode(): (0, 7),
        f"{last - 9}\n".encode(): (1, 12),
        b"1\n": (1, 12),
        f"{last + 1}\n".encode(): (1, 4),
        b"0\n": (1, 2),
        b"9223372036854775807\n": (1, 2),
        b"garbage": (1, 2),
        b"\xff\xfe": (1, 2),
        b"": (1, 2),
    }
    try:
        for hint, (lists, gets) in cases.items():
            write_hint(path, hint)
            reader = sr.Repository.open(path)
            assert reader.lookup_branch("main") == tip, hint
            assert len(reader.stats.lists) == lists, hint
            record_gets = [k for k in reader.stats.gets if re.search(r"/[0-9]{20}$", k)]
            assert len(record_gets) <= gets, (hint, record_gets)
            assert engine(path).lookup_branch("main") == tip
        (folder / "hint").unlink()
        assert sr.Repository.open(path).lookup_branch("main") == tip
        # A writer's temporary files are not objects (§3.1).
        (folder / f"{last + 1:020d}#1").write_bytes(b"partial")
        (path / "snapshots" / "x#12").write_bytes(b"partial")
        reader = sr.Repository.open(path)
        assert reader.lookup_branch("main") == tip
        assert engine(path).lookup_branch("main") == tip
    finally:
        write_hint(path, original)
        for f in (folder / f"{last + 1:020d}#1", path / "snapshots" / "x#12"):
            f.unlink(missing_ok=True)
    assert parse_hint(b"7 000G40O40K30E209185G\n") == (7, "000G40O40K30E209185G")
    assert parse_hint(b"9223372036854775806") == (2**63 - 2, None)
    assert parse_hint(b"-3") is None


# ---------------------------------------------------------------- damaged objects


def fresh(path: Path) -> tuple[sr.Repository, ic.Repository]:
    return sr.Repository.open(path), engine(path)


def flip(file: Path, offset: int) -> bytes:
    data = file.read_bytes()
    damaged = bytearray(data)
    damaged[offset] ^= 0x01
    file.write_bytes(bytes(damaged))
    return data


def reframe(stored: bytes, payload: bytes, compression: int | None = None) -> bytes:
    """An object with `payload` and a correct checksum, the rest of the header kept."""
    header = bytearray(stored[:16])
    if compression is not None:
        header[10] = compression
    header[12:16] = struct.pack("<I", crc32c(payload))
    return bytes(header) + payload


@pytest.fixture
def small_repo(tmp_path: Path) -> Any:
    path = tmp_path / "repo"
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=64, inline_manifest_threshold_bytes=0)
    repo = ic.Repository.create(ic.local_filesystem_storage(str(path)), config)
    s = repo.writable_session("main")
    zarr.create_group(s.store)
    raw_set(s.store, "zarr.json", json.dumps({"zarr_format": 3, "node_type": "group"}).encode())
    a = array(s.store, "a", shape=(4,), chunks=(2,), dtype="u1", compressors=None)
    a[:] = [1, 2, 3, 4]
    b = array(s.store, "b", shape=(200,), chunks=(100,), dtype="u1", compressors=None)
    b[:] = 9
    snapshot = s.commit("small")
    return path, repo, snapshot


def manifest_of(reader: sr.Repository, snapshot: str, path: str) -> str:
    [shard] = reader.node(snapshot, path).shards
    return shard.manifest_id


def test_flipped_bytes_are_corrupt(small_repo: Any) -> None:
    path, _, snapshot = small_repo
    reader = sr.Repository.open(path)
    chunk_file = path / "chunks" / reader.chunk_ref(reader.node(snapshot, "/b"), (1,)).chunk_id
    targets = [
        (path / "snapshots" / snapshot, lambda r: r.snapshot(snapshot)),
        (
            path / "manifests" / manifest_of(reader, snapshot, "/a"),
            lambda r: r.get(snapshot, "a/c/0"),
        ),
        (chunk_file, lambda r: r.get(snapshot, "b/c/1")),
        (path / "transactions" / snapshot, lambda r: r.transaction_log(snapshot)),
        (path / "config.json", lambda r: r),
    ]
    for file, read in targets:
        size = file.stat().st_size
        for offset in sorted({0, 9, 11, 12, 16, size // 2, size - 1}):
            if offset >= size or (offset in (9, 11, 12) and "chunks" in str(file)):
                continue
            original = flip(file, offset)
            try:
                with pytest.raises(sr.FormatError):
                    read(sr.Repository.open(path))
            finally:
                file.write_bytes(original)
        assert read(sr.Repository.open(path)) is not None
    # The engine refuses the damaged chunk too.
    original = flip(chunk_file, 5)
    try:
        with pytest.raises(sr.CorruptError):
            sr.Repository.open(path).get(snapshot, "b/c/1")
        _, repo = fresh(path)
        with pytest.raises(ic.FormatError):
            engine_get(repo.readonly_session(snapshot_id=snapshot), "b/c/1")
    finally:
        chunk_file.write_bytes(original)


def test_inline_chunk_checksum_is_checked(small_repo: Any) -> None:
    """A damaged inline chunk inside a manifest whose own checksum was recomputed."""
    path, _, snapshot = small_repo
    reader = sr.Repository.open(path)
    file = path / "manifests" / manifest_of(reader, snapshot, "/a")
    stored = file.read_bytes()
    payload = objects.decode_header("m", objects.MANIFEST, stored)
    at = payload.find(bytes([1, 2]))
    assert at > 0
    damaged = payload[:at] + bytes([1, 3]) + payload[at + 2 :]
    file.write_bytes(reframe(stored, damaged, compression=0))
    reader, repo = fresh(path)
    with pytest.raises(sr.CorruptError, match="checksum mismatch"):
        reader.get(snapshot, "a/c/0")
    assert reader.get(snapshot, "a/c/1") == bytes([3, 4])
    with pytest.raises(ic.FormatError):
        engine_get(repo.readonly_session(snapshot_id=snapshot), "a/c/0")


def test_header_checks_in_order(small_repo: Any) -> None:
    path, _, snapshot = small_repo
    ref_file = path / "refs" / "branch.main" / f"{2:020d}"
    good = ref_file.read_bytes()
    payload = good[16:]

    def with_header(**changes: int) -> bytes:
        h = bytearray(good[:16])
        for offset, value in changes.items():
            h[int(offset[1:])] = value
        return bytes(h) + payload

    bad_crc = bytearray(good)
    bad_crc[12] ^= 0xFF
    cases = [
        (good[:15], sr.CorruptError),
        (b"ZARRACIX" + good[8:], sr.CorruptError),
        (with_header(b8=2), sr.UnsupportedFormatError),
        (with_header(b9=1), sr.CorruptError),
        (with_header(b11=1), sr.CorruptError),
        (bytes(bad_crc), sr.CorruptError),
        (with_header(b10=7), sr.UnsupportedFormatError),  # known only after the checksum
        (with_header(b10=7, b12=good[12] ^ 1), sr.CorruptError),
        (with_header(b8=2, b12=good[12] ^ 1), sr.UnsupportedFormatError),  # version first
        (with_header(b10=1), sr.CorruptError),  # JSON is not a zstd frame
        (reframe(good, b'{"snapshot": null, "deleted": false}'), sr.CorruptError),
        (reframe(good, payload.replace(b'"write_id"', b'"writer_id"')), sr.CorruptError),
        (reframe(good, b"\xef\xbb\xbf" + payload), sr.CorruptError),
    ]
    try:
        for stored, error in cases:
            ref_file.write_bytes(stored)
            (path / "refs" / "branch.main" / "hint").write_bytes(b"2\n")
            with pytest.raises(error):
                sr.Repository.open(path).lookup_branch("main")
            with pytest.raises(ic.FormatError):
                engine(path).lookup_branch("main")
    finally:
        ref_file.write_bytes(good)
    # Extra members are ignored, `deleted` defaults to false, `write_id` is not interpreted.
    record = json.loads(payload)
    record.pop("deleted")
    record["write_id"] = "anything"
    record["future"] = [1, 2]
    ref_file.write_bytes(reframe(good, json.dumps(record).encode()))
    assert sr.Repository.open(path).lookup_branch("main") == snapshot
    assert engine(path).lookup_branch("main") == snapshot


def test_zstd_frames_must_declare_a_bounded_size(small_repo: Any) -> None:
    path, _, snapshot = small_repo
    file = path / "snapshots" / snapshot
    stored = file.read_bytes()
    payload = objects.decode_header("s", objects.SNAPSHOT, stored)
    frame = zstandard.ZstdCompressor().compress(payload)
    unsized = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    unsized_frame = unsized.compress(payload) + unsized.flush()
    unknown = zstandard.CONTENTSIZE_UNKNOWN
    assert zstandard.get_frame_parameters(unsized_frame).content_size == unknown
    cases = [
        (frame, None),
        (unsized_frame, "content size"),
        (frame + frame, "unused data"),
        (frame + b"\x00", "unused data"),
        (frame[:-3], "zstd"),
    ]
    try:
        for body, error in cases:
            file.write_bytes(reframe(stored, body, compression=1))
            reader = sr.Repository.open(path)
            if error is None:
                assert reader.snapshot(snapshot).id == snapshot
            else:
                with pytest.raises(sr.CorruptError, match=error):
                    reader.snapshot(snapshot)
    finally:
        file.write_bytes(stored)


def test_flatbuffer_verification(small_repo: Any) -> None:
    path, _, snapshot = small_repo
    file = path / "snapshots" / snapshot
    stored = file.read_bytes()
    payload = objects.decode_header("s", objects.SNAPSHOT, stored)
    root = struct.unpack_from("<I", payload)[0]
    cases = [
        struct.pack("<I", len(payload) + 4) + payload[4:],  # root table past the end
        struct.pack("<I", root + 2) + payload[4:],  # unaligned root table
        payload[:root] + struct.pack("<i", -(2**31) + 8) + payload[root + 4 :],  # vtable outside
        payload[: len(payload) // 2],  # truncated
    ]
    try:
        for body in cases:
            file.write_bytes(reframe(stored, body, compression=0))
            with pytest.raises(sr.CorruptError, match="flatbuffer"):
                sr.Repository.open(path).snapshot(snapshot)
            with pytest.raises(ic.FormatError):
                engine(path).readonly_session(snapshot_id=snapshot)
    finally:
        file.write_bytes(stored)


def _snapshot_object(node_paths: list[str], snapshot_id: bytes, repeat: int = 1) -> bytes:
    """A snapshot of groups in the given order, built with the generated code; `repeat`
    references every node table that many times (writers never do)."""
    import flatbuffers

    b = flatbuffers.Builder(256)
    nodes = []
    for i, p in enumerate(node_paths):
        path = b.CreateString(p)
        doc = b.CreateByteVector(b'{"zarr_format":3,"node_type":"group"}')
        fb.GroupNodeStart(b)
        group = fb.GroupNodeEnd(b)
        fb.NodeStart(b)
        fb.NodeAddId(b, fb.CreateNodeId8(b, [i] * 8))
        fb.NodeAddPath(b, path)
        fb.NodeAddZarrJson(b, doc)
        fb.NodeAddDataType(b, fb.NodeData.GroupNode)
        fb.NodeAddData(b, group)
        nodes.append(fb.NodeEnd(b))
    nodes = [n for n in nodes for _ in range(repeat)]
    fb.SnapshotStartNodesVector(b, len(nodes))
    for n in reversed(nodes):
        b.PrependUOffsetTRelative(n)
    node_vector = b.EndVector()
    message, metadata = b.CreateString("hand made"), b.CreateString("{}")
    fb.SnapshotStart(b)
    fb.SnapshotAddId(b, fb.CreateObjectId12(b, list(snapshot_id)))
    fb.SnapshotAddMessage(b, message)
    fb.SnapshotAddMetadataJson(b, metadata)
    fb.SnapshotAddNodes(b, node_vector)
    b.Finish(fb.SnapshotEnd(b))
    payload = bytes(b.Output())
    header = b"ZARRACID" + bytes([1, objects.SNAPSHOT, 0, 0]) + struct.pack("<I", crc32c(payload))
    return header + payload


def test_sorted_lists_are_checked() -> None:
    raw = bytes(range(12))
    sid = ids.encode(raw)
    good = _snapshot_object(["/", "/a", "/a/b", "/b"], raw)
    reader = sr.Repository(MemoryStorage({f"snapshots/{sid}": good}))
    assert [n.path for n in reader.nodes(sid)] == ["/", "/a", "/a/b", "/b"]
    for bad in (["/", "/b", "/a"], ["/", "/a", "/a"]):
        reader = sr.Repository(MemoryStorage({f"snapshots/{sid}": _snapshot_object(bad, raw)}))
        with pytest.raises(sr.CorruptError, match="sorted"):
            reader.snapshot(sid)
    other = ids.encode(bytes(11) + b"\x01")
    reader = sr.Repository(MemoryStorage({f"snapshots/{other}": good}))
    with pytest.raises(sr.CorruptError, match="holds snapshot"):
        reader.snapshot(other)


def test_verifier_rules(small_repo: Any) -> None:
    """Strings must be UTF-8 and NUL-terminated; a table referenced many times is refused."""
    path, _, _ = small_repo
    raw = bytes(range(3, 15))
    sid = ids.encode(raw)
    good = _snapshot_object(["/", "/hand made"], raw)

    def damaged(old: bytes, new: bytes) -> bytes:
        assert good.count(old) == 1
        payload = good[16:].replace(old, new)
        return reframe(good, payload)

    cases = [
        (damaged(b"/hand made\x00", b"/hand made!"), "NUL"),
        (damaged(b"/hand made", b"/hand\xffmade"), "UTF-8"),
    ]
    for stored, error in cases:
        reader = sr.Repository(MemoryStorage({f"snapshots/{sid}": stored}))
        with pytest.raises(sr.CorruptError, match=error):
            reader.snapshot(sid)
        (path / "snapshots" / sid).write_bytes(stored)
        with pytest.raises(ic.FormatError):
            engine(path).readonly_session(snapshot_id=sid)
    shared = _snapshot_object(["/"], raw, repeat=300)
    reader = sr.Repository(MemoryStorage({f"snapshots/{sid}": shared}))
    with pytest.raises(sr.CorruptError, match="too many tables"):
        reader.snapshot(sid)


# ---------------------------------------------------------------- range reads with CRC tables


def test_range_reads_with_crc_tables() -> None:
    """§6.4, on the spec's own example: a 40000-byte chunk with 16 KiB blocks."""
    data = bytes(i % 251 for i in range(40000))
    block = 1 << 14
    table = b"".join(
        struct.pack("<I", crc32c(data[i : i + block])) for i in range(0, len(data), block)
    )
    assert table.hex(" ").upper() == "1D A5 FC EA 4E BC 9F 5E 34 0D D5 B1"
    assert crc32c(data) == 0x68608D15
    assert combine(0xEAFCA51D, 0x5E9FBC4E, block) == 0x2AD60827
    assert shift(0xF63AF4EE, 5) == 0x60B3F75B
    assert combine(crc32c(b"1234"), crc32c(b"56789"), 5) == 0xE3069283
    cid = ids.encode(bytes(range(1, 13)))
    prefix = b"x" * 100  # a chunk at a non-zero offset
    ref = ChunkRef((0,), None, cid, len(prefix), len(data), crc32c(data), 14)
    storage = MemoryStorage({f"chunks/{cid}": prefix + data + table})
    reader = sr.Repository(storage)
    assert reader.read_chunk(ref) == data
    for start, end in [(16000, 17000), (0, 1), (39999, 40000), (0, 40000), (100, 100), (5, 60000)]:
        reader.stats.gets.clear()
        assert reader.read_chunk_range(ref, start, end) == data[start:end]
        fetched = sum(
            int(b) - int(a) for a, b in re.findall(r"\[(\d+):(\d+)\]", " ".join(reader.stats.gets))
        )
        assert fetched <= min(end, len(data)) - min(start, len(data)) + 2 * block + len(table)
    assert reader.read_chunk_range(ref, suffix=10) == data[-10:]
    assert reader.read_chunk_range(ref, start=39990) == data[-10:]
    with pytest.raises(sr.InvalidInputError):
        reader.read_chunk_range(ref, 10, 5)
    # A damaged block fails only the reads that cover it; a damaged table fails every read.
    damaged = bytearray(storage.objects[f"chunks/{cid}"])
    damaged[len(prefix) + 20000] ^= 1
    storage.objects[f"chunks/{cid}"] = bytes(damaged)
    assert reader.read_chunk_range(ref, 0, 100) == data[:100]
    with pytest.raises(sr.CorruptError, match="block 1"):
        reader.read_chunk_range(ref, 16000, 17000)
    with pytest.raises(sr.CorruptError):
        reader.read_chunk(ref)
    damaged[len(prefix) + 20000] ^= 1
    damaged[len(prefix) + len(data) + 5] ^= 1
    storage.objects[f"chunks/{cid}"] = bytes(damaged)
    with pytest.raises(sr.CorruptError, match="table"):
        reader.read_chunk_range(ref, 0, 100)
    assert reader.read_chunk(ref) == data  # the whole-chunk read does not read the table


# ---------------------------------------------------------------- the spec's own examples


def test_spec_examples() -> None:
    assert ids.encode(bytes(range(12))) == "000G40O40K30E209185G"
    assert ids.encode(bytes(range(8))) == "000G40O40K30E"
    for bad in ("000g40o40k30e209185g", "000G40O40K30E209185", "000G40O40K30E209185H"):
        with pytest.raises(sr.InvalidInputError):
            ids.object_id(bad)
    assert crc32c(b"123456789") == 0xE3069283
    payload = b'{"snapshot":"000G40O40K30E209185G","write_id":"0123456789abcdef","deleted":false}'
    assert len(payload) == 81 and crc32c(payload) == 0x22786457
    stored = b"ZARRACID\x01\x04\x00\x00" + struct.pack("<I", 0x22786457) + payload
    assert stored[12:16] == bytes.fromhex("57647822") and len(stored) == 97
    record = objects.decode_ref("refs/branch.x/00000000000000000001", stored)
    assert record == objects.RefRecord("000G40O40K30E209185G", "0123456789abcdef", False)
    # §7's fold on hand-made logs: created and deleted in the range appears nowhere.
    empty: tuple[tuple[str, str], ...] = ()
    t = ("AAAAAAAAAAAAA", "/t")
    log1 = objects.TransactionLog(
        "1", empty, (t,), empty, empty, empty, empty, {t: frozenset({(0,)})}
    )
    log2 = objects.TransactionLog("2", empty, empty, empty, (t,), empty, empty, {})
    assert not any(fold_logs([log1, log2]).values())
