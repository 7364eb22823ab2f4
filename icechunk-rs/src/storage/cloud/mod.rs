//! Cloud object stores: S3 and S3-compatibles (R2, Tigris, MinIO), Google Cloud Storage, Azure
//! Blob Storage, and read-only HTTP, on the `object_store` crate.
//!
//! Each store is described by an options struct that is also its [`StorageSpec`] variant, so a
//! session sent to another process rebuilds the same storage there. Credentials travel with the
//! spec (they are serialized) but are held in [`Secret`], whose `Debug` never shows them, and
//! they are scrubbed from error messages.
//!
//! Create-if-absent, the one conditional write the engine relies on, is `If-None-Match: *` on
//! S3, R2, Tigris and MinIO, `x-goog-if-generation-match: 0` on GCS and `If-None-Match: *` on
//! Azure. An S3-compatible server at a custom endpoint is checked once, before its first
//! conditional write: one that ignores the condition is refused unless the options say
//! `unsafe_single_writer`.

mod attribution;
mod azure;
mod gcs;
mod headers;
mod http;
mod network;
mod redirect;
mod refresh;
mod s3;

use std::fmt;
use std::sync::Arc;

use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

pub use attribution::{Attribution, ATTRIBUTION_MAX};
pub use azure::{new_azure_storage, AzureCredentials, AzureOptions};
pub use gcs::{new_gcs_storage, GcsCredentials, GcsOptions};
pub use headers::ExtraHeaders;
pub use http::{new_http_storage, new_http_storage_with, HttpOptions};
pub use network::{NetworkOptions, USER_AGENT};
pub use redirect::{resolve_redirect, MAX_REDIRECTS};
pub use refresh::{
    set_credential_fetcher_loader, CredentialFetcher, Expiring, FetchedCredential, FetcherLoader,
    RefreshableCredentials, REFRESH_MARGIN,
};
pub use s3::{
    new_r2_storage, new_s3_storage, new_tigris_storage, S3Auth, S3Checksum, S3Options, S3Provider,
    TIGRIS_CONSISTENT_HEADER, TIGRIS_ENDPOINT,
};

use super::credentials::{redact_url, scrub, Secret};
use super::object_store_backend::ObjectStorage;
use super::StorageSpec;
use crate::error::{IcechunkError, Result};

pub(super) fn from_cloud_spec(spec: &StorageSpec) -> Option<Result<ObjectStorage>> {
    match spec {
        StorageSpec::S3(o) => Some(o.build()),
        StorageSpec::Gcs(o) => Some(o.build()),
        StorageSpec::Azure(o) => Some(o.build()),
        StorageSpec::Http(o) => Some(o.build()),
        StorageSpec::InMemory | StorageSpec::LocalFilesystem { .. } => None,
    }
}

/// The constructor call that builds the storage, without any credential: for `repr`.
pub(super) fn describe(spec: &StorageSpec, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match spec {
        StorageSpec::InMemory => f.write_str("in_memory_storage()"),
        StorageSpec::LocalFilesystem { path } => write!(f, "local_filesystem_storage({path:?})"),
        StorageSpec::S3(o) => {
            write!(f, "{}(bucket={:?}, prefix={:?}", o.constructor_name(), o.bucket, o.prefix)?;
            if let Some(region) = &o.region {
                write!(f, ", region={region:?}")?;
            }
            if let Some(endpoint) = &o.endpoint_url {
                write!(f, ", endpoint_url={:?}", redact_url(endpoint))?;
            }
            write!(f, ", credentials={}", o.credentials_kind())?;
            if o.unsafe_single_writer {
                f.write_str(", unsafe_single_writer=True")?;
            }
            f.write_str(")")
        }
        StorageSpec::Gcs(o) => {
            let credentials = match &o.credentials {
                GcsCredentials::FromEnv => "from_env".to_string(),
                GcsCredentials::Anonymous => "anonymous".to_string(),
                GcsCredentials::ServiceAccountPath(p) => format!("service_account_path({p:?})"),
                GcsCredentials::ServiceAccountKey(_) => "service_account_key".to_string(),
                GcsCredentials::ApplicationDefault(_) => "application_default".to_string(),
                GcsCredentials::BearerToken(_) => "bearer_token".to_string(),
                GcsCredentials::Refreshable(_) => "refreshable".to_string(),
            };
            write!(f, "gcs_storage(bucket={:?}, prefix={:?}, credentials={credentials})", o.bucket, o.prefix)
        }
        StorageSpec::Azure(o) => {
            let credentials = match &o.credentials {
                AzureCredentials::FromEnv => "from_env",
                AzureCredentials::Anonymous => "anonymous",
                AzureCredentials::AccessKey(_) => "access_key",
                AzureCredentials::SasToken(_) => "sas_token",
                AzureCredentials::BearerToken(_) => "bearer_token",
                AzureCredentials::Refreshable(_) => "refreshable",
            };
            write!(
                f,
                "azure_storage(account={:?}, container={:?}, prefix={:?}, credentials={credentials})",
                o.account, o.container, o.prefix
            )
        }
        StorageSpec::Http(o) => write!(f, "http_storage({:?})", redact_url(&o.url)),
    }
}

fn with_prefix(store: Arc<dyn ObjectStore>, prefix: &str) -> Result<Arc<dyn ObjectStore>> {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Ok(store);
    }
    let path = Path::parse(prefix)
        .map_err(|e| IcechunkError::InvalidInput(format!("invalid prefix `{prefix}`: {e}")))?;
    Ok(Arc::new(PrefixStore::new(store, path)))
}

fn join_location(container: &str, prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        container.to_string()
    } else {
        format!("{container}/{prefix}")
    }
}

fn check_url(url: &str, allow_http: bool, what: &str) -> Result<()> {
    if url.starts_with("https://") || (allow_http && url.starts_with("http://")) {
        Ok(())
    } else if url.starts_with("http://") {
        Err(IcechunkError::InvalidInput(format!(
            "{what} {} is plain http: set allow_http to use it",
            redact_url(url)
        )))
    } else {
        Err(IcechunkError::InvalidInput(format!("{what} {} is not an http(s) URL", redact_url(url))))
    }
}

fn secrets<const N: usize>(items: [&Option<Secret>; N]) -> Vec<Secret> {
    items.into_iter().flatten().cloned().collect()
}

fn build_error(store: &str, e: object_store::Error, secrets: &[Secret]) -> IcechunkError {
    IcechunkError::InvalidInput(format!(
        "cannot configure the {store} storage: {}",
        scrub(&e.to_string(), secrets)
    ))
}

#[cfg(test)]
mod tests;
