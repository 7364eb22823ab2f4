//! Extra HTTP headers on every request: some on reads (GET, HEAD), some on writes (PUT, POST,
//! DELETE...), some on both. They are added below the store's client, after a request is
//! signed, so headers that a signature must cover (`x-amz-*` on signed S3 requests, `x-ms-*`
//! with an Azure shared key) are refused when the storage is built rather than rejected by
//! the server on every request.

use std::collections::BTreeMap;

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::ClientOptions;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};

/// Headers added to requests; on a name in both, the role's own map wins over `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtraHeaders {
    /// On every request.
    pub all: BTreeMap<String, String>,
    /// On reads only (GET, HEAD).
    pub read: BTreeMap<String, String>,
    /// On writes only (every other method).
    pub write: BTreeMap<String, String>,
}

impl ExtraHeaders {
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.read.is_empty() && self.write.is_empty()
    }

    fn merged(&self, role: &BTreeMap<String, String>) -> Result<HeaderMap> {
        let mut out = HeaderMap::new();
        for (name, value) in self.all.iter().chain(role) {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| IcechunkError::InvalidInput(format!("`{name}` is not an HTTP header name")))?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                IcechunkError::InvalidInput(format!("the value of the header `{name}` is not valid in HTTP"))
            })?;
            out.insert(header, value);
        }
        Ok(out)
    }

    /// The connector that adds these headers; `signed_prefix` names the headers that a
    /// signature would have to cover, which are refused.
    pub(super) fn connector(&self, signed_prefix: Option<&str>) -> Result<Option<HeaderConnector>> {
        if let Some(prefix) = signed_prefix {
            let signed = self
                .all
                .keys()
                .chain(self.read.keys())
                .chain(self.write.keys())
                .find(|name| name.to_ascii_lowercase().starts_with(prefix));
            if let Some(name) = signed {
                return Err(IcechunkError::InvalidInput(format!(
                    "the header `{name}` would have to be signed with the request, and extra headers \
                     are added after signing: `{prefix}*` headers are not supported with these credentials"
                )));
            }
        }
        if self.is_empty() {
            return Ok(None);
        }
        Ok(Some(HeaderConnector { read: self.merged(&self.read)?, write: self.merged(&self.write)? }))
    }
}

/// An `object_store` HTTP connector: reqwest's, adding headers by the request's method.
#[derive(Debug)]
pub(super) struct HeaderConnector {
    read: HeaderMap,
    write: HeaderMap,
}

impl HttpConnector for HeaderConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(HeaderService { inner, read: self.read.clone(), write: self.write.clone() }))
    }
}

#[derive(Debug)]
struct HeaderService {
    inner: HttpClient,
    read: HeaderMap,
    write: HeaderMap,
}

#[async_trait]
impl HttpService for HeaderService {
    async fn call(&self, mut request: HttpRequest) -> std::result::Result<HttpResponse, HttpError> {
        let extra = match request.method().as_str() {
            "GET" | "HEAD" => &self.read,
            _ => &self.write,
        };
        let headers = request.headers_mut();
        for (name, value) in extra {
            // The store's own headers (authorization, conditions, ranges) stay.
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        self.inner.execute(request).await
    }
}
