//! Read-only repositories over plain HTTP(S): GETs only, no listing.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use object_store::http::HttpBuilder;
use object_store::ClientConfigKey;
use serde::{Deserialize, Serialize};

use super::headers::ExtraHeaders;
use super::{build_error, check_url, NetworkOptions};
use crate::error::{IcechunkError, Result};
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
    /// `object_store` client settings by name (`ClientConfigKey`), applied after `network`.
    pub options: BTreeMap<String, String>,
    /// Headers on every request (e.g. `authorization`); only `all` applies: nothing is written.
    pub headers: ExtraHeaders,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &redact_url(&self.url))
            .field("network", &self.network)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("headers", &self.headers.all.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl HttpOptions {
    pub fn new(url: impl Into<String>) -> Self {
        HttpOptions { url: url.into(), ..Default::default() }
    }

    pub(crate) fn build(&self) -> Result<ObjectStorage> {
        check_url(&self.url, true, "url")?;
        self.network.validate()?;
        let url = self.url.trim_end_matches('/');
        let mut client = self.network.client_options(url.starts_with("http://"));
        for (key, value) in &self.options {
            let key: ClientConfigKey = key
                .parse()
                .map_err(|_| IcechunkError::InvalidInput(format!("`{key}` is not an HTTP client option")))?;
            client = client.with_config(key, value);
        }
        let mut store = HttpBuilder::new()
            .with_url(url)
            .with_retry(self.network.retry_config())
            .with_client_options(client);
        if let Some(connector) = self.headers.connector(None)? {
            store = store.with_http_connector(connector);
        }
        // Credentials embedded in the URL (user:password@, a signed query) and in the headers
        // stay out of messages.
        let mut secrets = url_secrets(url);
        secrets.extend(self.headers.all.values().cloned().map(crate::storage::credentials::Secret::new));
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
