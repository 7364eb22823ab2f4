//! Credentials: kept out of `Debug` output and scrubbed from every error message, yet
//! serialized with a storage's spec so that another process can authenticate.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A credential. It is serialized as the plain string (so that a storage spec sent to another
/// process can authenticate there) but its `Debug` never shows it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself: only for handing it to the client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

/// `text` with every secret replaced by `***`.
pub(crate) fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().map(Secret::expose).filter(|s| !s.is_empty()).collect();
    // Longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.into_iter().fold(text.to_string(), |text, s| text.replace(s, "***"))
}

/// `url` without user info and query: `https://***@host/path?***`.
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, _)) => (rest, "?***"),
        None => (rest, ""),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let scheme = if scheme.is_empty() { String::new() } else { format!("{scheme}://") };
    format!("{scheme}{authority}{path}{query}")
}

/// The user info and the query of a URL, which may be credentials.
pub(crate) fn url_secrets(url: &str) -> Vec<Secret> {
    let mut out = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    if let Some(query) = query {
        out.push(Secret::new(query));
        out.extend(query.split('&').filter_map(|kv| kv.split_once('=')).map(|(_, v)| Secret::new(v)));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out.push(Secret::new(userinfo));
        out.extend(userinfo.split(':').map(Secret::new));
    }
    out.retain(|s| !s.expose().is_empty());
    out
}
