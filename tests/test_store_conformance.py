"""zarr-python's store conformance suite (``zarr.testing.store.StoreTests``) on IcechunkStore.

IcechunkStore holds a Zarr v3 hierarchy, not arbitrary bytes under arbitrary keys: a key is
either a node's ``zarr.json`` (which must be valid Zarr v3 metadata) or a chunk key of an
array whose ``zarr.json`` is already there. The suite writes things like ``"foo"`` or
``"zarr.json" = b"bar"``, so some tests are overridden below. Each override keeps the
suite's assertions and changes only the keys and values to a valid hierarchy; the reason is
in its docstring. No test is skipped. The suite's ``set``/``get`` helpers bypass
IcechunkStore and call the binding directly; ``set`` first writes the metadata of the array
a chunk key belongs to (``"c/0"`` -> root array, ``"foo/0/0"`` -> array ``foo`` with
v2-style ``/`` keys, ``"foo/c/0.0"`` -> array ``foo/c`` with ``.`` keys).
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import _collect_aiterator, sync
from zarr.testing.store import StoreTests
from zarr.testing.utils import assert_bytes_equal

import icechunk as ic

PROTO = default_buffer_prototype()
GROUP = {"zarr_format": 3, "node_type": "group", "attributes": {}}


def array_doc(ndim: int, encoding: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [1000] * ndim,
        "data_type": "uint8",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1] * ndim}},
        "chunk_key_encoding": encoding or {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes"}],
        "attributes": {},
    }


def as_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _is_coords(parts: list[str]) -> bool:
    return bool(parts) and all(p.isdigit() for p in parts)


def chunk_layout(key: str) -> tuple[str, dict[str, Any]] | None:
    """(array metadata key, array doc) that makes ``key`` a chunk key, if any."""
    parts = key.split("/")
    for i in range(len(parts)):
        prefix, rest = "/".join(parts[:i]), parts[i:]
        meta = f"{prefix}/zarr.json" if prefix else "zarr.json"
        if rest[0] == "c" and _is_coords(rest[1:]):
            return meta, array_doc(len(rest) - 1)
        if _is_coords(rest):
            v2 = {"name": "v2", "configuration": {"separator": "/"}}
            return meta, array_doc(len(rest), v2)
        if len(rest) == 1 and _is_coords(rest[0].split(".")):
            v2 = {"name": "v2", "configuration": {"separator": "."}}
            return meta, array_doc(len(rest[0].split(".")), v2)
    return None


async def prepare(store: ic.IcechunkStore, key: str) -> None:
    """Write the zarr.json of the array that ``key`` is a chunk of, if not there yet."""
    layout = chunk_layout(key)
    assert layout is not None, f"{key!r} cannot be a chunk key"
    meta, doc = layout
    if await store._store.get(meta) is None:
        await store._store.set(meta, as_bytes(doc))


class TestIcechunkStore(StoreTests[ic.IcechunkStore, cpu.Buffer]):
    store_cls = ic.IcechunkStore
    buffer_cls = cpu.Buffer

    @pytest.fixture
    def store_kwargs(self) -> dict[str, Any]:
        repo = ic.Repository.create(ic.in_memory_storage())
        return {"session": repo.writable_session("main"), "read_only": False}

    async def set(self, store: ic.IcechunkStore, key: str, value: Buffer) -> None:
        if not key.endswith("zarr.json"):
            await prepare(store, key)
        await store._store.set(key, value.to_bytes())

    async def get(self, store: ic.IcechunkStore, key: str) -> Buffer:
        data = await store._store.get(key)
        assert data is not None, key
        return self.buffer_cls.from_bytes(data)

    def test_store_repr(self, store: ic.IcechunkStore) -> None:
        assert repr(store).startswith("<IcechunkStore writable snapshot=")

    def test_store_supports_writes(self, store: ic.IcechunkStore) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: ic.IcechunkStore) -> None:
        assert store.supports_listing

    # ---- overrides: same assertions, keys of a valid hierarchy ------------------------

    async def test_serializable_store(self, store: ic.IcechunkStore) -> None:
        """A writable session's changes live in this process only, so pickling its store
        is refused (naming the way out); the suite's round trip runs on a read-only store
        of the committed data."""
        with pytest.raises(ValueError, match=r"fork\(\).*to_icechunk"):  # as Icechunk
            pickle.dumps(store)
        await self.set(store, "c/0", self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))
        snapshot = store.session.commit("data")
        reader = store.session.repository.readonly_session(snapshot_id=snapshot).store
        new_store = pickle.loads(pickle.dumps(reader))
        assert new_store == reader
        assert new_store.read_only == reader.read_only
        observed = await new_store.get("c/0", prototype=PROTO)
        assert_bytes_equal(observed, self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))

    async def test_with_read_only_store(self, open_kwargs: dict[str, Any]) -> None:
        """The suite writes key "foo": here "c/0", a chunk of a root array."""
        kwargs = {**open_kwargs, "read_only": True}
        store = await self.store_cls.open(**kwargs)
        await prepare(store, "c/0")
        data = self.buffer_cls.from_bytes(b"bar")
        msg = "store was opened in read-only mode and does not support writing"
        with pytest.raises(ValueError, match=msg):
            await store.set("c/0", data)
        writer = store.with_read_only(read_only=False)
        assert not writer._is_open
        assert not writer.read_only
        await writer.set("c/0", data)
        await writer.delete("c/0")
        for read_only_store in (store, store.with_read_only(read_only=True)):
            assert read_only_store.read_only
            with pytest.raises(ValueError, match=msg):
                await read_only_store.set("c/0", data)
            with pytest.raises(ValueError, match=msg):
                await read_only_store.delete("c/0")

    @pytest.mark.parametrize("key", ["zarr.json", "c/0", "foo/c/0.0", "foo/0/0"])
    @pytest.mark.parametrize("data", [b"\x01\x02\x03\x04", b""])
    async def test_set(self, store: ic.IcechunkStore, key: str, data: bytes) -> None:
        """zarr.json must hold valid metadata; a chunk needs its array's zarr.json."""
        assert not store.read_only
        if key == "zarr.json":
            data = as_bytes({**GROUP, "attributes": {"data": data.hex()}})
        else:
            await prepare(store, key)
        data_buf = self.buffer_cls.from_bytes(data)
        await store.set(key, data_buf)
        observed = await self.get(store, key)
        assert_bytes_equal(observed, data_buf)

    async def test_set_not_open(self, store_not_open: ic.IcechunkStore) -> None:
        """A chunk needs its array's zarr.json first."""
        assert not store_not_open._is_open
        await prepare(store_not_open, "c/0")
        data_buf = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        await store_not_open.set("c/0", data_buf)
        observed = await self.get(store_not_open, "c/0")
        assert_bytes_equal(observed, data_buf)

    async def test_set_many(self, store: ic.IcechunkStore) -> None:
        """The suite's keys mix a root zarr.json of arbitrary bytes with nodes below it;
        here: a root group, a group and chunks of an array written beforehand."""
        await store._store.set("foo/zarr.json", as_bytes(array_doc(2)))
        store_dict = {
            "zarr.json": self.buffer_cls.from_bytes(as_bytes(GROUP)),
            "bar/zarr.json": self.buffer_cls.from_bytes(as_bytes(GROUP)),
            "foo/c/0/0": self.buffer_cls.from_bytes(b"foo/c/0/0"),
            "foo/c/0/1": self.buffer_cls.from_bytes(b"foo/c/0/1"),
        }
        await store._set_many(store_dict.items())
        for k, v in store_dict.items():
            assert (await self.get(store, k)).to_bytes() == v.to_bytes()

    @pytest.mark.parametrize(
        "key_ranges",
        [
            [],
            [("zarr.json", RangeByteRequest(0, 2))],
            [("c/0", RangeByteRequest(0, 2)), ("zarr.json", None)],
            [
                ("c/0/0", RangeByteRequest(0, 2)),
                ("c/0/1", SuffixByteRequest(2)),
                ("c/0/2", OffsetByteRequest(2)),
            ],
        ],
    )
    async def test_get_partial_values(
        self, store: ic.IcechunkStore, key_ranges: list[tuple[str, Any]]
    ) -> None:
        """The suite stores each key's name as its value, zarr.json included; here a
        zarr.json holds valid metadata (the root array's, when chunks live at the root)."""
        for key, _ in key_ranges:
            if key == "zarr.json":
                if await store._store.get(key) is None:
                    await store._store.set(key, as_bytes(GROUP))
            else:
                await self.set(store, key, self.buffer_cls.from_bytes(key.encode()))
        observed = await store.get_partial_values(prototype=PROTO, key_ranges=key_ranges)
        assert len(observed) == len(key_ranges)
        for obs, (key, byte_range) in zip(observed, key_ranges, strict=True):
            expected = await store.get(key, prototype=PROTO, byte_range=byte_range)
            assert obs is not None and expected is not None
            assert obs.to_bytes() == expected.to_bytes()

    async def test_getsize_prefix(self, store: ic.IcechunkStore) -> None:
        """The suite's chunk keys need their array's zarr.json first."""
        await prepare(store, "c/0/0")
        data_buf = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        keys = ["c/0/0", "c/0/1", "c/1/0", "c/1/1"]
        await store._set_many([(k, data_buf) for k in keys])
        assert await store.getsize_prefix("c") == len(data_buf) * len(keys)

    async def test_exists(self, store: ic.IcechunkStore) -> None:
        """The suite's "foo/zarr.json" holds b"bar": here a group's metadata."""
        assert not await store.exists("foo")
        assert not await store.exists("foo/zarr.json")
        await store.set("foo/zarr.json", self.buffer_cls.from_bytes(as_bytes(GROUP)))
        assert await store.exists("foo/zarr.json")

    async def test_delete(self, store: ic.IcechunkStore) -> None:
        """The suite's "foo/zarr.json" holds b"bar": here a group's metadata."""
        await store.set("foo/zarr.json", self.buffer_cls.from_bytes(as_bytes(GROUP)))
        assert await store.exists("foo/zarr.json")
        await store.delete("foo/zarr.json")
        assert not await store.exists("foo/zarr.json")

    async def test_delete_dir(self, store: ic.IcechunkStore) -> None:
        """Same keys as the suite, with valid metadata ("foo" is an array with a chunk)."""
        group = self.buffer_cls.from_bytes(as_bytes(GROUP))
        await store.set("zarr.json", group)
        await store.set("foo-bar/zarr.json", group)
        await store.set("foo/zarr.json", self.buffer_cls.from_bytes(as_bytes(array_doc(1))))
        await store.set("foo/c/0", self.buffer_cls.from_bytes(b"chunk"))
        await store.delete_dir("foo")
        assert await store.exists("zarr.json")
        assert await store.exists("foo-bar/zarr.json")
        assert not await store.exists("foo/zarr.json")
        assert not await store.exists("foo/c/0")

    async def test_is_empty(self, store: ic.IcechunkStore) -> None:
        """The suite writes key "foo/bar": here "foo/0", a chunk of array "foo"."""
        assert await store.is_empty("")
        await self.set(store, "foo/0", self.buffer_cls.from_bytes(b"something"))
        assert not await store.is_empty("")
        assert await store.is_empty("fo")
        assert not await store.is_empty("foo/")
        assert not await store.is_empty("foo")
        assert await store.is_empty("spam/")

    async def test_clear(self, store: ic.IcechunkStore) -> None:
        """The suite writes key "key": here "c/0", a chunk of a root array."""
        await self.set(store, "c/0", self.buffer_cls.from_bytes(b"something"))
        await store.clear()
        assert await store.is_empty("")

    async def test_list(self, store: ic.IcechunkStore) -> None:
        """The suite's "foo/zarr.json" holds b"": here the metadata of array "foo"."""
        assert await _collect_aiterator(store.list()) == ()
        meta = self.buffer_cls.from_bytes(as_bytes(array_doc(1)))
        await store.set("foo/zarr.json", meta)
        data = self.buffer_cls.from_bytes(b"")
        store_dict = {f"foo/c/{idx}": data for idx in range(10)}
        await store._set_many(store_dict.items())
        expected_sorted = sorted(["foo/zarr.json", *store_dict])
        assert sorted(await _collect_aiterator(store.list())) == expected_sorted

    async def test_list_prefix(self, store: ic.IcechunkStore) -> None:
        """The suite's zarr.json values are b"": here group metadata."""
        prefixes = ("", "a/", "a/b/", "a/b/c/")
        data = self.buffer_cls.from_bytes(as_bytes(GROUP))
        store_dict = {p + "zarr.json": data for p in prefixes}
        await store._set_many(store_dict.items())
        for prefix in prefixes:
            observed = tuple(sorted(await _collect_aiterator(store.list_prefix(prefix))))
            expected = tuple(sorted(k for k in store_dict if k.startswith(prefix)))
            assert observed == expected

    async def test_list_empty_path(self, store: ic.IcechunkStore) -> None:
        """Same keys as the suite, plus the zarr.json that array foo/baz needs."""
        meta = self.buffer_cls.from_bytes(as_bytes(array_doc(1)))
        await store.set("foo/bar/zarr.json", meta)
        await store.set("foo/baz/zarr.json", meta)
        data = self.buffer_cls.from_bytes(b"")
        await store._set_many([("foo/bar/c/1", data), ("foo/baz/c/0", data)])
        keys = ["foo/bar/zarr.json", "foo/bar/c/1", "foo/baz/zarr.json", "foo/baz/c/0"]
        assert sorted(await _collect_aiterator(store.list())) == sorted(keys)
        assert sorted(await _collect_aiterator(store.list_prefix(""))) == sorted(keys)
        observed = sorted(await _collect_aiterator(store.list_prefix("foo/bar/")))
        assert observed == sorted(k for k in keys if k.startswith("foo/bar/"))

    async def test_list_dir(self, store: ic.IcechunkStore) -> None:
        """The suite puts a plain key and a node under array "foo"; arrays hold only
        chunks, so the second root is a group "grp/bar" with an array and a group."""
        array = self.buffer_cls.from_bytes(as_bytes(array_doc(1)))
        group = self.buffer_cls.from_bytes(as_bytes(GROUP))
        roots_and_keys = [
            ("foo", [("foo/zarr.json", array), ("foo/c/1", self.buffer_cls.from_bytes(b"1"))]),
            (
                "grp/bar",
                [
                    ("grp/bar/zarr.json", group),
                    ("grp/bar/first_child/zarr.json", array),
                    ("grp/bar/second_child/zarr.json", group),
                ],
            ),
        ]
        assert await _collect_aiterator(store.list_dir("")) == ()
        for root, items in roots_and_keys:
            assert await _collect_aiterator(store.list_dir(root)) == ()
            for key, value in items:  # metadata before the chunks it describes
                await store.set(key, value)
            expected = {k.removeprefix(root + "/").split("/")[0] for k, _ in items}
            assert sorted(await _collect_aiterator(store.list_dir(root))) == sorted(expected)
            assert sorted(await _collect_aiterator(store.list_dir(root + "/"))) == sorted(expected)

    async def test_set_if_not_exists(self, store: ic.IcechunkStore) -> None:
        """The suite uses keys "k" and "k2": here chunks "c/0" and "c/1"."""
        data_buf = self.buffer_cls.from_bytes(b"0000")
        await self.set(store, "c/0", data_buf)
        new = self.buffer_cls.from_bytes(b"1111")
        await store.set_if_not_exists("c/0", new)
        assert await store.get("c/0", PROTO) == data_buf
        await store.set_if_not_exists("c/1", new)
        assert await store.get("c/1", PROTO) == new

    # zarr 3.4 dropped Store._get_bytes/_get_json (and their tests); on zarr 3.1 the suite
    # still has them.
    if hasattr(StoreTests, "test_get_bytes"):

        async def test_get_bytes(self, store: ic.IcechunkStore) -> None:
            """The suite stores b"hello world" as zarr.json: here as chunk "c/0"."""
            data = b"hello world"
            await self.set(store, "c/0", self.buffer_cls.from_bytes(data))
            assert await store._get_bytes("c/0", prototype=PROTO) == data
            with pytest.raises(FileNotFoundError):
                await store._get_bytes("c/999", prototype=PROTO)

        def test_get_bytes_sync(self, store: ic.IcechunkStore) -> None:
            """The suite stores b"hello world" as zarr.json: here as chunk "c/0"."""
            data = b"hello world"
            sync(self.set(store, "c/0", self.buffer_cls.from_bytes(data)))
            assert store._get_bytes_sync("c/0", prototype=PROTO) == data

        async def test_get_json(self, store: ic.IcechunkStore) -> None:
            """The suite's zarr.json is {"foo": "bar"}: here a group with that attribute."""
            doc = {**GROUP, "attributes": {"foo": "bar"}}
            await self.set(store, "zarr.json", self.buffer_cls.from_bytes(as_bytes(doc)))
            assert await store._get_json("zarr.json", prototype=PROTO) == doc

        def test_get_json_sync(self, store: ic.IcechunkStore) -> None:
            """The suite's zarr.json is {"foo": "bar"}: here a group with that attribute."""
            doc = {**GROUP, "attributes": {"foo": "bar"}}
            sync(self.set(store, "zarr.json", self.buffer_cls.from_bytes(as_bytes(doc))))
            assert store._get_json_sync("zarr.json", prototype=PROTO) == doc

    @pytest.mark.parametrize("direction", ["set_async_get_sync", "set_sync_get_async"])
    async def test_sync_async_set_get_parity(self, store: ic.IcechunkStore, direction: str) -> None:
        """zarr 3.4's suite uses key "parity_set_get": here chunk "c/0"."""
        await prepare(store, "c/0")
        data_buf = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        if direction == "set_async_get_sync":
            await store.set("c/0", data_buf)
            result = store.get_sync("c/0")
        else:
            store.set_sync("c/0", data_buf)
            result = await store.get("c/0", prototype=PROTO)
        assert result is not None
        assert_bytes_equal(result, data_buf)

    async def test_delete_sync_visible_to_async_get(self, store: ic.IcechunkStore) -> None:
        """zarr 3.4's suite uses key "parity_delete": here chunk "c/0"."""
        await self.set(store, "c/0", self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))
        store.delete_sync("c/0")
        assert await store.get("c/0", prototype=PROTO) is None

    @pytest.mark.parametrize(
        "byte_range",
        [
            None,
            RangeByteRequest(1, 4),
            OffsetByteRequest(1),
            SuffixByteRequest(1),
            RangeByteRequest(10, 20),
        ],
        ids=["none", "range", "offset", "suffix", "range-past-eof"],
    )
    async def test_get_sync_byte_range_parity(
        self, store: ic.IcechunkStore, byte_range: Any
    ) -> None:
        """zarr 3.4's suite uses key "parity_byte_range": here chunk "c/0"."""
        await self.set(store, "c/0", self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))
        sync_result = store.get_sync("c/0", byte_range=byte_range)
        async_result = await store.get("c/0", prototype=PROTO, byte_range=byte_range)
        if async_result is None:
            assert sync_result is None
        else:
            assert sync_result is not None
            assert_bytes_equal(sync_result, async_result)

    def test_get_sync(self, store: ic.IcechunkStore) -> None:
        """The suite uses key "sync_get": here chunk "c/0"."""
        data_buf = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        sync(self.set(store, "c/0", data_buf))
        result = store.get_sync("c/0")
        assert result is not None
        assert_bytes_equal(result, data_buf)

    def test_set_sync(self, store: ic.IcechunkStore) -> None:
        """The suite uses key "sync_set": here chunk "c/0"."""
        sync(prepare(store, "c/0"))
        data_buf = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        store.set_sync("c/0", data_buf)
        assert_bytes_equal(sync(self.get(store, "c/0")), data_buf)

    def test_delete_sync(self, store: ic.IcechunkStore) -> None:
        """The suite uses key "sync_delete": here chunk "c/0"."""
        sync(prepare(store, "c/0"))
        store.set_sync("c/0", self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))
        store.delete_sync("c/0")
        assert store.get_sync("c/0") is None
