"""``RepositoryConfig`` and its parts, in Icechunk 2.x's shape, mapped onto this engine's
settings.

Every field is optional: ``None`` means "this engine's default" (or, in ``merge``, "keep the
other value"), as in Icechunk 2.x. A config reaches the engine through ``_to_engine``, which
applies what maps onto this engine's settings and refuses, with ``InvalidInputError``, what
cannot apply here (the README's table lists both); ``_from_engine`` gives the config back
with every applied value filled in.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from icechunk._config_conditions import (
    ManifestPreloadCondition,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
)
from icechunk._icechunk import EngineConfig, StorageRetriesSettings, StorageSettings
from icechunk.errors import InvalidInputError
from icechunk.virtual import VirtualChunkContainer

__all__ = [
    "CachingConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "ManifestConfig",
    "ManifestPreloadConfig",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "RepoUpdateRetryConfig",
    "RepositoryConfig",
]


class _Settings:
    """Optional fields listed in ``_fields`` (slots, so the class names them as Icechunk's
    do): ``==``, a ``repr`` that rebuilds the value, pickling, and ``_merged`` (the other's
    set fields win, recursively)."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, f) == getattr(other, f) for f in self._fields
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as Icechunk's

    def __repr__(self) -> str:
        shown = {f: repr(getattr(self, f)).replace("\n", "\n    ") for f in self._fields}
        lines = [f"    {f}={value}," for f, value in shown.items()]
        return f"icechunk.config.{type(self).__name__}(\n" + "\n".join(lines) + "\n)"

    def __reduce__(self) -> tuple[Any, tuple[()], dict[str, Any]]:
        return (type(self), (), {f: getattr(self, f) for f in self._fields})

    def __setstate__(self, state: dict[str, Any]) -> None:
        for f, v in state.items():
            setattr(self, f, v)

    def _merged(self, other: Any) -> Any:
        merged = type(self)()
        for f in self._fields:
            mine, theirs = getattr(self, f), getattr(other, f)
            if isinstance(mine, _Settings) and isinstance(theirs, _Settings):
                setattr(merged, f, mine._merged(theirs))
            else:
                setattr(merged, f, mine if theirs is None else theirs)
        return merged

    def _set(self) -> list[str]:
        return [f for f in self._fields if getattr(self, f) is not None]


def _refuse(setting: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"{setting} is not supported by this engine: {why}")


class CompressionAlgorithm:
    """How metadata objects are compressed: ``Zstd``, the one algorithm of both formats."""

    __slots__ = ("name", "value")
    Zstd: ClassVar[CompressionAlgorithm]
    name: str
    value: int

    def __new__(cls) -> CompressionAlgorithm:
        return cls.Zstd

    @classmethod
    def _member(cls, name: str, value: int) -> CompressionAlgorithm:
        member = object.__new__(cls)
        member.name, member.value = name, value
        return member

    @staticmethod
    def default() -> CompressionAlgorithm:
        return CompressionAlgorithm.Zstd

    def __repr__(self) -> str:
        return f"CompressionAlgorithm.{self.name}"

    def __int__(self) -> int:
        return int(self.value)

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (CompressionAlgorithm, ())


CompressionAlgorithm.Zstd = CompressionAlgorithm._member("Zstd", 0)


class CompressionConfig(_Settings):
    """Compression of snapshots, manifests and transaction logs (``level``: zstd's 1..22)."""

    _fields = ("algorithm", "level")
    __slots__ = _fields

    def __init__(
        self, algorithm: CompressionAlgorithm | None = None, level: int | None = None
    ) -> None:
        self.algorithm = algorithm
        self.level = level

    @staticmethod
    def default() -> CompressionConfig:
        return CompressionConfig()


class CachingConfig(_Settings):
    """Bounds of the in-memory caches, in Icechunk's units: nodes of cached snapshots and
    chunk references of cached manifests. The others must stay 0 or ``None``: this engine
    caches no transaction logs by size, no attributes apart from their snapshot, no chunks."""

    _fields = (
        "num_snapshot_nodes",
        "num_chunk_refs",
        "num_transaction_changes",
        "num_bytes_attributes",
        "num_bytes_chunks",
    )
    __slots__ = _fields

    def __init__(
        self,
        num_snapshot_nodes: int | None = None,
        num_chunk_refs: int | None = None,
        num_transaction_changes: int | None = None,
        num_bytes_attributes: int | None = None,
        num_bytes_chunks: int | None = None,
    ) -> None:
        self.num_snapshot_nodes = num_snapshot_nodes
        self.num_chunk_refs = num_chunk_refs
        self.num_transaction_changes = num_transaction_changes
        self.num_bytes_attributes = num_bytes_attributes
        self.num_bytes_chunks = num_bytes_chunks

    @staticmethod
    def default() -> CachingConfig:
        return CachingConfig()


class ManifestPreloadConfig(_Settings):
    """Icechunk's preloading of small manifests when a session opens. Here small manifests
    live inside their snapshot (``inline_manifest_threshold_bytes``) and so always come with
    it; a preload config is refused when applied."""

    _fields = ("max_total_refs", "preload_if", "max_arrays_to_scan")
    __slots__ = _fields

    def __init__(
        self,
        max_total_refs: int | None = None,
        preload_if: ManifestPreloadCondition | None = None,
        max_arrays_to_scan: int | None = None,
    ) -> None:
        self.max_total_refs = max_total_refs
        self.preload_if = preload_if
        self.max_arrays_to_scan = max_arrays_to_scan


SplitSizes = list[tuple[ManifestSplitCondition, list[tuple[ManifestSplitDimCondition, int]]]]


class ManifestSplittingConfig(_Settings):
    """Icechunk's splitting of an array's manifest by chunk coordinates. Here every manifest
    is sharded by ``manifest_shard_size`` chunk references, in coordinate order, so a read
    loads only the shards it needs; a splitting config is refused when applied."""

    _fields = ("split_sizes",)
    __slots__ = _fields

    def __init__(self, split_sizes: SplitSizes | None = None) -> None:
        self.split_sizes = split_sizes

    @staticmethod
    def from_dict(
        split_sizes: dict[ManifestSplitCondition, dict[ManifestSplitDimCondition, int]],
    ) -> ManifestSplittingConfig:
        return ManifestSplittingConfig(
            [(cond, list(dims.items())) for cond, dims in split_sizes.items()]
        )

    def to_dict(  # Icechunk names the receiver `config`
        config,
    ) -> dict[ManifestSplitCondition, dict[ManifestSplitDimCondition, int]]:
        return {cond: dict(dims) for cond, dims in config.split_sizes or []}


class ManifestVirtualChunkLocationCompressionConfig(_Settings):
    """Compression of virtual chunk locations in manifests (refused when applied: shards
    always store each location prefix and file name once, spec/format.md §6.6)."""

    _fields = (
        "min_num_chunks",
        "dictionary_max_training_samples",
        "dictionary_max_size_bytes",
        "compression_level",
    )
    __slots__ = _fields

    def __init__(
        self,
        min_num_chunks: int | None = None,
        *,
        dictionary_max_training_samples: int | None = None,
        dictionary_max_size_bytes: int | None = None,
        compression_level: int | None = None,
    ) -> None:
        self.min_num_chunks = min_num_chunks
        self.dictionary_max_training_samples = dictionary_max_training_samples
        self.dictionary_max_size_bytes = dictionary_max_size_bytes
        self.compression_level = compression_level


class ManifestConfig(_Settings):
    """Icechunk's manifest settings; see each part for what it means here."""

    _fields = (
        "preload",
        "splitting",
        "virtual_chunk_location_compression",
        "max_concurrent_manifest_fetches_during_commit",
    )
    __slots__ = _fields

    def __init__(
        self,
        preload: ManifestPreloadConfig | None = None,
        splitting: ManifestSplittingConfig | None = None,
        virtual_chunk_location_compression: ManifestVirtualChunkLocationCompressionConfig
        | None = None,
        max_concurrent_manifest_fetches_during_commit: int | None = None,
    ) -> None:
        self.preload = preload
        self.splitting = splitting
        self.virtual_chunk_location_compression = virtual_chunk_location_compression
        self.max_concurrent_manifest_fetches_during_commit = (
            max_concurrent_manifest_fetches_during_commit
        )


class RepoUpdateRetryConfig(_Settings):
    """Retries of an update of the repository's own state (status, metadata, flags, config)
    that loses its record to other writers: ``default.max_tries`` attempts; the backoffs do
    not apply (a lost race is retried at once: the winner has already written)."""

    _fields = ("default",)
    __slots__ = _fields

    def __init__(self, default: StorageRetriesSettings | None = None) -> None:
        self.default = default


_OUR_KNOBS = (
    "snapshot_cache_size",
    "manifest_cache_bytes",
    "manifest_shard_size",
    "inline_manifest_threshold_bytes",
)


class RepositoryConfig(_Settings):
    """A repository's settings, as Icechunk 2.x groups them, plus this engine's own knobs
    (keyword-only: ``snapshot_cache_size``, ``manifest_cache_bytes``, ``manifest_shard_size``,
    ``inline_manifest_threshold_bytes``; spec/format.md §11) and ``gc_min_grace_period_seconds``:
    when set, ``garbage_collect`` refuses a cut-off later than that many seconds ago.
    ``None``: the default (no minimum)."""

    _fields = (
        "inline_chunk_threshold_bytes",
        "get_partial_values_concurrency",
        "compression",
        "max_concurrent_requests",
        "caching",
        "storage",
        "virtual_chunk_containers",
        "manifest",
        "repo_update_retries",
        "num_updates_per_repo_info_file",
        "max_concurrent_decodes",
        *_OUR_KNOBS,
        "gc_min_grace_period_seconds",
    )
    __slots__ = _fields

    def __init__(
        self,
        inline_chunk_threshold_bytes: int | None = None,
        get_partial_values_concurrency: int | None = None,
        compression: CompressionConfig | None = None,
        max_concurrent_requests: int | None = None,
        caching: CachingConfig | None = None,
        storage: StorageSettings | None = None,
        virtual_chunk_containers: dict[str, VirtualChunkContainer] | None = None,
        manifest: ManifestConfig | None = None,
        repo_update_retries: RepoUpdateRetryConfig | None = None,
        num_updates_per_repo_info_file: int | None = None,
        max_concurrent_decodes: int | None = None,
        *,
        snapshot_cache_size: int | None = None,
        manifest_cache_bytes: int | None = None,
        manifest_shard_size: int | None = None,
        inline_manifest_threshold_bytes: int | None = None,
        compression_level: int | None = None,
        gc_min_grace_period_seconds: int | None = None,
    ) -> None:
        self.inline_chunk_threshold_bytes = inline_chunk_threshold_bytes
        self.get_partial_values_concurrency = get_partial_values_concurrency
        self.compression = compression
        self.max_concurrent_requests = max_concurrent_requests
        self.caching = caching
        self.storage = storage
        self.virtual_chunk_containers = virtual_chunk_containers
        self.manifest = manifest
        self.repo_update_retries = repo_update_retries
        self.num_updates_per_repo_info_file = num_updates_per_repo_info_file
        self.max_concurrent_decodes = max_concurrent_decodes
        self.snapshot_cache_size = snapshot_cache_size
        self.manifest_cache_bytes = manifest_cache_bytes
        self.manifest_shard_size = manifest_shard_size
        self.inline_manifest_threshold_bytes = inline_manifest_threshold_bytes
        self.gc_min_grace_period_seconds = gc_min_grace_period_seconds
        if compression_level is not None:
            self.compression_level = compression_level

    @staticmethod
    def default() -> RepositoryConfig:
        return RepositoryConfig()

    @property
    def compression_level(self) -> int | None:
        """This engine's name for ``compression.level``."""
        return None if self.compression is None else self.compression.level

    @compression_level.setter
    def compression_level(self, level: int | None) -> None:
        self.compression = CompressionConfig(
            None if self.compression is None else self.compression.algorithm, level
        )

    @property
    def previous_file(self) -> str | None:
        """Icechunk's pointer to an older config file: this engine keeps configs in the
        repository's records (spec/format.md §12), so never one."""
        return None

    def merge(self, /, other: RepositoryConfig) -> RepositoryConfig:
        """This config with every field ``other`` sets taking ``other``'s value."""
        if not isinstance(other, RepositoryConfig):
            raise TypeError(f"merge() takes a RepositoryConfig, got {type(other).__name__}")
        merged: RepositoryConfig = self._merged(other)
        return merged

    # ---- virtual chunk containers: a dict by url prefix, None when there are none ---------

    def set_virtual_chunk_container(self, /, cont: VirtualChunkContainer) -> None:
        """Adds ``cont``, replacing a container with the same url prefix or (if it has one)
        the same name. ``ValueError`` (``InvalidInputError``) if its prefix does not end in
        ``/``, is not an absolute URL, or its scheme does not fit its store."""
        if not isinstance(cont, VirtualChunkContainer):
            raise TypeError(f"expected a VirtualChunkContainer, got {type(cont).__name__}")
        cont._check()
        kept = {
            prefix: c
            for prefix, c in (self.virtual_chunk_containers or {}).items()
            if prefix != cont.url_prefix and (cont.name is None or c.name != cont.name)
        }
        kept[cont.url_prefix] = cont
        self.virtual_chunk_containers = kept

    def get_virtual_chunk_container(self, /, name: str) -> VirtualChunkContainer | None:
        """The container with this url prefix (Icechunk 2.3 looks containers up by it)."""
        return (self.virtual_chunk_containers or {}).get(name)

    def clear_virtual_chunk_containers(self, /) -> None:
        self.virtual_chunk_containers = None

    # ---- the mapping onto this engine's settings ------------------------------------------

    def _to_engine(self) -> EngineConfig:
        """The engine's settings, defaults where ``None``; refuses what cannot apply."""
        knobs: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "inline_chunk_threshold_bytes",
                "get_partial_values_concurrency",
                "max_concurrent_requests",
                *_OUR_KNOBS,
            )
            if getattr(self, name) is not None
        }
        for name in ("num_updates_per_repo_info_file", "max_concurrent_decodes"):
            if getattr(self, name) is not None:
                raise _refuse(
                    f"RepositoryConfig.{name}",
                    "each change of the repository's state is a record of its own and manifests "
                    "are read in place, with no decoding stage to bound (leave it None)",
                )
        if self.storage is not None:
            raise _refuse(
                "RepositoryConfig.storage",
                "apply StorageSettings to the storage itself (storage.with_settings(settings)) "
                "and open the repository on that",
            )
        if self.virtual_chunk_containers is not None:
            containers = list(self.virtual_chunk_containers.values())
            for container in containers:
                if not isinstance(container, VirtualChunkContainer):
                    raise TypeError(
                        "virtual_chunk_containers must map url prefixes to "
                        f"VirtualChunkContainer, got {type(container).__name__}"
                    )
            knobs["virtual_chunk_containers"] = json.dumps([c._to_json() for c in containers])
        if self.compression is not None:
            if self.compression.algorithm not in (None, CompressionAlgorithm.Zstd):
                raise _refuse("CompressionConfig.algorithm", "zstd is the only algorithm")
            if self.compression.level is not None:
                knobs["compression_level"] = self.compression.level
        if self.caching is not None:
            for name in ("num_transaction_changes", "num_bytes_attributes", "num_bytes_chunks"):
                if getattr(self.caching, name) not in (None, 0):
                    raise _refuse(
                        f"CachingConfig.{name}",
                        "this engine caches no transaction changes, attributes or chunk bytes "
                        "of their own (leave it 0 or None)",
                    )
            for name in ("num_snapshot_nodes", "num_chunk_refs"):
                bound = getattr(self.caching, name)
                if bound is not None:
                    if bound == 0:
                        raise InvalidInputError(f"CachingConfig.{name} must be at least 1")
                    knobs[name] = bound
        if self.manifest is not None:
            _check_manifest(self.manifest)
        if self.gc_min_grace_period_seconds is not None:
            knobs["gc_min_grace_period_seconds"] = _grace_period(self.gc_min_grace_period_seconds)
        if self.repo_update_retries is not None and self.repo_update_retries.default is not None:
            tries = self.repo_update_retries.default.max_tries
            if tries is not None:
                knobs["repo_update_attempts"] = tries
        try:
            return EngineConfig(**knobs)
        except (OverflowError, TypeError) as e:
            raise InvalidInputError(f"bad RepositoryConfig value: {e}") from None

    @staticmethod
    def _from_engine(engine: EngineConfig) -> RepositoryConfig:
        """The config the engine applies, every applied value filled in."""
        config = RepositoryConfig(
            inline_chunk_threshold_bytes=engine.inline_chunk_threshold_bytes,
            get_partial_values_concurrency=engine.get_partial_values_concurrency,
            compression=CompressionConfig(CompressionAlgorithm.Zstd, engine.compression_level),
            max_concurrent_requests=engine.max_concurrent_requests,
            caching=CachingConfig(  # 0: not set, the other bound applies
                num_snapshot_nodes=engine.num_snapshot_nodes or None,
                num_chunk_refs=engine.num_chunk_refs or None,
            ),
            repo_update_retries=RepoUpdateRetryConfig(
                StorageRetriesSettings(max_tries=engine.repo_update_attempts)
            ),
        )
        for name in _OUR_KNOBS:
            setattr(config, name, getattr(engine, name))
        config.gc_min_grace_period_seconds = engine.gc_min_grace_period_seconds or None  # 0: none
        containers = [
            VirtualChunkContainer._from_json(c) for c in json.loads(engine.virtual_chunk_containers)
        ]
        config.virtual_chunk_containers = {c.url_prefix: c for c in containers} or None
        return config


def _grace_period(seconds: int) -> int:
    """A minimum grace period: whole seconds, at least 1 (``None`` sets no minimum; the
    engine stands for "none" by 0, so 0 itself is refused rather than taken for it)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise InvalidInputError(
            "RepositoryConfig.gc_min_grace_period_seconds must be a positive number of seconds "
            f"or None, not {seconds!r}"
        )
    return seconds


def _check_manifest(manifest: ManifestConfig) -> None:
    if manifest.preload is not None:
        raise _refuse(
            "ManifestConfig.preload",
            "small manifests are stored inside their snapshot and always load with it; "
            "set inline_manifest_threshold_bytes instead",
        )
    if manifest.splitting is not None:
        raise _refuse(
            "ManifestConfig.splitting",
            "every manifest is sharded by manifest_shard_size chunk references in coordinate "
            "order, so reads load only the shards they need; set manifest_shard_size instead",
        )
    if manifest.virtual_chunk_location_compression is not None:
        raise _refuse(
            "ManifestConfig.virtual_chunk_location_compression",
            "manifest shards always store each location prefix and file name once",
        )
    if manifest.max_concurrent_manifest_fetches_during_commit is not None:
        raise _refuse(
            "ManifestConfig.max_concurrent_manifest_fetches_during_commit",
            "a commit's fetches share max_concurrent_requests; set that instead",
        )
