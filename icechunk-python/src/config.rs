//! `EngineConfig`: this engine's settings of a repository (spec/format.md §11), as the engine
//! takes them. Python's `icechunk.RepositoryConfig` (Icechunk 2.x's shape) maps onto it.

use icechunk::RepositoryConfig;
use pyo3::prelude::*;

use crate::config_class::config_class;

config_class! {
    /// This engine's settings of a repository (spec/format.md, §11).
    PyRepositoryConfig as "EngineConfig" for RepositoryConfig {
        /// Chunks of at most this many bytes are stored inside their manifest shard.
        inline_chunk_threshold_bytes: u32,
        /// zstd level for metadata objects (1 to 22).
        compression_level: i32,
        /// Snapshots kept decoded in memory.
        snapshot_cache_size: u64,
        /// Bytes of decoded manifest shards kept in memory.
        manifest_cache_bytes: u64,
        /// Requests to the object store in flight at once.
        max_concurrent_requests: u32,
        /// Upper bound on the chunk references of one manifest shard.
        manifest_shard_size: u32,
        /// Manifest shards of at most this many bytes live inside their snapshot; 0 never.
        inline_manifest_threshold_bytes: u32,
        /// When not 0, bounds the snapshot cache by nodes instead of entries.
        num_snapshot_nodes: u64,
        /// When not 0, bounds the manifest cache by chunk references instead of bytes.
        num_chunk_refs: u64,
        /// Byte ranges one `get_partial_values` call reads at once.
        get_partial_values_concurrency: u32,
        /// Attempts at an update of the repository's state that keeps losing its record.
        repo_update_attempts: u32,
        /// The virtual chunk containers, as a JSON list (the shape of `config.json`).
        virtual_chunk_containers: String,
        /// When not 0, `garbage_collect` refuses cut-offs later than this many seconds ago.
        gc_min_grace_period_seconds: u64,
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRepositoryConfig>()
}
