"""RepositoryConfig in Icechunk 2.x's shape: its parts, merge, persistence, and how each
setting maps onto this engine (applied, or refused with InvalidInputError)."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.abc.store

import icechunk as ic


class InFlightCountingStore(ic.IcechunkStore):
    """The real store, counting the reads in flight at once (each held a little)."""

    in_flight = 0
    most_in_flight = 0

    async def get(self, key: str, prototype: Any, byte_range: Any = None) -> Any:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            return await super().get(key, prototype, byte_range)
        finally:
            self.in_flight -= 1


PC = ic.ManifestPreloadCondition
SC = ic.ManifestSplitCondition
DC = ic.ManifestSplitDimCondition


def test_the_parts_compare_print_and_pickle() -> None:
    caching = ic.CachingConfig(num_snapshot_nodes=5)
    caching.num_chunk_refs = 7
    assert caching == ic.CachingConfig(5, 7) != ic.CachingConfig.default()
    assert "num_chunk_refs=7" in repr(caching)
    assert ic.CompressionConfig(level=5).algorithm is None
    assert ic.CompressionAlgorithm.default() is ic.CompressionAlgorithm.Zstd
    manifest = ic.ManifestConfig(preload=ic.ManifestPreloadConfig(max_total_refs=5))
    config = ic.RepositoryConfig(inline_chunk_threshold_bytes=10, caching=caching)
    for value in (caching, manifest, config, ic.CompressionConfig(ic.CompressionAlgorithm.Zstd, 4)):
        assert pickle.loads(pickle.dumps(value)) == value
    vcl = ic.ManifestVirtualChunkLocationCompressionConfig(5, compression_level=3)
    assert (vcl.min_num_chunks, vcl.compression_level, vcl.dictionary_max_size_bytes) == (
        5,
        3,
        None,
    )
    with pytest.raises(TypeError):
        ic.ManifestVirtualChunkLocationCompressionConfig(5, 100)  # type: ignore[misc]


def test_conditions_are_values() -> None:
    both = PC.name_matches("time") & PC.num_refs(None, 1000)
    assert both == PC.and_conditions([PC.name_matches("time"), PC.num_refs(None, 1000)])
    assert isinstance(both, PC.And) and isinstance(PC.true(), getattr(PC, "True"))
    assert repr(PC.path_matches("a") | PC.false()) == (
        "icechunk.config.ManifestPreloadCondition.or_conditions(["
        'icechunk.config.ManifestPreloadCondition.path_matches("a"), '
        "icechunk.config.ManifestPreloadCondition.false()])"
    )
    assert PC.path_matches("x").regex == "x"
    assert len({SC.AnyArray(), SC.AnyArray(), SC.path_matches("a")}) == 2
    assert pickle.loads(pickle.dumps(both)) == both
    with pytest.raises(ValueError, match="bad regex"):
        PC.path_matches("(")
    with pytest.raises(TypeError):
        PC.and_conditions([SC.AnyArray()])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        DC.Axis(-1)

    sizes = {SC.AnyArray(): {DC.Axis(0): 2, DC.DimensionName("t"): 3, DC.Any(): 1}}
    splitting = ic.ManifestSplittingConfig.from_dict(sizes)
    assert splitting.split_sizes == [
        (SC.AnyArray(), [(DC.Axis(0), 2), (DC.DimensionName("t"), 3), (DC.Any(), 1)])
    ]
    assert splitting.to_dict() == sizes
    assert pickle.loads(pickle.dumps(splitting)) == splitting
    assert (
        type(pickle.loads(pickle.dumps(PC.true()))).__qualname__ == "ManifestPreloadCondition.True"
    )


def test_merge_takes_the_other_configs_set_fields() -> None:
    mine = ic.RepositoryConfig(
        inline_chunk_threshold_bytes=10, compression=ic.CompressionConfig(level=5)
    )
    theirs = ic.RepositoryConfig(
        caching=ic.CachingConfig(num_chunk_refs=7), compression=ic.CompressionConfig(level=9)
    )
    merged = mine.merge(theirs)
    assert merged.inline_chunk_threshold_bytes == 10
    assert merged.caching == ic.CachingConfig(num_chunk_refs=7)
    assert merged.compression == ic.CompressionConfig(level=9)
    assert mine.compression == ic.CompressionConfig(level=5)  # merge copies
    with pytest.raises(TypeError):
        mine.merge({})  # type: ignore[arg-type]


def test_settings_apply_persist_and_merge_on_open(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path))
    config = ic.RepositoryConfig(
        inline_chunk_threshold_bytes=64,
        get_partial_values_concurrency=3,
        compression=ic.CompressionConfig(level=7),
        caching=ic.CachingConfig(num_snapshot_nodes=1000, num_chunk_refs=50_000),
        repo_update_retries=ic.config.RepoUpdateRetryConfig(ic.StorageRetriesSettings(max_tries=5)),
        manifest_shard_size=100,
    )
    repo = ic.Repository.create(storage, config)
    applied = repo.config
    assert applied.inline_chunk_threshold_bytes == 64
    assert applied.get_partial_values_concurrency == 3
    assert applied.compression == ic.CompressionConfig(ic.CompressionAlgorithm.Zstd, 7)
    assert applied.compression_level == 7
    assert applied.caching == ic.CachingConfig(num_snapshot_nodes=1000, num_chunk_refs=50_000)
    assert applied.repo_update_retries is not None
    assert applied.repo_update_retries.default is not None
    assert applied.repo_update_retries.default.max_tries == 5
    assert ic.Repository.fetch_config(storage) == applied
    assert asyncio.run(ic.Repository.fetch_config_async(storage)) == applied

    # The inline threshold shapes what is written: 8-byte chunks inline, 800-byte not.
    with repo.transaction("main", message="data") as store:
        small = zarr.create_array(store, name="s", shape=(4,), chunks=(1,), dtype="i8")
        small[:] = np.arange(1, 5)
        big = zarr.create_array(
            store, name="b", shape=(400,), chunks=(100,), dtype="i8", compressors=None
        )
        big[:] = np.arange(400)
    session = repo.readonly_session("main")
    assert session.chunk_type("/s", [0]) == ic.ChunkType.inline
    assert session.chunk_type("/b", [0]) == ic.ChunkType.native

    # Opening with a partial config changes only what it sets (merged over the saved one).
    opened = ic.Repository.open(storage, ic.RepositoryConfig(get_partial_values_concurrency=20))
    assert opened.config.get_partial_values_concurrency == 20
    assert opened.config.inline_chunk_threshold_bytes == 64
    opened.save_config()
    assert ic.Repository.open(storage).config.get_partial_values_concurrency == 20
    reopened = opened.reopen(ic.RepositoryConfig(max_concurrent_requests=4))
    assert (reopened.config.max_concurrent_requests, reopened.config.manifest_shard_size) == (
        4,
        100,
    )

    # get_partial_values reads every range, at most 20 at once, and returns them in order.
    store = InFlightCountingStore(ic.Repository.open(storage).readonly_session("main"))
    proto = zarr.core.buffer.default_buffer_prototype()
    many = [("b/c/0", zarr.abc.store.RangeByteRequest(0, 8))] * 50
    asyncio.run(store.get_partial_values(proto, many))
    assert store.most_in_flight == 20
    got = asyncio.run(store.get_partial_values(proto, [(f"b/c/{i}", None) for i in range(4)]))
    assert [np.frombuffer(g.to_bytes(), "<i8")[0] for g in got if g is not None] == [
        0,
        100,
        200,
        300,
    ]


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            ic.RepositoryConfig(manifest=ic.ManifestConfig(preload=ic.ManifestPreloadConfig())),
            "preload",
        ),
        (
            ic.RepositoryConfig(
                manifest=ic.ManifestConfig(
                    splitting=ic.ManifestSplittingConfig.from_dict({SC.AnyArray(): {DC.Any(): 2}})
                )
            ),
            "manifest_shard_size",
        ),
        (ic.RepositoryConfig(max_concurrent_decodes=4), "max_concurrent_decodes"),
        (ic.RepositoryConfig(num_updates_per_repo_info_file=10), "num_updates_per_repo_info_file"),
        (ic.RepositoryConfig(storage=ic.StorageSettings()), "storage"),
        (ic.RepositoryConfig(caching=ic.CachingConfig(num_bytes_chunks=10)), "num_bytes_chunks"),
        (ic.RepositoryConfig(caching=ic.CachingConfig(num_chunk_refs=0)), "num_chunk_refs"),
        (
            ic.RepositoryConfig(
                manifest=ic.ManifestConfig(max_concurrent_manifest_fetches_during_commit=2)
            ),
            "max_concurrent_requests",
        ),
    ],
)
def test_settings_that_cannot_apply_are_refused(
    config: ic.RepositoryConfig, named: str, tmp_path: Path
) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path))
    with pytest.raises(ic.InvalidInputError, match=named):
        ic.Repository.create(storage, config)
    assert not ic.Repository.exists(storage)  # nothing written


def test_bad_values_are_refused_when_applied() -> None:
    repo = ic.Repository.create(ic.in_memory_storage())
    with pytest.raises(ic.InvalidInputError, match="max_concurrent_decodes"):
        repo.reopen(ic.RepositoryConfig(max_concurrent_decodes=2))
    with pytest.raises(ic.InvalidInputError):
        repo.reopen(ic.RepositoryConfig(inline_chunk_threshold_bytes=-1))
    with pytest.raises(ic.InvalidInputError, match="compression_level"):
        ic.Repository.create(
            ic.in_memory_storage(), ic.RepositoryConfig(compression=ic.CompressionConfig(level=99))
        )
    with pytest.raises(TypeError):
        ic.Repository.create(ic.in_memory_storage(), {"inline_chunk_threshold_bytes": 1})  # type: ignore[arg-type]


def test_spec_version_and_opening_options(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path))
    with pytest.raises(ic.InvalidInputError, match="format version 1 only"):
        ic.Repository.create(storage, spec_version=2)
    with pytest.raises(ic.InvalidInputError, match="check_clean_root"):
        ic.Repository.create(storage, check_clean_root=False)
    assert not ic.Repository.exists(storage)
    repo = ic.Repository.create(storage, spec_version=ic.SpecVersion.v1)
    assert ic.Repository.open_or_create(storage, create_version=1).lookup_branch("main") == (
        repo.lookup_branch("main")
    )
    other = ic.local_filesystem_storage(str(tmp_path / "other"))
    asyncio.run(ic.Repository.open_or_create_async(other, create_version=ic.spec_version()))
    assert ic.Repository.exists(other)


def test_spec_version_of_a_repository(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(str(tmp_path))
    assert ic.Repository.fetch_spec_version(storage) is None
    assert asyncio.run(ic.Repository.fetch_spec_version_async(storage)) is None
    repo = ic.Repository.create(storage)
    assert repo.spec_version == ic.SpecVersion.v1 == ic.Repository.fetch_spec_version(storage)
    settings = ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=2))
    assert ic.Repository.fetch_spec_version(storage, settings) == ic.SpecVersion.v1
    found = asyncio.run(ic.Repository.fetch_spec_version_async(storage, settings))
    assert found == ic.SpecVersion.v1
    with pytest.raises(ic.InvalidInputError, match="storage_class"):
        ic.Repository.fetch_spec_version(storage, ic.StorageSettings(storage_class="GLACIER"))
    assert repo.attribution == ic.Attribution()


def test_spec_version_with_storage_settings_on_s3(s3_storage: ic.Storage) -> None:
    assert ic.Repository.fetch_spec_version(s3_storage) is None
    ic.Repository.create(s3_storage)
    settings = ic.StorageSettings(
        retries=ic.StorageRetriesSettings(max_tries=2),
        timeouts=ic.StorageTimeoutSettings(operation_attempt_timeout_ms=5000),
    )
    tuned = s3_storage.with_settings(settings)
    retries, timeouts = tuned.default_settings().retries, tuned.default_settings().timeouts
    assert retries is not None and retries.max_tries == 2
    assert timeouts is not None and timeouts.operation_attempt_timeout_ms == 5000
    assert ic.Repository.fetch_spec_version(s3_storage, settings) == ic.SpecVersion.v1
