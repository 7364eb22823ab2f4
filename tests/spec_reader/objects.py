"""Objects of spec/format.md: the header (§4), snapshots (§5), manifest shards (§6),
transaction logs (§7), ref records (§8.1) and the config (§11), decoded into plain values.
"""

from __future__ import annotations

import itertools
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import zstandard

from . import format_generated as fb
from . import ids
from .crc import crc32c
from .errors import CorruptError, UnsupportedFormatError
from .verifier import verify

MAGIC = b"ZARRACID"
FORMAT_VERSION = 1
HEADER_LEN = 16

SNAPSHOT, MANIFEST, TRANSACTION_LOG, REF, CONFIG = 1, 2, 3, 4, 5
TYPE_NAMES = {1: "snapshot", 2: "manifest", 3: "transaction log", 4: "ref", 5: "config"}

# Largest payload a zstd frame may declare (spec §4.1): no flatbuffer is larger.
MAX_DECOMPRESSED = 2**31 - 1

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _corrupt(path: str, reason: str) -> CorruptError:
    return CorruptError(f"object `{path}` is corrupt: {reason}")


def decode_header(path: str, expected_type: int, stored: bytes) -> bytes:
    """The payload of an object, after every check of spec §4.1 steps 1-7, in order."""
    if len(stored) < HEADER_LEN or stored[:8] != MAGIC:
        raise _corrupt(path, "missing object header")
    version, object_type, compression, reserved = stored[8], stored[9], stored[10], stored[11]
    if version != FORMAT_VERSION:
        raise UnsupportedFormatError(f"object `{path}`: format version {version}")
    if object_type != expected_type:
        raise _corrupt(
            path, f"expected a {TYPE_NAMES[expected_type]} object, found type {object_type}"
        )
    if reserved != 0:
        raise _corrupt(path, "reserved header byte is not zero")
    (checksum,) = struct.unpack_from("<I", stored, 12)
    body = bytes(stored[HEADER_LEN:])
    computed = crc32c(body)
    if computed != checksum:
        raise _corrupt(
            path, f"checksum mismatch: stored {checksum:#010x}, computed {computed:#010x}"
        )
    if compression == 0:
        return body
    if compression != 1:
        raise UnsupportedFormatError(f"object `{path}`: unknown compression {compression}")
    return decompress(path, body)


def decompress(path: str, body: bytes) -> bytes:
    """Exactly one zstd frame that declares its content size, at most MAX_DECOMPRESSED."""
    if body[:4] != ZSTD_MAGIC:
        raise _corrupt(path, "zstd: not a zstd frame")
    try:
        params = zstandard.get_frame_parameters(body)
    except zstandard.ZstdError as e:
        raise _corrupt(path, f"zstd: {e}") from None
    size = params.content_size
    if size == zstandard.CONTENTSIZE_UNKNOWN or size == zstandard.CONTENTSIZE_ERROR:
        raise _corrupt(path, "zstd: the frame does not declare its content size")
    if size > MAX_DECOMPRESSED:
        raise _corrupt(path, f"zstd: content size {size} is over the limit")
    try:
        out = zstandard.ZstdDecompressor().decompress(
            body, max_output_size=size, allow_extra_data=False
        )
    except zstandard.ZstdError as e:
        raise _corrupt(path, f"zstd: {e}") from None
    if len(out) != size:
        raise _corrupt(path, f"zstd: {len(out)} bytes instead of the declared {size}")
    return out


# ---------------------------------------------------------------- values


def _raw(struct_: Any, n: int) -> bytes:
    return bytes(struct_._tab.Bytes[struct_._tab.Pos : struct_._tab.Pos + n])


def _node_id(struct_: Any) -> bytes:
    return _raw(struct_, 8)


def _u32_vector(table: Any, name: str) -> tuple[int, ...]:
    n = getattr(table, f"{name}Length")()
    get = getattr(table, name)
    return tuple(get(i) for i in range(n))


def _byte_vector(table: Any, name: str) -> bytes | None:
    if getattr(table, f"{name}IsNone")():
        return None
    n = getattr(table, f"{name}Length")()
    if n == 0:
        return b""
    return getattr(table, f"{name}AsNumpy")().tobytes()


def _json_object(path: str, text: str | bytes, what: str) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _corrupt(path, f"{what} is not UTF-8: {e}") from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except ValueError as e:
        raise _corrupt(path, f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise _corrupt(path, f"{what} is not a JSON object")
    return value


@dataclass(frozen=True)
class AncestorInfo:
    id: str
    parent_id: str | None
    flushed_at: int
    message: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ShardRef:
    block: tuple[int, ...]
    manifest_id: str
    chunk_count: int
    total_bytes: int
    inline_manifest: bytes | None


@dataclass(frozen=True)
class Node:
    id: str
    path: str
    zarr_json: bytes
    # None for a group.
    block_shape: tuple[int, ...] | None = None
    shards: tuple[ShardRef, ...] = ()

    @property
    def is_array(self) -> bool:
        return self.block_shape is not None


@dataclass(frozen=True)
class Snapshot:
    id: str
    parent_id: str | None
    flushed_at: int
    message: str
    metadata: dict[str, Any]
    nodes: tuple[Node, ...]
    ancestors: tuple[AncestorInfo, ...]

    def summary(self) -> AncestorInfo:
        return AncestorInfo(self.id, self.parent_id, self.flushed_at, self.message, self.metadata)


def _strictly_sorted(keys: list[Any]) -> bool:
    return all(a < b for a, b in itertools.pairwise(keys))


def decode_snapshot(path: str, stored: bytes) -> Snapshot:
    buf = decode_header(path, SNAPSHOT, stored)
    verify(buf, "Snapshot", path, max_tables=len(buf) // 4)
    snap = fb.Snapshot.GetRootAs(buf, 0)
    nodes = []
    for i in range(snap.NodesLength()):
        node = snap.Nodes(i)
        node_path = node.Path().decode("utf-8")
        zarr_json = _byte_vector(node, "ZarrJson") or b""
        node_id = ids.encode(_node_id(node.Id()))
        data_type = node.DataType()
        if data_type == fb.NodeData.GroupNode:
            nodes.append(Node(node_id, node_path, zarr_json))
        elif data_type == fb.NodeData.ArrayNode:
            array = fb.ArrayNode()
            table = node.Data()
            array.Init(table.Bytes, table.Pos)
            block_shape = _u32_vector(array, "BlockShape")
            if any(b == 0 for b in block_shape):
                raise _corrupt(path, f"node `{node_path}` has a block shape with a 0")
            shards = []
            for j in range(array.ShardsLength()):
                s = array.Shards(j)
                shards.append(
                    ShardRef(
                        block=_u32_vector(s, "Block"),
                        manifest_id=ids.encode(_raw(s.ManifestId(), 12)),
                        chunk_count=s.ChunkCount(),
                        total_bytes=s.TotalBytes(),
                        inline_manifest=_byte_vector(s, "InlineManifest"),
                    )
                )
            if not _strictly_sorted([s.block for s in shards]):
                raise _corrupt(path, f"the shards of `{node_path}` are not sorted by block")
            nodes.append(Node(node_id, node_path, zarr_json, block_shape, tuple(shards)))
        else:
            raise _corrupt(path, f"node `{node_path}` has unknown type {data_type}")
    if not _strictly_sorted([n.path.encode("utf-8") for n in nodes]):
        raise _corrupt(path, "nodes are not sorted by path, or a path repeats")
    ancestors = []
    for i in range(snap.AncestorsLength()):
        a = snap.Ancestors(i)
        ancestors.append(
            AncestorInfo(
                id=ids.encode(_raw(a.Id(), 12)),
                parent_id=ids.encode(_raw(a.ParentId(), 12)) if a.ParentId() else None,
                flushed_at=a.FlushedAt(),
                message=a.Message().decode("utf-8"),
                metadata=_json_object(path, a.MetadataJson(), "ancestor metadata"),
            )
        )
    return Snapshot(
        id=ids.encode(_raw(snap.Id(), 12)),
        parent_id=ids.encode(_raw(snap.ParentId(), 12)) if snap.ParentId() else None,
        flushed_at=snap.FlushedAt(),
        message=snap.Message().decode("utf-8"),
        metadata=_json_object(path, snap.MetadataJson(), "metadata"),
        nodes=tuple(nodes),
        ancestors=tuple(ancestors),
    )


@dataclass(frozen=True)
class ChunkRef:
    coords: tuple[int, ...]
    inline_data: bytes | None
    chunk_id: str | None
    offset: int
    length: int
    checksum: int
    block_size_log2: int = 0
    # Virtual chunks (spec §6.6): the source's URL and its pin, if any.
    location: str | None = None
    pin_etag: str | None = None
    pin_last_modified: int = 0


@dataclass(frozen=True)
class Manifest:
    id: str
    node_id: str
    block: tuple[int, ...]
    refs: tuple[ChunkRef, ...]


def _virtual_ref(
    path: str, r: Any, inline: bytes | None, chunk_id: Any, name: str, prefixes: list[str]
) -> ChunkRef:
    """Spec §6.6: a virtual reference, its URL the shard's prefix plus its name."""
    if inline is not None or chunk_id is not None:
        raise _corrupt(path, "a virtual chunk reference also has inline data or a chunk id")
    if r.LocationPrefix() >= len(prefixes):
        raise _corrupt(path, "a virtual chunk reference names a location prefix the shard lacks")
    etag = r.PinEtag()
    if etag is not None and r.PinLastModified() != 0:
        raise _corrupt(path, "a virtual chunk reference has two pins")
    return ChunkRef(
        coords=_u32_vector(r, "Coords"),
        inline_data=None,
        chunk_id=None,
        offset=r.Offset(),
        length=r.Length(),
        checksum=r.Checksum(),
        location=prefixes[r.LocationPrefix()] + name,
        pin_etag=None if etag is None else etag.decode("utf-8"),
        pin_last_modified=r.PinLastModified(),
    )


def decode_manifest(path: str, stored: bytes) -> Manifest:
    buf = decode_header(path, MANIFEST, stored)
    verify(buf, "Manifest", path, max_tables=len(buf) // 4)
    m = fb.Manifest.GetRootAs(buf, 0)
    refs = []
    prefixes = [m.LocationPrefixes(i).decode("utf-8") for i in range(m.LocationPrefixesLength())]
    for i in range(m.RefsLength()):
        r = m.Refs(i)
        inline = _byte_vector(r, "InlineData")
        chunk_id = r.ChunkId()
        name = r.LocationName()
        if name is not None:
            refs.append(_virtual_ref(path, r, inline, chunk_id, name.decode("utf-8"), prefixes))
            continue
        if (inline is None) == (chunk_id is None):
            raise _corrupt(path, "a chunk reference needs exactly one of inline_data and chunk_id")
        if inline is not None and (len(inline) != r.Length() or r.Offset() != 0):
            raise _corrupt(path, "an inline chunk's length or offset is wrong")
        if chunk_id is not None and r.BlockSizeLog2() > 63:
            raise _corrupt(path, "a chunk's block_size_log2 is above 63")
        refs.append(
            ChunkRef(
                coords=_u32_vector(r, "Coords"),
                inline_data=inline,
                chunk_id=ids.encode(_raw(chunk_id, 12)) if chunk_id is not None else None,
                offset=r.Offset(),
                length=r.Length(),
                checksum=r.Checksum(),
                block_size_log2=r.BlockSizeLog2(),
            )
        )
    if not _strictly_sorted([r.coords for r in refs]):
        raise _corrupt(path, "chunk references are not sorted by coordinates, or repeat")
    return Manifest(
        id=ids.encode(_raw(m.Id(), 12)),
        node_id=ids.encode(_node_id(m.NodeId())),
        block=_u32_vector(m, "Block"),
        refs=tuple(refs),
    )


@dataclass(frozen=True)
class TransactionLog:
    id: str
    # (node id, path) pairs.
    new_groups: tuple[tuple[str, str], ...]
    new_arrays: tuple[tuple[str, str], ...]
    deleted_groups: tuple[tuple[str, str], ...]
    deleted_arrays: tuple[tuple[str, str], ...]
    updated_groups: tuple[tuple[str, str], ...]
    updated_arrays: tuple[tuple[str, str], ...]
    # (node id, path) -> chunk coordinates.
    updated_chunks: dict[tuple[str, str], frozenset[tuple[int, ...]]] = field(default_factory=dict)
    # (node id, path in the parent, path in this snapshot); absent field: no moves.
    moved_nodes: tuple[tuple[str, str, str], ...] = ()


def decode_transaction_log(path: str, stored: bytes) -> TransactionLog:
    buf = decode_header(path, TRANSACTION_LOG, stored)
    verify(buf, "TransactionLog", path, max_tables=len(buf) // 4)
    log = fb.TransactionLog.GetRootAs(buf, 0)

    def nodes(name: str) -> tuple[tuple[str, str], ...]:
        get = getattr(log, name)
        out = []
        for i in range(getattr(log, f"{name}Length")()):
            n = get(i)
            out.append((ids.encode(_node_id(n.Id())), n.Path().decode("utf-8")))
        return tuple(out)

    updated_chunks = {}
    for i in range(log.UpdatedChunksLength()):
        entry = log.UpdatedChunks(i)
        ndim = entry.Ndim()
        flat = _u32_vector(entry, "Coords")
        if ndim == 0:
            # A 0-dimensional array: its one chunk, at the empty coordinates.
            coords = frozenset({()})
        else:
            if len(flat) % ndim:
                raise _corrupt(path, "chunk coordinates of uneven length")
            coords = frozenset(tuple(flat[k : k + ndim]) for k in range(0, len(flat), ndim))
        key = (ids.encode(_node_id(entry.NodeId())), entry.Path().decode("utf-8"))
        updated_chunks[key] = coords
    moved_nodes = []
    for i in range(log.MovedNodesLength()):
        moved = log.MovedNodes(i)
        node_id = ids.encode(_node_id(moved.Id()))
        if any(node_id == m[0] for m in moved_nodes):
            raise _corrupt(path, f"node {node_id} appears twice in moved_nodes")
        moved_nodes.append(
            (node_id, moved.FromPath().decode("utf-8"), moved.ToPath().decode("utf-8"))
        )
    return TransactionLog(
        id=ids.encode(_raw(log.Id(), 12)),
        new_groups=nodes("NewGroups"),
        new_arrays=nodes("NewArrays"),
        deleted_groups=nodes("DeletedGroups"),
        deleted_arrays=nodes("DeletedArrays"),
        updated_groups=nodes("UpdatedGroups"),
        updated_arrays=nodes("UpdatedArrays"),
        updated_chunks=updated_chunks,
        moved_nodes=tuple(moved_nodes),
    )


@dataclass(frozen=True)
class RefRecord:
    snapshot: str | None
    write_id: str
    deleted: bool


def decode_ref(path: str, stored: bytes) -> RefRecord:
    payload = decode_header(path, REF, stored)
    value = _json_object(path, payload, "ref record")
    snapshot = value.get("snapshot")
    write_id = value.get("write_id")
    deleted = value.get("deleted", False)
    if snapshot is not None and not isinstance(snapshot, str):
        raise _corrupt(path, "ref record: `snapshot` is not a string")
    if not isinstance(write_id, str):
        raise _corrupt(path, "ref record: `write_id` is missing or not a string")
    if not isinstance(deleted, bool):
        raise _corrupt(path, "ref record: `deleted` is not a boolean")
    return RefRecord(snapshot, write_id, deleted)


CONFIG_FIELDS = {
    # name: (default, min, max)
    "inline_chunk_threshold_bytes": (512, 0, 2**32 - 1),
    "compression_level": (3, -(2**31), 2**31 - 1),
    "snapshot_cache_size": (128, 0, 2**64 - 1),
    "manifest_cache_bytes": (512 * 1024 * 1024, 0, 2**64 - 1),
    "max_concurrent_requests": (256, 0, 2**32 - 1),
    "manifest_shard_size": (4096, 0, 2**32 - 1),
    "inline_manifest_threshold_bytes": (65536, 0, 2**32 - 1),
}


def decode_config(path: str, stored: bytes) -> dict[str, int]:
    value = _json_object(path, decode_header(path, CONFIG, stored), "config")
    config = {}
    for name, (default, lo, hi) in CONFIG_FIELDS.items():
        v = value.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _corrupt(path, f"config: `{name}` is not an integer in {lo}..{hi}")
        config[name] = v
    return config
