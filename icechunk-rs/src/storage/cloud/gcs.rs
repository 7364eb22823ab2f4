//! Google Cloud Storage.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use serde::{Deserialize, Serialize};

use super::headers::ExtraHeaders;
use super::refresh::{gcp_credential, ExpiringProvider, RefreshableCredentials};
use super::{build_error, check_url, join_location, with_prefix, NetworkOptions};
use crate::error::{IcechunkError, Result};
use crate::storage::credentials::Secret;
use crate::storage::object_store_backend::{CreateIfAbsent, ObjectStorage};
use crate::storage::{Storage, StorageSpec};

/// How to authenticate to Google Cloud Storage.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum GcsCredentials {
    /// `GOOGLE_*` variables (`GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_SERVICE_ACCOUNT_KEY`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`...), then application default credentials, then the
    /// instance metadata server.
    #[default]
    FromEnv,
    /// Unsigned requests, for public buckets.
    Anonymous,
    /// A service account key file (JSON).
    ServiceAccountPath(PathBuf),
    /// The JSON of a service account key.
    ServiceAccountKey(Secret),
    /// Application default credentials: the given file, or the well-known file of
    /// `gcloud auth application-default login`.
    ApplicationDefault(Option<PathBuf>),
    /// A static OAuth bearer token (not refreshed).
    BearerToken(Secret),
    /// Bearer tokens fetched again whenever they expire.
    Refreshable(RefreshableCredentials),
}

impl fmt::Debug for GcsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcsCredentials::FromEnv => f.write_str("FromEnv"),
            GcsCredentials::Anonymous => f.write_str("Anonymous"),
            GcsCredentials::ServiceAccountPath(p) => f.debug_tuple("ServiceAccountPath").field(p).finish(),
            GcsCredentials::ServiceAccountKey(k) => f.debug_tuple("ServiceAccountKey").field(k).finish(),
            GcsCredentials::ApplicationDefault(p) => f.debug_tuple("ApplicationDefault").field(p).finish(),
            GcsCredentials::BearerToken(t) => f.debug_tuple("BearerToken").field(t).finish(),
            GcsCredentials::Refreshable(r) => f.debug_tuple("Refreshable").field(r).finish(),
        }
    }
}

/// A Google Cloud Storage bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GcsOptions {
    pub bucket: String,
    pub prefix: String,
    pub credentials: GcsCredentials,
    /// Another base URL than `https://storage.googleapis.com`, e.g. an emulator.
    pub endpoint_url: Option<String>,
    pub allow_http: bool,
    pub network: NetworkOptions,
    /// `object_store` settings by name (`GoogleConfigKey`, client settings included), applied
    /// before the fields above.
    pub config: BTreeMap<String, String>,
    pub headers: ExtraHeaders,
    /// Every write fails with a `ReadOnly` error.
    pub read_only: bool,
}

impl GcsOptions {
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>, credentials: GcsCredentials) -> Self {
        GcsOptions { bucket: bucket.into(), prefix: prefix.into(), credentials, ..Default::default() }
    }

    pub(super) fn location(&self) -> String {
        format!("gs://{}", join_location(&self.bucket, &self.prefix))
    }

    pub(crate) fn build(&self) -> Result<ObjectStorage> {
        let bad = |m: &str| Err(IcechunkError::InvalidInput(m.to_string()));
        if self.bucket.is_empty() || self.bucket.contains('/') {
            return bad("a GCS storage needs a bucket name without `/`; put the folder in `prefix`");
        }
        if let Some(url) = &self.endpoint_url {
            check_url(url, self.allow_http, "endpoint_url")?;
        }
        self.network.validate()?;
        let mut builder = match self.credentials {
            GcsCredentials::FromEnv => GoogleCloudStorageBuilder::from_env(),
            _ => GoogleCloudStorageBuilder::new(),
        };
        for (key, value) in &self.config {
            let key: GoogleConfigKey = key.parse().map_err(|_| {
                IcechunkError::InvalidInput(format!("`{key}` is not a GCS configuration key"))
            })?;
            builder = builder.with_config(key, value);
        }
        builder = builder.with_bucket_name(&self.bucket);
        let mut secrets: Vec<Secret> = self.config.values().cloned().map(Secret::new).collect();
        match &self.credentials {
            GcsCredentials::FromEnv => {}
            GcsCredentials::Anonymous => builder = builder.with_skip_signature(true),
            GcsCredentials::ServiceAccountPath(path) => {
                builder = builder.with_service_account_path(path.to_string_lossy())
            }
            GcsCredentials::ServiceAccountKey(key) => {
                builder = builder.with_service_account_key(key.expose());
                secrets.push(key.clone());
                // The private key itself, should a message quote it.
                if let Ok(serde_json::Value::Object(json)) = serde_json::from_str(key.expose()) {
                    if let Some(serde_json::Value::String(pk)) = json.get("private_key") {
                        secrets.push(Secret::new(pk.clone()));
                    }
                }
            }
            GcsCredentials::ApplicationDefault(path) => {
                if let Some(path) = path {
                    builder = builder.with_application_credentials(path.to_string_lossy());
                }
            }
            GcsCredentials::BearerToken(token) => {
                builder = builder.with_bearer_token(token.expose());
                secrets.push(token.clone());
            }
            GcsCredentials::Refreshable(refreshable) => {
                let provider = ExpiringProvider::refreshable("GCS", refreshable, gcp_credential)?;
                builder = builder.with_credentials(Arc::new(provider));
                secrets.extend(refreshable.secrets());
            }
        }
        // Bearer tokens sign no header: any extra header is fine.
        if let Some(connector) = self.headers.connector(None)? {
            builder = builder.with_http_connector(connector);
        }
        if let Some(url) = &self.endpoint_url {
            builder = builder.with_base_url(url);
        }
        builder = builder
            .with_retry(self.network.retry_config())
            .with_client_options(self.network.client_options(self.allow_http));
        let store = builder.build().map_err(|e| build_error("GCS", e, &secrets))?;
        // `PutMode::Create` sends `x-goog-if-generation-match: 0`; a 412 becomes AlreadyExists.
        let mut settings = self.network.settings(CreateIfAbsent::Native, secrets);
        settings.read_only = self.read_only;
        Ok(ObjectStorage::new(
            with_prefix(Arc::new(store), &self.prefix)?,
            StorageSpec::Gcs(self.clone()),
            self.location(),
            settings,
        ))
    }
}

pub fn new_gcs_storage(options: GcsOptions) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}
