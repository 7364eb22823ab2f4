//! Credentials that expire: static ones with an expiry, and refreshable ones that a
//! [`CredentialFetcher`] supplies again when they expire.
//!
//! A fetcher is code of the embedding application (in Python, a pickled callable), so the
//! storage spec holds it as opaque bytes, serialized with the spec like every credential;
//! the binding installs, once per process, the loader that turns those bytes back into a
//! fetcher ([`set_credential_fetcher_loader`]). The loader must be cheap: it runs when a
//! storage is built, and the fetcher's work belongs in [`CredentialFetcher::fetch`], which
//! runs on a runtime thread when credentials are first needed and whenever they expire.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use object_store::CredentialProvider;
use serde::{Deserialize, Serialize};

use crate::error::{IcechunkError, Result};
use crate::storage::credentials::Secret;

/// Credentials are fetched again this long before they expire, so that a request signed
/// with them does not reach the server after their expiry.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5);

/// One credential as a fetcher returns it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchedCredential {
    /// An S3 key pair, with a session token for temporary credentials.
    S3 { access_key_id: Secret, secret_access_key: Secret, session_token: Option<Secret> },
    /// An OAuth bearer token for Google Cloud Storage.
    GcsBearer(Secret),
    /// An Azure storage account key.
    AzureAccessKey(Secret),
    /// An Azure shared access signature (the query string).
    AzureSasToken(Secret),
    /// An Azure OAuth bearer token.
    AzureBearer(Secret),
}

impl fmt::Debug for FetchedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

impl FetchedCredential {
    pub fn kind(&self) -> &'static str {
        match self {
            FetchedCredential::S3 { .. } => "S3",
            FetchedCredential::GcsBearer(_) => "GcsBearer",
            FetchedCredential::AzureAccessKey(_) => "AzureAccessKey",
            FetchedCredential::AzureSasToken(_) => "AzureSasToken",
            FetchedCredential::AzureBearer(_) => "AzureBearer",
        }
    }

    /// The secrets in it, to keep out of messages.
    pub fn secrets(&self) -> Vec<Secret> {
        match self {
            FetchedCredential::S3 { access_key_id, secret_access_key, session_token } => {
                let mut out = vec![access_key_id.clone(), secret_access_key.clone()];
                out.extend(session_token.iter().cloned());
                out
            }
            FetchedCredential::GcsBearer(s)
            | FetchedCredential::AzureAccessKey(s)
            | FetchedCredential::AzureSasToken(s)
            | FetchedCredential::AzureBearer(s) => vec![s.clone()],
        }
    }
}

/// A credential and when it stops working (`None`: never).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiring {
    pub credential: FetchedCredential,
    pub expires_after: Option<SystemTime>,
}

impl Expiring {
    fn fresh(&self, now: SystemTime) -> bool {
        self.expires_after.is_none_or(|at| now + REFRESH_MARGIN < at)
    }
}

/// Supplies credentials again and again (each time they expire).
#[async_trait]
pub trait CredentialFetcher: Send + Sync + fmt::Debug {
    async fn fetch(&self) -> Result<Expiring>;
}

/// Turns a fetcher's serialized form (`RefreshableCredentials::fetcher`) back into a fetcher.
pub type FetcherLoader = fn(&[u8]) -> Result<Arc<dyn CredentialFetcher>>;

static LOADER: OnceLock<FetcherLoader> = OnceLock::new();

/// Installs the loader of this process's fetchers; the first one installed stays.
pub fn set_credential_fetcher_loader(loader: FetcherLoader) {
    let _ = LOADER.set(loader);
}

/// Credentials refreshed by calling back the application: its fetcher, serialized, and
/// optionally the credentials to start with (fetched when the storage was made, so that
/// copies of it sent to many processes do not all call the fetcher at once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshableCredentials {
    #[serde(with = "serde_bytes")]
    pub fetcher: Vec<u8>,
    pub initial: Option<Expiring>,
}

impl fmt::Debug for RefreshableCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshableCredentials")
            .field("fetcher", &format_args!("<{} bytes>", self.fetcher.len()))
            .field("initial", &self.initial)
            .finish()
    }
}

impl RefreshableCredentials {
    pub(super) fn secrets(&self) -> Vec<Secret> {
        self.initial.iter().flat_map(|e| e.credential.secrets()).collect()
    }

    fn load(&self) -> Result<Arc<dyn CredentialFetcher>> {
        let loader = LOADER.get().ok_or_else(|| {
            IcechunkError::InvalidInput(
                "refreshable credentials need the loader of the binding that made them".into(),
            )
        })?;
        loader(&self.fetcher)
    }
}

/// How a credential of one kind becomes the `object_store` credential of one store.
type Convert<C> = fn(&FetchedCredential) -> std::result::Result<C, String>;

/// An `object_store` credential provider over expiring credentials: hands out the cached
/// credential while it is fresh, and otherwise fetches a new one (one fetch at a time;
/// concurrent requests wait for it). Without a fetcher, expired credentials are an error.
pub(super) struct ExpiringProvider<C> {
    store: &'static str,
    fetcher: Option<Arc<dyn CredentialFetcher>>,
    convert: Convert<C>,
    cache: tokio::sync::Mutex<Option<(Expiring, Arc<C>)>>,
}

impl<C> fmt::Debug for ExpiringProvider<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpiringProvider")
            .field("store", &self.store)
            .field("refreshable", &self.fetcher.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> ExpiringProvider<C> {
    /// Refreshable credentials.
    pub(super) fn refreshable(
        store: &'static str,
        refreshable: &RefreshableCredentials,
        convert: Convert<C>,
    ) -> Result<Self> {
        let fetcher = Some(refreshable.load()?);
        let cache = match &refreshable.initial {
            Some(initial) => Some(Self::converted(store, convert, initial.clone())?),
            None => None,
        };
        Ok(ExpiringProvider { store, fetcher, convert, cache: tokio::sync::Mutex::new(cache) })
    }

    /// Static credentials that stop working at some time.
    pub(super) fn expiring(store: &'static str, credential: Expiring, convert: Convert<C>) -> Result<Self> {
        let cache = Some(Self::converted(store, convert, credential)?);
        Ok(ExpiringProvider { store, fetcher: None, convert, cache: tokio::sync::Mutex::new(cache) })
    }

    fn converted(store: &'static str, convert: Convert<C>, expiring: Expiring) -> Result<(Expiring, Arc<C>)> {
        let credential = convert(&expiring.credential).map_err(|reason| {
            IcechunkError::InvalidInput(format!("unusable {store} credentials: {reason}"))
        })?;
        Ok((expiring, Arc::new(credential)))
    }

    fn error(&self, message: String) -> object_store::Error {
        object_store::Error::Generic { store: self.store, source: message.into() }
    }
}

#[async_trait]
impl<C: Send + Sync + 'static> CredentialProvider for ExpiringProvider<C> {
    type Credential = C;

    async fn get_credential(&self) -> object_store::Result<Arc<C>> {
        let mut cache = self.cache.lock().await;
        if let Some((expiring, credential)) = cache.as_ref() {
            if expiring.fresh(SystemTime::now()) {
                return Ok(Arc::clone(credential));
            }
        }
        let Some(fetcher) = &self.fetcher else {
            return Err(self.error(
                "the static credentials have expired (expires_after); give get_credentials to \
                 refresh them"
                    .into(),
            ));
        };
        let fetched =
            fetcher.fetch().await.map_err(|e| self.error(format!("cannot refresh the credentials: {e}")))?;
        let (expiring, credential) =
            Self::converted(self.store, self.convert, fetched).map_err(|e| self.error(e.to_string()))?;
        tracing::debug!(store = self.store, expires_after = ?expiring.expires_after, "credentials refreshed");
        // A credential that is already stale is still used for the request that fetched it;
        // the next request fetches again.
        *cache = Some((expiring, Arc::clone(&credential)));
        Ok(credential)
    }
}

pub(super) fn aws_credential(
    c: &FetchedCredential,
) -> std::result::Result<object_store::aws::AwsCredential, String> {
    match c {
        FetchedCredential::S3 { access_key_id, secret_access_key, session_token } => {
            Ok(object_store::aws::AwsCredential {
                key_id: access_key_id.expose().to_string(),
                secret_key: secret_access_key.expose().to_string(),
                token: session_token.as_ref().map(|t| t.expose().to_string()),
            })
        }
        other => Err(format!("expected S3 credentials, got {}", other.kind())),
    }
}

pub(super) fn gcp_credential(
    c: &FetchedCredential,
) -> std::result::Result<object_store::gcp::GcpCredential, String> {
    match c {
        FetchedCredential::GcsBearer(token) => {
            Ok(object_store::gcp::GcpCredential { bearer: token.expose().to_string() })
        }
        other => Err(format!("expected a GCS bearer token, got {}", other.kind())),
    }
}

pub(super) fn azure_credential(
    c: &FetchedCredential,
) -> std::result::Result<object_store::azure::AzureCredential, String> {
    use object_store::azure::{AzureAccessKey, AzureCredential};
    match c {
        FetchedCredential::AzureAccessKey(key) => AzureAccessKey::try_new(key.expose())
            .map(AzureCredential::AccessKey)
            .map_err(|_| "the access key is not base64".to_string()),
        FetchedCredential::AzureSasToken(sas) => {
            object_store::azure::split_sas(sas.expose().trim_start_matches('?'))
                .map(AzureCredential::SASToken)
                .map_err(|_| "the SAS token is not a query string".to_string())
        }
        FetchedCredential::AzureBearer(token) => Ok(AzureCredential::BearerToken(token.expose().to_string())),
        other => Err(format!("expected Azure credentials, got {}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Hands out keys `K1`, `K2`... each valid for `lifetime` from now.
    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: Duration,
    }

    #[async_trait]
    impl CredentialFetcher for Counting {
        async fn fetch(&self) -> Result<Expiring> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Expiring {
                credential: FetchedCredential::S3 {
                    access_key_id: Secret::new(format!("K{n}")),
                    secret_access_key: Secret::new("s"),
                    session_token: None,
                },
                expires_after: Some(SystemTime::now() + self.lifetime),
            })
        }
    }

    fn provider(lifetime: Duration) -> (Arc<Counting>, ExpiringProvider<object_store::aws::AwsCredential>) {
        let fetcher = Arc::new(Counting { calls: AtomicUsize::new(0), lifetime });
        let provider = ExpiringProvider {
            store: "S3",
            fetcher: Some(fetcher.clone() as Arc<dyn CredentialFetcher>),
            convert: aws_credential,
            cache: tokio::sync::Mutex::new(None),
        };
        (fetcher, provider)
    }

    #[tokio::test]
    async fn fresh_credentials_are_fetched_once_and_stale_ones_again() {
        let (fetcher, long) = provider(Duration::from_secs(3600));
        for _ in 0..5 {
            assert_eq!(long.get_credential().await.unwrap().key_id, "K1");
        }
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        // Within the refresh margin: every request fetches again.
        let (fetcher, short) = provider(REFRESH_MARGIN / 2);
        assert_eq!(short.get_credential().await.unwrap().key_id, "K1");
        assert_eq!(short.get_credential().await.unwrap().key_id, "K2");
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_fetch() {
        let (fetcher, provider) = provider(Duration::from_secs(3600));
        let provider = Arc::new(provider);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let p = Arc::clone(&provider);
                tokio::spawn(async move { p.get_credential().await.unwrap().key_id.clone() })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "K1");
        }
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_static_credentials_are_an_error() {
        let credential = FetchedCredential::S3 {
            access_key_id: Secret::new("K"),
            secret_access_key: Secret::new("s"),
            session_token: None,
        };
        let past = Expiring { credential: credential.clone(), expires_after: Some(SystemTime::UNIX_EPOCH) };
        let provider = ExpiringProvider::expiring("S3", past, aws_credential).unwrap();
        let err = provider.get_credential().await.unwrap_err().to_string();
        assert!(err.contains("expired"), "{err}");
        let future =
            Expiring { credential, expires_after: Some(SystemTime::now() + Duration::from_secs(60)) };
        let provider = ExpiringProvider::expiring("S3", future, aws_credential).unwrap();
        assert_eq!(provider.get_credential().await.unwrap().key_id, "K");
        // A credential of the wrong store is refused when the storage is built.
        let gcs =
            Expiring { credential: FetchedCredential::GcsBearer(Secret::new("t")), expires_after: None };
        assert!(ExpiringProvider::expiring("S3", gcs, aws_credential).is_err());
    }
}
