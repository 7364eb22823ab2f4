//! Virtual chunk containers: the url prefixes a repository's virtual chunks may point into,
//! each with the object store that serves it. Stored in `config.json` (spec §11, "Virtual
//! chunk containers").

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{IcechunkError, Result};

/// A url prefix (`s3://bucket/folder/`) and the store that reads the objects under it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualChunkContainer {
    /// A label only: containers are found and authorized by `url_prefix`.
    #[serde(default)]
    pub name: Option<String>,
    pub url_prefix: String,
    pub store: ContainerStore,
}

/// How to reach the objects of a container. What identifies an object (bucket, key, host)
/// comes from each chunk's location; this holds the rest (region, endpoint, options).
/// Credentials are never here: they come from the authorization given when the repository
/// is opened, so that a repository cannot carry credentials to its readers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContainerStore {
    /// Kept for Icechunk's `ObjectStoreConfig.InMemory`; no url prefix fits it.
    InMemory,
    /// Files of this machine (`file://` locations), under `path`.
    LocalFileSystem { path: PathBuf },
    /// Amazon S3.
    S3(S3Store),
    /// An S3-compatible server (MinIO, Ceph...) at `endpoint_url`.
    S3Compatible(S3Store),
    /// Tigris (S3-compatible; its endpoint unless `endpoint_url` says otherwise).
    Tigris(S3Store),
    /// Google Cloud Storage; `options` are `object_store` GCS settings by name.
    Gcs {
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
    /// Azure Blob Storage; `options` are `object_store` Azure settings by name (the account
    /// name among them, unless the locations are `abfs://container@account...`).
    Azure {
        #[serde(default)]
        options: BTreeMap<String, String>,
    },
    /// Plain HTTP(S); `options` are `object_store` client settings, `headers` go on every
    /// request.
    Http {
        #[serde(default)]
        options: BTreeMap<String, String>,
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

/// The S3 settings of a container (Icechunk's `S3Options`, without bucket and credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Store {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub allow_http: bool,
    /// Unsigned requests (public buckets), unless the authorization gives credentials.
    pub anonymous: bool,
    pub force_path_style: bool,
    pub network_stream_timeout_seconds: Option<u32>,
    pub requester_pays: bool,
    /// Icechunk's `ChecksumAlgorithm` by name; reads send no checksum, so kept only.
    pub checksum_algorithm: Option<String>,
}

impl Default for S3Store {
    fn default() -> Self {
        S3Store {
            region: None,
            endpoint_url: None,
            allow_http: false,
            anonymous: false,
            force_path_style: false,
            network_stream_timeout_seconds: Some(60),
            requester_pays: false,
            checksum_algorithm: None,
        }
    }
}

/// The URL schemes of virtual chunk locations this engine reads.
pub const SUPPORTED_SCHEMES: [&str; 10] =
    ["s3", "tigris", "gs", "gcs", "az", "azure", "abfs", "http", "https", "file"];

impl ContainerStore {
    /// The location schemes this store reads.
    pub fn schemes(&self) -> &'static [&'static str] {
        match self {
            ContainerStore::InMemory => &[],
            ContainerStore::LocalFileSystem { .. } => &["file"],
            ContainerStore::S3(_) | ContainerStore::S3Compatible(_) => &["s3"],
            ContainerStore::Tigris(_) => &["s3", "tigris"],
            ContainerStore::Gcs { .. } => &["gs", "gcs"],
            ContainerStore::Azure { .. } => &["az", "azure", "abfs"],
            ContainerStore::Http { .. } => &["http", "https"],
        }
    }

    /// The kind of store, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            ContainerStore::InMemory => "in-memory",
            ContainerStore::LocalFileSystem { .. } => "local file system",
            ContainerStore::S3(_) => "S3",
            ContainerStore::S3Compatible(_) => "S3-compatible",
            ContainerStore::Tigris(_) => "Tigris",
            ContainerStore::Gcs { .. } => "GCS",
            ContainerStore::Azure { .. } => "Azure",
            ContainerStore::Http { .. } => "HTTP",
        }
    }
}

impl VirtualChunkContainer {
    pub fn new(name: Option<String>, url_prefix: impl Into<String>, store: ContainerStore) -> Self {
        VirtualChunkContainer { name, url_prefix: url_prefix.into(), store }
    }

    /// Icechunk 2.3's rules: the prefix ends in `/` (so that `s3://b/data/` cannot match
    /// `s3://b/database`), is an absolute URL whose scheme the store reads, and names a bucket
    /// (host) or, for local files, a folder.
    pub fn validate(&self) -> Result<()> {
        let prefix = &self.url_prefix;
        let bad = |reason: String| {
            Err(IcechunkError::InvalidInput(format!("invalid virtual chunk container `{prefix}`: {reason}")))
        };
        if !prefix.ends_with('/') {
            return bad("its url_prefix must end in a / character".into());
        }
        let url = match Url::parse(prefix) {
            Ok(url) => url,
            Err(e) => return bad(format!("its url_prefix is not an absolute URL ({e})")),
        };
        if !self.store.schemes().contains(&url.scheme()) {
            return bad(format!(
                "the scheme `{}` does not fit a {} store (it reads {})",
                url.scheme(),
                self.store.kind(),
                match self.store.schemes() {
                    [] => "no url prefix".to_string(),
                    schemes => schemes.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", "),
                }
            ));
        }
        let host = url.host_str().unwrap_or("");
        match url.scheme() {
            "file" if url.path() == "/" => bad("a file:// prefix must name a folder".into()),
            "file" => Ok(()),
            _ if host.is_empty() => bad("the url_prefix must name a bucket (its host)".into()),
            _ => Ok(()),
        }
    }

    /// Whether `location` is under this container's prefix.
    pub fn holds(&self, location: &str) -> bool {
        location.starts_with(&self.url_prefix)
    }
}

/// Checks a virtual chunk location: a well-formed absolute URL of a scheme this engine reads,
/// with a bucket (host) for cloud schemes and a file path for `file://`.
pub fn check_location(location: &str) -> Result<Url> {
    let bad = |reason: String| IcechunkError::InvalidVirtualRef { location: location.to_string(), reason };
    let url = Url::parse(location).map_err(|e| bad(format!("not an absolute URL ({e})")))?;
    if !SUPPORTED_SCHEMES.contains(&url.scheme()) {
        return Err(bad(format!(
            "the scheme `{}` is not one of {}",
            url.scheme(),
            SUPPORTED_SCHEMES.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", ")
        )));
    }
    let host = url.host_str().unwrap_or("");
    if url.scheme() != "file" && host.is_empty() {
        return Err(bad("it names no bucket or host".into()));
    }
    if url.path().trim_start_matches('/').is_empty() || url.path().ends_with('/') {
        return Err(bad("it names no object".into()));
    }
    Ok(url)
}

/// The container of `location`: the one whose url prefix is the longest prefix of it.
pub fn container_for<'a>(
    containers: impl IntoIterator<Item = &'a VirtualChunkContainer>,
    location: &str,
) -> Option<&'a VirtualChunkContainer> {
    containers.into_iter().filter(|c| c.holds(location)).max_by_key(|c| c.url_prefix.len())
}

/// Checks every container, and that no two share a url prefix.
pub fn validate_all(containers: &[VirtualChunkContainer]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for container in containers {
        container.validate()?;
        if !seen.insert(container.url_prefix.as_str()) {
            return Err(IcechunkError::InvalidInput(format!(
                "two virtual chunk containers have the url_prefix `{}`",
                container.url_prefix
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3() -> ContainerStore {
        ContainerStore::S3(S3Store { region: Some("us-east-1".into()), ..Default::default() })
    }

    fn local() -> ContainerStore {
        ContainerStore::LocalFileSystem { path: "/data".into() }
    }

    fn http() -> ContainerStore {
        ContainerStore::Http { options: Default::default(), headers: Default::default() }
    }

    fn gcs() -> ContainerStore {
        ContainerStore::Gcs { options: Default::default() }
    }

    fn azure() -> ContainerStore {
        ContainerStore::Azure { options: Default::default() }
    }

    fn error_of(prefix: &str, store: ContainerStore) -> String {
        VirtualChunkContainer::new(None, prefix, store).validate().unwrap_err().to_string()
    }

    #[test]
    fn prefixes_fit_their_store() {
        for (prefix, store) in [
            ("s3://bucket/", s3()),
            ("s3://bucket/folder/", s3()),
            ("s3://bucket/", ContainerStore::S3Compatible(S3Store::default())),
            ("s3://bucket/", ContainerStore::Tigris(S3Store::default())),
            ("gs://bucket/", gcs()),
            ("gcs://bucket/", gcs()),
            ("az://container/", azure()),
            ("azure://container/", azure()),
            ("abfs://container@account.dfs.core.windows.net/", azure()),
            ("https://example.com/", http()),
            ("http://localhost:8080/data/", http()),
            ("file:///data/", local()),
        ] {
            VirtualChunkContainer::new(None, prefix, store).validate().unwrap();
        }
    }

    #[test]
    fn bad_prefixes_are_refused_with_the_reason() {
        assert!(error_of("s3://bucket", s3()).contains("must end in a / character"));
        assert!(error_of("file:///data/", s3()).contains("scheme `file` does not fit a S3 store"));
        assert!(error_of("s3://bucket/", local()).contains("scheme `s3`"));
        assert!(error_of("s3://bucket/", gcs()).contains("reads gs://, gcs://"));
        assert!(error_of("ftp://host/", http()).contains("scheme `ftp`"));
        assert!(error_of("memory:///", ContainerStore::InMemory).contains("no url prefix"));
        assert!(error_of("/data/", local()).contains("not an absolute URL"));
        assert!(error_of("s3:///", s3()).contains("must name a bucket"));
        assert!(error_of("gs:///", gcs()).contains("must name a bucket"));
        assert!(error_of("file:///", local()).contains("must name a folder"));
        let twice = [
            VirtualChunkContainer::new(None, "s3://b/", s3()),
            VirtualChunkContainer::new(Some("other".into()), "s3://b/", s3()),
        ];
        assert!(validate_all(&twice).unwrap_err().to_string().contains("two virtual chunk containers"));
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let containers = [
            VirtualChunkContainer::new(Some("bucket".into()), "s3://bucket/", s3()),
            VirtualChunkContainer::new(Some("deep".into()), "s3://bucket/data/2024/", s3()),
            VirtualChunkContainer::new(Some("data".into()), "s3://bucket/data/", s3()),
            VirtualChunkContainer::new(Some("files".into()), "file:///data/", local()),
        ];
        let name = |location: &str| container_for(&containers, location).and_then(|c| c.name.clone());
        assert_eq!(name("s3://bucket/data/2024/a.nc").as_deref(), Some("deep"));
        assert_eq!(name("s3://bucket/data/2023/a.nc").as_deref(), Some("data"));
        assert_eq!(name("s3://bucket/other.nc").as_deref(), Some("bucket"));
        // A prefix ends in `/`: `data/` does not hold `database/`.
        assert_eq!(name("s3://bucket/database/x.nc").as_deref(), Some("bucket"));
        assert_eq!(name("file:///data/x.nc").as_deref(), Some("files"));
        assert_eq!(name("s3://elsewhere/x.nc"), None);
        assert_eq!(name("file:///database/x.nc"), None);
    }

    #[test]
    fn locations_are_absolute_urls_of_known_schemes() {
        for good in ["s3://b/k.nc", "gs://b/a/b", "file:///tmp/x.nc", "https://h:8/p/f.nc", "az://c/f"] {
            check_location(good).unwrap();
        }
        for (bad, why) in [
            ("/tmp/x.nc", "not an absolute URL"),
            ("inlined", "not an absolute URL"),
            ("ftp://h/x", "scheme `ftp`"),
            ("s3:///key", "no bucket"),
            ("s3://bucket", "no object"),
            ("s3://bucket/folder/", "no object"),
        ] {
            let e = check_location(bad).unwrap_err();
            assert!(matches!(e, IcechunkError::InvalidVirtualRef { .. }), "{bad}");
            assert!(e.to_string().contains(why), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn containers_serialize_with_a_type_tag() {
        let container = VirtualChunkContainer::new(Some("n".into()), "s3://b/", s3());
        let json = serde_json::to_value(&container).unwrap();
        assert_eq!(json["store"]["type"], "s3");
        assert_eq!(json["store"]["region"], "us-east-1");
        assert_eq!(serde_json::from_value::<VirtualChunkContainer>(json).unwrap(), container);
        let h: VirtualChunkContainer = serde_json::from_str(
            r#"{"url_prefix": "https://h/", "store": {"type": "http", "headers": {"a": "b"}}}"#,
        )
        .unwrap();
        assert_eq!(h.name, None);
        assert!(matches!(h.store, ContainerStore::Http { ref headers, .. } if headers["a"] == "b"));
        let local: VirtualChunkContainer = serde_json::from_str(
            r#"{"url_prefix": "file:///d/", "store": {"type": "local_file_system", "path": "/d"}}"#,
        )
        .unwrap();
        assert_eq!(local.store, ContainerStore::LocalFileSystem { path: "/d".into() });
    }
}
