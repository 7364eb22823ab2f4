//! Read-only repositories over plain HTTP(S): GETs only, no listing.

use std::fmt;
use std::sync::Arc;

use object_store::http::HttpBuilder;
use serde::{Deserialize, Serialize};

use super::{build_error, check_url, NetworkOptions};
use crate::error::Result;
use crate::storage::credentials::{redact_url, url_secrets};
use crate::storage::object_store_backend::{CreateIfAbsent, ObjectStorage};
use crate::storage::{Storage, StorageSpec};

/// A repository served over plain HTTP(S): read-only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct HttpOptions {
    /// The repository's root, e.g. `https://example.com/data/repo`.
    pub url: String,
    pub network: NetworkOptions,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &redact_url(&self.url))
            .field("network", &self.network)
            .finish()
    }
}

impl HttpOptions {
    pub fn new(url: impl Into<String>) -> Self {
        HttpOptions { url: url.into(), ..Default::default() }
    }

    pub(super) fn build(&self) -> Result<ObjectStorage> {
        check_url(&self.url, true, "url")?;
        self.network.validate()?;
        let url = self.url.trim_end_matches('/');
        let store = HttpBuilder::new()
            .with_url(url)
            .with_retry(self.network.retry_config())
            .with_client_options(self.network.client_options(url.starts_with("http://")));
        // Credentials embedded in the URL (user:password@, a signed query) stay out of messages.
        let secrets = url_secrets(url);
        let store = store.build().map_err(|e| build_error("HTTP", e, &secrets))?;
        let mut settings = self.network.settings(CreateIfAbsent::Native, secrets);
        settings.read_only = true;
        Ok(ObjectStorage::new(Arc::new(store), StorageSpec::Http(self.clone()), redact_url(url), settings))
    }
}

/// A repository served over HTTP(S), read-only: every write fails with a `ReadOnly` error.
pub fn new_http_storage(url: impl Into<String>) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(HttpOptions::new(url).build()?))
}

pub fn new_http_storage_with(options: HttpOptions) -> Result<Arc<dyn Storage>> {
    Ok(Arc::new(options.build()?))
}
