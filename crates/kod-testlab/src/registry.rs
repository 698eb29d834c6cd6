//! A real CNCF distribution registry on `127.0.0.1:<ephemeral>`.

use crate::process::{pid_alive, ChildGuard};
use crate::tls::{find_tls_host, write_file, TlsMaterial};
use crate::tools::Tool;
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Accept header covering OCI and Docker manifests and indexes.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// How long to wait for a freshly started registry to answer `GET /v2/`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at starting on a fresh ephemeral port.
const START_ATTEMPTS: usize = 4;

/// How to start a [`Registry`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Serve HTTPS with a certificate from a lab-generated CA.
    pub tls: bool,
    /// Require htpasswd (bcrypt) basic authentication with this user/password.
    pub auth: Option<(String, String)>,
}

impl RegistryOptions {
    /// Plain HTTP, no auth.
    pub fn plain() -> Self {
        Self::default()
    }
    /// HTTPS, no auth.
    pub fn tls() -> Self {
        RegistryOptions {
            tls: true,
            auth: None,
        }
    }
    /// Add htpasswd authentication.
    pub fn with_auth(mut self, user: &str, password: &str) -> Self {
        self.auth = Some((user.to_string(), password.to_string()));
        self
    }
}

/// A running distribution registry; killed and its storage removed on drop.
///
/// ```no_run
/// use kod_testlab::{Registry, RegistryOptions};
/// let reg = Registry::start(RegistryOptions::tls().with_auth("kod", "s3cret"))?;
/// // skopeo: --dest-cert-dir reg.cert_dir() --dest-creds kod:s3cret docker://{reg.host()}/...
/// // helm:   helm push x.tgz oci://{reg.helm_host()}/charts --ca-file {reg.ca_file()}
/// assert!(reg.catalog()?.is_empty());
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct Registry {
    child: ChildGuard,
    port: u16,
    tls: Option<TlsMaterial>,
    tls_host: Option<String>,
    auth: Option<(String, String)>,
    agent: ureq::Agent,
    dir: TempDir,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url())
            .field("pid", &self.pid())
            .field("tls_host", &self.tls_host)
            .field("auth", &self.auth.as_ref().map(|a| &a.0))
            .finish()
    }
}

fn pick_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    drop(l);
    if port == 8080 {
        // helm with an empty kubeconfig talks to localhost:8080; never occupy it.
        return pick_port();
    }
    Ok(port)
}

impl Registry {
    /// Start a registry (binary located with [`Tool::Registry`]).
    pub fn start(opts: RegistryOptions) -> Result<Registry> {
        Self::start_with_binary(&Tool::Registry.locate()?, opts)
    }

    /// Start using an explicit registry binary.
    pub fn start_with_binary(binary: &Path, opts: RegistryOptions) -> Result<Registry> {
        let dir = tempfile::Builder::new()
            .prefix("kod-lab-registry-")
            .tempdir()?;
        let root = dir.path();
        std::fs::create_dir_all(root.join("storage"))?;

        let (tls, tls_host) = if opts.tls {
            let host = find_tls_host()?;
            let sans = vec![
                host.clone(),
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ];
            let m = TlsMaterial::generate(&sans)?;
            // cert dir for skopeo: ONLY ca.crt (a *.key there is taken as a client cert).
            write_file(&root.join("certs/ca.crt"), &m.ca_pem)?;
            write_file(&root.join("server/server.crt"), &m.server_cert_pem)?;
            write_file(&root.join("server/server.key"), &m.server_key_pem)?;
            (Some(m), Some(host))
        } else {
            (None, None)
        };
        if let Some((user, pass)) = &opts.auth {
            if user.contains(':') {
                bail!("htpasswd user name must not contain ':'");
            }
            let h = bcrypt::hash_with_result(pass, 5)?.format_for_version(bcrypt::Version::TwoY);
            write_file(&root.join("auth/htpasswd"), &format!("{user}:{h}\n"))?;
        }

        let agent = build_agent(tls.as_ref())?;
        let mut last_err = anyhow!("registry did not start");
        for attempt in 0..START_ATTEMPTS {
            let port = pick_port()?;
            let id = format!(
                "{}-{attempt}",
                root.file_name().unwrap_or_default().to_string_lossy()
            );
            let config = registry_config(root, port, tls.is_some(), opts.auth.is_some(), &id);
            let cfg_path = root.join("config.yml");
            std::fs::write(&cfg_path, config)?;
            let log_path = root.join(format!("registry-{attempt}.log"));
            let log = std::fs::File::create(&log_path)?;
            let mut cmd = Command::new(binary);
            cmd.arg("serve").arg(&cfg_path);
            // distribution reads REGISTRY_* variables as config overrides
            // (e.g. an exported REGISTRY_AUTH_FILE breaks it): drop them all.
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(&k);
                }
            }
            cmd.env("OTEL_TRACES_EXPORTER", "none")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .current_dir(root);
            let child = cmd
                .spawn()
                .with_context(|| format!("cannot start registry `{}`", binary.display()))?;
            let mut child = ChildGuard::new(child);
            let scheme = if tls.is_some() { "https" } else { "http" };
            let url = format!("{scheme}://127.0.0.1:{port}/v2/");
            match wait_ready(&mut child, &agent, &url, opts.auth.is_some(), &id) {
                Ok(()) => {
                    return Ok(Registry {
                        child,
                        port,
                        tls,
                        tls_host,
                        auth: opts.auth.clone(),
                        agent,
                        dir,
                    })
                }
                Err(e) => {
                    child.stop();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                    last_err = e.context(format!("registry log tail:\n{tail}"));
                }
            }
        }
        Err(last_err.context(format!(
            "registry failed to start after {START_ATTEMPTS} attempts"
        )))
    }

    /// `127.0.0.1:PORT` — the address for skopeo and HTTP clients.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// Address for helm: `ALIAS:PORT` for TLS registries (helm forces plain
    /// HTTP on loopback IPs/`localhost`), `127.0.0.1:PORT` otherwise.
    pub fn helm_host(&self) -> String {
        match &self.tls_host {
            Some(h) => format!("{h}:{}", self.port),
            None => self.host(),
        }
    }
    /// The loopback alias used in [`Registry::helm_host`] (TLS only).
    pub fn tls_host_alias(&self) -> Option<&str> {
        self.tls_host.as_deref()
    }
    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.is_tls() { "https" } else { "http" },
            self.host()
        )
    }
    /// Whether the registry serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
    /// Whether authentication is required.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }
    /// htpasswd user, if auth is on.
    pub fn username(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.0.as_str())
    }
    /// htpasswd password, if auth is on.
    pub fn password(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.1.as_str())
    }
    /// `user:password` for skopeo `--creds`/`--dest-creds`.
    pub fn creds(&self) -> Option<String> {
        self.auth.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }
    /// Directory holding only `ca.crt` (skopeo `--cert-dir`/`--dest-cert-dir`). TLS only.
    pub fn cert_dir(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|_| self.dir.path().join("certs"))
    }
    /// Path of the CA certificate PEM (helm `--ca-file`). TLS only.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.cert_dir().map(|d| d.join("ca.crt"))
    }
    /// CA certificate PEM text. TLS only.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }
    /// CA certificate DER bytes (e.g. for [`rustls_config`]). TLS only.
    pub fn ca_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|t| t.ca_der.as_slice())
    }
    /// pid of the registry process (to check it is gone after drop).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
    /// Whether the registry process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().is_none() && pid_alive(self.pid())
    }
    /// Lab temp dir of this registry (storage, certs, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// The registry's log text (stdout+stderr of the current process).
    pub fn log(&self) -> String {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().map(|e| e == "log").unwrap_or(false))
            .collect();
        files.sort();
        files
            .last()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    // ---------------------------------------------------------------- HTTP API

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let mut r = self
            .agent
            .request(method, &format!("{}{}", self.url(), path))
            .timeout(Duration::from_secs(15));
        if let Some((u, p)) = &self.auth {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            r = r.set("Authorization", &format!("Basic {b}"));
        }
        r
    }

    /// `GET /v2/_catalog` (following `Link` pagination): all repository names, sorted.
    pub fn catalog(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut path = "/v2/_catalog?n=1000".to_string();
        for _ in 0..1000 {
            let r = self.request("GET", &path).call().map_err(http_err)?;
            let next = r.header("Link").and_then(|l| l.split(';').next()).map(|l| {
                l.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            });
            let v: serde_json::Value = serde_json::from_str(&r.into_string()?)?;
            out.extend(
                v["repositories"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(String::from)),
            );
            match next {
                Some(n) if !n.is_empty() => path = n,
                _ => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// `GET /v2/<repo>/tags/list` (sorted; empty if the repository is unknown).
    pub fn tags(&self, repo: &str) -> Result<Vec<String>> {
        let v: serde_json::Value =
            match self.request("GET", &format!("/v2/{repo}/tags/list")).call() {
                Ok(r) => r
                    .into_string()
                    .map(|s| serde_json::from_str::<serde_json::Value>(&s))??,
                Err(ureq::Error::Status(404, _)) => return Ok(vec![]),
                Err(e) => return Err(http_err(e)),
            };
        let mut out: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        Ok(out)
    }

    /// `Docker-Content-Digest` of a manifest or index (`reference` = tag or digest).
    pub fn manifest_digest(&self, repo: &str, reference: &str) -> Result<String> {
        let r = self
            .request("HEAD", &format!("/v2/{repo}/manifests/{reference}"))
            .set("Accept", MANIFEST_ACCEPT)
            .call()
            .map_err(http_err)
            .with_context(|| format!("HEAD manifest {repo}:{reference}"))?;
        r.header("Docker-Content-Digest")
            .map(String::from)
            .ok_or_else(|| anyhow!("no Docker-Content-Digest for {repo}:{reference}"))
    }

    /// Fetch a manifest or index: `(media type, raw bytes)`.
    pub fn manifest(&self, repo: &str, reference: &str) -> Result<(String, Vec<u8>)> {
        let r = self
            .request("GET", &format!("/v2/{repo}/manifests/{reference}"))
            .set("Accept", MANIFEST_ACCEPT)
            .call()
            .map_err(http_err)
            .with_context(|| format!("GET manifest {repo}:{reference}"))?;
        let mt = r.content_type().to_string();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut body)?;
        Ok((mt, body))
    }

    /// Whether `HEAD /v2/<repo>/blobs/<digest>` succeeds.
    pub fn blob_exists(&self, repo: &str, digest: &str) -> Result<bool> {
        match self
            .request("HEAD", &format!("/v2/{repo}/blobs/{digest}"))
            .call()
        {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(e) => Err(http_err(e)),
        }
    }

    /// Digests (`sha256:…`) of all blobs in the registry's filesystem storage.
    /// Content-addressed: a layer shared by many images appears once.
    pub fn stored_blobs(&self) -> Result<Vec<String>> {
        let base = self
            .dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256");
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&base) {
            for pre in rd.flatten() {
                for b in std::fs::read_dir(pre.path())?.flatten() {
                    if b.path().join("data").is_file() {
                        out.push(format!("sha256:{}", b.file_name().to_string_lossy()));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stop the registry now (also done on drop).
    pub fn stop(&mut self) {
        self.child.stop();
    }
}

/// Response header carrying a per-instance id, so that start-up never mistakes
/// another process that won the race for the same port for ours.
const ID_HEADER: &str = "X-Kod-Lab-Id";

fn wait_ready(
    child: &mut ChildGuard,
    agent: &ureq::Agent,
    url: &str,
    auth: bool,
    id: &str,
) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(st) = child.try_wait() {
            bail!("registry exited during start-up ({st})");
        }
        let resp = match agent.get(url).timeout(Duration::from_millis(500)).call() {
            Ok(r) => Some(r),
            Err(ureq::Error::Status(401, r)) if auth => Some(r),
            Err(ureq::Error::Status(code, _)) => bail!("GET {url} answered {code}"),
            Err(_) => None,
        };
        if let Some(r) = resp {
            if r.header(ID_HEADER) == Some(id) {
                return Ok(());
            }
            bail!("another server answered on {url} (port taken)");
        }
        if Instant::now() >= deadline {
            bail!("registry did not answer {url} within {START_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(40));
    }
}

fn http_err(e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::Status(code, r) => {
            let url = r.get_url().to_string();
            let body = r.into_string().unwrap_or_default();
            anyhow!("HTTP {code} from {url}: {}", body.trim())
        }
        other => anyhow!(other),
    }
}

fn build_agent(tls: Option<&TlsMaterial>) -> Result<ureq::Agent> {
    let mut b = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .redirects(5);
    if let Some(m) = tls {
        b = b.tls_config(rustls_config(&m.ca_der)?);
    }
    Ok(b.build())
}

/// A rustls client config trusting only the given CA (DER).
pub fn rustls_config(ca_der: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .context("add lab CA to root store")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

fn registry_config(root: &Path, port: u16, tls: bool, auth: bool, id: &str) -> String {
    let mut s = format!(
        "version: 0.1\n\
log:\n  level: warn\n  accesslog:\n    disabled: true\n\
storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
maintenance:\n    uploadpurging:\n      enabled: false\n\
http:\n  addr: 127.0.0.1:{port}\n  secret: kod-testlab-not-a-secret\n  \
headers:\n    X-Content-Type-Options: [nosniff]\n    {ID_HEADER}: [\"{id}\"]\n",
        storage = root.join("storage").display()
    );
    if tls {
        s.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            root.join("server/server.crt").display(),
            root.join("server/server.key").display()
        ));
    }
    if auth {
        s.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: kod-testlab\n    path: {}\n",
            root.join("auth/htpasswd").display()
        ));
    }
    s
}
