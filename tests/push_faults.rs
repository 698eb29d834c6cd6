//! `kod helmfile push` against a registry that misbehaves: a fault-injecting proxy
//! (`kod_testlab::FaultProxy`) sits between kod and a plain-HTTP lab registry and answers
//! 5xx, 401, 403, stalls, goes down — and kod is killed with SIGKILL midway. Each test
//! states the exact outcome: the error text, the exit code, and what is left behind (in the
//! registry, in the work directory, in the process table).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;

use kod::bundle::format::Manifest;
use kod::image::reference::parse_normalized_named;
use kod_testlab::{FaultProxy, FaultRule, HttpFault, ImageSpec, LayerSpec, PublicRegistry, Registry, RegistryOptions, Tools};

const USER: &str = "offline-ops";
const PASSWORD: &str = "Air-Gapped-2026";

/// Six images: two base layers shared three ways, an own layer each (`own` bytes).
fn images(own: usize) -> Vec<ImageSpec> {
    let names = [
        "docker.io/bitnami/redis:7.2.4",
        "docker.io/bitnami/postgresql:16.3.0",
        "docker.io/bitnami/mongodb:8.0.13",
        "quay.io/jetstack/cert-manager-controller:v1.21.1",
        "quay.io/jetstack/cert-manager-webhook:v1.21.1",
        "ghcr.io/example/app:1.0.0",
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let base = if i < 3 { "debian-12" } else { "distroless" };
            ImageSpec::new(n).layers(vec![LayerSpec::base_sized(base, 256 * 1024), LayerSpec::own_salted(own, n)])
        })
        .collect()
}

/// A bundle of `specs` (fetched from the lab's public stand-in) and one chart.
struct Bundle {
    path: PathBuf,
    manifest: Manifest,
    _public: PublicRegistry,
}

async fn bundle(work: &Path, specs: &[ImageSpec]) -> Bundle {
    let public = PublicRegistry::start_with_images(specs).unwrap();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let (path, manifest) = common::lab_bundle(work, public.registries_conf(), &names, "faults.kod.tar").await;
    Bundle { path, manifest, _public: public }
}

/// `kod` with the lab's tools.
fn kod() -> assert_cmd::Command {
    let tools = Tools::find().unwrap();
    let mut c = assert_cmd::Command::cargo_bin("kod").unwrap();
    c.env("KOD_HELM", &tools.helm).env("KOD_SKOPEO", &tools.skopeo).env_remove("KOD_REGISTRY_PASSWORD");
    c
}

/// `helmfile push BUNDLE --registry HOST/site --plain-http --workdir WORK [creds]`.
fn push_args(bundle: &Path, host: &str, workdir: &Path, creds: bool) -> Vec<String> {
    let mut v: Vec<String> = vec!["--no-progress".into(), "helmfile".into(), "push".into(), bundle.display().to_string()];
    v.extend(["--registry".to_string(), format!("{host}/site"), "--plain-http".into()]);
    v.extend(["--workdir".to_string(), workdir.display().to_string()]);
    if creds {
        v.extend(["--username".to_string(), USER.into(), "--password-stdin".into()]);
    }
    v
}

/// A registry with htpasswd auth behind a fault proxy, and the bundle.
struct Site {
    bundle: Bundle,
    registry: Registry,
    proxy: FaultProxy,
    work: tempfile::TempDir,
}

async fn site(own: usize) -> Site {
    let work = tempfile::tempdir().unwrap();
    let bundle = bundle(work.path(), &images(own)).await;
    let registry = Registry::start(RegistryOptions::plain().with_auth(USER, PASSWORD)).unwrap();
    let proxy = FaultProxy::start(&registry).unwrap();
    Site { bundle, registry, proxy, work }
}

impl Site {
    fn workdir(&self) -> PathBuf {
        self.work.path().join("offline")
    }
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a = push_args(&self.bundle.path, &self.proxy.host(), &self.workdir(), true);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
    /// `site/<path>` and the tag of each bundle image in the registry.
    fn targets(&self) -> Vec<(String, String, String)> {
        self.bundle
            .manifest
            .images
            .iter()
            .map(|i| {
                let r = parse_normalized_named(&i.source).unwrap();
                (format!("site/{}", r.path()), r.tag().unwrap().to_string(), i.digest.clone())
            })
            .collect()
    }
    /// Asked of the registry directly (not through the proxy): every image with the bundle's
    /// digest, one tag per repository.
    fn assert_every_image_present(&self) {
        for (repo, tag, digest) in self.targets() {
            assert_eq!(self.registry.manifest_digest(&repo, &tag).unwrap(), digest, "{repo}:{tag}");
            assert_eq!(self.registry.tags(&repo).unwrap(), vec![tag.clone()], "{repo}");
        }
    }
    /// `(repository, blob)` for every blob every image needs (config and layers).
    fn required_blobs(&self) -> BTreeSet<(String, String)> {
        let blobs = self.workdir().join("bundles");
        let unpacked = std::fs::read_dir(&blobs).unwrap().flatten().next().unwrap().path().join("images/blobs");
        let mut out = BTreeSet::new();
        for ((repo, _, _), image) in self.targets().into_iter().zip(&self.bundle.manifest.images) {
            for d in kod::registry::push::image_closure(&unpacked, image).unwrap() {
                if kod::registry::push::is_uploaded_blob(&d) {
                    out.insert((repo.clone(), d.digest.clone()));
                }
            }
        }
        out
    }
    /// The required blobs the registry already has in their repository.
    fn present_blobs(&self) -> BTreeSet<(String, String)> {
        self.required_blobs().into_iter().filter(|(repo, d)| self.registry.blob_exists(repo, d).unwrap()).collect()
    }
    fn credential_files_left(&self) -> Vec<PathBuf> {
        ["auth.json", "helm-registry.json"].iter().map(|f| self.workdir().join("push").join(f)).filter(|p| p.exists()).collect()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// skopeo processes still running whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if !e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let zombie = state.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'));
        if cmdline.contains(needle) && !zombie {
            out.push(format!("{}: {cmdline}", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// 503 on a blob upload of the first image and 500 on the manifest push of the second,
/// mid-push: each of the two images is retried once after a 2 s pause, the push completes,
/// every image has the bundle's digest, and no blob is sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn transient_server_errors_mid_push_are_retried_and_the_push_completes() {
    let s = site(64 * 1024).await;
    // The first image's third blob (its config) and the second manifest push.
    s.proxy.arm(FaultRule::any(HttpFault::Status(503)).methods(&["PATCH"]).path_contains("/blobs/uploads/").nth(3));
    s.proxy.arm(FaultRule::manifest_puts(HttpFault::Status(500)).nth(2));
    let start = Instant::now();
    let out = kod().args(s.args(&["--concurrency", "1"])).write_stdin(PASSWORD).timeout(Duration::from_secs(300)).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let faults: Vec<_> = s.proxy.faults().iter().map(|f| (f.method.clone(), f.repository().unwrap(), f.status)).collect();
    let targets = s.targets();
    assert_eq!(faults, vec![("PATCH".to_string(), targets[0].0.clone(), Some(503)), ("PUT".to_string(), targets[1].0.clone(), Some(500))]);
    let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
    let images = &s.bundle.manifest.images;
    assert_eq!(retries.len(), 2, "{stderr}");
    assert!(retries[0].starts_with(&format!("kod: warning: push of {} failed (", images[0].source)), "{retries:?}");
    assert!(retries[0].ends_with("received unexpected HTTP status: 503 Service Unavailable\"); retrying in 2s (1/2)"), "{retries:?}");
    assert!(retries[1].starts_with(&format!("kod: warning: push of {} failed (", images[1].source)), "{retries:?}");
    assert!(retries[1].ends_with("received unexpected HTTP status: 500 Internal Server Error\"); retrying in 2s (1/2)"), "{retries:?}");
    assert!(start.elapsed() >= Duration::from_secs(4), "the retries did not pause");
    // Every image reported with the bundle's digest, and that is what the registry serves.
    for img in images {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{}  ->  ", img.source)) && l.ends_with(&img.digest)), "{stdout}");
    }
    assert!(stdout.contains("chart webapp 1.2.3  ->  oci://"), "{stdout}");
    s.assert_every_image_present();
    let uploads = s.proxy.uploaded_blobs();
    let unique: BTreeSet<_> = uploads.iter().cloned().collect();
    assert_eq!(unique.len(), uploads.len(), "a blob was sent twice: {uploads:?}");
    assert!(s.credential_files_left().is_empty());
}

/// Six pushes in flight at once over images that share base layers three ways: each shared
/// layer is sent once (the images that share it wait for the first upload and then mount
/// it), every image lands with the bundle's digest.
#[tokio::test(flavor = "multi_thread")]
async fn shared_layers_are_sent_once_with_every_push_in_flight() {
    let s = site(64 * 1024).await;
    let out = kod().args(s.args(&["--concurrency", "6"])).write_stdin(PASSWORD).timeout(Duration::from_secs(300)).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s.assert_every_image_present();
    let uploads = s.proxy.uploaded_blobs();
    let mut per_digest: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (repo, digest) in &uploads {
        per_digest.entry(digest.clone()).or_default().push(repo.clone());
    }
    let twice: Vec<_> = per_digest.iter().filter(|(_, repos)| repos.len() > 1).collect();
    assert!(twice.is_empty(), "blobs sent more than once: {twice:#?}");
    // Every required blob is in its repository: the ones not uploaded there were mounted.
    assert_eq!(s.present_blobs(), s.required_blobs());
    assert!(uploads.len() < s.required_blobs().len(), "nothing was mounted: {uploads:?}");
}

/// Credentials revoked mid-push (401 from the third blob upload on): exit 4, the error names
/// the registry, the user and the credential problem; the first failure stops the push (no
/// other image is tried, nothing retried), nothing is reported pushed, no image is in the
/// registry, and no credentials file is left in the work directory.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_rejected_mid_push_stop_the_push_with_exit_4() {
    let s = site(16 * 1024).await;
    s.proxy.arm(FaultRule::blob_uploads(HttpFault::Status(401)).nth(3).from_then_on());
    let (stdout, stderr) = refused_push(
        &s,
        &format!("rejected the credentials of user \"{USER}\" (HTTP 401 unauthorized); check --username and the password: `skopeo copy"),
    );
    assert!(stderr.contains("kod: warning: 0 of 6 image(s) pushed, 1 failed, 5 not started; a re-run sends only what the registry does not have"), "{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD));
    // Only the first image was tried.
    let tried: BTreeSet<String> = s.proxy.faults().iter().filter_map(|f| f.repository()).collect();
    assert_eq!(tried, BTreeSet::from([s.targets()[0].0.clone()]));
    assert!(s.registry.catalog().unwrap().iter().all(|r| s.registry.tags(r).unwrap().is_empty()), "no image may be in the registry");
}

/// 403 on the manifest push (the account may upload blobs but not tag): exit 4, the error
/// names the registry, the user and the missing permission; nothing retried or reported.
#[tokio::test(flavor = "multi_thread")]
async fn access_denied_mid_push_is_named_as_missing_permission_with_exit_4() {
    let s = site(16 * 1024).await;
    s.proxy.arm(FaultRule::manifest_puts(HttpFault::Status(403)).from_then_on());
    let (_, stderr) = refused_push(
        &s,
        &format!(
            "denied access to user \"{USER}\" (HTTP 403 forbidden): the credentials were accepted but do not allow pushing there; check the account's push permission for the repositories under --registry: `skopeo copy"
        ),
    );
    assert!(stderr.contains("0 of 6 image(s) pushed, 1 failed, 5 not started"), "{stderr}");
    assert_eq!(s.proxy.faults().len(), 1, "{:?}", s.proxy.faults());
    assert!(s.registry.tags(&s.targets()[0].0).unwrap().is_empty());
}

/// A push (one at a time) that the registry refuses for good: exit 4, the first error names
/// the first image, its target and `registry HOST <why>`, nothing is retried, nothing is
/// reported pushed, and no credential file is left. Returns stdout and stderr.
fn refused_push(s: &Site, why: &str) -> (String, String) {
    let out = kod().args(s.args(&["--concurrency", "1"])).write_stdin(PASSWORD).timeout(Duration::from_secs(300)).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let first = &s.bundle.manifest.images[0].source;
    let (repo, tag, _) = &s.targets()[0];
    let host = s.proxy.host();
    let error = stderr.lines().find(|l| l.starts_with("kod: error: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.starts_with(&format!("kod: error: pushing {first} to {host}/{repo}:{tag}: registry {host} {why}")), "{error}");
    assert!(!stderr.contains("retrying"), "a refusal is not retried: {stderr}");
    assert!(stdout.is_empty(), "nothing may be reported pushed: {stdout}");
    assert!(s.credential_files_left().is_empty(), "{:?}", s.credential_files_left());
    (stdout, stderr)
}

/// A registry that accepts connections but never answers blob uploads: with `--timeout 4s`
/// each attempt is stopped after 4 s, retried twice (2 s, 4 s pauses), and kod fails with
/// exit 4 naming the timeout — well within a minute, not an hour; no skopeo is left running.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_registry_fails_within_the_timeout_instead_of_hanging() {
    let s = site(16 * 1024).await;
    s.proxy.arm(FaultRule::blob_uploads(HttpFault::Stall(Duration::from_secs(600))).from_then_on());
    let start = Instant::now();
    let out = kod()
        .args(s.args(&["--concurrency", "1", "--timeout", "4s"]))
        .write_stdin(PASSWORD)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    // 3 attempts of 4 s and pauses of 2 s and 4 s.
    assert!(elapsed >= Duration::from_secs(18) && elapsed < Duration::from_secs(60), "{elapsed:?}");
    let first = &s.bundle.manifest.images[0].source;
    let (repo, tag, _) = &s.targets()[0];
    let error = stderr.lines().find(|l| l.starts_with("kod: error: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        error.starts_with(&format!(
            "kod: error: pushing {first} to {host}/{repo}:{tag} (gave up after 3 attempts): registry {host} did not answer within 4s (the push timeout, --timeout); it may be overloaded or hung: `skopeo copy",
            host = s.proxy.host()
        )),
        "{error}"
    );
    assert_eq!(stderr.matches("failed (no answer within 4s); retrying in").count(), 2, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    // Each of the three attempts got as far as a blob upload of the first image, and no
    // other image was tried.
    let stalled = s.proxy.faults();
    assert!(stalled.len() >= 3, "{stalled:?}");
    assert!(stalled.iter().all(|f| f.repository().as_deref() == Some(repo.as_str())), "{stalled:?}");
    let left = processes_mentioning(&s.workdir().display().to_string());
    assert!(left.is_empty(), "processes left running: {left:?}");
    assert!(s.credential_files_left().is_empty());
}

/// The registry goes down in the middle of the push (connections cut, then refused): kod
/// fails with exit 4 naming the registry as unreachable. When it is back, a re-run completes
/// and sends exactly the blobs the registry does not have yet — each once.
#[tokio::test(flavor = "multi_thread")]
async fn registry_down_mid_push_then_a_rerun_sends_only_the_missing_blobs() {
    let s = site(64 * 1024).await;
    s.proxy.arm(FaultRule::blob_upload_finishes(HttpFault::GoDown).nth(5));
    let out = kod().args(s.args(&["--concurrency", "1"])).write_stdin(PASSWORD).timeout(Duration::from_secs(300)).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("kod: error: ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains(&format!("registry {} is not reachable: ", s.proxy.host())) && error.contains("connection refused"), "{error}");
    assert!(s.proxy.is_down());
    assert!(s.credential_files_left().is_empty());
    // The images pushed before the registry went down are reported on stderr, not stdout.
    assert!(stdout.is_empty(), "{stdout}");

    let required = s.required_blobs();
    let present = s.present_blobs();
    assert!(!present.is_empty() && present.len() < required.len(), "the registry went down midway: {} of {} blobs there", present.len(), required.len());
    let missing: BTreeSet<_> = required.difference(&present).cloned().collect();

    s.proxy.disarm();
    s.proxy.come_back().unwrap();
    s.proxy.clear_log();
    let out = kod().args(s.args(&["--concurrency", "1"])).write_stdin(PASSWORD).timeout(Duration::from_secs(300)).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("using the verified copy of"), "the re-run unpacked the bundle again");
    s.assert_every_image_present();
    let image_repos: BTreeSet<String> = s.targets().into_iter().map(|t| t.0).collect();
    let uploads: Vec<_> = s.proxy.uploaded_blobs().into_iter().filter(|(r, _)| image_repos.contains(r)).collect();
    let mounts: Vec<_> = s.proxy.mounted_blobs().into_iter().filter(|(r, _)| image_repos.contains(r)).collect();
    let sent: BTreeSet<_> = uploads.iter().chain(&mounts).cloned().collect();
    assert_eq!(uploads.len() + mounts.len(), sent.len(), "a blob was sent twice: {uploads:?} {mounts:?}");
    assert_eq!(sent, missing, "the re-run must send exactly the missing blobs");
    assert!(uploads.iter().all(|u| !present.contains(u)));
}

/// `kill -9` of `kod helmfile push` while a skopeo copy is in flight: the skopeo child dies
/// with kod (nothing keeps pushing behind the next run's back), and a re-run completes: every
/// image with the bundle's digest, one tag each, no blob the registry already had sent again,
/// the registry storage holding exactly the bundle's blobs and the chart's, and no credentials
/// file left.
#[tokio::test(flavor = "multi_thread")]
async fn push_killed_with_sigkill_midway_then_a_rerun_completes() {
    let s = site(64 * 1024).await;
    // Hold a blob upload once a few have finished, so that kod is certainly mid-push (a skopeo
    // copy in flight, images pushed before it) when it is killed.
    s.proxy.arm(FaultRule::blob_upload_finishes(HttpFault::Stall(Duration::from_secs(600))).nth(5));
    let tools = Tools::find().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kod"))
        .env("KOD_HELM", &tools.helm)
        .env("KOD_SKOPEO", &tools.skopeo)
        .env_remove("KOD_REGISTRY_PASSWORD")
        .args(s.args(&["--concurrency", "1"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(PASSWORD.as_bytes()).unwrap();
    }
    let start = Instant::now();
    while s.proxy.faults().is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("kod finished ({status}) before it could be killed");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the stall was never reached");
        std::thread::sleep(Duration::from_millis(20));
    }
    let views = s.workdir().join("push/views").display().to_string();
    assert!(!processes_mentioning(&views).is_empty(), "no skopeo was in flight");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The orphaned skopeo gets SIGKILL from the kernel when kod dies.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&views).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(processes_mentioning(&views).is_empty(), "skopeo kept running after kod was killed: {:?}", processes_mentioning(&views));
    let required = s.required_blobs();
    let present = s.present_blobs();
    assert!(!present.is_empty() && present.len() < required.len(), "killed midway: {} of {} blobs there", present.len(), required.len());

    s.proxy.disarm();
    s.proxy.clear_log();
    let out = kod().args(s.args(&["--concurrency", "2"])).write_stdin(PASSWORD).timeout(Duration::from_secs(300)).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("using the verified copy of"), "{stderr}");
    assert_eq!(text(&out.stdout).lines().filter(|l| l.contains("  ->  ")).count(), 7, "6 images and the chart");
    s.assert_every_image_present();
    let uploads = s.proxy.uploaded_blobs();
    assert!(uploads.iter().all(|u| !present.contains(u)), "a blob the registry had was sent again");
    let unique: BTreeSet<_> = uploads.iter().cloned().collect();
    assert_eq!(unique.len(), uploads.len(), "a blob was sent twice: {uploads:?}");
    // Storage: exactly the bundle's manifests and blobs, and the chart's.
    let (_, chart_manifest) = s.registry.manifest("site/charts/webapp", "1.2.3").unwrap();
    let chart: serde_json::Value = serde_json::from_slice(&chart_manifest).unwrap();
    let mut expected: BTreeSet<String> = required.iter().map(|(_, d)| d.clone()).collect();
    expected.extend(s.bundle.manifest.images.iter().map(|i| i.digest.clone()));
    expected.insert(s.registry.manifest_digest("site/charts/webapp", "1.2.3").unwrap());
    expected.insert(chart["config"]["digest"].as_str().unwrap().to_string());
    expected.extend(chart["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()));
    let stored: BTreeSet<String> = s.registry.stored_blobs().unwrap().into_iter().collect();
    assert_eq!(stored, expected);
    assert!(s.credential_files_left().is_empty(), "{:?}", s.credential_files_left());
}
