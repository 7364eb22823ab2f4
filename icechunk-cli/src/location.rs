//! The repository argument: a local path or a URL, turned into a storage.
//!
//! | argument | storage |
//! |---|---|
//! | `/data/repo`, `./repo`, `file:///data/repo` | local folder |
//! | `s3://bucket/prefix` | S3 or an S3-compatible server (`--endpoint-url`, `--allow-http`, `--region`) |
//! | `gs://bucket/prefix` | Google Cloud Storage |
//! | `az://account/container/prefix` | Azure Blob Storage |
//! | `http(s)://host/path` | read-only HTTP |
//!
//! Cloud credentials come from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`), or none with
//! `--anonymous`. A URL that does not fit is a usage error, before anything is contacted.

use std::path::PathBuf;
use std::sync::Arc;

use icechunk::storage::{AzureCredentials, GcsCredentials, S3Auth};
use icechunk::{AzureOptions, GcsOptions, HttpOptions, S3Options, Storage};

use crate::args::GlobalOptions;
use crate::error::{CliError, CliResult};

/// Where a repository lives, parsed but not yet connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, prefix: String },
    Gcs { bucket: String, prefix: String },
    Azure { account: String, container: String, prefix: String },
    Http(String),
}

impl Location {
    pub fn parse(argument: &str) -> CliResult<Self> {
        let Some((scheme, rest)) = argument.split_once("://") else {
            if argument.is_empty() {
                return Err(CliError::usage("the repository location is empty"));
            }
            return Ok(Location::Local(PathBuf::from(argument)));
        };
        let malformed = |why: &str| CliError::usage(format!("malformed repository URL `{argument}`: {why}"));
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                // file:///abs/path, or file://localhost/abs/path.
                let path = rest.strip_prefix("localhost").unwrap_or(rest);
                if !path.starts_with('/') {
                    return Err(malformed("a file:// URL names an absolute path (file:///data/repo)"));
                }
                Ok(Location::Local(PathBuf::from(path)))
            }
            "s3" | "gs" | "gcs" => {
                let (bucket, prefix) = split_first(rest);
                if bucket.is_empty() {
                    return Err(malformed("no bucket"));
                }
                if !valid_bucket(bucket) {
                    return Err(malformed(&format!("`{bucket}` is not a bucket name")));
                }
                let (bucket, prefix) = (bucket.to_string(), prefix.to_string());
                Ok(if scheme.eq_ignore_ascii_case("s3") {
                    Location::S3 { bucket, prefix }
                } else {
                    Location::Gcs { bucket, prefix }
                })
            }
            "az" | "azure" => {
                let (account, rest) = split_first(rest);
                let (container, prefix) = split_first(rest);
                if account.is_empty() || container.is_empty() {
                    return Err(malformed("az:// URLs are az://account/container/prefix"));
                }
                Ok(Location::Azure {
                    account: account.to_string(),
                    container: container.to_string(),
                    prefix: prefix.to_string(),
                })
            }
            "http" | "https" => {
                let parsed = url::Url::parse(argument).map_err(|e| malformed(&e.to_string()))?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(malformed("no host"));
                }
                Ok(Location::Http(argument.trim_end_matches('/').to_string()))
            }
            other => Err(malformed(&format!(
                "unknown scheme `{other}` (file, s3, gs, az, http and https are known)"
            ))),
        }
    }

    /// The storage at this location, configured by the global flags.
    pub fn storage(&self, options: &GlobalOptions) -> CliResult<Arc<dyn Storage>> {
        let storage = match self {
            Location::Local(path) => icechunk::storage::new_local_filesystem_storage(path.clone())?,
            Location::S3 { bucket, prefix } => {
                let mut s3 = S3Options::new(bucket.clone(), prefix.clone());
                let auth = if options.anonymous { S3Auth::anonymous() } else { S3Auth::from_env() };
                auth.apply(&mut s3);
                s3.region = options.region.clone();
                s3.endpoint_url = options.endpoint_url.clone();
                s3.allow_http = options.allow_http;
                icechunk::new_s3_storage(s3)?
            }
            Location::Gcs { bucket, prefix } => {
                let credentials =
                    if options.anonymous { GcsCredentials::Anonymous } else { GcsCredentials::FromEnv };
                let mut gcs = GcsOptions::new(bucket.clone(), prefix.clone(), credentials);
                gcs.endpoint_url = options.endpoint_url.clone();
                gcs.allow_http = options.allow_http;
                icechunk::new_gcs_storage(gcs)?
            }
            Location::Azure { account, container, prefix } => {
                let credentials =
                    if options.anonymous { AzureCredentials::Anonymous } else { AzureCredentials::FromEnv };
                let azure =
                    AzureOptions::new(account.clone(), container.clone(), prefix.clone(), credentials);
                icechunk::new_azure_storage(azure)?
            }
            Location::Http(url) => icechunk::storage::new_http_storage_with(HttpOptions::new(url.clone()))?,
        };
        Ok(storage)
    }
}

/// `bucket/a/b` -> (`bucket`, `a/b`), trailing slashes dropped.
fn split_first(rest: &str) -> (&str, &str) {
    let rest = rest.trim_end_matches('/');
    rest.split_once('/').unwrap_or((rest, ""))
}

/// Letters, digits, `-`, `_` and `.`: what S3 and GCS allow, loosely (they check the rest).
fn valid_bucket(name: &str) -> bool {
    name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(Location::parse("repo").unwrap(), Location::Local("repo".into()));
        assert_eq!(Location::parse("file:///d/r").unwrap(), Location::Local("/d/r".into()));
        assert_eq!(
            Location::parse("s3://b/p/q/").unwrap(),
            Location::S3 { bucket: "b".into(), prefix: "p/q".into() }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap(),
            Location::S3 { bucket: "b".into(), prefix: "".into() }
        );
        assert_eq!(
            Location::parse("az://acct/cont/p").unwrap(),
            Location::Azure { account: "acct".into(), container: "cont".into(), prefix: "p".into() }
        );
        assert_eq!(
            Location::parse("gs://b/p").unwrap(),
            Location::Gcs { bucket: "b".into(), prefix: "p".into() }
        );
        assert_eq!(Location::parse("https://h/r/").unwrap(), Location::Http("https://h/r".into()));
        for bad in ["", "s3://", "s3:///p", "s3://b d/p", "az://acct", "ftp://x/y", "file://rel", "http://"] {
            assert!(matches!(Location::parse(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
