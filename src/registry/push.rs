//! Pushing a bundle's images and charts to the private registry.
//!
//! Images go with skopeo from a verified, unpacked bundle: for each image kod builds a small
//! `dir:` view (its manifest(s) plus links to its blobs in the bundle's OCI layout) and runs
//! `skopeo copy --all --preserve-digests dir:VIEW docker://TARGET`. skopeo asks the registry
//! for every blob first and sends only the missing ones, so re-runs cost nothing; images that
//! share a blob are not pushed at the same time while that blob is on its way (the first one
//! uploads it, the others then mount it from its repository), so a shared layer is sent once
//! however many pushes run in parallel. The digest the registry reports afterwards is checked
//! against the bundle's.
//! Credentials travel in a private auth file (mode 0600) in the work directory, never on a
//! command line. Charts go with `helm push` to `oci://HOST[/PREFIX]/charts`, after a
//! `helm registry login` into an isolated helm registry config.
//!
//! Target names keep the repository path under the optional prefix:
//! `docker.io/bitnami/redis:7.2` → `HOST/PREFIX/bitnami/redis:7.2`. When two source
//! registries hold the same path (`docker.io/library/nginx` and `quay.io/library/nginx`),
//! the images not from `docker.io` keep their registry as the first path component
//! (`HOST/PREFIX/quay.io/library/nginx`), so nothing is overwritten. See docs/rewrite.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde::Serialize;

use super::target::{classify, CertDir, RegistryTarget};
use crate::bundle::format::{Image, Manifest};
use crate::bundle::oci::{self, BlobDir, Descriptor};
use crate::bundle::sha256_hex;
use crate::exec::{bounded_by_keys, Cmd, ExecError, Runner, Tool};
use crate::image::reference::{parse_normalized_named, Reference};

/// Where each bundle image goes in the private registry.
pub fn target_names(images: &[String], target: &RegistryTarget) -> Result<BTreeMap<String, String>> {
    let parsed: Vec<(String, Reference)> = images
        .iter()
        .map(|s| parse_normalized_named(s).map(|r| (s.clone(), r)).map_err(|e| anyhow!("{e}")))
        .collect::<Result<_>>()?;
    // Paths that more than one source registry uses.
    let mut domains_by_path: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, r) in &parsed {
        domains_by_path.entry(r.path().to_string()).or_default().insert(r.domain().to_string());
    }
    let base = target.base();
    let mut out = BTreeMap::new();
    for (src, r) in parsed {
        let clash = domains_by_path[r.path()].len() > 1;
        let path = if clash && r.domain() != "docker.io" { format!("{}/{}", r.domain(), r.path()) } else { r.path().to_string() };
        let mut name = format!("{base}/{path}");
        match (r.tag(), r.digest()) {
            (Some(t), _) => name.push_str(&format!(":{t}")),
            (None, Some(d)) => name.push_str(&format!("@{d}")),
            (None, None) => name.push_str(":latest"),
        }
        out.insert(src, name);
    }
    Ok(out)
}

/// The outcome for one image.
#[derive(Clone, Debug, Serialize)]
pub struct PushedImage {
    pub source: String,
    pub target: String,
    pub digest: String,
}

/// The outcome for one chart.
#[derive(Clone, Debug, Serialize)]
pub struct PushedChart {
    pub name: String,
    pub version: String,
    pub target: String,
}

/// How long one push attempt of one image or chart may take by default (`--timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Attempts per image by default.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// Options for [`push_images`] and [`push_charts`].
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// The unpacked, verified bundle.
    pub bundle_dir: PathBuf,
    /// Scratch space for dir views, auth files and helm's registry config.
    pub work_dir: PathBuf,
    pub concurrency: usize,
    /// Attempts per image for transient failures (5xx, timeouts, resets).
    pub attempts: u32,
    /// The longest one attempt (one `skopeo copy`, `skopeo inspect`, `helm push`, `helm
    /// registry login`) may take before it is stopped: a hung registry fails, it does not hang.
    pub timeout: Duration,
    /// A helm registry config the caller already logged in (see [`helm_registry_config`]) and
    /// keeps; `None`: [`push_charts`] logs in for itself and removes the config afterwards.
    pub helm_registry_config: Option<PathBuf>,
}

impl PushOptions {
    /// The defaults for pushing the unpacked bundle `bundle_dir`, with scratch space in `work_dir`.
    pub fn new(bundle_dir: PathBuf, work_dir: PathBuf, concurrency: usize, timeout: Duration) -> PushOptions {
        PushOptions { bundle_dir, work_dir, concurrency, attempts: DEFAULT_ATTEMPTS, timeout, helm_registry_config: None }
    }
}

/// A file holding credentials, removed when dropped (whether the step worked or not).
pub struct CredentialFile(Option<PathBuf>);

impl Drop for CredentialFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Credentials for skopeo in a private auth file (0600), or none. A file kod writes is
/// removed when the returned guard drops; `--registry-auth-file` is used as it is.
pub(crate) fn auth_file(target: &RegistryTarget, work: &Path) -> Result<(Option<PathBuf>, CredentialFile)> {
    if let Some(f) = &target.auth_file {
        return Ok((Some(f.clone()), CredentialFile(None)));
    }
    let (Some(user), Some(pass)) = (&target.username, &target.password) else { return Ok((None, CredentialFile(None))) };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", pass.expose()));
    let json = serde_json::json!({ "auths": { target.host.clone(): { "auth": token } } });
    let path = work.join("auth.json");
    write_private(&path, &serde_json::to_vec(&json)?)?;
    Ok((Some(path.clone()), CredentialFile(Some(path))))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

/// Everything a push of `image` reads from the bundle's blobs: its manifest(s), configs and
/// layers.
pub fn image_closure(blobs: &Path, image: &Image) -> Result<Vec<Descriptor>> {
    let top = Descriptor { media_type: image.media_type.clone(), digest: image.digest.clone(), size: 0, platform: None, annotations: Default::default() };
    oci::closure(&BlobDir(blobs), &top).with_context(|| format!("reading the blobs of {}", image.source))
}

/// Whether a push may upload `d` as a blob (a config or a layer; manifests are put, not
/// uploaded).
pub fn is_uploaded_blob(d: &Descriptor) -> bool {
    !oci::is_manifest(&d.media_type) && !oci::is_index(&d.media_type)
}

/// A `dir:` view of one image (`closure`: its [`image_closure`]): its manifests as files and
/// links to its blobs.
fn dir_view(blobs: &Path, image: &Image, closure: &[Descriptor], view: &Path) -> Result<()> {
    if view.exists() {
        std::fs::remove_dir_all(view)?;
    }
    std::fs::create_dir_all(view)?;
    std::fs::write(view.join("version"), "Directory Transport Version: 1.1\n")?;
    for d in closure {
        let src = oci::blob_path(blobs, &d.digest)?;
        let hex = oci::digest_hex(&d.digest)?;
        if d.digest == image.digest {
            std::fs::copy(&src, view.join("manifest.json"))?;
        } else if !is_uploaded_blob(d) {
            std::fs::copy(&src, view.join(format!("{hex}.manifest.json")))?;
        } else {
            // An absolute target: a relative one would resolve against the view directory.
            let src = std::path::absolute(&src)?;
            std::os::unix::fs::symlink(&src, view.join(hex)).with_context(|| format!("linking {}", src.display()))?;
        }
    }
    Ok(())
}

/// Whether a failed attempt is worth another one: server errors (5xx), rate limits, resets,
/// timeouts (a stopped attempt included), not credentials or permissions.
fn transient(e: &ExecError) -> bool {
    if matches!(e, ExecError::TimedOut { .. }) {
        return true;
    }
    let t = e.stderr_tail().join("\n").to_ascii_lowercase();
    ["500 internal", "502 bad gateway", "503 service", "504 gateway", "connection reset", "i/o timeout", "eof", "timeout", "too many requests"]
        .iter()
        .any(|p| t.contains(p))
        || super::target::has_status(&t, 429)
}

/// The pause before attempt `attempt + 1`: 2 s, 4 s, 8 s … (at most 32 s).
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.clamp(1, 5))
}

/// Push every image of the bundle; results in the bundle's order.
///
/// Transient failures are retried (`opts.attempts` in all, with [`backoff`]); the first
/// failure that is not (or that used up its attempts) stops the images not yet started, and
/// the error names it. What was pushed stays in the registry: a re-run sends only what is
/// missing (skopeo asks the registry for every blob first).
pub async fn push_images(runner: &Runner, manifest: &Manifest, target: &RegistryTarget, opts: &PushOptions) -> Result<Vec<PushedImage>> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let names = target_names(&manifest.images.iter().map(|i| i.source.clone()).collect::<Vec<_>>(), target)?;
    let (auth, _auth_guard) = auth_file(target, &opts.work_dir)?;
    let cert_dir = match &target.ca_file {
        Some(ca) => Some(CertDir::for_ca(ca)?),
        None => None,
    };
    let blobs = opts.bundle_dir.join("images/blobs");
    let views = opts.work_dir.join("views");
    let policy = crate::image::fetch::skopeo_policy(&opts.work_dir)?;
    let failed = std::sync::atomic::AtomicBool::new(false);
    let bar = runner.ui().progress_bar(manifest.images.len() as u64, "images");
    // Images that share a blob do not push at the same time while it is on its way: the first
    // uploads it, the later ones mount it (skopeo's blob-info cache knows where it went)
    // instead of sending it again in parallel.
    let keyed = manifest
        .images
        .iter()
        .map(|image| {
            let closure = image_closure(&blobs, image)?;
            let keys = closure.iter().filter(|d| is_uploaded_blob(d)).map(|d| d.digest.clone()).collect();
            Ok(((image, closure), keys))
        })
        .collect::<Result<Vec<_>>>()?;
    let results = bounded_by_keys(keyed, opts.concurrency, |(image, closure)| {
        let bar = &bar;
        let names = &names;
        let auth = auth.as_deref();
        let cert = cert_dir.as_ref().map(|c| c.path().to_path_buf());
        let blobs = &blobs;
        let views = &views;
        let policy = &policy;
        let failed = &failed;
        async move {
            if failed.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(None);
            }
            let result = push_image(runner, target, opts, image, &closure, &names[&image.source], blobs, views, policy, auth, cert.as_deref()).await;
            bar.inc(1);
            if result.is_err() {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            result.map(Some)
        }
    })
    .await;
    bar.finish_and_clear();
    let pushed = results.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
    let not_started = results.iter().filter(|r| matches!(r, Ok(None))).count();
    let failures = results.len() - pushed - not_started;
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok(Some(p)) => out.push(p),
            Ok(None) => {}
            Err(e) => {
                runner.ui().warn(format!(
                    "{pushed} of {} image(s) pushed, {failures} failed, {not_started} not started; a re-run sends only what the registry does not have",
                    manifest.images.len()
                ));
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// One image: `skopeo copy` with retries, then the digest check.
#[allow(clippy::too_many_arguments)]
async fn push_image(
    runner: &Runner,
    target: &RegistryTarget,
    opts: &PushOptions,
    image: &Image,
    closure: &[Descriptor],
    dest: &str,
    blobs: &Path,
    views: &Path,
    policy: &Path,
    auth: Option<&Path>,
    cert: Option<&Path>,
) -> Result<PushedImage> {
    let view = views.join(&sha256_hex(image.source.as_bytes())[..32]);
    dir_view(blobs, image, closure, &view).with_context(|| format!("preparing {}", image.source))?;
    let mut cmd = Cmd::new(Tool::Skopeo)
        .args(["copy", "--all", "--preserve-digests", "--retry-times", "3"])
        .arg("--policy")
        .arg(policy.display().to_string());
    if let Some(a) = auth {
        cmd = cmd.arg("--dest-authfile").arg(a.display().to_string());
    }
    if let Some(c) = cert {
        cmd = cmd.arg("--dest-cert-dir").arg(c.display().to_string());
    }
    if !target.tls_verify() {
        cmd = cmd.arg("--dest-tls-verify=false");
    }
    cmd = cmd.arg(format!("dir:{}", view.display())).arg(format!("docker://{dest}")).timeout(opts.timeout);
    let mut attempt = 1;
    loop {
        match runner.run(&cmd).await {
            Ok(_) => break,
            Err(e) if attempt < opts.attempts && transient(&e) => {
                let why = match &e {
                    ExecError::TimedOut { seconds, .. } => format!("no answer within {seconds}s"),
                    _ => e.stderr_tail().last().cloned().unwrap_or_default(),
                };
                let pause = backoff(attempt);
                runner.ui().warn(format!(
                    "push of {} failed ({why}); retrying in {}s ({attempt}/{})",
                    image.source,
                    pause.as_secs(),
                    opts.attempts - 1
                ));
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            Err(e) => {
                let tries = if attempt > 1 { format!(" (gave up after {attempt} attempts)") } else { String::new() };
                return Err(anyhow::Error::new(classify(target, e)).context(format!("pushing {} to {dest}{tries}", image.source)));
            }
        }
    }
    let digest = if runner.dry_run() { image.digest.clone() } else { remote_digest(runner, target, auth, cert, dest, opts.timeout).await? };
    if digest != image.digest {
        bail!("pushed {} to {dest} but the registry reports {digest}, not the bundle's {}", image.source, image.digest);
    }
    let _ = std::fs::remove_dir_all(&view);
    Ok(PushedImage { source: image.source.clone(), target: dest.to_string(), digest })
}

/// The digest the registry serves for `dest` (sha256 of the raw manifest).
pub async fn remote_digest(runner: &Runner, target: &RegistryTarget, auth: Option<&Path>, cert: Option<&Path>, dest: &str, timeout: Duration) -> Result<String> {
    let mut cmd = Cmd::new(Tool::Skopeo).args(["inspect", "--raw", "--retry-times", "3"]);
    if let Some(a) = auth {
        cmd = cmd.arg("--authfile").arg(a.display().to_string());
    }
    if let Some(c) = cert {
        cmd = cmd.arg("--cert-dir").arg(c.display().to_string());
    }
    if !target.tls_verify() {
        cmd = cmd.arg("--tls-verify=false");
    }
    let out = runner
        .run(&cmd.arg(format!("docker://{dest}")).read_only().capture().timeout(timeout))
        .await
        .map_err(|e| anyhow::Error::new(classify(target, e)))?;
    Ok(format!("sha256:{}", sha256_hex(out.stdout.trim_end_matches('\n').as_bytes())))
}

/// `oci://HOST[/PREFIX]/charts`.
pub fn charts_repository(target: &RegistryTarget) -> String {
    format!("oci://{}/charts", target.base())
}

/// A helm registry config (`HELM_REGISTRY_CONFIG`) in `work_dir` holding the target's
/// credentials: `helm registry login` with the user and password (password on stdin), or a
/// copy of `--registry-auth-file`; without credentials an empty config. The file is removed
/// when the returned guard drops.
pub async fn helm_registry_config(runner: &Runner, target: &RegistryTarget, work_dir: &Path, timeout: Duration) -> Result<(PathBuf, CredentialFile)> {
    std::fs::create_dir_all(work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    let registry_config = work_dir.join("helm-registry.json");
    let guard = CredentialFile(Some(registry_config.clone()));
    if let (Some(user), Some(pass)) = (&target.username, &target.password) {
        let mut login = Cmd::new(Tool::Helm)
            .env("HELM_REGISTRY_CONFIG", registry_config.display().to_string())
            .args(["registry", "login", &target.host, "--username", user, "--password-stdin"]);
        if let Some(ca) = &target.ca_file {
            login = login.arg("--ca-file").arg(ca.display().to_string());
        }
        if !target.tls_verify() {
            login = login.arg("--insecure");
        }
        runner
            .run(&login.stdin_secret(pass.expose().as_bytes().to_vec(), "registry password").timeout(timeout))
            .await
            .map_err(|e| anyhow::Error::new(classify(target, e)))?;
    } else if let Some(auth) = &target.auth_file {
        std::fs::copy(auth, &registry_config).with_context(|| format!("reading --registry-auth-file {}", auth.display()))?;
    } else if !registry_config.exists() {
        write_private(&registry_config, b"{\"auths\":{}}")?;
    }
    Ok((registry_config, guard))
}

/// Push every chart of the bundle with `helm push`.
pub async fn push_charts(runner: &Runner, manifest: &Manifest, target: &RegistryTarget, opts: &PushOptions) -> Result<Vec<PushedChart>> {
    // helm keeps the login here: a config of our own is removed again however the push ends.
    let (registry_config, _registry_config_guard) = match &opts.helm_registry_config {
        Some(config) => (config.clone(), None),
        None => {
            let (config, guard) = helm_registry_config(runner, target, &opts.work_dir, opts.timeout).await?;
            (config, Some(guard))
        }
    };
    let helm_env = |cmd: Cmd| cmd.env("HELM_REGISTRY_CONFIG", registry_config.display().to_string());
    let repo = charts_repository(target);
    let mut out = Vec::new();
    for chart in &manifest.charts {
        let file = opts.bundle_dir.join(&chart.file);
        let mut cmd = helm_env(Cmd::new(Tool::Helm)).arg("push").arg(file.display().to_string()).arg(&repo);
        if let Some(ca) = &target.ca_file {
            cmd = cmd.arg("--ca-file").arg(ca.display().to_string());
        }
        if target.insecure_skip_tls_verify {
            cmd = cmd.arg("--insecure-skip-tls-verify");
        }
        if target.plain_http {
            cmd = cmd.arg("--plain-http");
        }
        runner
            .run(&cmd.timeout(opts.timeout))
            .await
            .map_err(|e| anyhow::Error::new(classify(target, e)).context(format!("pushing chart {} {}", chart.name, chart.version)))?;
        out.push(PushedChart { name: chart.name.clone(), version: chart.version.clone(), target: format!("{repo}/{}:{}", chart.name, chart.version) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_keep_paths_and_resolve_clashes() {
        let t = RegistryTarget::parse("reg.local:5000/platform").unwrap();
        let names = target_names(
            &[
                "docker.io/bitnami/redis:7.2".to_string(),
                "docker.io/library/nginx:1.27".to_string(),
                "quay.io/library/nginx:1.27".to_string(),
                "registry.k8s.io/ingress-nginx/controller:v1.11.0@sha256:".to_string() + &"a".repeat(64),
                "ghcr.io/x/y@sha256:".to_string() + &"b".repeat(64),
            ],
            &t,
        )
        .unwrap();
        assert_eq!(names["docker.io/bitnami/redis:7.2"], "reg.local:5000/platform/bitnami/redis:7.2");
        assert_eq!(names["docker.io/library/nginx:1.27"], "reg.local:5000/platform/library/nginx:1.27");
        assert_eq!(names["quay.io/library/nginx:1.27"], "reg.local:5000/platform/quay.io/library/nginx:1.27");
        assert!(names.values().any(|v| v == "reg.local:5000/platform/ingress-nginx/controller:v1.11.0"));
        assert!(names.values().any(|v| v.starts_with("reg.local:5000/platform/x/y@sha256:bbbb")));
    }

    #[test]
    fn backoff_doubles_up_to_32s() {
        let secs: Vec<u64> = (1..=7).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 32, 32, 32]);
    }

    #[test]
    fn credentials_go_to_a_private_auth_file() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mut t = RegistryTarget::parse("reg:5000").unwrap();
        t.username = Some("u".into());
        t.password = Some(super::super::Secret::new("p4ss"));
        let (f, guard) = auth_file(&t, d.path()).unwrap();
        let f = f.unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert_eq!(v["auths"]["reg:5000"]["auth"], base64::engine::general_purpose::STANDARD.encode("u:p4ss"));
        drop(guard);
        assert!(!f.exists(), "the credentials file outlived the push");
    }
}

/// What [`push_bundle`] did.
#[derive(Clone, Debug, Serialize)]
pub struct PushReport {
    pub registry: String,
    pub images: Vec<PushedImage>,
    pub charts: Vec<PushedChart>,
}

/// Verify and unpack `bundle` into `work_dir/bundles/` once (a later run reuses the
/// verified copy of the same bundle). Returns the manifest and the unpacked directory.
pub fn open_bundle(runner: &Runner, bundle: &Path, work_dir: &Path) -> Result<(Manifest, PathBuf)> {
    let ui = runner.ui();
    let manifest = crate::bundle::read::read_manifest(bundle)?;
    let key = sha256_hex(serde_json::to_string(&manifest)?.as_bytes());
    let unpacked = work_dir.join("bundles").join(&key[..32]);
    let marker = unpacked.join(".kod-verified");
    if marker.is_file() {
        ui.info(format!("using the verified copy of {} in {}", bundle.display(), unpacked.display()));
    } else {
        if unpacked.exists() {
            std::fs::remove_dir_all(&unpacked).with_context(|| format!("clearing {}", unpacked.display()))?;
        }
        ui.info(format!("verifying and unpacking {}", bundle.display()));
        let (_, report) = crate::bundle::read::unpack(bundle, &unpacked)?;
        if !report.ok {
            let mut msg = format!("{} failed verification; nothing was pushed:", bundle.display());
            for p in &report.problems {
                msg.push_str(&format!("\n  - {p}"));
            }
            bail!(msg);
        }
        std::fs::write(&marker, "verified\n")?;
    }
    Ok((manifest, unpacked))
}

/// Push every image and chart of an opened bundle (see [`open_bundle`]) to `target`.
pub async fn push_all(runner: &Runner, manifest: &Manifest, target: &RegistryTarget, opts: &PushOptions) -> Result<PushReport> {
    let ui = runner.ui();
    ui.info(format!("pushing {} image(s) to {}", manifest.images.len(), target.base()));
    let images = push_images(runner, manifest, target, opts).await?;
    ui.info(format!("pushing {} chart(s) to {}", manifest.charts.len(), charts_repository(target)));
    let charts = push_charts(runner, manifest, target, opts).await?;
    Ok(PushReport { registry: target.base(), images, charts })
}

/// Verify and unpack `bundle` (see [`open_bundle`]), then push every image and chart to
/// `target` ([`push_all`]).
pub async fn push_bundle(
    runner: &Runner,
    bundle: &Path,
    target: &RegistryTarget,
    work_dir: &Path,
    concurrency: usize,
    timeout: Duration,
) -> Result<(Manifest, PushReport)> {
    let (manifest, unpacked) = open_bundle(runner, bundle, work_dir)?;
    let opts = PushOptions::new(unpacked, work_dir.join("push"), concurrency, timeout);
    let report = push_all(runner, &manifest, target, &opts).await?;
    Ok((manifest, report))
}
