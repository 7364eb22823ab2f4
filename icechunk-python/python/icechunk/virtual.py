"""Virtual chunk containers: where a repository's virtual chunks may point, and how to reach
the objects there.

A virtual chunk is a byte range of an object outside the repository (a NetCDF file on S3,
say). A repository's config lists ``VirtualChunkContainer`` s (a url prefix such as
``s3://bucket/data/`` and an ``ObjectStoreConfig``: region, endpoint, options), and a
reader authorizes the containers it trusts when it opens the repository
(``authorize_virtual_chunk_access={url_prefix: credentials}``). A chunk in no authorized
container is never fetched: a repository is data others wrote, and must not make its
readers send their credentials to any URL it names.

``s3_store``, ``gcs_store``, ``http_store`` and ``local_filesystem_store`` build the store
configs (they are also in ``icechunk.storage``, where Icechunk 2.3 has them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from icechunk._icechunk import (
    ChecksumAlgorithm,
    S3Options,
    _check_virtual_chunk_container,
)

__all__ = [
    "AnyObjectStoreConfig",
    "ObjectStoreConfig",
    "VirtualChunkContainer",
    "azure_store",
    "gcs_store",
    "http_store",
    "local_filesystem_store",
    "s3_store",
]

_S3_FIELDS = (
    "region",
    "endpoint_url",
    "allow_http",
    "anonymous",
    "force_path_style",
    "network_stream_timeout_seconds",
    "requester_pays",
)


def _s3_to_json(options: S3Options) -> dict[str, Any]:
    fields = {name: getattr(options, name) for name in _S3_FIELDS}
    checksum = options.checksum_algorithm
    fields["checksum_algorithm"] = None if checksum is None else repr(checksum).split(".")[-1]
    return fields


def _s3_from_json(fields: Mapping[str, Any]) -> S3Options:
    checksum = fields.get("checksum_algorithm")
    return S3Options(
        **{name: fields[name] for name in _S3_FIELDS if name in fields},
        checksum_algorithm=None if checksum is None else getattr(ChecksumAlgorithm, checksum),
    )


def _options(value: Mapping[str, str] | None, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError(f"{what} must be a dict of str to str, got {value!r}")
    return dict(value)


class ObjectStoreConfig:
    """The kind of object store of a virtual chunk container, with its settings: one of
    ``ObjectStoreConfig.InMemory()``, ``LocalFileSystem(path)``, ``S3(S3Options)``,
    ``S3Compatible(S3Options)``, ``Tigris(S3Options)``, ``Gcs(options)``, ``Azure(options)``,
    ``Http(options, headers)``. Never credentials: those come with the authorization."""

    InMemory: ClassVar[type[_InMemory]]
    LocalFileSystem: ClassVar[type[_LocalFileSystem]]
    S3: ClassVar[type[_S3]]
    S3Compatible: ClassVar[type[_S3Compatible]]
    Tigris: ClassVar[type[_Tigris]]
    Gcs: ClassVar[type[_Gcs]]
    Azure: ClassVar[type[_Azure]]
    Http: ClassVar[type[_Http]]

    # The engine's name of the variant (config.json's "type").
    _type: ClassVar[str] = ""
    _values: tuple[Any, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values == other._values  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable parts, as Icechunk's

    def __repr__(self) -> str:
        shown = ", ".join(repr(v) for v in self._values)
        return f"icechunk.config.ObjectStoreConfig.{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (type(self), self._values)

    def _to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def _from_json(fields: Mapping[str, Any]) -> ObjectStoreConfig:
        kind = fields["type"]
        if kind == "in_memory":
            return ObjectStoreConfig.InMemory()
        if kind == "local_file_system":
            return ObjectStoreConfig.LocalFileSystem(fields["path"])
        if kind in ("s3", "s3_compatible", "tigris"):
            variant = {
                "s3": ObjectStoreConfig.S3,
                "s3_compatible": ObjectStoreConfig.S3Compatible,
                "tigris": ObjectStoreConfig.Tigris,
            }[kind]
            return variant(_s3_from_json(fields))
        if kind == "gcs":
            return ObjectStoreConfig.Gcs(fields.get("options") or None)
        if kind == "azure":
            return ObjectStoreConfig.Azure(fields.get("options") or None)
        if kind == "http":
            return ObjectStoreConfig.Http(
                fields.get("options") or None, fields.get("headers") or None
            )
        raise ValueError(f"unknown object store type {kind!r}")


class _InMemory(ObjectStoreConfig):
    """An in-memory store: no url prefix fits it (kept for Icechunk 2.3's name)."""

    _type = "in_memory"

    def __init__(self) -> None:
        self._values = ()

    def _to_json(self) -> dict[str, Any]:
        return {"type": self._type}


class _LocalFileSystem(ObjectStoreConfig):
    """Files of this machine, for ``file://`` prefixes; ``_0`` is the folder."""

    _type = "local_file_system"

    def __init__(self, _0: str | Path) -> None:
        self._values = (Path(_0),)

    @property
    def _0(self) -> Path:
        return self._values[0]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"icechunk.config.ObjectStoreConfig.LocalFileSystem({str(self._0)!r})"

    def _to_json(self) -> dict[str, Any]:
        return {"type": self._type, "path": str(self._0)}


class _S3Like(ObjectStoreConfig):
    def __init__(self, _0: S3Options) -> None:
        if not isinstance(_0, S3Options):
            raise TypeError(f"expected an icechunk.S3Options, got {type(_0).__name__}")
        self._values = (_0,)

    @property
    def _0(self) -> S3Options:
        return self._values[0]  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        # S3Options compare by value; their JSON says the same, checksum included.
        return type(self) is type(other) and self._to_json() == other._to_json()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def _to_json(self) -> dict[str, Any]:
        return {"type": self._type, **_s3_to_json(self._0)}


class _S3(_S3Like):
    """Amazon S3, for ``s3://`` prefixes."""

    _type = "s3"


class _S3Compatible(_S3Like):
    """An S3-compatible server (MinIO, Ceph...) at ``endpoint_url``, for ``s3://`` prefixes."""

    _type = "s3_compatible"


class _Tigris(_S3Like):
    """Tigris, for ``s3://`` (or ``tigris://``) prefixes."""

    _type = "tigris"


class _Options(ObjectStoreConfig):
    def __init__(self, _0: Mapping[str, str] | None) -> None:
        self._values = (None if _0 is None else _options(_0, "the options"),)

    @property
    def _0(self) -> dict[str, str] | None:
        return self._values[0]  # type: ignore[no-any-return]

    def _to_json(self) -> dict[str, Any]:
        return {"type": self._type, "options": self._0 or {}}


class _Gcs(_Options):
    """Google Cloud Storage, for ``gs://`` / ``gcs://`` prefixes; ``_0`` are
    ``object_store`` GCS settings by name."""

    _type = "gcs"


class _Azure(_Options):
    """Azure Blob Storage, for ``az://`` / ``azure://`` / ``abfs://`` prefixes; ``_0`` are
    ``object_store`` Azure settings by name (``account_name`` among them)."""

    _type = "azure"


class _Http(ObjectStoreConfig):
    """HTTP(S) servers, for ``http(s)://`` prefixes: ``_0`` client options, ``_1`` headers
    sent with every request."""

    _type = "http"

    def __init__(self, _0: Mapping[str, str] | None, _1: Mapping[str, str] | None) -> None:
        self._values = (
            None if _0 is None else _options(_0, "the options"),
            None if _1 is None else _options(_1, "the headers"),
        )

    @property
    def _0(self) -> dict[str, str] | None:
        return self._values[0]  # type: ignore[no-any-return]

    @property
    def _1(self) -> dict[str, str] | None:
        return self._values[1]  # type: ignore[no-any-return]

    def _to_json(self) -> dict[str, Any]:
        return {"type": self._type, "options": self._0 or {}, "headers": self._1 or {}}


def _variant(cls: type[ObjectStoreConfig], name: str) -> type[ObjectStoreConfig]:
    """Names ``cls`` ``ObjectStoreConfig.<name>``, where pickle finds it."""
    cls.__name__ = name
    cls.__qualname__ = f"ObjectStoreConfig.{name}"
    setattr(ObjectStoreConfig, name, cls)
    return cls


_variant(_InMemory, "InMemory")
_variant(_LocalFileSystem, "LocalFileSystem")
_variant(_S3, "S3")
_variant(_S3Compatible, "S3Compatible")
_variant(_Tigris, "Tigris")
_variant(_Gcs, "Gcs")
_variant(_Azure, "Azure")
_variant(_Http, "Http")

AnyObjectStoreConfig = _InMemory | _LocalFileSystem | _S3 | _S3Compatible | _Gcs | _Azure | _Tigris


class VirtualChunkContainer:
    """A url prefix (ending in ``/``) that virtual chunks may point into, the store that
    serves it, and an optional name (a label only). The prefix's scheme must fit the store:
    ``s3://`` for S3 and S3-compatibles, ``gs://``/``gcs://`` for GCS, ``az://``/
    ``azure://``/``abfs://`` for Azure, ``http(s)://`` for HTTP, ``file://`` for local files;
    ``RepositoryConfig.set_virtual_chunk_container`` checks it."""

    __slots__ = ("name", "store", "url_prefix")

    def __init__(self, url_prefix: str, store: ObjectStoreConfig, name: str | None = None) -> None:
        if not isinstance(url_prefix, str):
            raise TypeError(f"url_prefix must be a str, got {type(url_prefix).__name__}")
        if not isinstance(store, ObjectStoreConfig):
            raise TypeError(f"store must be an ObjectStoreConfig, got {type(store).__name__}")
        self.url_prefix = url_prefix
        self.store = store
        self.name = name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VirtualChunkContainer) and (
            self.name,
            self.url_prefix,
            self.store,
        ) == (other.name, other.url_prefix, other.store)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        store = repr(self.store).replace("\n", "\n    ")
        name = "None" if self.name is None else json.dumps(self.name)
        return (
            "icechunk.virtual.VirtualChunkContainer(\n"
            f"    name={name},\n"
            f"    url_prefix={json.dumps(self.url_prefix)},\n"
            f"    store={store},\n)"
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (VirtualChunkContainer, (self.url_prefix, self.store, self.name))

    def _to_json(self) -> dict[str, Any]:
        return {"name": self.name, "url_prefix": self.url_prefix, "store": self.store._to_json()}

    @staticmethod
    def _from_json(fields: Mapping[str, Any]) -> VirtualChunkContainer:
        return VirtualChunkContainer(
            fields["url_prefix"], ObjectStoreConfig._from_json(fields["store"]), fields.get("name")
        )

    def _check(self) -> None:
        """``ValueError`` (``InvalidInputError``) unless the engine accepts this container."""
        _check_virtual_chunk_container(json.dumps(self._to_json()))


# ---- the constructors, with Icechunk 2.3's signatures ---------------------------------------


def s3_store(
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    anonymous: bool = False,
    s3_compatible: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int = 60,
    requester_pays: bool = False,
    checksum_algorithm: ChecksumAlgorithm | None = None,
) -> ObjectStoreConfig:
    """Build an ObjectStoreConfig instance for S3 or S3 compatible object stores.

    ``s3_compatible=True`` is a server other than Amazon S3 at ``endpoint_url``;
    ``anonymous=True`` sends unsigned requests unless the authorization gives keys."""
    options = S3Options(
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        anonymous=anonymous,
        force_path_style=force_path_style,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
        requester_pays=requester_pays,
        checksum_algorithm=checksum_algorithm,
    )
    return (
        ObjectStoreConfig.S3Compatible(options) if s3_compatible else ObjectStoreConfig.S3(options)
    )


def gcs_store(opts: dict[str, str] | None = None) -> ObjectStoreConfig:
    """Build an ObjectStoreConfig instance for Google Cloud Storage object stores.

    ``opts``: ``object_store`` GCS settings by name (``GoogleConfigKey``)."""
    return ObjectStoreConfig.Gcs(opts)


def azure_store(*, account: str, config: dict[str, str] | None = None) -> ObjectStoreConfig:
    """Build an ObjectStoreConfig instance for Azure Blob Storage (``az://container/...``).

    ``account``: the storage account; ``config``: more ``object_store`` Azure settings by
    name (``AzureConfigKey``)."""
    return ObjectStoreConfig.Azure({"account": account, **(config or {})})


def http_store(
    opts: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> ObjectStoreConfig:
    """Build an ObjectStoreConfig instance for HTTP object stores.

    ``opts``: ``object_store`` client settings by name (``ClientConfigKey``, snake case);
    ``headers``: sent with every request (e.g. ``{"authorization": "Bearer <token>"}``)."""
    return ObjectStoreConfig.Http(opts, headers)


def local_filesystem_store(path: str) -> ObjectStoreConfig:
    """Build an ObjectStoreConfig instance for local file stores; ``path``: its root
    directory."""
    return ObjectStoreConfig.LocalFileSystem(path)
