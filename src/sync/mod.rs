//! The offline side after the push: prove the rewritten helmfile is offline-ready, then run
//! `helmfile sync` on it in the plan's waves.
//!
//! * [`verify_offline`] renders the rewritten helmfile with `helmfile template` (helm does
//!   the rendering, the post-renderer runs as it will at install time), extracts every
//!   image from every rendered object with the same extraction discovery uses, and checks
//!   that each is under the private registry and present there with the bundle's digest.
//! * [`sync_waves`] runs one `helmfile sync` per wave of the bundle's plan, selecting the
//!   wave's releases with `-l name=…,namespace=…`, so the echoed commands show the order;
//!   it stops at the first failed wave and says what was and was not installed.
//!   (Letting helmfile order by `needs` in one run would install the same waves, but a
//!   failure would leave the operator to work out from helm's output what happened.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use crate::bundle::format::Manifest;
use crate::exec::{bounded, Cmd, Runner, Tool};
use crate::image::extract::{extract_images, PlaceKind};
use crate::plan::selector::Selector;
use crate::plan::{Action, Plan};
use crate::registry::RegistryTarget;
use crate::rewrite::state::RewriteReport;

/// How kod runs helmfile on the rewritten helmfile.
#[derive(Clone, Debug)]
pub struct HelmfileEnv {
    pub helmfile: PathBuf,
    /// `HELM_REGISTRY_CONFIG` with the private registry's credentials.
    pub registry_config: PathBuf,
    pub kube_context: Option<String>,
    /// helmfile's `--concurrency`.
    pub concurrency: usize,
}

impl HelmfileEnv {
    /// `helmfile --file H --helm-binary HELM [--kube-context C]`, with the registry config.
    async fn cmd(&self, runner: &Runner) -> Result<Cmd> {
        let helm = runner.tool(Tool::Helm).await?;
        let mut cmd = Cmd::new(Tool::Helmfile)
            .env("HELM_REGISTRY_CONFIG", self.registry_config.display().to_string())
            .env("HELMFILE_UPGRADE_NOTICE_DISABLED", "1")
            .arg("--file")
            .arg(self.helmfile.display().to_string())
            .arg("--helm-binary")
            .arg(helm.path.display().to_string());
        if let Some(c) = &self.kube_context {
            cmd = cmd.arg("--kube-context").arg(c);
        }
        Ok(cmd)
    }
}

/// An image that is not offline-ready.
#[derive(Clone, Debug, Serialize)]
pub struct Leftover {
    pub image: String,
    /// `Kind/name` (namespace) of the object, and the chart template.
    pub object: String,
    pub field: String,
    pub problem: String,
    pub hint: String,
}

/// What [`verify_offline`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    /// False under `--dry-run` (the render was only printed).
    pub ran: bool,
    pub objects: usize,
    /// Distinct private images checked in the registry.
    pub images: Vec<String>,
    pub leftovers: Vec<Leftover>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.leftovers.is_empty()
    }

    /// The failure message listing every leftover with its hint.
    pub fn failure_text(&self) -> String {
        let mut s = format!("{} image reference(s) are not offline-ready:", self.leftovers.len());
        for l in &self.leftovers {
            s.push_str(&format!("\n  - {} ({} {}): {}\n    fix: {}", l.image, l.object, l.field, l.problem, l.hint));
        }
        s
    }
}

/// Render the rewritten helmfile and prove every image is private and present.
pub async fn verify_offline(
    runner: &Runner,
    env: &HelmfileEnv,
    rewrite: &RewriteReport,
    manifest: &Manifest,
    target: &RegistryTarget,
    auth_dir: &Path,
    timeout: Duration,
) -> Result<VerifyReport> {
    let cmd = env
        .cmd(runner)
        .await?
        .args(["template", "--skip-deps", "--concurrency"])
        .arg(env.concurrency.to_string())
        .capture()
        .timeout(Duration::from_secs(1800));
    let out = runner.run(&cmd).await.context("rendering the rewritten helmfile (helmfile template)")?;
    if !out.ran {
        return Ok(VerifyReport::default());
    }
    let extraction = extract_images(&out.stdout);
    let objects: BTreeSet<(String, String, Option<String>)> =
        extraction.found.iter().map(|f| (f.object.kind.clone(), f.object.name.clone(), f.object.namespace.clone())).collect();
    let base = target.base();
    let private_prefix = format!("{base}/");
    // bundled source → its digest.
    let bundle_digests: BTreeMap<&str, &str> = manifest.images.iter().map(|i| (i.source.as_str(), i.digest.as_str())).collect();
    // source → (release, how it was redirected), for the hints; private reference → the
    // bundle digest it must have.
    let mut owners: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for r in &rewrite.releases {
        for i in &r.images {
            owners.entry(i.source.as_str()).or_default().push((r.id.clone(), i.how.clone()));
            if let Some(d) = bundle_digests.get(i.source.as_str()) {
                expected.insert(i.target.clone(), d.to_string());
            }
        }
    }
    let mut leftovers = Vec::new();
    let mut private: BTreeMap<String, (String, String)> = BTreeMap::new();
    for f in &extraction.found {
        let Ok(reference) = &f.reference else { continue };
        if f.image == crate::image::discover::ISTIO_INJECTION_PLACEHOLDER {
            continue;
        }
        let normalized = reference.to_string();
        let object = format!(
            "{}/{}{}{}",
            f.object.kind,
            f.object.name,
            f.object.namespace.as_deref().map(|n| format!(" in {n}")).unwrap_or_default(),
            f.object.source_template.as_deref().map(|t| format!(", {t}")).unwrap_or_default()
        );
        if f.kind_of_place.is_candidate() {
            // Strings in args, env and ConfigMaps: a bundled public image still named there.
            if bundle_digests.contains_key(normalized.as_str()) {
                leftovers.push(leftover(&normalized, &object, &f.field_path, &owners, true));
            }
            continue;
        }
        if f.kind_of_place == PlaceKind::HookTest && !normalized.starts_with(&private_prefix) && !bundle_digests.contains_key(normalized.as_str()) {
            // Helm test hooks are left out of bundles unless --include-test-images.
            continue;
        }
        if normalized.starts_with(&private_prefix) {
            private.entry(normalized).or_insert((object, f.field_path.clone()));
        } else {
            leftovers.push(leftover(&normalized, &object, &f.field_path, &owners, bundle_digests.contains_key(normalized.as_str())));
        }
    }
    // Every private image must be in the registry, with the bundle's digest.
    // skopeo's credentials: a 0600 file removed again however this ends.
    let (auth, _auth_guard) = crate::registry::push::auth_file(target, auth_dir)?;
    let cert = match &target.ca_file {
        Some(ca) => Some(crate::registry::target::CertDir::for_ca(ca)?),
        None => None,
    };
    let checks = bounded(private.iter(), env.concurrency.max(1), |(image, (object, field))| {
        let auth = auth.clone();
        let cert = cert.as_ref().map(|c| c.path().to_path_buf());
        let expected = &expected;
        async move {
            let problem = match crate::registry::push::remote_digest(runner, target, auth.as_deref(), cert.as_deref(), image, timeout).await {
                Ok(d) => match expected.get(image) {
                    Some(want) if *want != d && !image.contains('@') => Some(format!("the registry serves {d}, the bundle has {want}")),
                    _ => None,
                },
                Err(e) => Some(format!("not found in the private registry ({e:#})")),
            };
            Ok::<_, anyhow::Error>(problem.map(|p| Leftover {
                image: image.clone(),
                object: object.clone(),
                field: field.clone(),
                problem: p,
                hint: "push the bundle again: `kod helmfile push BUNDLE --registry …` (it sends only what is missing)".into(),
            }))
        }
    })
    .await;
    for c in checks {
        if let Some(l) = c? {
            leftovers.push(l);
        }
    }
    leftovers.sort_by(|a, b| (&a.image, &a.object).cmp(&(&b.image, &b.object)));
    leftovers.dedup_by(|a, b| a.image == b.image && a.object == b.object && a.field == b.field);
    Ok(VerifyReport { ran: true, objects: objects.len(), images: private.into_keys().collect(), leftovers })
}

fn leftover(
    image: &str,
    object: &str,
    field: &str,
    owners: &BTreeMap<&str, Vec<(String, String)>>,
    bundled: bool,
) -> Leftover {
    let (problem, hint) = match owners.get(image) {
        Some(list) if bundled => {
            let how: Vec<String> = list.iter().map(|(id, how)| format!("{id}: {how}")).collect();
            (
                format!("still public: kod redirected it ({}) but the chart did not use the override", how.join("; ")),
                "run `kod helmfile rewrite … --post-render-all` to redirect every image after rendering, or declare the chart's image fields in a hints file (docs/hints.md) and package again".to_string(),
            )
        }
        _ if bundled => (
            "still public: the image is in the bundle but no release was rewritten for it".to_string(),
            "run `kod helmfile rewrite … --post-render-all`".to_string(),
        ),
        _ => (
            "still public and not in the bundle: discovery did not find it".to_string(),
            format!("add `{image}` to a hints file (`images:` of the release's chart, docs/hints.md) and package again"),
        ),
    };
    Leftover { image: image.to_string(), object: object.to_string(), field: field.to_string(), problem, hint }
}

/// One wave's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct WaveOutcome {
    pub index: usize,
    pub action: String,
    pub state_file: String,
    pub releases: Vec<String>,
    /// `done`, `failed`, `not run`, or `printed` (dry run).
    pub status: String,
}

/// What [`sync_waves`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    pub waves: Vec<WaveOutcome>,
    pub ok: bool,
}

impl SyncReport {
    /// Which releases were and were not installed.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for w in &self.waves {
            s.push_str(&format!("  wave {} ({}, {}): {} — {}\n", w.index + 1, w.action, w.state_file, w.releases.join(", "), w.status));
        }
        s
    }
}

/// The labels a `-l` selector sees for a planned release.
fn planned_labels(p: &crate::plan::PlannedRelease) -> BTreeMap<String, String> {
    let mut l = p.labels.clone();
    l.insert("name".into(), p.name.clone());
    l.insert("namespace".into(), p.namespace.clone());
    l.entry("chart".into()).or_insert_with(|| p.chart.rsplit('/').next().unwrap_or(&p.chart).to_string());
    l
}

/// The bundle's plan of `environment`.
pub fn bundle_plan(manifest: &Manifest, environment: &str) -> Result<Plan> {
    let p = manifest
        .plans
        .iter()
        .find(|p| p.environment == environment)
        .ok_or_else(|| anyhow!("the bundle has no release plan for environment {environment:?}"))?;
    serde_json::from_value(p.plan.clone()).context("reading the bundle's release plan")
}

/// A work directory's sync lock: one `kod … sync` at a time per work directory, and a way
/// to tell that the previous one was killed (its lock is still there, its process gone).
pub struct SyncLock {
    path: PathBuf,
    /// The pid of a previous sync that did not finish, if any.
    pub interrupted: Option<u32>,
}

impl SyncLock {
    pub fn acquire(work_dir: &Path) -> Result<SyncLock> {
        std::fs::create_dir_all(work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
        let path = work_dir.join("sync.lock");
        let mut interrupted = None;
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()) {
                let alive = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains("kod"));
                if alive && pid != std::process::id() {
                    bail!("another kod sync (pid {pid}) is running with the work directory {}; wait for it or give another --workdir", work_dir.display());
                }
                interrupted = Some(pid);
            }
        }
        std::fs::write(&path, format!("{}\n", std::process::id())).with_context(|| format!("writing {}", path.display()))?;
        Ok(SyncLock { path, interrupted })
    }
}

impl Drop for SyncLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Release states an interrupted helm leaves behind; helm refuses to touch such a release.
fn is_pending(status: &str) -> bool {
    status.starts_with("pending-")
}

/// Put a release a killed sync left pending back into a state helm can work from:
/// a first install that never finished is uninstalled (the sync installs it again), an
/// interrupted upgrade or rollback is rolled back to the last good revision.
async fn recover(runner: &Runner, env: &HelmfileEnv, namespace: &str, name: &str, status: &str) -> Result<()> {
    let mut cmd = Cmd::new(Tool::Helm);
    cmd = if status == "pending-install" { cmd.args(["uninstall", name]) } else { cmd.args(["rollback", name]) };
    if !namespace.is_empty() {
        cmd = cmd.arg("--namespace").arg(namespace);
    }
    if let Some(c) = &env.kube_context {
        cmd = cmd.arg("--kube-context").arg(c);
    }
    runner.ui().warn(format!("{namespace}/{name} is {status}: the interrupted sync left it so; putting it back before the sync"));
    runner.run(&cmd.timeout(Duration::from_secs(600))).await.with_context(|| format!("recovering {namespace}/{name} from {status}"))?;
    Ok(())
}

/// Run `helmfile sync` wave by wave; stops at the first failed wave. With `recover_pending`
/// (the previous sync in this work directory was killed), releases of a wave that helm left
/// pending are put back first.
pub async fn sync_waves(
    runner: &Runner,
    env: &HelmfileEnv,
    rewrite: &RewriteReport,
    plan: &Plan,
    selectors: &[String],
    recover_pending: bool,
) -> Result<SyncReport> {
    let selectors = selectors.iter().map(|s| Selector::parse(s)).collect::<Result<Vec<_>>>()?;
    let rewritten: BTreeSet<(&str, &str)> = rewrite.releases.iter().map(|r| (r.name.as_str(), r.namespace.as_str())).collect();
    let mut report = SyncReport { waves: Vec::new(), ok: true };
    // The error of the failed wave and the helm status of each of its releases.
    let mut failed: Option<(anyhow::Error, Vec<String>)> = None;
    for step in plan.sequence() {
        let releases: Vec<&crate::plan::PlannedRelease> = step
            .wave
            .releases
            .iter()
            .filter(|r| rewritten.contains(&(r.name.as_str(), r.namespace.as_str())))
            .filter(|r| selectors.is_empty() || selectors.iter().any(|s| s.matches(&planned_labels(r))))
            .collect();
        if releases.is_empty() {
            continue;
        }
        let mut outcome = WaveOutcome {
            index: report.waves.len(),
            action: match step.action {
                Action::Install => "install".into(),
                Action::Delete => "delete".into(),
            },
            state_file: step.wave.state_file.clone(),
            releases: releases.iter().map(|r| r.id.clone()).collect(),
            status: "not run".into(),
        };
        if failed.is_some() {
            report.waves.push(outcome);
            continue;
        }
        runner.ui().info(format!("wave {}: {} {}", outcome.index + 1, outcome.action, outcome.releases.join(", ")));
        if recover_pending && !runner.dry_run() {
            for r in &releases {
                let status = release_status(runner, env, &r.namespace, &r.name).await;
                if is_pending(&status) {
                    recover(runner, env, &r.namespace, &r.name, &status).await?;
                }
            }
        }
        let mut cmd = env.cmd(runner).await?;
        for r in &releases {
            let mut sel = format!("name={}", r.name);
            if !r.namespace.is_empty() {
                sel.push_str(&format!(",namespace={}", r.namespace));
            }
            cmd = cmd.arg("--selector").arg(sel);
        }
        cmd = cmd.args(["sync", "--skip-deps", "--concurrency"]).arg(env.concurrency.to_string()).timeout(Duration::from_secs(6 * 3600));
        match runner.run(&cmd).await {
            Ok(out) => outcome.status = if out.ran { "done".into() } else { "printed".into() },
            Err(e) => {
                outcome.status = "failed".into();
                report.ok = false;
                // Which releases of the wave did get installed (helm status, read-only).
                let mut statuses = Vec::new();
                for r in &releases {
                    statuses.push(format!("{}: {}", r.id, release_status(runner, env, &r.namespace, &r.name).await));
                }
                failed = Some((anyhow::Error::new(e), statuses));
            }
        }
        report.waves.push(outcome);
    }
    if let Some((e, statuses)) = failed {
        let done: Vec<String> = report.waves.iter().filter(|w| w.status == "done").flat_map(|w| w.releases.clone()).collect();
        let failed_wave = report.waves.iter().find(|w| w.status == "failed").expect("a failed wave");
        let not_run: Vec<String> = report.waves.iter().filter(|w| w.status == "not run").flat_map(|w| w.releases.clone()).collect();
        let pending = statuses.iter().any(|s| s.contains(": pending-"));
        return Err(e.context(format!(
            "wave {} failed ({}); done before it: {}; not attempted: {}. Inspect with `helm status RELEASE -n NAMESPACE`, roll back with `helm rollback`, and re-run the sync (finished waves are upgraded in place){}",
            failed_wave.index + 1,
            statuses.join(", "),
            if done.is_empty() { "none".to_string() } else { done.join(", ") },
            if not_run.is_empty() { "none".to_string() } else { not_run.join(", ") },
            if pending {
                "; a pending release was left by an interrupted helm: `helm rollback` it (or `helm uninstall` a pending first install) before the re-run"
            } else {
                ""
            },
        )));
    }
    if report.waves.is_empty() {
        bail!("no release of the plan is selected{}", if selectors.is_empty() { String::new() } else { " by -l".into() });
    }
    Ok(report)
}

/// helm's status of a release (`deployed`, `failed`, `pending-install`, …, or `not installed`).
async fn release_status(runner: &Runner, env: &HelmfileEnv, namespace: &str, name: &str) -> String {
    let mut cmd = Cmd::new(Tool::Helm).args(["status", name, "--output", "json"]);
    if !namespace.is_empty() {
        cmd = cmd.arg("--namespace").arg(namespace);
    }
    if let Some(c) = &env.kube_context {
        cmd = cmd.arg("--kube-context").arg(c);
    }
    match runner.run(&cmd.read_only().capture().timeout(Duration::from_secs(120))).await {
        Ok(out) => serde_json::from_str::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["info"]["status"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into()),
        Err(e) if e.stderr_tail().iter().any(|l| l.contains("not found")) => "not installed".into(),
        Err(_) => "unknown (helm status failed)".into(),
    }
}
