"""Configuration of repositories and of the library, as Icechunk 2.x groups it.

``RepositoryConfig``, ``Attribution`` (labels for the ``User-Agent`` of a repository's
requests), ``FeatureFlag``, and the logs: ``initialize_logs`` and ``set_logs_filter``
(``tracing`` filters; nothing is logged unless ``ICECHUNK_LOG`` or ``set_logs_filter``
asks), and ``shutdown_telemetry`` (nothing to do: this engine exports no telemetry).
"""

from __future__ import annotations

from icechunk._config_classes import (
    CachingConfig,
    CompressionAlgorithm,
    CompressionConfig,
    ManifestConfig,
    ManifestPreloadConfig,
    ManifestSplittingConfig,
    ManifestVirtualChunkLocationCompressionConfig,
    RepositoryConfig,
    RepoUpdateRetryConfig,
)
from icechunk._config_conditions import (
    ManifestPreloadCondition,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
)
from icechunk._icechunk import (
    Attribution,
    FeatureFlag,
    initialize_logs,
    set_logs_filter,
)
from icechunk.virtual import ObjectStoreConfig

__all__ = [
    "Attribution",
    "CachingConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "FeatureFlag",
    "ManifestConfig",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
    "ManifestVirtualChunkLocationCompressionConfig",
    "ObjectStoreConfig",
    "RepoUpdateRetryConfig",
    "RepositoryConfig",
    "initialize_logs",
    "set_logs_filter",
    "shutdown_telemetry",
]


def shutdown_telemetry() -> None:
    """Flush telemetry: nothing to do, this engine exports none (kept for Icechunk 2.x code,
    which registers it with ``atexit``)."""
