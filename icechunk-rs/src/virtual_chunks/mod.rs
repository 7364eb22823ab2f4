//! Virtual chunks: chunk references that point at byte ranges of existing files (a NetCDF
//! file on S3, say) instead of objects of the repository.
//!
//! A repository's config lists its [`VirtualChunkContainer`]s: url prefixes, each with the
//! kind of store that serves it. A location is read through the container whose prefix is
//! the longest prefix of it, and only if the reader authorized that container when opening
//! the repository, with the credentials to use ([`ContainerCredentials`]). A repository is
//! data others wrote: without that rule, opening one could make a reader fetch any URL with
//! the reader's own credentials (spec/format.md, "Virtual chunk containers").
//!
//! - [`containers`]: the containers, their validation and matching
//! - [`credentials`]: what a reader authorizes a container with
//! - [`coalesce`]: neighbouring ranges of one object read with one request
//! - [`sources`]: [`VirtualSources`], the reads themselves

pub mod coalesce;
pub mod containers;
pub mod credentials;
mod sources;

pub use containers::{check_location, container_for, ContainerStore, S3Store, VirtualChunkContainer};
pub use credentials::ContainerCredentials;
pub use sources::VirtualSources;

/// What a virtual chunk reference pins its object to; it lives with the manifest format,
/// which stores it.
pub use crate::format::manifest::SourcePin;
