//! The credentials a reader hands over, per container, when it opens a repository: its
//! authorization to read that container's objects.

use crate::error::{IcechunkError, Result};
use crate::storage::{AzureCredentials, GcsCredentials, S3Auth};

use super::containers::ContainerStore;

/// How to read the objects of one authorized container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ContainerCredentials {
    /// The store's own default: the environment's credentials for cloud stores, none for
    /// local files and HTTP. (Icechunk's deprecated `None`.)
    #[default]
    Default,
    /// Local files need none (Icechunk's `LocalFileSystemAccess`).
    LocalFileSystemAccess,
    /// Plain HTTP needs none; headers come from the container (Icechunk's `HttpAccess`).
    HttpAccess,
    S3(S3Auth),
    Gcs(GcsCredentials),
    Azure(AzureCredentials),
}

impl ContainerCredentials {
    fn kind(&self) -> &'static str {
        match self {
            ContainerCredentials::Default => "default",
            ContainerCredentials::LocalFileSystemAccess => "local file system access",
            ContainerCredentials::HttpAccess => "HTTP access",
            ContainerCredentials::S3(_) => "S3",
            ContainerCredentials::Gcs(_) => "GCS",
            ContainerCredentials::Azure(_) => "Azure",
        }
    }

    /// Refuses credentials of another kind of store than the container's (S3 keys for a
    /// `file://` container, say): almost certainly a mistake, caught when opening.
    pub fn check_fits(&self, url_prefix: &str, store: &ContainerStore) -> Result<()> {
        let fits = matches!(
            (self, store),
            (ContainerCredentials::Default, _)
                | (ContainerCredentials::LocalFileSystemAccess, ContainerStore::LocalFileSystem { .. })
                | (ContainerCredentials::HttpAccess, ContainerStore::Http { .. })
                | (
                    ContainerCredentials::S3(_),
                    ContainerStore::S3(_) | ContainerStore::S3Compatible(_) | ContainerStore::Tigris(_)
                )
                | (ContainerCredentials::Gcs(_), ContainerStore::Gcs { .. })
                | (ContainerCredentials::Azure(_), ContainerStore::Azure { .. })
        );
        if fits {
            Ok(())
        } else {
            Err(IcechunkError::InvalidInput(format!(
                "the credentials authorizing the virtual chunk container `{url_prefix}` are {} \
                 credentials, which do not fit its {} store",
                self.kind(),
                store.kind()
            )))
        }
    }
}
