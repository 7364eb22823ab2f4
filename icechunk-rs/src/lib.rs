//! Icechunk on ACID: a transactional storage engine for Zarr v3 arrays on object storage.
//!
//! Every update is a commit: chunk bytes and metadata are written as new immutable objects,
//! and a branch moves to the new snapshot with one create-if-absent write, so readers only
//! ever see whole versions. The modules follow the layers of the engine:
//!
//! - [`format`]: the on-storage objects (ids, header, snapshots, manifest shards, transaction logs)
//! - [`storage`]: one async trait over the `object_store` crate: memory, local disk, S3 and
//!   S3-compatibles, GCS, Azure, HTTP
//! - [`refs`]: branches and tags on create-if-absent
//! - [`repository`]: create/open, refs, history, sessions
//! - [`session`]: a change set over one snapshot, and the commit
//! - [`store`]: the Zarr key space on top of a session

pub mod asset_cache;
pub mod config;
pub mod conflicts;
pub mod error;
pub mod format;
pub mod refs;
pub mod repository;
pub mod session;
pub mod storage;
pub mod store;

pub use config::RepositoryConfig;
pub use error::{ErrorKind, IcechunkError, Result};
pub use format::{ChunkId, NodeId, SnapshotId};
pub use repository::{Diff, Repository, SnapshotInfo, VersionInfo};
pub use session::Session;
pub use storage::{
    new_azure_storage, new_gcs_storage, new_http_storage, new_r2_storage, new_s3_storage, new_tigris_storage,
    AzureOptions, GcsOptions, HttpOptions, NetworkOptions, S3Options, Secret, Storage, StorageSpec,
};
pub use store::{ByteRange, Store};
