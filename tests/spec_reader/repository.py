"""A read-only repository, implemented from spec/format.md alone."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import ids
from .crc import combine, crc32c
from .errors import (
    CorruptError,
    InvalidInputError,
    NotAncestorError,
    RefNotFoundError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
)
from .objects import (
    AncestorInfo,
    ChunkRef,
    Manifest,
    Node,
    RefRecord,
    ShardRef,
    Snapshot,
    TransactionLog,
    decode_config,
    decode_manifest,
    decode_ref,
    decode_snapshot,
    decode_transaction_log,
)
from .storage import LocalStorage, MemoryStorage

SEQ_WIDTH = 20
# Forward probes past the two reads of a hint before listing (spec §8.2).
MAX_PROBES = 8
_HINT_SEQ_LIMIT = 2**63 - 1
_FORBIDDEN_IN_REF_NAMES = set("/\\~^:?*[@{}#%")


def validate_ref_name(name: str) -> None:
    """Spec §8.4."""
    bad = (
        not name
        or len(name.encode("utf-8")) > 255
        or "/" in name
        or ".." in name
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in name)
        or any(c in _FORBIDDEN_IN_REF_NAMES for c in name)
        or name.startswith((".", "-"))
        or name.endswith((".lock", "."))
    )
    if bad:
        raise InvalidInputError(f"invalid ref name `{name}`")


def parse_hint(stored: bytes | None) -> tuple[int, str | None] | None:
    """Spec §8.2: `<seq>[ <snapshot id>]`, whitespace-separated; anything else is no hint."""
    if stored is None:
        return None
    try:
        words = stored.decode("utf-8").split()
    except UnicodeDecodeError:
        return None
    if not words or not re.fullmatch(r"\+?[0-9]+", words[0]):
        return None
    seq = int(words[0])
    if not 1 <= seq < _HINT_SEQ_LIMIT:
        return None
    snapshot = None
    if len(words) > 1:
        try:
            ids.object_id(words[1])
            snapshot = words[1]
        except InvalidInputError:
            snapshot = None
    return seq, snapshot


@dataclass(frozen=True)
class BranchTip:
    seq: int
    record: RefRecord


@dataclass
class Stats:
    """What the reader fetched: lets tests check the spec's cost claims."""

    gets: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)


class Repository:
    def __init__(self, storage: LocalStorage | MemoryStorage) -> None:
        self.storage = storage
        self.stats = Stats()
        self._snapshot = lru_cache(maxsize=256)(self._load_snapshot)
        self._shard = lru_cache(maxsize=1024)(self._load_shard)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Repository:
        repo = cls(LocalStorage(path))
        repo.config = repo._read_config()
        return repo

    # ---- storage, with bookkeeping ----
    def _get(self, key: str) -> bytes | None:
        self.stats.gets.append(key)
        return self.storage.get(key)

    def _get_range(self, key: str, start: int, end: int) -> bytes | None:
        self.stats.gets.append(f"{key}[{start}:{end}]")
        return self.storage.get_range(key, start, end)

    def _list(self, prefix: str) -> list[str]:
        self.stats.lists.append(prefix)
        return self.storage.list(prefix)

    def _read_config(self) -> dict[str, int]:
        stored = self._get("config.json")
        if stored is None:
            raise RepositoryNotFoundError("no config.json: not a repository")
        return decode_config("config.json", stored)

    # ---- refs (spec §8) ----
    def _read_record(self, key: str) -> RefRecord | None:
        stored = self._get(key)
        return None if stored is None else decode_ref(key, stored)

    @staticmethod
    def _record_key(branch: str, seq: int) -> str:
        return f"refs/branch.{branch}/{seq:0{SEQ_WIDTH}d}"

    def branch_tip(self, branch: str) -> BranchTip | None:
        """The newest record of `branch` (possibly a tombstone), or None."""
        validate_ref_name(branch)
        folder = f"refs/branch.{branch}"
        hint = parse_hint(self._get(f"{folder}/hint"))
        tip: BranchTip | None = None
        next_seq = 0
        if hint is not None:
            h = hint[0]
            at = self._read_record(self._record_key(branch, h))
            after = self._read_record(self._record_key(branch, h + 1))
            if at is not None and after is None:
                return BranchTip(h, at)
            if at is not None and after is not None:
                tip, next_seq = BranchTip(h + 1, after), h + 2
        probes = 0
        while True:
            if next_seq == 0 or probes == MAX_PROBES:
                numbers = [int(n) for n in self._list(f"{folder}/") if re.fullmatch(r"[0-9]+", n)]
                m = max(numbers, default=0)
                if m < next_seq - 1:
                    raise CorruptError(f"`{folder}`: ref records vanished")
                if m > 0 and m + 1 != next_seq:
                    record = self._read_record(self._record_key(branch, m))
                    if record is None:
                        raise CorruptError(f"`{folder}`: listed record {m} vanished")
                    tip = BranchTip(m, record)
                next_seq, probes = m + 1, 0
            record = self._read_record(self._record_key(branch, next_seq))
            if record is None:
                return tip
            tip = BranchTip(next_seq, record)
            next_seq += 1
            probes += 1

    def _record_snapshot(self, key: str, record: RefRecord) -> str | None:
        if record.deleted:
            return None
        if record.snapshot is None:
            raise CorruptError(f"object `{key}` is corrupt: ref names no snapshot")
        try:
            ids.object_id(record.snapshot)
        except InvalidInputError:
            raise CorruptError(f"object `{key}` is corrupt: invalid snapshot id") from None
        return record.snapshot

    def lookup_branch(self, branch: str) -> str:
        tip = self.branch_tip(branch)
        snapshot = None
        if tip is not None:
            key = self._record_key(branch, tip.seq)
            snapshot = self._record_snapshot(key, tip.record)
        if snapshot is None:
            raise RefNotFoundError(f"branch `{branch}` not found")
        return snapshot

    def lookup_tag(self, tag: str) -> str:
        validate_ref_name(tag)
        if self._get(f"refs/tag.{tag}/deleted") is not None:
            raise RefNotFoundError(f"tag `{tag}` not found (deleted)")
        key = f"refs/tag.{tag}/ref"
        record = self._read_record(key)
        snapshot = None if record is None else self._record_snapshot(key, record)
        if snapshot is None:
            raise RefNotFoundError(f"tag `{tag}` not found")
        return snapshot

    def list_branches(self) -> set[str]:
        """Folders `refs/branch.<name>` whose tip resolves to a snapshot."""
        out = set()
        for folder in self.storage.list_folders("refs/"):
            if not folder.startswith("branch."):
                continue
            name = folder[len("branch.") :]
            try:
                self.lookup_branch(name)
            except (RefNotFoundError, InvalidInputError):
                continue
            out.add(name)
        return out

    def list_tags(self) -> set[str]:
        out = set()
        for folder in self.storage.list_folders("refs/"):
            if not folder.startswith("tag."):
                continue
            names = set(self.storage.list(f"refs/{folder}/"))
            if "ref" in names and "deleted" not in names:
                out.add(folder[len("tag.") :])
        return out

    # ---- snapshots and history (spec §5, §5.1) ----
    def _load_snapshot(self, snapshot_id: str) -> Snapshot:
        ids.object_id(snapshot_id)
        key = f"snapshots/{snapshot_id}"
        stored = self._get(key)
        if stored is None:
            raise SnapshotNotFoundError(f"snapshot {snapshot_id} not found")
        snapshot = decode_snapshot(key, stored)
        if snapshot.id != snapshot_id:
            raise CorruptError(f"object `{key}` is corrupt: it holds snapshot {snapshot.id}")
        return snapshot

    def snapshot(self, snapshot_id: str) -> Snapshot:
        return self._snapshot(snapshot_id)

    def ancestry(self, snapshot_id: str) -> Iterator[AncestorInfo]:
        """The snapshot, then its ancestors, newest first; one fetch per run of summaries."""
        next_id: str | None = snapshot_id
        while next_id is not None:
            snapshot = self.snapshot(next_id)
            yield snapshot.summary()
            yield from snapshot.ancestors
            run = snapshot.ancestors
            for child, parent in zip((snapshot.summary(), *run), run, strict=False):
                if child.parent_id != parent.id:
                    raise CorruptError(
                        f"snapshot {snapshot.id}: ancestor summaries are not a chain"
                    )
            next_id = run[-1].parent_id if run else snapshot.parent_id

    # ---- manifests and chunks (spec §6) ----
    def _load_shard(self, node: Node, shard: ShardRef) -> Manifest:
        if shard.inline_manifest is not None:
            key = f"inline manifest {shard.manifest_id}"
            manifest = decode_manifest(key, shard.inline_manifest)
        else:
            key = f"manifests/{shard.manifest_id}"
            stored = self._get(key)
            if stored is None:
                raise CorruptError(f"object `{key}` is missing")
            manifest = decode_manifest(key, stored)
        if manifest.id != shard.manifest_id:
            raise CorruptError(f"`{key}` holds manifest {manifest.id}")
        if manifest.node_id != node.id or manifest.block != shard.block:
            raise CorruptError(f"`{key}` belongs to another array or block")
        if len(manifest.refs) != shard.chunk_count or shard.total_bytes != sum(
            r.length for r in manifest.refs
        ):
            raise CorruptError(f"`{key}`: chunk count or total bytes differ from its ShardRef")
        for ref in manifest.refs:
            if len(ref.coords) != len(node.block_shape or ()) or block_of(
                node, ref.coords
            ) != tuple(shard.block):
                raise CorruptError(f"`{key}`: chunk {ref.coords} does not belong in its block")
        return manifest

    def chunk_refs(self, node: Node) -> Iterator[ChunkRef]:
        for shard in node.shards:
            yield from self._shard(node, shard).refs

    def chunk_ref(self, node: Node, coords: tuple[int, ...]) -> ChunkRef | None:
        """Spec §6.3 steps 1-2: binary searches only."""
        block = block_of(node, coords)
        shard = _bisect(node.shards, block, lambda s: s.block)
        if shard is None:
            return None
        return _bisect(self._shard(node, shard).refs, tuple(coords), lambda r: r.coords)

    def read_chunk(self, ref: ChunkRef, name: str = "") -> bytes:
        """Spec §6.3 steps 3-4: the chunk's bytes, verified."""
        if ref.location is not None:
            return read_virtual(ref)
        if ref.inline_data is not None:
            data, where = ref.inline_data, f"inline chunk {name}"
        else:
            where = f"chunks/{ref.chunk_id}"
            data = self._get_range(where, ref.offset, ref.offset + ref.length)
            if data is None:
                raise CorruptError(f"object `{where}` holding chunk {name} is missing")
        if len(data) != ref.length or crc32c(data) != ref.checksum:
            raise CorruptError(f"object `{where}` is corrupt: checksum mismatch for chunk {name}")
        return data

    def read_chunk_range(
        self,
        ref: ChunkRef,
        start: int | None = None,
        end: int | None = None,
        suffix: int | None = None,
    ) -> bytes:
        """Spec §6.4: bytes [start, end) (or the last `suffix` bytes) of a chunk, verified."""
        length = ref.length
        if suffix is not None:
            start, end = max(0, length - suffix), length
        start = 0 if start is None else start
        end = length if end is None else end
        if start > end:
            raise InvalidInputError(f"byte range {start}..{end} has its start after its end")
        start, end = min(start, length), min(end, length)
        if ref.inline_data is not None or ref.location is not None or ref.block_size_log2 == 0:
            return self.read_chunk(ref)[start:end]
        block = 1 << ref.block_size_log2
        n = -(-length // block)
        key = f"chunks/{ref.chunk_id}"
        table_at = ref.offset + length
        table = self._get_range(key, table_at, table_at + 4 * n)
        if table is None or len(table) != 4 * n:
            raise CorruptError(f"object `{key}`: its CRC table is missing or short")
        crcs = [int.from_bytes(table[4 * i : 4 * i + 4], "little") for i in range(n)]
        whole = crcs[0]
        for i in range(1, n):
            whole = combine(whole, crcs[i], min(block, length - i * block))
        if whole != ref.checksum:
            raise CorruptError(f"object `{key}`: its CRC table does not match the reference")
        if start == end:
            return b""
        first, last = start // block, (end - 1) // block
        lo, hi = first * block, min(length, (last + 1) * block)
        data = self._get_range(key, ref.offset + lo, ref.offset + hi)
        if data is None or len(data) != hi - lo:
            raise CorruptError(f"object `{key}` is missing or short")
        for i in range(first, last + 1):
            piece = data[(i - first) * block : (i - first + 1) * block]
            if crc32c(piece) != crcs[i]:
                raise CorruptError(f"object `{key}` is corrupt: block {i} fails its CRC")
        return data[start - lo : end - lo]

    # ---- the Zarr view (spec §10) ----
    def nodes(self, snapshot_id: str) -> tuple[Node, ...]:
        return self.snapshot(snapshot_id).nodes

    def node(self, snapshot_id: str, path: str) -> Node | None:
        return _bisect(self.snapshot(snapshot_id).nodes, path.encode(), lambda n: n.path.encode())

    def keys(self, snapshot_id: str) -> Iterator[str]:
        for node in self.nodes(snapshot_id):
            prefix = node_key_prefix(node.path)
            yield f"{prefix}zarr.json"
            if node.is_array:
                encode = chunk_key_encoder(node.zarr_json)
                for ref in self.chunk_refs(node):
                    yield prefix + encode(ref.coords)

    def get(self, snapshot_id: str, key: str) -> bytes | None:
        """The bytes of a Zarr key, or None when it does not exist."""
        segments = key.split("/")
        if segments[-1] == "zarr.json":
            path = "/" + "/".join(segments[:-1])
            node = self.node(snapshot_id, path)
            return None if node is None else node.zarr_json
        for cut in range(len(segments) - 1, 0, -1):
            node = self.node(snapshot_id, "/" + "/".join(segments[:cut]))
            if node is not None and node.is_array:
                coords = parse_chunk_key(node, "/".join(segments[cut:]))
                if coords is None:
                    return None
                ref = self.chunk_ref(node, coords)
                return None if ref is None else self.read_chunk(ref, key)
        root = self.node(snapshot_id, "/")
        if root is not None and root.is_array:
            coords = parse_chunk_key(root, key)
            ref = None if coords is None else self.chunk_ref(root, coords)
            return None if ref is None else self.read_chunk(ref, key)
        return None

    # ---- transaction logs and diff (spec §7) ----
    def transaction_log(self, snapshot_id: str) -> TransactionLog:
        key = f"transactions/{snapshot_id}"
        stored = self._get(key)
        if stored is None:
            raise CorruptError(f"object `{key}` is missing")
        log = decode_transaction_log(key, stored)
        if log.id != snapshot_id:
            raise CorruptError(f"object `{key}` holds the log of {log.id}")
        return log

    def diff(self, from_id: str, to_id: str) -> dict[str, Any]:
        """Spec §7."""
        between = []
        for info in self.ancestry(to_id):
            if info.id == from_id:
                break
            between.append(info.id)
        else:
            raise NotAncestorError(f"{from_id} is not an ancestor of {to_id}")
        return fold_logs([self.transaction_log(i) for i in reversed(between)])


@dataclass
class _NodeHistory:
    path: str
    is_array: bool | None  # None while the node's only entries are moves
    moved_from: str | None = None
    created: bool = False
    deleted: bool = False
    updated: bool = False
    chunks: set[tuple[int, ...]] = field(default_factory=set)


def fold_logs(logs: list[TransactionLog]) -> dict[str, Any]:
    """Spec §7: the net change of a run of transaction logs (oldest first), by node id."""
    nodes: dict[str, _NodeHistory] = {}

    def entry(node_id: str, path: str, is_array: bool | None) -> _NodeHistory:
        node = nodes.setdefault(node_id, _NodeHistory(path, is_array))
        if node.is_array is None:
            node.is_array = is_array
        return node

    for log in logs:
        for entries, is_array in ((log.new_groups, False), (log.new_arrays, True)):
            for node_id, path in entries:
                entry(node_id, path, is_array).created = True
        for entries, is_array in ((log.updated_groups, False), (log.updated_arrays, True)):
            for node_id, path in entries:
                entry(node_id, path, is_array).updated = True
        for (node_id, path), coords in log.updated_chunks.items():
            entry(node_id, path, True).chunks.update(coords)
        for node_id, from_path, to_path in log.moved_nodes:
            node = entry(node_id, from_path, None)
            if node.moved_from is None:
                node.moved_from = from_path
            node.path = to_path
        for entries, is_array in ((log.deleted_groups, False), (log.deleted_arrays, True)):
            for node_id, path in entries:
                node = entry(node_id, path, is_array)
                if node.created:
                    del nodes[node_id]  # created and deleted within the range: nowhere
                else:
                    node.deleted = True
    out: dict[str, Any] = {
        f"{change}_{kind}": set()
        for change in ("new", "deleted", "updated")
        for kind in ("groups", "arrays")
    }
    out["updated_chunks"] = {}
    out["moved_nodes"] = []
    created_paths = {node.path for node in nodes.values() if node.created}
    for node in nodes.values():
        kind = "arrays" if node.is_array else "groups"
        for flag, change in (
            (node.created, "new"),
            (node.deleted, "deleted"),
            (node.updated, "updated"),
        ):
            if flag:
                out[f"{change}_{kind}"].add(node.path)
        path_taken = node.deleted and node.path in created_paths  # the new node's chunks only
        if node.chunks and not path_taken:
            out["updated_chunks"].setdefault(node.path, set()).update(node.chunks)
        moved = node.moved_from is not None and node.moved_from != node.path
        if moved and not node.created and not node.deleted:
            out["moved_nodes"].append((node.moved_from, node.path))
    out["moved_nodes"].sort(key=lambda pair: pair[1])
    return out


# ---------------------------------------------------------------- helpers


def read_virtual(ref: ChunkRef) -> bytes:
    """Spec §6.6 for `file://` sources (the ones this reader can reach by itself): the range,
    refused when the pin says the file changed, or when the file is missing or short."""
    location = ref.location or ""
    if not location.startswith("file://"):
        raise InvalidInputError(f"only virtual chunks of file:// sources are read here: {location}")
    path = location[len("file://") :]
    try:
        stat = os.stat(path)
        with open(path, "rb") as f:
            f.seek(ref.offset)
            data = f.read(ref.length)
    except FileNotFoundError as e:
        raise InvalidInputError(f"the source of a virtual chunk is missing: {location}") from e
    if ref.pin_last_modified and stat.st_mtime > ref.pin_last_modified:
        raise InvalidInputError(f"the source of a virtual chunk changed: {location}")
    if len(data) != ref.length:
        raise InvalidInputError(f"the source of a virtual chunk is too short: {location}")
    return data


def block_of(node: Node, coords: tuple[int, ...]) -> tuple[int, ...]:
    shape = node.block_shape or ()
    return tuple(c // b for c, b in zip(coords, shape, strict=True))


def _bisect(items: Any, key: Any, key_of: Any) -> Any:
    lo, hi = 0, len(items)
    while lo < hi:
        mid = (lo + hi) // 2
        k = key_of(items[mid])
        if k < key:
            lo = mid + 1
        elif k > key:
            hi = mid
        else:
            return items[mid]
    return None


def node_key_prefix(path: str) -> str:
    return "" if path == "/" else path[1:] + "/"


def _encoding(zarr_json: bytes) -> tuple[str, str]:
    doc = json.loads(zarr_json)
    encoding = doc.get("chunk_key_encoding") or {"name": "default"}
    if isinstance(encoding, str):
        encoding = {"name": encoding}
    name = encoding.get("name", "default")
    default_separator = "." if name == "v2" else "/"
    separator = (encoding.get("configuration") or {}).get("separator", default_separator)
    return name, separator


def chunk_key_encoder(zarr_json: bytes) -> Any:
    name, sep = _encoding(zarr_json)

    def encode(coords: tuple[int, ...]) -> str:
        if name == "v2":
            return sep.join(map(str, coords)) if coords else "0"
        return sep.join(("c", *map(str, coords)))

    return encode


def parse_chunk_key(node: Node, rest: str) -> tuple[int, ...] | None:
    """Spec §10's table; None when `rest` is not a chunk key of this array."""
    name, sep = _encoding(node.zarr_json)
    ndim = len(node.block_shape or ())
    if name == "v2":
        if ndim == 0:
            return () if rest == "0" else None
        parts = rest.split(sep)
    else:
        if ndim == 0:
            return () if rest == "c" else None
        parts = rest.split(sep)
        if parts[0] != "c":
            return None
        parts = parts[1:]
    if len(parts) != ndim or not all(re.fullmatch(r"0|[1-9][0-9]*", p) for p in parts):
        return None
    coords = tuple(int(p) for p in parts)
    return coords if all(c < 2**32 for c in coords) else None
