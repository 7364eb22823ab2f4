//! Icechunk on ACID: a transactional storage engine for Zarr v3 arrays on object storage.
//!
//! Every update is a commit: chunk bytes and metadata are written as new immutable objects,
//! and a branch moves to the new snapshot with one create-if-absent write, so readers only
//! ever see whole versions. The modules follow the layers of the engine:
//!
//! - [`ids`], [`error`]: the vocabulary every layer uses
//! - [`format`]: the on-storage objects (header, snapshots, manifest shards, transaction
//!   logs, chunk objects) and [`zarr_json`], what the engine reads from a node's `zarr.json`
//! - [`storage`]: one async trait over the `object_store` crate: memory, local disk, S3 and
//!   S3-compatibles, GCS, Azure, HTTP
//! - [`refs`]: branches and tags on create-if-absent; [`repo_info`]: the repository's own
//!   status, metadata, feature flags and saved config, the same way; [`asset_cache`]: the
//!   immutable objects, verified and cached
//! - [`change_set`], [`conflicts`], [`diff`], [`history`], [`inspect`]: uncommitted changes,
//!   conflicts between them and a commit that landed, what changed between versions,
//!   ancestry (and [`history_graph`], its drawing), objects as JSON documents
//! - [`session`]: a change set over one snapshot, and the commit
//! - [`store`]: the Zarr key space on top of a session
//! - [`repository`]: create/open, refs, history, sessions
//! - [`virtual_chunks`]: chunks read from other people's files, through the containers a
//!   repository's config lists and its reader authorizes (uses only [`storage`])
//! - `zarrs` (feature `zarrs`): a session's key space as storage for the zarrs crate, sync
//!   and async (uses only [`store`] and [`session`])
//!
//! Imports run down that list (a module uses only those above it), except that a session
//! knows the repository it came from.

pub mod asset_cache;
pub mod change_set;
pub mod config;
pub mod conflicts;
pub mod diff;
pub mod error;
pub mod format;
pub mod history;
pub mod history_graph;
pub mod ids;
pub mod inspect;
pub mod refs;
pub mod repo_info;
pub mod repository;
pub mod session;
pub mod storage;
pub mod store;
mod sync;
pub mod virtual_chunks;
pub mod zarr_json;
#[cfg(feature = "zarrs")]
pub mod zarrs;

pub use config::RepositoryConfig;
pub use diff::Diff;
pub use error::{ErrorKind, IcechunkError, Result};
pub use history::SnapshotInfo;
pub use ids::{ChunkId, NodeId, SnapshotId};
pub use repository::{Repository, VersionInfo};
pub use session::Session;
pub use storage::{
    new_azure_storage, new_gcs_storage, new_http_storage, new_r2_storage, new_s3_storage, new_tigris_storage,
    AzureOptions, GcsOptions, HttpOptions, NetworkOptions, S3Options, Secret, Storage, StorageSpec,
};
pub use store::{ByteRange, Store};
