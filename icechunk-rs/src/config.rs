//! The repository configuration, persisted in `config.json` when the repository is created.

use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RepositoryConfig {
    /// Chunks of at most this many bytes are stored inside their manifest shard.
    pub inline_chunk_threshold_bytes: u32,
    /// zstd level for metadata objects.
    pub compression_level: i32,
    /// Snapshots kept decoded in memory.
    pub snapshot_cache_size: u64,
    /// Bytes of decoded manifest shards kept in memory.
    pub manifest_cache_bytes: u64,
    /// Requests to the object store in flight at once, across all sessions of a repository.
    pub max_concurrent_requests: u32,
    /// Upper bound on the chunk references held by one manifest shard.
    pub manifest_shard_size: u32,
    /// Manifest shards of at most this many bytes (uncompressed) are stored inside the
    /// snapshot instead of as objects of their own; 0 never does. Bounded in total per
    /// snapshot by 4 times this (a commit rewrites the snapshot).
    pub inline_manifest_threshold_bytes: u32,
}

impl Default for RepositoryConfig {
    fn default() -> Self {
        RepositoryConfig {
            inline_chunk_threshold_bytes: 512,
            compression_level: 3,
            snapshot_cache_size: 128,
            manifest_cache_bytes: 512 * 1024 * 1024,
            max_concurrent_requests: 256,
            manifest_shard_size: 4096,
            inline_manifest_threshold_bytes: 64 * 1024,
        }
    }
}

impl RepositoryConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.manifest_shard_size == 0 {
            return bad("manifest_shard_size must be at least 1");
        }
        if self.max_concurrent_requests == 0 {
            return bad("max_concurrent_requests must be at least 1");
        }
        if !(1..=22).contains(&self.compression_level) {
            return bad("compression_level must be between 1 and 22");
        }
        Ok(())
    }
}
