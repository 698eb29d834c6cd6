//! `--registry HOST[:PORT][/PREFIX]` and its TLS and credential options.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use tempfile::TempDir;

use crate::exec::{Cmd, ExecError, Runner, Tool};

/// A secret string: never printed by `Debug`/`Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The private registry kod pushes to.
#[derive(Clone, Debug, Default)]
pub struct RegistryTarget {
    /// `host[:port]`.
    pub host: String,
    /// Optional repository prefix (no leading or trailing `/`).
    pub prefix: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// A CA bundle (PEM) that signs the registry's certificate.
    pub ca_file: Option<PathBuf>,
    /// A containers/docker auth file with credentials for the registry.
    pub auth_file: Option<PathBuf>,
    pub plain_http: bool,
    pub insecure_skip_tls_verify: bool,
}

impl RegistryTarget {
    /// Parse `HOST[:PORT][/PREFIX]` (a leading `oci://`, `docker://`, `https://` is accepted).
    pub fn parse(spec: &str) -> Result<RegistryTarget> {
        let trimmed = spec
            .trim()
            .trim_start_matches("oci://")
            .trim_start_matches("docker://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if trimmed.starts_with("http://") {
            bail!("--registry {spec:?}: use HOST[:PORT][/PREFIX] with --plain-http instead of an http:// URL");
        }
        let (host, prefix) = match trimmed.split_once('/') {
            Some((h, p)) => (h, Some(p.trim_matches('/').to_string()).filter(|p| !p.is_empty())),
            None => (trimmed, None),
        };
        let host_ok = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !host_ok {
            bail!("--registry {spec:?}: {host:?} is not a registry host (expected HOST[:PORT][/PREFIX], e.g. registry.local:5000/platform)");
        }
        if let Some(p) = &prefix {
            let ok = p.split('/').all(|c| {
                !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-'))
            });
            if !ok {
                bail!("--registry {spec:?}: prefix {p:?} must be lowercase path components separated by '/'");
            }
        }
        Ok(RegistryTarget { host: host.to_string(), prefix, ..Default::default() })
    }

    /// `host[:port][/prefix]`.
    pub fn base(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{}/{}", self.host, p),
            None => self.host.clone(),
        }
    }

    /// Check the options fit together (e.g. a password needs a username).
    pub fn validate(&self) -> Result<()> {
        if self.password.is_some() && self.username.is_none() {
            bail!("a registry password was given without --username");
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                bail!("--ca-file {}: no such file", ca.display());
            }
        }
        if let Some(a) = &self.auth_file {
            if !a.is_file() {
                bail!("--registry-auth-file {}: no such file", a.display());
            }
        }
        Ok(())
    }

    /// Whether TLS verification is off (plain HTTP or skipped verification).
    pub fn tls_verify(&self) -> bool {
        !(self.plain_http || self.insecure_skip_tls_verify)
    }
}

/// A directory holding only `ca.crt`, as skopeo's `--*-cert-dir` wants (any `*.key` file in
/// such a directory would be taken as a client certificate).
pub struct CertDir {
    dir: TempDir,
}

impl CertDir {
    pub fn for_ca(ca_file: &Path) -> Result<CertDir> {
        let dir = tempfile::Builder::new().prefix("kod-certs-").tempdir().context("creating a certificate directory")?;
        std::fs::copy(ca_file, dir.path().join("ca.crt"))
            .with_context(|| format!("reading --ca-file {}", ca_file.display()))?;
        Ok(CertDir { dir })
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Why a registry check failed, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {host} rejected the credentials{user} (HTTP 401 unauthorized); check --username and the password")]
    Unauthorized { host: String, user: String, #[source] source: ExecError },
    #[error("registry {host} denied access{user} (HTTP 403 forbidden): the credentials were accepted but do not allow pushing there; check the account's push permission for the repositories under --registry")]
    Forbidden { host: String, user: String, #[source] source: ExecError },
    #[error("registry {host} is not reachable: {reason}")]
    Unreachable { host: String, reason: String, #[source] source: ExecError },
    #[error("registry {host} did not answer within {seconds}s (the push timeout, --timeout); it may be overloaded or hung")]
    TimedOut { host: String, seconds: u64, #[source] source: ExecError },
    #[error("registry {host} answered with a server error ({reason}); check the registry's health and logs")]
    ServerError { host: String, reason: String, #[source] source: ExecError },
    #[error("the TLS certificate of registry {host} is not trusted ({reason}); pass --ca-file with the CA that signed it, or --insecure-skip-tls-verify")]
    Untrusted { host: String, reason: String, #[source] source: ExecError },
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl RegistryError {
    /// The failed command behind this error.
    pub fn exec_error(&self) -> &ExecError {
        match self {
            RegistryError::Unauthorized { source, .. }
            | RegistryError::Forbidden { source, .. }
            | RegistryError::Unreachable { source, .. }
            | RegistryError::TimedOut { source, .. }
            | RegistryError::ServerError { source, .. }
            | RegistryError::Untrusted { source, .. }
            | RegistryError::Exec(source) => source,
        }
    }
}

/// Whether `text` mentions the HTTP status `code` as a word of its own: a port such as
/// `:40183` must not read as 401, nor a digest such as `sha256:…ab401cd…` (skopeo lists the
/// blobs it copies) as 401.
pub fn has_status(text: &str, code: u16) -> bool {
    let code = code.to_string();
    text.match_indices(&code).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The `5xx Reason` a tool reported, if any (`503 Service Unavailable`).
fn server_error(text: &str) -> Option<String> {
    const REASONS: [&str; 5] = ["500 Internal Server Error", "501 Not Implemented", "502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout"];
    let lower = text.to_ascii_lowercase();
    REASONS.iter().find(|r| lower.contains(&r.to_ascii_lowercase())).map(|r| format!("HTTP {r}"))
}

/// Turn a failed login/push into a [`RegistryError`] by reading the tool's stderr.
pub fn classify(target: &RegistryTarget, err: ExecError) -> RegistryError {
    let host = target.host.clone();
    if let ExecError::TimedOut { seconds, .. } = &err {
        return RegistryError::TimedOut { host, seconds: *seconds, source: err };
    }
    let tail = err.stderr_tail().join("\n");
    let lower = tail.to_ascii_lowercase();
    let user = target.username.as_ref().map(|u| format!(" of user {u:?}")).unwrap_or_default();
    let for_user = target.username.as_ref().map(|u| format!(" to user {u:?}")).unwrap_or_default();
    let last = err.stderr_tail().last().cloned().unwrap_or_default();
    // The TLS cause first: an untrusted certificate also fails "authenticating creds".
    if lower.contains("x509") || lower.contains("certificate") {
        RegistryError::Untrusted { host, reason: last, source: err }
    } else if lower.contains("unauthorized")
        || has_status(&lower, 401)
        || lower.contains("authentication required")
        || lower.contains("invalid username/password")
    {
        RegistryError::Unauthorized { host, user, source: err }
    } else if lower.contains("denied: requested access")
        || (has_status(&lower, 403) && lower.contains("forbidden"))
    {
        RegistryError::Forbidden { host, user: for_user, source: err }
    } else if lower.contains("connection refused")
        || lower.contains("no such host")
        || lower.contains("i/o timeout")
        || lower.contains("server gave http response")
    {
        RegistryError::Unreachable { host, reason: last, source: err }
    } else if let Some(reason) = server_error(&tail) {
        RegistryError::ServerError { host, reason, source: err }
    } else {
        RegistryError::Exec(err)
    }
}

/// What [`check_login`] verified.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoginCheck {
    pub registry: String,
    /// The tools whose login succeeded (`skopeo`, `helm`).
    pub verified_with: Vec<String>,
    /// Why a tool was not checked, if one was not.
    pub skipped: Vec<String>,
}

/// Check that `target` is reachable and accepts the credentials, with skopeo and with
/// helm (the two tools that will push to it). Logins go to files in a temporary directory
/// that is removed afterwards: the user's own login state is neither read nor changed
/// (except that `--registry-auth-file` is read, from a copy).
pub async fn check_login(runner: &Runner, target: &RegistryTarget) -> Result<LoginCheck, RegistryError> {
    let io = |what: &str, e: std::io::Error| RegistryError::Exec(ExecError::Io { command: what.to_string(), source: e });
    let scratch = tempfile::Builder::new().prefix("kod-login-").tempdir().map_err(|e| io("creating a temporary directory", e))?;
    let cert_dir = match &target.ca_file {
        Some(ca) => Some(CertDir::for_ca(ca).map_err(|e| io(&format!("{e:#}"), std::io::Error::other("--ca-file")))?),
        None => None,
    };
    let mut check = LoginCheck { registry: target.host.clone(), verified_with: Vec::new(), skipped: Vec::new() };
    let authfile = scratch.path().join("auth.json");

    // skopeo
    let mut skopeo = Cmd::new(Tool::Skopeo).arg("login").arg("--authfile").arg(authfile.display().to_string());
    if !target.tls_verify() {
        skopeo = skopeo.arg("--tls-verify=false");
    }
    if let Some(d) = &cert_dir {
        skopeo = skopeo.arg("--cert-dir").arg(d.path().display().to_string());
    }
    let have_creds = match (&target.username, &target.password, &target.auth_file) {
        (Some(u), Some(p), _) => {
            skopeo = skopeo.args(["--username", u]).arg("--password-stdin").stdin_secret(p.expose().as_bytes().to_vec(), "registry password");
            true
        }
        (_, _, Some(auth)) => {
            // With no --username, `skopeo login` verifies the credentials stored in the auth file.
            std::fs::copy(auth, &authfile).map_err(|e| io(&format!("reading --registry-auth-file {}", auth.display()), e))?;
            true
        }
        _ => false,
    };
    if have_creds {
        skopeo = skopeo.arg(&target.host).timeout(std::time::Duration::from_secs(120));
        runner.run(&skopeo).await.map_err(|e| classify(target, e))?;
        check.verified_with.push("skopeo".into());
    } else {
        check.skipped.push("skopeo: no credentials given (anonymous registry)".into());
    }

    // helm (isolated registry config so the user's helm login state is untouched)
    match (&target.username, &target.password) {
        (Some(u), Some(p)) => {
            let mut helm = Cmd::new(Tool::Helm)
                .env("HELM_REGISTRY_CONFIG", scratch.path().join("helm-registry.json").display().to_string())
                .args(["registry", "login", &target.host]);
            if !target.tls_verify() {
                helm = helm.arg("--insecure");
            }
            if let Some(ca) = &target.ca_file {
                helm = helm.arg("--ca-file").arg(ca.display().to_string());
            }
            helm = helm
                .args(["--username", u])
                .arg("--password-stdin")
                .stdin_secret(p.expose().as_bytes().to_vec(), "registry password")
                .timeout(std::time::Duration::from_secs(120));
            runner.run(&helm).await.map_err(|e| classify(target, e))?;
            check.verified_with.push("helm".into());
        }
        _ => check.skipped.push("helm: needs --username and a password to log in".into()),
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_specs() {
        let t = RegistryTarget::parse("registry.local:5000/platform/prod").unwrap();
        assert_eq!(t.host, "registry.local:5000");
        assert_eq!(t.prefix.as_deref(), Some("platform/prod"));
        assert_eq!(t.base(), "registry.local:5000/platform/prod");
        let t = RegistryTarget::parse("oci://127.0.0.1:5000/").unwrap();
        assert_eq!((t.host.as_str(), t.prefix), ("127.0.0.1:5000", None));
        assert!(RegistryTarget::parse("http://x:5000").unwrap_err().to_string().contains("--plain-http"));
        assert!(RegistryTarget::parse("").is_err());
        assert!(RegistryTarget::parse("reg:5000/Upper").unwrap_err().to_string().contains("lowercase"));
        assert!(RegistryTarget::parse("reg:5000//x").is_ok());
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let t = RegistryTarget { password: Some(Secret::new("hunter22")), ..Default::default() };
        assert!(!format!("{t:?}").contains("hunter22"));
    }

    #[test]
    fn status_codes_are_whole_numbers() {
        assert!(has_status("received unexpected http status: 401 unauthorized", 401));
        assert!(has_status("status 401", 401));
        assert!(!has_status("pinging kod-registry.test:40183: x509: certificate signed by unknown authority", 401));
        assert!(!has_status("port 34290", 429));
        assert!(!has_status("copying blob sha256:9f0e401ab2", 401));
        assert!(has_status("status 401: unauthorized", 401) && has_status("(401)", 401));
        let t = RegistryTarget::parse("kod-registry.test:40183").unwrap();
        let err = ExecError::Failed {
            command: "skopeo login".into(),
            status: "exit code 1".into(),
            code: Some(1),
            stderr_tail: vec!["pinging container registry kod-registry.test:40183: Get \"https://kod-registry.test:40183/v2/\": x509: certificate signed by unknown authority".into()],
        };
        assert!(matches!(classify(&t, err), RegistryError::Untrusted { .. }));
    }

    fn failed(lines: &[&str]) -> ExecError {
        ExecError::Failed { command: "skopeo copy".into(), status: "exit code 1".into(), code: Some(1), stderr_tail: lines.iter().map(|l| l.to_string()).collect() }
    }

    #[test]
    fn push_failures_are_named() {
        let mut t = RegistryTarget::parse("reg.local:5000").unwrap();
        t.username = Some("ops".into());
        let e = classify(&t, failed(&["level=fatal msg=\"writing blob: initiating layer upload to /v2/site/a/blobs/uploads/ in reg.local:5000: denied: requested access to the resource is denied\""]));
        assert!(matches!(e, RegistryError::Forbidden { .. }), "{e}");
        assert!(e.to_string().starts_with("registry reg.local:5000 denied access to user \"ops\" (HTTP 403 forbidden)"), "{e}");
        let e = classify(&t, failed(&["level=fatal msg=\"writing blob: initiating layer upload to /v2/site/a/blobs/uploads/ in reg.local:5000: unauthorized: authentication required\""]));
        assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");
        let e = classify(&t, failed(&["level=fatal msg=\"writing blob: uploading layer chunked: received unexpected HTTP status: 503 Service Unavailable\""]));
        assert_eq!(e.to_string(), "registry reg.local:5000 answered with a server error (HTTP 503 Service Unavailable); check the registry's health and logs");
        let e = classify(&t, ExecError::TimedOut { command: "skopeo copy".into(), seconds: 7 });
        assert!(e.to_string().starts_with("registry reg.local:5000 did not answer within 7s"), "{e}");
        // A digest that happens to hold "403" is not a status.
        let e = classify(&t, failed(&["Copying blob sha256:ab403cd", "level=fatal msg=\"manifest invalid\""]));
        assert!(matches!(e, RegistryError::Exec(_)), "{e}");
    }

    #[test]
    fn password_needs_username() {
        let t = RegistryTarget { host: "h".into(), password: Some(Secret::new("p")), ..Default::default() };
        assert!(t.validate().unwrap_err().to_string().contains("--username"));
    }
}
