//! Attribution: labels a repository puts in the `User-Agent` of its requests, so that a
//! bucket's owner can tell traffic apart in access logs: which software (`client`), doing what
//! (`workload`), for whom (`principal`).
//!
//! The header is `[client ]icechunk-rs/<version>[ (workload=<w>; principal=<p>)]`: the client's
//! product token first (RFC 9110 lists the most significant product first), then this library's,
//! then the other labels in one comment, which is the layout Icechunk 2.3 sends too. The labels
//! are checked so that the header stays one well-formed value whatever they say: no control
//! characters, and nothing that would end the comment or start another pair early.

use serde::{Deserialize, Serialize};

use super::network::USER_AGENT;
use crate::error::{IcechunkError, Result};

/// The longest label, in bytes.
pub const ATTRIBUTION_MAX: usize = 128;

/// Labels for the `User-Agent` of a storage's requests; all unset by default (no label).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attribution {
    /// The embedding software's product token: `name` or `name/version`, in HTTP token
    /// characters (e.g. `weatherlib/0.9`).
    pub client: Option<String>,
    /// What the requests are for (a job, a pipeline).
    pub workload: Option<String>,
    /// On whose behalf (a user, a service account, a tenant).
    pub principal: Option<String>,
}

/// An HTTP token character (RFC 9110 `tchar`).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn check_client(client: &str) -> Result<()> {
    let (name, version) = client.split_once('/').unwrap_or((client, "x"));
    let tokens = !name.is_empty() && !version.is_empty() && name.chars().chain(version.chars()).all(is_tchar);
    if client.len() > ATTRIBUTION_MAX || !tokens {
        return Err(IcechunkError::InvalidInput(format!(
            "attribution client must be `name` or `name/version` in HTTP token characters, at most \
             {ATTRIBUTION_MAX} bytes, not {client:?}"
        )));
    }
    Ok(())
}

/// `workload` and `principal` sit inside the comment as `key=value` pairs separated by `; `:
/// parentheses, a backslash or a quote would end or escape the comment, `;` and `=` would
/// forge another pair.
fn check_label(what: &str, value: &str) -> Result<()> {
    let printable = value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    let forbidden = value.chars().any(|c| "()\\;=\"".contains(c));
    if value.is_empty() || value.len() > ATTRIBUTION_MAX || !printable || forbidden {
        return Err(IcechunkError::InvalidInput(format!(
            "attribution {what} must be printable ASCII without ( ) \\ ; = \", 1 to {ATTRIBUTION_MAX} \
             bytes, not {value:?}"
        )));
    }
    Ok(())
}

impl Attribution {
    /// No label set: the `User-Agent` is [`USER_AGENT`] alone.
    pub fn is_empty(&self) -> bool {
        self.client.is_none() && self.workload.is_none() && self.principal.is_none()
    }

    /// Refuses labels that would not make one well-formed header value (module docs).
    pub fn validate(&self) -> Result<()> {
        if let Some(client) = &self.client {
            check_client(client)?;
        }
        if let Some(workload) = &self.workload {
            check_label("workload", workload)?;
        }
        if let Some(principal) = &self.principal {
            check_label("principal", principal)?;
        }
        Ok(())
    }

    /// The `User-Agent` of a storage labelled with these (module docs for the layout).
    pub fn user_agent(&self) -> String {
        let mut agent = match &self.client {
            Some(client) => format!("{client} {USER_AGENT}"),
            None => USER_AGENT.to_string(),
        };
        let pairs: Vec<String> = [("workload", &self.workload), ("principal", &self.principal)]
            .into_iter()
            .filter_map(|(key, value)| value.as_ref().map(|v| format!("{key}={v}")))
            .collect();
        if !pairs.is_empty() {
            agent.push_str(&format!(" ({})", pairs.join("; ")));
        }
        agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(client: Option<&str>, workload: Option<&str>, principal: Option<&str>) -> Attribution {
        Attribution {
            client: client.map(String::from),
            workload: workload.map(String::from),
            principal: principal.map(String::from),
        }
    }

    #[test]
    fn the_user_agent_puts_the_client_first_and_the_labels_in_a_comment() {
        assert_eq!(Attribution::default().user_agent(), USER_AGENT);
        let all = labels(Some("weatherlib/0.9"), Some("nightly ingest"), Some("team-a"));
        assert_eq!(
            all.user_agent(),
            format!("weatherlib/0.9 {USER_AGENT} (workload=nightly ingest; principal=team-a)")
        );
        assert_eq!(labels(Some("lib"), None, None).user_agent(), format!("lib {USER_AGENT}"));
        assert_eq!(labels(None, None, Some("p q")).user_agent(), format!("{USER_AGENT} (principal=p q)"));
        assert_eq!(labels(None, Some("w"), None).user_agent(), format!("{USER_AGENT} (workload=w)"));
        for a in [all, Attribution::default()] {
            a.validate().unwrap();
            reqwest::header::HeaderValue::from_str(&a.user_agent()).expect("a header value");
        }
    }

    #[test]
    fn labels_that_would_break_the_header_are_refused() {
        let long = "x".repeat(ATTRIBUTION_MAX + 1);
        for bad in [
            labels(Some("bad client"), None, None),
            labels(Some("a/"), None, None),
            labels(Some("/1"), None, None),
            labels(Some("a/b/c"), None, None),
            labels(Some(&long), None, None),
            labels(None, Some("a;b"), None),
            labels(None, Some("x) (y"), None),
            labels(None, Some(""), None),
            labels(None, Some("tab\there"), None),
            labels(None, None, Some("é")),
            labels(None, None, Some("k=v")),
            labels(None, None, Some(&long)),
        ] {
            let err = bad.validate().unwrap_err();
            assert!(matches!(err, IcechunkError::InvalidInput(_)), "{bad:?}: {err}");
        }
        labels(Some(&"x".repeat(ATTRIBUTION_MAX)), Some("a b-c_d.e/f"), Some("svc@tenant"))
            .validate()
            .unwrap();
    }
}
