//! Fetching charts into the work directory's content-addressed cache with helm.
//!
//! - **HTTP repositories**: `helm pull URL/index.yaml` (once per URL and run) fetches the
//!   index — `helm repo add` (in kod's isolated helm state, password on stdin) when the
//!   repository has credentials or a local chart's dependencies need it; kod resolves the
//!   version constraint against it itself (so "version not found" lists what exists) and
//!   pulls the entry's URL (`helm pull ALIAS/CHART --version EXACT` with credentials).
//! - **OCI**: `helm registry login` (once per host and run) when the helmfile has
//!   credentials, else the user's own helm registry config is passed read-only with
//!   `--registry-config`; then `helm pull oci://… --version V --destination TMP`.
//! - **Local charts**: the directory is hashed; when that content is not cached yet it is
//!   copied to scratch space, `helm dependency build --skip-refresh` runs when it declares
//!   dependencies (the user's directory is never written), and `helm package` makes the
//!   archive.
//!
//! The archive's sha256 is its identity (`charts/sha256/<hex>.tgz`). A reference record
//! `charts/refs/<key>.json` maps (source, chart, exact version) — or a local directory's
//! content hash — to it, so a re-run with the cache present runs no `helm pull` at all when
//! versions are exact (or locked). A constraint is resolved again on every run (that is its
//! meaning), but an already cached exact version is not pulled again.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::archive::{read_meta, ChartMeta};
use super::constraint::{is_exact, Constraint};
use super::source::{ChartRequest, ChartSource, RepoSettings};
use super::workdir::{sha256_digest, WorkDir};
use crate::exec::{bounded, Cmd, Runner, Tool};

/// How long one helm command of this stage may run.
const HELM_TIMEOUT: Duration = Duration::from_secs(300);

/// A chart in the cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchedChart {
    /// The chart's name (from its `Chart.yaml`).
    pub name: String,
    /// The exact version.
    pub version: String,
    /// `sha256:<hex>` of the archive.
    pub digest: String,
    /// The archive in the work directory.
    pub path: PathBuf,
    /// Where it came from (human form).
    pub source: String,
}

/// A reference record (`charts/refs/<key>.json`).
#[derive(Debug, Serialize, Deserialize)]
struct RefRecord {
    name: String,
    version: String,
    digest: String,
    source: String,
}

type Shared<T> = Arc<OnceCell<std::result::Result<T, String>>>;

/// Looks up an environment variable.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Fetches charts through the runner into a [`WorkDir`]; cheap to share across tasks.
pub struct ChartFetcher {
    runner: Runner,
    workdir: WorkDir,
    env: EnvLookup,
    indexes: Mutex<HashMap<String, Shared<Arc<RepoIndex>>>>,
    added: Mutex<HashMap<String, Shared<()>>>,
    logins: Mutex<HashMap<String, Shared<()>>>,
    key_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The chart versions of one HTTP repository, from its `index.yaml`.
#[derive(Debug, Default)]
pub struct RepoIndex {
    /// kod's alias for the repository in its isolated helm state.
    pub alias: String,
    /// Chart name → versions as written.
    pub versions: BTreeMap<String, Vec<String>>,
    /// (chart, version) → the archive's absolute URL (first of the entry's `urls`).
    pub urls: BTreeMap<(String, String), String>,
}

#[derive(Deserialize)]
struct IndexFile {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    #[serde(default)]
    version: serde_yaml::Value,
    #[serde(default)]
    urls: Vec<String>,
}

impl ChartFetcher {
    /// A fetcher using `runner` and the work directory; environment variables are read from
    /// the process environment.
    pub fn new(runner: Runner, workdir: WorkDir) -> ChartFetcher {
        ChartFetcher::with_env(runner, workdir, Arc::new(|k: &str| std::env::var(k).ok()))
    }

    /// Same, with an explicit environment lookup (for the user's helm registry config).
    pub fn with_env(runner: Runner, workdir: WorkDir, env: EnvLookup) -> ChartFetcher {
        ChartFetcher {
            runner,
            workdir,
            env,
            indexes: Mutex::new(HashMap::new()),
            added: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
            key_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The work directory.
    pub fn workdir(&self) -> &WorkDir {
        &self.workdir
    }

    /// Fetch every request (each distinct request once), at most `concurrency` at a time.
    /// Results are in request order.
    pub async fn fetch_all(&self, requests: &[ChartRequest], concurrency: usize) -> Vec<Result<FetchedChart>> {
        let mut unique: Vec<&ChartRequest> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let mut slots = Vec::new();
        for r in requests {
            let key = r.dedup_key();
            let i = *index_of.entry(key).or_insert_with(|| {
                unique.push(r);
                unique.len() - 1
            });
            slots.push(i);
        }
        let fetched: Vec<std::result::Result<FetchedChart, String>> =
            bounded(unique, concurrency, |r| async move { self.fetch(r).await.map_err(|e| format!("{e:#}")) }).await;
        slots.into_iter().map(|i| fetched[i].clone().map_err(|e| anyhow!(e))).collect()
    }

    /// Pull, ahead of [`ChartFetcher::fetch`], the archives of HTTP-repository charts that need
    /// no credentials and are not cached yet, several per `helm pull URL URL …` — at most
    /// `batches` helm processes per repository, run `concurrency` at a time. Every helm start
    /// costs about 0.1 s of CPU whatever it does (one pull of a chart costs the same), so 11
    /// charts in one process cost a tenth of 11 pulls. Each archive is stored under the same
    /// reference keys `fetch` uses, so `fetch` then finds it in the cache. Nothing here
    /// fails: a batch that does not complete is left to `fetch`, which pulls its charts one
    /// by one and reports each error with its chart.
    pub async fn prefetch(&self, requests: &[&ChartRequest], batches: usize, concurrency: usize) {
        struct Pull<'a> {
            repo: &'a RepoSettings,
            chart: &'a str,
            url: String,
            keys: Vec<String>,
        }
        // The candidates: HTTP-repository charts without credentials not cached yet.
        let mut candidates: Vec<(&ChartRequest, &RepoSettings, &str, Vec<String>)> = Vec::new();
        for req in requests {
            let ChartSource::Repo { repo, chart } = &req.source else { continue };
            if repo.has_credentials() {
                continue;
            }
            let mut keys = Vec::new();
            if is_exact(&req.version) {
                let key = Self::repo_key(repo, chart, &req.version);
                if self.cached(&key).is_some() {
                    continue;
                }
                keys.push(key);
            }
            candidates.push((req, repo, chart, keys));
        }
        // Their repositories' indexes, all at once (one download per URL; a failure is
        // kept in the index cell and reported by `fetch`).
        let mut repos: Vec<&RepoSettings> = Vec::new();
        for (_, repo, _, _) in &candidates {
            if !repos.iter().any(|r| r.url == repo.url) {
                repos.push(repo);
            }
        }
        bounded(repos, concurrency, |repo| async move {
            let _ = self.index(repo).await;
        })
        .await;
        // Resolve each against its index.
        let mut pulls: Vec<Pull> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (req, repo, chart, mut keys) in candidates {
            let Ok(index) = self.index(repo).await else { continue };
            let Ok(exact) = resolve_in_index(&index, repo, chart, &req.version, req.devel) else { continue };
            let key = Self::repo_key(repo, chart, &exact);
            if self.cached(&key).is_some() || !seen.insert(key.clone()) {
                continue;
            }
            keys.push(key);
            if let Some(url) = index.urls.get(&(chart.to_string(), exact)) {
                pulls.push(Pull { repo, chart, url: url.clone(), keys });
            }
        }
        if pulls.len() < 2 {
            return; // nothing to gain over `fetch`
        }
        // Batches: per repository (TLS options are per repository), dealt round-robin into at
        // most `batches` processes. helm names an archive pulled by URL after the URL's last
        // path segment, so a second archive of the same file name is left to `fetch`.
        let mut by_repo: BTreeMap<String, Vec<Pull>> = BTreeMap::new();
        for p in pulls {
            let same = by_repo.entry(p.repo.url.clone()).or_default();
            if !same.iter().any(|q| file_name_of(&q.url) == file_name_of(&p.url)) {
                same.push(p);
            }
        }
        let mut groups: BTreeMap<String, Vec<Vec<Pull>>> = BTreeMap::new();
        for (url, list) in by_repo {
            let n = batches.clamp(1, list.len());
            let mut chunks: Vec<Vec<Pull>> = (0..n).map(|_| Vec::new()).collect();
            for (i, p) in list.into_iter().enumerate() {
                chunks[i % n].push(p);
            }
            groups.insert(url, chunks);
        }
        let jobs: Vec<Vec<Pull>> = groups.into_values().flatten().filter(|c| !c.is_empty()).collect();
        bounded(jobs, concurrency, |batch| async move {
            let Ok(scratch) = self.workdir.scratch() else { return };
            let Ok(cmd) = self.url_pull(batch.iter().map(|p| p.url.clone()), batch[0].repo, scratch.path()) else { return };
            if self.runner.run(&cmd).await.is_err() || self.runner.dry_run() {
                return;
            }
            for p in &batch {
                let tgz = scratch.path().join(file_name_of(&p.url));
                if tgz.is_file() {
                    let _ = self.store(&tgz, &p.keys, &format!("{}/{}", p.repo.url, p.chart));
                }
            }
        })
        .await;
    }

    /// Fetch one chart (or find it in the cache).
    pub async fn fetch(&self, req: &ChartRequest) -> Result<FetchedChart> {
        match &req.source {
            ChartSource::Repo { repo, chart } => self.fetch_repo(repo, chart, req).await,
            ChartSource::Oci { url, repo } => self.fetch_oci(url, repo.as_ref(), req).await,
            ChartSource::Local { path } => self.fetch_local(path, req).await,
        }
    }

    fn ref_key(parts: &[&str]) -> String {
        let d = sha256_digest(parts.join("\0").as_bytes());
        d.trim_start_matches("sha256:").to_string()
    }

    /// The reference key of a chart of an HTTP repository at an exact version (`prefetch`
    /// stores under the keys `fetch` looks up: both use this).
    fn repo_key(repo: &RepoSettings, chart: &str, version: &str) -> String {
        Self::ref_key(&["repo", &repo.url, chart, version])
    }

    /// Serialise work on one reference key (two requests that resolve to the same chart
    /// must not both pull it).
    async fn lock_key(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = self.key_locks.lock().expect("key locks").entry(key.to_string()).or_default().clone();
        m.lock_owned().await
    }

    /// The archive `fetch` would answer `req` with, if it is in the cache already: known
    /// without running anything or reading an index that is not read yet (a version
    /// constraint is resolved only against an index already read).
    pub fn cached_archive(&self, req: &ChartRequest) -> Option<PathBuf> {
        let key = match &req.source {
            ChartSource::Repo { repo, chart } => {
                let version = if is_exact(&req.version) {
                    req.version.clone()
                } else {
                    let cell = self.indexes.lock().expect("indexes").get(&repo.url)?.clone();
                    let index = cell.get()?.as_ref().ok()?.clone();
                    resolve_in_index(&index, repo, chart, &req.version, req.devel).ok()?
                };
                Self::repo_key(repo, chart, &version)
            }
            ChartSource::Oci { url, .. } if is_exact(&req.version) => Self::ref_key(&["oci", url, &req.version]),
            _ => return None,
        };
        self.cached(&key).map(|c| c.path)
    }

    /// A cached chart for a reference key, if both the record and the archive are present.
    fn cached(&self, key: &str) -> Option<FetchedChart> {
        let text = std::fs::read_to_string(self.workdir.chart_ref_path(key)).ok()?;
        let rec: RefRecord = serde_json::from_str(&text).ok()?;
        let path = self.workdir.chart_path(&rec.digest);
        path.is_file().then_some(FetchedChart { name: rec.name, version: rec.version, digest: rec.digest, path, source: rec.source })
    }

    /// Move a pulled/packaged archive into the cache and record the reference.
    fn store(&self, tgz: &Path, keys: &[String], source: &str) -> Result<FetchedChart> {
        let bytes = std::fs::read(tgz).with_context(|| format!("reading {}", tgz.display()))?;
        let digest = sha256_digest(&bytes);
        let path = self.workdir.chart_path(&digest);
        if !path.is_file() {
            self.workdir.write_atomic(&path, &bytes)?;
        }
        let meta: ChartMeta = read_meta(&path)?;
        let fetched = FetchedChart { name: meta.name, version: meta.version, digest, path, source: source.to_string() };
        let rec = RefRecord {
            name: fetched.name.clone(),
            version: fetched.version.clone(),
            digest: fetched.digest.clone(),
            source: source.to_string(),
        };
        for k in keys {
            self.workdir.write_atomic(&self.workdir.chart_ref_path(k), serde_json::to_string_pretty(&rec)?.as_bytes())?;
        }
        Ok(fetched)
    }

    fn single_tgz(dir: &Path, what: &str) -> Result<PathBuf> {
        let mut found = Vec::new();
        for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "tgz") {
                found.push(p);
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            n => bail!("{what}: expected one chart archive in {}, found {n}", dir.display()),
        }
    }

    fn helm(&self) -> Cmd {
        self.workdir.helm_env(Cmd::new(Tool::Helm)).timeout(HELM_TIMEOUT)
    }

    // --- HTTP repositories ---------------------------------------------------------------

    async fn fetch_repo(&self, repo: &RepoSettings, chart: &str, req: &ChartRequest) -> Result<FetchedChart> {
        let what = format!("chart {}/{chart} from {}", repo.name, repo.url);
        let mut keys = Vec::new();
        if is_exact(&req.version) {
            let key = Self::repo_key(repo, chart, &req.version);
            if let Some(hit) = self.cached(&key) {
                return Ok(hit);
            }
            keys.push(key);
        }
        let index = self.index(repo).await?;
        let exact = resolve_in_index(&index, repo, chart, &req.version, req.devel)?;
        let key = Self::repo_key(repo, chart, &exact);
        let _guard = self.lock_key(&key).await;
        if let Some(hit) = self.cached(&key) {
            if let Some(first) = keys.first() {
                self.workdir.write_atomic(&self.workdir.chart_ref_path(first), &std::fs::read(self.workdir.chart_ref_path(&key))?)?;
            }
            return Ok(hit);
        }
        keys.push(key);
        let scratch = self.workdir.scratch()?;
        // Without credentials, pull the archive by its URL from the index kod has already
        // read: helm then does not parse the (possibly many-MB) index again for every pull.
        // With credentials (or an entry without URLs), pull through the repository alias,
        // which carries them.
        let cmd = match index.urls.get(&(chart.to_string(), exact.clone())) {
            Some(url) if !repo.has_credentials() => self.url_pull([url.clone()], repo, scratch.path())?,
            _ => {
                self.added(repo).await?;
                let cmd = self.helm().arg("pull").arg(format!("{}/{chart}", index.alias)).args(["--version", &exact]);
                with_tls(cmd.arg("--destination").arg(scratch.path().display().to_string()).read_only().capture(), repo)
            }
        };
        self.runner.run(&cmd).await.with_context(|| format!("pulling {what} version {exact}"))?;
        let tgz = Self::single_tgz(scratch.path(), &what)?;
        self.store(&tgz, &keys, &format!("{}/{chart}", repo.url))
    }

    /// The index of an HTTP repository, once per URL per fetcher: downloaded with
    /// `helm pull URL/index.yaml` into scratch space when the repository has no credentials
    /// (`helm repo add` would also parse the whole index, ~1 s for a 5.6 MiB one, before kod
    /// can read it), else by `helm repo add` (which carries the credentials).
    pub async fn index(&self, repo: &RepoSettings) -> Result<Arc<RepoIndex>> {
        let cell = {
            let mut map = self.indexes.lock().expect("indexes");
            map.entry(repo.url.clone()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| async {
                let read = async {
                    if repo.has_credentials() {
                        self.added(repo).await?;
                        let file = self.workdir.repository_cache().join(format!("{}-index.yaml", Self::alias(repo)));
                        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                        parse_index(repo, &text, &file)
                    } else {
                        self.download_index(repo).await
                    }
                };
                read.await.map(Arc::new).map_err(|e: anyhow::Error| format!("{e:#}"))
            })
            .await;
        result.clone().map_err(|e| anyhow!(e))
    }

    /// kod's alias for a repository in its isolated helm state.
    fn alias(repo: &RepoSettings) -> String {
        format!("{}-{}", sanitize(&repo.name), &Self::ref_key(&[&repo.url])[..8])
    }

    /// `helm pull URL/index.yaml` (helm keeps the bytes it downloads as they are).
    async fn download_index(&self, repo: &RepoSettings) -> Result<RepoIndex> {
        let scratch = self.workdir.scratch()?;
        let url = index_url(&repo.url);
        self.runner
            .run(&self.url_pull([url.clone()], repo, scratch.path())?)
            .await
            .with_context(|| format!("cannot read the index of chart repository {:?} ({})", repo.name, repo.url))?;
        let file = scratch.path().join(file_name_of(&url));
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading the index of {} downloaded from {url}", repo.name))?;
        parse_index(repo, &text, Path::new(&url))
    }

    /// `helm pull URL… --destination DIR` with `repo`'s TLS options and an empty repository
    /// config (helm would otherwise read every known index looking for credentials for the
    /// URLs): files of a repository without credentials, each saved under its URL's last path
    /// segment ([`file_name_of`]).
    fn url_pull(&self, urls: impl IntoIterator<Item = String>, repo: &RepoSettings, dir: &Path) -> Result<Cmd> {
        let cmd = self
            .helm()
            .arg("pull")
            .args(urls)
            .arg("--repository-config")
            .arg(self.workdir.empty_repository_config()?.display().to_string())
            .arg("--destination")
            .arg(dir.display().to_string())
            .read_only()
            .capture();
        Ok(with_tls(cmd, repo))
    }

    /// The repository added to kod's isolated helm state (`helm repo add`, once per URL per
    /// fetcher): for pulls through its alias (credentials) and `helm dependency build`.
    async fn added(&self, repo: &RepoSettings) -> Result<()> {
        let cell = {
            let mut map = self.added.lock().expect("added repositories");
            map.entry(repo.url.clone()).or_default().clone()
        };
        let result = cell.get_or_init(|| async { self.add_repo(repo).await.map_err(|e| format!("{e:#}")) }).await;
        result.clone().map_err(|e| anyhow!(e))
    }

    async fn add_repo(&self, repo: &RepoSettings) -> Result<()> {
        let alias = Self::alias(repo);
        let mut cmd = self.helm().args(["repo", "add", &alias, &repo.url, "--force-update"]).read_only().capture();
        if let Some(u) = &repo.username {
            cmd = cmd.args(["--username", u]);
        }
        if let Some(p) = &repo.password {
            cmd = cmd.arg("--password-stdin").stdin_secret(format!("{}\n", p.expose()), format!("password of repository {}", repo.name));
        }
        if repo.pass_credentials {
            cmd = cmd.arg("--pass-credentials");
        }
        self.runner
            .run(&with_tls(cmd, repo))
            .await
            .with_context(|| format!("cannot read the index of chart repository {:?} ({})", repo.name, repo.url))?;
        Ok(())
    }

    // --- OCI -----------------------------------------------------------------------------

    async fn fetch_oci(&self, url: &str, repo: Option<&RepoSettings>, req: &ChartRequest) -> Result<FetchedChart> {
        let exact = is_exact(&req.version);
        let key = Self::ref_key(&["oci", url, &req.version]);
        let _guard = self.lock_key(&key).await;
        if exact {
            if let Some(hit) = self.cached(&key) {
                return Ok(hit);
            }
        }
        let host = url.trim_start_matches("oci://").split('/').next().unwrap_or_default().to_string();
        let mut cmd = self.helm().args(["pull", url]).read_only().capture();
        if !req.version.is_empty() {
            cmd = cmd.args(["--version", &req.version]);
        }
        if req.devel && req.version.is_empty() {
            cmd = cmd.arg("--devel");
        }
        let creds = repo.is_some_and(|r| r.username.is_some() && r.password.is_some());
        if creds {
            self.login(&host, repo.expect("checked")).await?;
        } else if let Some(user_config) = self.user_registry_config() {
            cmd = cmd.arg("--registry-config").arg(user_config.display().to_string());
        }
        if let Some(r) = repo {
            cmd = with_tls(cmd, r);
        }
        let scratch = self.workdir.scratch()?;
        cmd = cmd.arg("--destination").arg(scratch.path().display().to_string());
        let shown = if req.version.is_empty() { "the newest version".to_string() } else { format!("version {:?}", req.version) };
        self.runner.run(&cmd).await.with_context(|| format!("pulling chart {url} ({shown})"))?;
        let tgz = Self::single_tgz(scratch.path(), url)?;
        let fetched = self.store(&tgz, &[key], url)?;
        if !exact {
            // Record the resolved exact version too, for later runs that pin it.
            self.store(&fetched.path, &[Self::ref_key(&["oci", url, &fetched.version])], url)?;
        }
        Ok(fetched)
    }

    /// The user's own helm registry config (read-only), when it exists.
    fn user_registry_config(&self) -> Option<PathBuf> {
        let env = &self.env;
        let path = env("HELM_REGISTRY_CONFIG").filter(|s| !s.is_empty()).map(PathBuf::from).or_else(|| {
            let config = env("HELM_CONFIG_HOME")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .or_else(|| env("XDG_CONFIG_HOME").filter(|s| !s.is_empty()).map(|x| PathBuf::from(x).join("helm")))
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config/helm")))?;
            Some(config.join("registry/config.json"))
        })?;
        (path.is_file() && path != self.workdir.registry_config()).then_some(path)
    }

    async fn login(&self, host: &str, repo: &RepoSettings) -> Result<()> {
        let cell = {
            let mut map = self.logins.lock().expect("logins");
            map.entry(host.to_string()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| async {
                let (Some(user), Some(password)) = (&repo.username, &repo.password) else { return Ok(()) };
                let mut cmd = self
                    .helm()
                    .args(["registry", "login", host, "--username", user, "--password-stdin"])
                    .stdin_secret(format!("{}\n", password.expose()), format!("password of repository {}", repo.name))
                    .read_only()
                    .capture();
                if repo.skip_tls_verify {
                    cmd = cmd.arg("--insecure");
                }
                if let Some(ca) = &repo.ca_file {
                    cmd = cmd.arg("--ca-file").arg(ca.display().to_string());
                }
                if let (Some(c), Some(k)) = (&repo.cert_file, &repo.key_file) {
                    cmd = cmd.arg("--cert-file").arg(c.display().to_string()).arg("--key-file").arg(k.display().to_string());
                }
                self.runner
                    .run(&cmd)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("logging in to the OCI registry {host} for repository {:?}: {e}", repo.name))
            })
            .await;
        result.clone().map_err(|e| anyhow!(e))
    }

    // --- local charts --------------------------------------------------------------------

    async fn fetch_local(&self, path: &Path, req: &ChartRequest) -> Result<FetchedChart> {
        let source = path.display().to_string();
        if path.is_file() {
            let bytes = std::fs::read(path).with_context(|| format!("reading the chart archive {source}"))?;
            let key = Self::ref_key(&["local-archive", &sha256_digest(&bytes)]);
            if let Some(hit) = self.cached(&key) {
                return Ok(hit);
            }
            return self.store(path, &[key], &source);
        }
        if !path.join("Chart.yaml").is_file() {
            bail!("local chart {source}: no Chart.yaml in that directory");
        }
        let meta: ChartMeta = serde_yaml::from_str(&std::fs::read_to_string(path.join("Chart.yaml"))?)
            .with_context(|| format!("parsing {source}/Chart.yaml"))?;
        // `file://` dependencies: part of the content (their changes count), and mirrored
        // next to the copy so that relative paths keep working there.
        let file_deps: Vec<(String, PathBuf)> = meta
            .dependencies
            .iter()
            .filter_map(|d| d.repository.strip_prefix("file://"))
            .map(|rel| (rel.to_string(), if Path::new(rel).is_absolute() { PathBuf::from(rel) } else { path.join(rel) }))
            .filter(|(_, abs)| abs.is_dir())
            .collect();
        let mut key_parts = vec!["local-dir".to_string(), tree_digest(path)?, req.skip_deps.to_string()];
        for (rel, abs) in &file_deps {
            key_parts.push(format!("{rel}={}", tree_digest(abs)?));
        }
        let key = Self::ref_key(&key_parts.iter().map(String::as_str).collect::<Vec<_>>());
        let _guard = self.lock_key(&key).await;
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let scratch = self.workdir.scratch()?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "chart".into());
        let depth = file_deps
            .iter()
            .filter(|(rel, _)| !Path::new(rel).is_absolute())
            .map(|(rel, _)| rel.split('/').take_while(|c| *c == ".." || *c == ".").filter(|c| *c == "..").count())
            .max()
            .unwrap_or(0);
        let mut root = scratch.path().join("src");
        for i in 0..depth {
            root = root.join(format!("d{i}"));
        }
        let copy = root.join(&name);
        copy_tree(path, &copy)?;
        for (rel, abs) in file_deps.iter().filter(|(rel, _)| !Path::new(rel).is_absolute()) {
            let dst = PathBuf::from(crate::helmfile::release::clean_path(&copy.join(rel).display().to_string()));
            if !dst.exists() {
                copy_tree(abs, &dst).with_context(|| format!("local chart {source}: copying its dependency {rel}"))?;
            }
        }
        if !meta.dependencies.is_empty() && !req.skip_deps {
            for dep in meta.dependencies.iter().filter(|d| d.repository.starts_with("http://") || d.repository.starts_with("https://")) {
                let url = dep.repository.trim_end_matches('/');
                let repo = req.repositories.iter().find(|r| !r.oci && r.url == url).cloned().unwrap_or_else(|| RepoSettings {
                    name: dep.name.clone(),
                    url: url.to_string(),
                    oci: false,
                    username: None,
                    password: None,
                    ca_file: None,
                    cert_file: None,
                    key_file: None,
                    skip_tls_verify: false,
                    pass_credentials: false,
                });
                self.added(&repo).await.with_context(|| format!("local chart {source} depends on {:?} from {url}", dep.name))?;
            }
            self.runner
                .run(
                    &self
                        .helm()
                        .args(["dependency", "build", "--skip-refresh"])
                        .arg(copy.display().to_string())
                        .read_only()
                        .capture(),
                )
                .await
                .with_context(|| format!("building the dependencies of the local chart {source}"))?;
        }
        let out = scratch.path().join("out");
        std::fs::create_dir_all(&out)?;
        self.runner
            .run(
                &self
                    .helm()
                    .arg("package")
                    .arg(copy.display().to_string())
                    .arg("--destination")
                    .arg(out.display().to_string())
                    .read_only()
                    .capture(),
            )
            .await
            .with_context(|| format!("packaging the local chart {source}"))?;
        let tgz = Self::single_tgz(&out, &source)?;
        self.store(&tgz, &[key], &source)
    }
}

/// Resolve a constraint against an index, with a clear error when nothing matches.
fn resolve_in_index(index: &RepoIndex, repo: &RepoSettings, chart: &str, version: &str, devel: bool) -> Result<String> {
    let Some(versions) = index.versions.get(chart) else {
        let mut names: Vec<&str> = index.versions.keys().map(String::as_str).collect();
        names.truncate(20);
        bail!(
            "chart {chart:?} not found in repository {:?} ({}); it has: {}",
            repo.name,
            repo.url,
            if names.is_empty() { "no charts".to_string() } else { names.join(", ") }
        );
    };
    let c = Constraint::parse(version)?;
    c.best(versions.iter().map(String::as_str), devel).map(str::to_string).ok_or_else(|| {
        let mut sorted: Vec<&str> = versions.iter().map(String::as_str).collect();
        sorted.sort_by(|a, b| {
            let (pa, pb) = (super::constraint::parse_version(a), super::constraint::parse_version(b));
            pb.cmp(&pa)
        });
        sorted.truncate(10);
        anyhow!(
            "chart {chart:?} has no version matching {:?} in repository {:?} ({}); newest versions: {}",
            if version.is_empty() { "*" } else { version },
            repo.name,
            repo.url,
            sorted.join(", ")
        )
    })
}

/// The file name helm gives an archive pulled by URL: the URL path's last segment (helm
/// decodes `%XX`; such a name does not match, and `fetch` then pulls that chart itself).
fn file_name_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// The versions and archive URLs of an index's text (`file` names it in errors).
fn parse_index(repo: &RepoSettings, text: &str, file: &Path) -> Result<RepoIndex> {
    let index: IndexFile = serde_yaml::from_str(text).with_context(|| format!("parsing the index of {} ({})", repo.name, file.display()))?;
    let mut versions = BTreeMap::new();
    let mut urls = BTreeMap::new();
    for (name, entries) in index.entries {
        let mut vs = Vec::new();
        for e in entries {
            let v = match e.version {
                serde_yaml::Value::String(s) => s,
                serde_yaml::Value::Number(n) => n.to_string(),
                _ => continue,
            };
            if let Some(u) = e.urls.first() {
                urls.insert((name.clone(), v.clone()), absolute_url(&repo.url, u));
            }
            vs.push(v);
        }
        versions.insert(name, vs);
    }
    Ok(RepoIndex { alias: ChartFetcher::alias(repo), versions, urls })
}

/// Where helm reads a repository's index: `index.yaml` joined to the URL's path, its query
/// kept (helm's `DownloadIndexFile`).
fn index_url(repo_url: &str) -> String {
    let (base, query) = match repo_url.find(['?', '#']) {
        Some(i) => repo_url.split_at(i),
        None => (repo_url, ""),
    };
    format!("{}/index.yaml{query}", base.trim_end_matches('/'))
}

/// An index entry's URL made absolute against the repository URL (index URLs may be
/// relative to the repository).
fn absolute_url(repo_url: &str, url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("{}/{}", repo_url.trim_end_matches('/'), url.trim_start_matches('/'))
    }
}

fn with_tls(mut cmd: Cmd, repo: &RepoSettings) -> Cmd {
    if let Some(ca) = &repo.ca_file {
        cmd = cmd.arg("--ca-file").arg(ca.display().to_string());
    }
    if let (Some(c), Some(k)) = (&repo.cert_file, &repo.key_file) {
        cmd = cmd.arg("--cert-file").arg(c.display().to_string()).arg("--key-file").arg(k.display().to_string());
    }
    if repo.skip_tls_verify {
        cmd = cmd.arg("--insecure-skip-tls-verify");
    }
    cmd
}

fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// `sha256:` over a directory's files (relative paths and contents, sorted).
pub fn tree_digest(dir: &Path) -> Result<String> {
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut buf = Vec::new();
    for rel in files {
        let bytes = std::fs::read(dir.join(&rel)).with_context(|| format!("reading {}", dir.join(&rel).display()))?;
        buf.extend_from_slice(rel.as_bytes());
        buf.push(0);
        buf.extend_from_slice(sha256_digest(&bytes).as_bytes());
        buf.push(b'\n');
    }
    Ok(sha256_digest(&buf))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            walk(root, &p, out)?;
        } else if ft.is_file() || ft.is_symlink() && p.is_file() {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_string_lossy().to_string());
        }
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> RepoSettings {
        RepoSettings {
            name: "r".into(),
            url: "http://127.0.0.1:1".into(),
            oci: false,
            username: None,
            password: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            skip_tls_verify: false,
            pass_credentials: false,
        }
    }

    #[test]
    fn index_resolution_and_errors() {
        let mut versions = BTreeMap::new();
        versions.insert("app".to_string(), vec!["1.0.0".to_string(), "1.2.0".to_string(), "2.0.0-rc.1".to_string()]);
        let index = RepoIndex { alias: "r-x".into(), versions, urls: BTreeMap::new() };
        assert_eq!(resolve_in_index(&index, &repo(), "app", "^1", false).unwrap(), "1.2.0");
        assert_eq!(resolve_in_index(&index, &repo(), "app", "", false).unwrap(), "1.2.0");
        assert_eq!(resolve_in_index(&index, &repo(), "app", "", true).unwrap(), "2.0.0-rc.1");
        let e = resolve_in_index(&index, &repo(), "app", "9.9.9", false).unwrap_err().to_string();
        assert!(e.contains("no version matching \"9.9.9\"") && e.contains("newest versions: 2.0.0-rc.1, 1.2.0, 1.0.0"), "{e}");
        let e = resolve_in_index(&index, &repo(), "nope", "", false).unwrap_err().to_string();
        assert!(e.contains("chart \"nope\" not found in repository \"r\"") && e.contains("it has: app"), "{e}");
    }

    #[test]
    fn index_url_is_joined_to_the_path_with_the_query_kept() {
        assert_eq!(index_url("http://h:1/charts"), "http://h:1/charts/index.yaml");
        assert_eq!(index_url("http://h:1/charts/"), "http://h:1/charts/index.yaml");
        assert_eq!(index_url("https://h/c?token=a%2Fb"), "https://h/c/index.yaml?token=a%2Fb");
        assert_eq!(file_name_of(&index_url("https://h/c?token=x")), "index.yaml");
    }

    #[test]
    fn index_urls_are_made_absolute() {
        assert_eq!(absolute_url("http://h:1/charts/", "app-1.0.0.tgz"), "http://h:1/charts/app-1.0.0.tgz");
        assert_eq!(absolute_url("http://h:1/charts", "/x/app.tgz"), "http://h:1/charts/x/app.tgz");
        assert_eq!(absolute_url("http://h:1", "https://cdn/app.tgz"), "https://cdn/app.tgz");
    }

    #[test]
    fn tree_digest_follows_content() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/b/f"), "1").unwrap();
        let d1 = tree_digest(t.path()).unwrap();
        assert_eq!(d1, tree_digest(t.path()).unwrap());
        std::fs::write(t.path().join("a/b/f"), "2").unwrap();
        assert_ne!(d1, tree_digest(t.path()).unwrap());
    }
}
