//! The repository configuration, persisted in `config.json` when the repository is created.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};
use crate::format::header::{self, ObjectType};
use crate::format::paths;
use crate::virtual_chunks::{containers, VirtualChunkContainer};

/// The longest minimum grace period a config may set: 100 years, far beyond any real use,
/// and well inside what date arithmetic can subtract from now.
pub const MAX_GC_MIN_GRACE_PERIOD_SECONDS: u64 = 36_525 * 24 * 3600;

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
    /// When set, the snapshot cache is bounded by the nodes of the snapshots it holds instead
    /// of by `snapshot_cache_size` (Icechunk's `CachingConfig.num_snapshot_nodes`).
    pub num_snapshot_nodes: Option<u64>,
    /// When set, the manifest cache is bounded by the chunk references of the shards it holds
    /// instead of by `manifest_cache_bytes` (Icechunk's `CachingConfig.num_chunk_refs`).
    pub num_chunk_refs: Option<u64>,
    /// Byte ranges a store's `get_partial_values` reads at once.
    pub get_partial_values_concurrency: u32,
    /// Attempts at an update of the repository's state (status, metadata, flags, config)
    /// that keeps losing the race for the next record to other writers (spec §12).
    pub repo_update_attempts: u32,
    /// The url prefixes virtual chunks may point into, each with the store that serves it
    /// (see [`crate::virtual_chunks`]); reading one also takes the reader's authorization.
    pub virtual_chunk_containers: Vec<VirtualChunkContainer>,
    /// When set, `garbage_collect` refuses a cut-off later than this many seconds before
    /// its start (spec §13.3): a guard against a grace period too short for the
    /// repository's writers. Not set: no minimum beyond the rules of §13.
    pub gc_min_grace_period_seconds: Option<u64>,
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
            num_snapshot_nodes: None,
            num_chunk_refs: None,
            get_partial_values_concurrency: 10,
            repo_update_attempts: 100,
            virtual_chunk_containers: Vec::new(),
            gc_min_grace_period_seconds: None,
        }
    }
}

impl RepositoryConfig {
    /// The stored `config.json`: header (type 5, no compression) and indented JSON.
    pub fn encode(&self) -> Result<Bytes> {
        let json = serde_json::to_vec_pretty(self).expect("config serializes");
        header::encode(ObjectType::Config, &json, None)
    }

    /// Decodes a stored `config.json` (spec §11): a JSON object with unique member names;
    /// missing fields take their defaults, unknown ones are ignored, a field of the wrong type
    /// or out of its integer range is Corrupt. The values are checked by [`Self::validate`]
    /// when the repository is opened.
    pub fn decode(stored: &[u8]) -> Result<Self> {
        crate::format::decode_json_object(paths::CONFIG, ObjectType::Config, "config", stored)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.manifest_shard_size == 0 {
            return bad("manifest_shard_size must be at least 1");
        }
        for (name, value) in [
            ("max_concurrent_requests", self.max_concurrent_requests),
            ("get_partial_values_concurrency", self.get_partial_values_concurrency),
            ("repo_update_attempts", self.repo_update_attempts),
        ] {
            if value == 0 {
                return bad(&format!("{name} must be at least 1"));
            }
        }
        if self.num_snapshot_nodes == Some(0) || self.num_chunk_refs == Some(0) {
            return bad("num_snapshot_nodes and num_chunk_refs must be at least 1 when set");
        }
        if let Some(seconds) = self.gc_min_grace_period_seconds {
            if !(1..=MAX_GC_MIN_GRACE_PERIOD_SECONDS).contains(&seconds) {
                return bad(&format!(
                    "gc_min_grace_period_seconds must be between 1 and {MAX_GC_MIN_GRACE_PERIOD_SECONDS} \
                     (100 years) when set, not {seconds}"
                ));
            }
        }
        if !(1..=22).contains(&self.compression_level) {
            return bad("compression_level must be between 1 and 22");
        }
        containers::validate_all(&self.virtual_chunk_containers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Result<RepositoryConfig> {
        RepositoryConfig::decode(&header::encode(ObjectType::Config, json.as_bytes(), None).unwrap())
    }

    #[test]
    fn stored_configs_follow_the_spec() {
        let config_default = RepositoryConfig::default();
        assert_eq!(RepositoryConfig::decode(&config_default.encode().unwrap()).unwrap(), config_default);
        assert_eq!(config("{}").unwrap(), config_default);
        let some = config(r#"{"compression_level": 9, "future_field": {"a": [1]}}"#).unwrap();
        assert_eq!(some.compression_level, 9);
        for bad in [
            r#"{"compression_level": 9, "compression_level": 9}"#,
            r#"{"x": 1, "x": 2}"#,
            r#"{"compression_level": "9"}"#,
            r#"{"compression_level": 9.0}"#,
            r#"{"compression_level": null}"#,
            r#"{"inline_chunk_threshold_bytes": 4294967296}"#,
            r#"{"inline_chunk_threshold_bytes": -1}"#,
            r#"[]"#,
            r#"{} {}"#,
        ] {
            assert_eq!(config(bad).unwrap_err().kind(), crate::error::ErrorKind::Format, "{bad}");
        }
        // Values are checked when a repository is opened, not when the object is decoded.
        assert!(config(r#"{"compression_level": 99}"#).unwrap().validate().is_err());
        let no_slash = r#"{"virtual_chunk_containers": [{"url_prefix": "s3://b", "store": {"type": "s3"}}]}"#;
        assert!(config(no_slash).unwrap().validate().is_err());
        let with = config(
            r#"{"virtual_chunk_containers": [{"name": "data", "url_prefix": "s3://b/",
                "store": {"type": "s3", "region": "eu-west-1"}}]}"#,
        )
        .unwrap();
        with.validate().unwrap();
        assert_eq!(RepositoryConfig::decode(&with.encode().unwrap()).unwrap(), with);
    }

    #[test]
    fn the_minimum_grace_period_is_optional_and_bounded() {
        // Configs stored before the field existed load without it.
        assert_eq!(config("{}").unwrap().gc_min_grace_period_seconds, None);
        let day = config(r#"{"gc_min_grace_period_seconds": 86400}"#).unwrap();
        assert_eq!(day.gc_min_grace_period_seconds, Some(86400));
        day.validate().unwrap();
        assert_eq!(RepositoryConfig::decode(&day.encode().unwrap()).unwrap(), day);
        assert_eq!(
            config(r#"{"gc_min_grace_period_seconds": null}"#).unwrap().gc_min_grace_period_seconds,
            None
        );
        for bad in [0, MAX_GC_MIN_GRACE_PERIOD_SECONDS + 1, u64::MAX] {
            let c = RepositoryConfig { gc_min_grace_period_seconds: Some(bad), ..Default::default() };
            let message = c.validate().unwrap_err().to_string();
            assert!(message.contains("gc_min_grace_period_seconds"), "{message}");
        }
    }
}
