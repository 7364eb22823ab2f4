//! Storage found by following HTTP redirects: a stable URL that answers with a redirect to
//! where the repository lives now, so that its owner can move it without breaking links.
//!
//! The URL is requested (GET, redirects not followed automatically); `http(s)` locations are
//! followed, up to [`MAX_REDIRECTS`], until one names a store:
//!
//! - `s3://bucket/prefix`, `r2://bucket/prefix`, `tigris://bucket/prefix`,
//!   `gs://bucket/prefix` (or `gcs://`): that bucket;
//! - `http+icechunk://host/path`, `https+icechunk://...` (or `http+ic`, `https+ic`): a
//!   repository served over plain HTTP(S) at `http(s)://host/path`.
//!
//! The query of a store location sets options: `region`, `endpoint_url`, `account_id` (R2),
//! `force_path_style` and `allow_http` (`true`/`false`), and `from_env=true` to sign requests
//! with the environment's credentials; requests are unsigned (anonymous) otherwise. The
//! storage is read-only.

use std::time::Duration;

use super::network::install_crypto_provider;
use super::{GcsCredentials, GcsOptions, HttpOptions, NetworkOptions, S3Options, S3Provider};
use crate::error::{IcechunkError, Result};
use crate::storage::credentials::redact_url;
use crate::storage::StorageSpec;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 10;

fn bad(message: String) -> IcechunkError {
    IcechunkError::InvalidInput(message)
}

/// The storage the redirects of `url` lead to.
pub async fn resolve_redirect(url: &str, network: &NetworkOptions) -> Result<StorageSpec> {
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(network.connect_timeout)
        .timeout(network.request_timeout.max(Duration::from_secs(1)))
        .user_agent(super::USER_AGENT)
        .build()
        .map_err(|e| IcechunkError::StorageOther(format!("cannot build an HTTP client: {e}")))?;
    let mut current = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        if let Some(spec) = store_location(&current)? {
            return Ok(spec);
        }
        if !(current.starts_with("http://") || current.starts_with("https://")) {
            return Err(bad(format!(
                "cannot follow {}: not an http(s) URL nor a store",
                redact_url(&current)
            )));
        }
        let response = client.get(&current).send().await.map_err(|e| {
            IcechunkError::StorageOther(format!("cannot reach {}: {e}", redact_url(&current)))
        })?;
        let status = response.status();
        if !status.is_redirection() {
            return Err(IcechunkError::StorageOther(format!(
                "{} answered {status} instead of a redirect to a repository",
                redact_url(&current)
            )));
        }
        let location =
            response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).ok_or_else(
                || {
                    IcechunkError::StorageOther(format!(
                        "{} answered {status} without a Location",
                        redact_url(&current)
                    ))
                },
            )?;
        current = response
            .url()
            .join(location)
            .map_err(|_| bad(format!("bad redirect location from {}", redact_url(&current))))?
            .to_string();
    }
    Err(IcechunkError::StorageOther(format!("more than {MAX_REDIRECTS} redirects from {}", redact_url(url))))
}

/// The store a location names, if it names one.
fn store_location(url: &str) -> Result<Option<StorageSpec>> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(format!("{} is not a URL", redact_url(url))));
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let mut options = Query::parse(query)?;
    let spec = match scheme.to_ascii_lowercase().as_str() {
        "s3" | "r2" | "tigris" => {
            let mut o = S3Options::new(bucket, prefix.trim_matches('/'));
            o.region = options.take("region");
            o.endpoint_url = options.take("endpoint_url");
            o.force_path_style = options.flag("force_path_style")?;
            o.allow_http = options.flag("allow_http")?;
            o.from_env = options.flag("from_env")?;
            o.anonymous = !o.from_env;
            o.read_only = true;
            let account_id = options.take("account_id");
            match scheme {
                "r2" => {
                    o.provider = S3Provider::R2;
                    if o.endpoint_url.is_none() {
                        let account = account_id.ok_or_else(|| {
                            bad("an r2:// location needs account_id or endpoint_url in its query".into())
                        })?;
                        o.endpoint_url = Some(format!("https://{account}.r2.cloudflarestorage.com"));
                    }
                    o.region.get_or_insert_with(|| "auto".into());
                }
                "tigris" => {
                    o.provider = S3Provider::Tigris;
                    o.endpoint_url.get_or_insert_with(|| super::TIGRIS_ENDPOINT.into());
                    o.region.get_or_insert_with(|| "auto".into());
                }
                _ => {}
            }
            StorageSpec::S3(o)
        }
        "gs" | "gcs" => {
            let from_env = options.flag("from_env")?;
            let credentials = if from_env { GcsCredentials::FromEnv } else { GcsCredentials::Anonymous };
            let mut o = GcsOptions::new(bucket, prefix.trim_matches('/'), credentials);
            o.endpoint_url = options.take("endpoint_url");
            o.allow_http = options.flag("allow_http")?;
            o.read_only = true;
            StorageSpec::Gcs(o)
        }
        "http+icechunk" | "http+ic" | "https+icechunk" | "https+ic" => {
            let http = scheme.split('+').next().unwrap_or("https");
            let query = if query.is_empty() { String::new() } else { format!("?{query}") };
            return Ok(Some(StorageSpec::Http(HttpOptions::new(format!("{http}://{rest}{query}")))));
        }
        _ => return Ok(None),
    };
    if bucket.is_empty() {
        return Err(bad(format!("{} names no bucket", redact_url(url))));
    }
    options.finish(url)?;
    Ok(Some(spec))
}

/// The options in a location's query.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: &str) -> Result<Self> {
        let pairs = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
                (k.to_string(), v.to_string())
            })
            .collect();
        Ok(Query(pairs))
    }

    fn take(&mut self, key: &str) -> Option<String> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(i).1)
    }

    fn flag(&mut self, key: &str) -> Result<bool> {
        match self.take(key).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(bad(format!("`{key}` must be true or false, not `{other}`"))),
        }
    }

    fn finish(self, url: &str) -> Result<()> {
        match self.0.first() {
            None => Ok(()),
            Some((key, _)) => Err(bad(format!("unknown option `{key}` in {}", redact_url(url)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_stores() {
        let Some(StorageSpec::S3(o)) =
            store_location("s3://b/p/q?region=eu&endpoint_url=http://h:9").unwrap()
        else {
            panic!("not s3")
        };
        assert_eq!((o.bucket.as_str(), o.prefix.as_str()), ("b", "p/q"));
        assert_eq!(o.region.as_deref(), Some("eu"));
        assert!(o.anonymous && o.read_only);
        let Some(StorageSpec::Http(h)) = store_location("https+icechunk://host/a/b").unwrap() else {
            panic!("not http")
        };
        assert_eq!(h.url, "https://host/a/b");
        assert!(store_location("https://host/a").unwrap().is_none());
        assert!(store_location("s3://b/p?bogus=1").is_err());
        assert!(store_location("r2://b/p").is_err());
        assert!(matches!(store_location("gs://b/p?from_env").unwrap(), Some(StorageSpec::Gcs(_))));
    }
}
