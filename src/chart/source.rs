//! Where a release's chart comes from, decided the way helmfile 0.166 decides it:
//!
//! - `oci://host/path/chart` → an OCI chart;
//! - `NAME/chart` where `NAME` is one of the state's `repositories` → that repository
//!   (`oci: true` repositories turn into `oci://URL/chart`);
//! - otherwise a local path relative to the helmfile's directory (a chart directory or a
//!   `.tgz`); a path that does not exist is an error naming the release.
//!
//! The version is the release's `version` (a constraint; empty = the newest), replaced by
//! the helmfile lock file's version when a lock file exists (`<helmfile name>.lock` next to
//! the helmfile, or `lockFilePath`), exactly as helmfile's `mergeLockedDependencies` does.
//!
//! Credentials come from the repository entry (`username`/`password`), else from the
//! `<NAME>_USERNAME`/`<NAME>_PASSWORD` environment variables (name upper-cased, `-` → `_`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::constraint::{parse_version, Constraint};
use crate::helmfile::model::{ReleaseSpec, RepositorySpec};
use crate::helmfile::LoadedState;
use crate::registry::Secret;

/// Settings of one chart repository (HTTP or OCI) from the helmfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RepoSettings {
    /// The helmfile's name for it.
    pub name: String,
    /// Its URL (for OCI repositories: `host/path`, without `oci://`).
    pub url: String,
    /// `oci: true`.
    pub oci: bool,
    /// User name, from the helmfile or `<NAME>_USERNAME`.
    pub username: Option<String>,
    /// Password, from the helmfile or `<NAME>_PASSWORD` (never printed).
    #[serde(skip)]
    pub password: Option<Secret>,
    /// `caFile` (absolute).
    pub ca_file: Option<PathBuf>,
    /// `certFile` (absolute).
    pub cert_file: Option<PathBuf>,
    /// `keyFile` (absolute).
    pub key_file: Option<PathBuf>,
    /// `skipTLSVerify`.
    pub skip_tls_verify: bool,
    /// `passCredentials`.
    pub pass_credentials: bool,
}

impl RepoSettings {
    /// Build from a helmfile `repositories:` entry; `env` looks up environment variables.
    pub fn from_spec(spec: &RepositorySpec, base_dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> RepoSettings {
        let var = spec.name.to_uppercase().replace('-', "_");
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let username = nonempty(&spec.username).or_else(|| env(&format!("{var}_USERNAME")).filter(|s| !s.is_empty()));
        let password = nonempty(&spec.password).or_else(|| env(&format!("{var}_PASSWORD")).filter(|s| !s.is_empty()));
        let abs = |p: &Option<String>| nonempty(p).map(|p| if Path::new(&p).is_absolute() { PathBuf::from(p) } else { base_dir.join(p) });
        RepoSettings {
            name: spec.name.clone(),
            url: spec.url.trim_end_matches('/').to_string(),
            oci: spec.oci,
            username,
            password: password.map(Secret::new),
            ca_file: abs(&spec.ca_file),
            cert_file: abs(&spec.cert_file),
            key_file: abs(&spec.key_file),
            skip_tls_verify: spec.skip_tls_verify,
            pass_credentials: spec.pass_credentials,
        }
    }

    /// Whether it has a user name or password (from the helmfile or the environment).
    pub fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some()
    }

    /// The registry host of an OCI repository (`host[:port]`).
    pub fn oci_host(&self) -> &str {
        let u = self.url.strip_prefix("oci://").unwrap_or(&self.url);
        u.split('/').next().unwrap_or(u)
    }
}

/// Where a chart comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChartSource {
    /// A classic HTTP(S) chart repository.
    Repo {
        /// The repository's settings.
        repo: RepoSettings,
        /// The chart's name in the repository.
        chart: String,
    },
    /// An OCI registry: `oci://host/path/chart`.
    Oci {
        /// The full `oci://` reference without a tag.
        url: String,
        /// The repository entry it came through (credentials, TLS), if any.
        repo: Option<RepoSettings>,
    },
    /// A chart directory or archive on disk.
    Local {
        /// Absolute path.
        path: PathBuf,
    },
}

impl ChartSource {
    /// A short human name: `NAME/chart`, `oci://…`, or the path.
    pub fn display(&self) -> String {
        match self {
            ChartSource::Repo { repo, chart } => format!("{}/{} ({})", repo.name, chart, repo.url),
            ChartSource::Oci { url, .. } => url.clone(),
            ChartSource::Local { path } => path.display().to_string(),
        }
    }

    /// The OCI registry host, for OCI charts.
    pub fn oci_host(&self) -> Option<&str> {
        match self {
            ChartSource::Oci { url, .. } => {
                let u = url.strip_prefix("oci://").unwrap_or(url);
                Some(u.split('/').next().unwrap_or(u))
            }
            _ => None,
        }
    }
}

/// One chart to fetch: the source and the version constraint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChartRequest {
    /// Where from.
    pub source: ChartSource,
    /// The version constraint as written (or as locked); empty = the newest.
    pub version: String,
    /// Pre-release versions are acceptable (`devel: true`).
    pub devel: bool,
    /// Local charts: skip `helm dependency build` (`skipDeps`).
    pub skip_deps: bool,
    /// The state's repositories (local charts' HTTP dependencies are fetched through the
    /// matching one, with its credentials).
    #[serde(skip)]
    pub repositories: Vec<RepoSettings>,
}

impl ChartRequest {
    /// A key that is equal for requests that fetch the same chart.
    pub fn dedup_key(&self) -> String {
        let src = match &self.source {
            ChartSource::Repo { repo, chart } => format!("repo\0{}\0{chart}", repo.url),
            ChartSource::Oci { url, .. } => format!("oci\0{url}"),
            ChartSource::Local { path } => format!("local\0{}", path.display()),
        };
        format!("{src}\0{}\0{}\0{}", self.version, self.devel, self.skip_deps)
    }
}

/// The repositories of a state, by helmfile name.
pub fn repositories(state: &LoadedState, env: &dyn Fn(&str) -> Option<String>) -> BTreeMap<String, RepoSettings> {
    state
        .spec
        .repositories
        .iter()
        .map(|r| (r.name.clone(), RepoSettings::from_spec(r, &state.base_dir, env)))
        .collect()
}

/// Decide where `release`'s chart comes from and which version to ask for.
pub fn chart_request(
    state: &LoadedState,
    release: &ReleaseSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ChartRequest> {
    let repos = repositories(state, env);
    let chart = release.chart.trim();
    let devel = release.devel.or(state.spec.helm_defaults.devel).unwrap_or(false);
    let skip_deps = release.skip_deps.or(state.spec.helm_defaults.skip_deps).unwrap_or(false);
    let what = || format!("{}: release {:?}", state.file.display(), release.name);
    if chart.is_empty() {
        bail!("{}: has no chart", what());
    }
    let mut version = release.version.clone();
    let source = if chart.starts_with("oci://") {
        ChartSource::Oci { url: chart.trim_end_matches('/').to_string(), repo: None }
    } else if let Some((repo, rest)) = chart.split_once('/').filter(|(r, _)| repos.contains_key(*r)) {
        let repo = repos[repo].clone();
        if let Some(locked) = locked_version(state, rest, &release.version)? {
            version = locked;
        }
        if repo.oci {
            let base = repo.url.strip_prefix("oci://").unwrap_or(&repo.url);
            ChartSource::Oci { url: format!("oci://{base}/{rest}"), repo: Some(repo) }
        } else {
            ChartSource::Repo { repo, chart: rest.to_string() }
        }
    } else if chart.contains("://") || chart.starts_with("git::") {
        bail!("{}: chart {chart:?} is a URL kod cannot fetch (use a repository, oci:// or a local path)", what());
    } else {
        let path = if Path::new(chart).is_absolute() { PathBuf::from(chart) } else { state.base_dir.join(chart) };
        if !path.exists() {
            let hint = match chart.split_once('/') {
                Some((r, _)) if !chart.starts_with('.') => format!(
                    " (no repository named {r:?} in {}; known: {})",
                    state.file.display(),
                    if repos.is_empty() { "none".to_string() } else { repos.keys().cloned().collect::<Vec<_>>().join(", ") }
                ),
                _ => String::new(),
            };
            bail!("{}: chart {chart:?} not found: {} does not exist{hint}", what(), path.display());
        }
        ChartSource::Local { path: clean(&path) }
    };
    let repositories = if matches!(source, ChartSource::Local { .. }) { repos.into_values().collect() } else { Vec::new() };
    Ok(ChartRequest { source, version, devel, skip_deps, repositories })
}

fn clean(p: &Path) -> PathBuf {
    PathBuf::from(crate::helmfile::release::clean_path(&p.display().to_string()))
}

/// helmfile's lock file (`helmfile deps` writes it).
#[derive(Debug, Deserialize)]
struct LockFile {
    #[serde(default)]
    dependencies: Vec<LockedDependency>,
}

#[derive(Debug, Deserialize)]
struct LockedDependency {
    name: String,
    #[serde(default)]
    version: String,
}

/// The lock file of a state: `lockFilePath`, else `<file name without .gotmpl/.yaml/.yml>.lock`
/// next to the helmfile.
pub fn lock_file_path(state: &LoadedState) -> PathBuf {
    if let Some(p) = state.spec.lock_file_path.as_deref().filter(|p| !p.is_empty()) {
        return if Path::new(p).is_absolute() { PathBuf::from(p) } else { state.base_dir.join(p) };
    }
    let name = state.abs_path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let stem = name.strip_suffix(".gotmpl").unwrap_or(&name);
    let stem = stem.strip_suffix(".yaml").or_else(|| stem.strip_suffix(".yml")).unwrap_or(stem);
    state.base_dir.join(format!("{stem}.lock"))
}

/// The locked version of `chart` satisfying `constraint`, when the state has a lock file.
/// Like helmfile: the first locked entry of that name whose version satisfies the
/// constraint; none is an error that says to run `helmfile deps`.
pub fn locked_version(state: &LoadedState, chart: &str, constraint: &str) -> Result<Option<String>> {
    let path = lock_file_path(state);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("reading the lock file {}: {e}", path.display())),
    };
    let lock: LockFile = serde_yaml::from_str(&text).with_context(|| format!("parsing the lock file {}", path.display()))?;
    let wanted = if constraint.is_empty() { "*" } else { constraint };
    let c = Constraint::parse(wanted).with_context(|| format!("lock file {}", path.display()))?;
    for dep in lock.dependencies.iter().filter(|d| d.name == chart) {
        if let Some(v) = parse_version(&dep.version) {
            if c.matches(&v, true) {
                return Ok(Some(dep.version.clone()));
            }
        }
    }
    bail!(
        "no resolved dependency found for {chart:?} (version {wanted:?}) in the lock file {}, running \"helmfile deps\" may resolve the issue",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helmfile::model::StateSpec;

    fn state(dir: &Path, yaml: &str) -> LoadedState {
        let spec: StateSpec = serde_yaml::from_str(yaml).unwrap();
        LoadedState {
            file: dir.join("helmfile.yaml"),
            abs_path: dir.join("helmfile.yaml"),
            base_dir: dir.to_path_buf(),
            spec,
            env: Default::default(),
            rendered_values: serde_json::json!({}),
            selectors: vec![],
            warnings: vec![],
        }
    }

    const STATE: &str = "repositories:\n- {name: my-repo, url: 'http://127.0.0.1:1/charts/'}\n- {name: reg, url: '127.0.0.1:5000/charts', oci: true, username: u, password: p}\nreleases:\n- {name: a, chart: my-repo/app, version: ^1.0}\n- {name: b, chart: reg/app, version: 2.0.0}\n- {name: c, chart: oci://127.0.0.1:5000/x/app}\n- {name: d, chart: ./local}\n- {name: e, chart: nope/app}\n";

    #[test]
    fn sources_like_helmfile() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("local")).unwrap();
        let s = state(t.path(), STATE);
        let env = |k: &str| (k == "MY_REPO_PASSWORD").then(|| "from-env".to_string());
        let r = |i: usize| chart_request(&s, &s.spec.releases[i], &env);
        match r(0).unwrap().source {
            ChartSource::Repo { repo, chart } => {
                assert_eq!((repo.url.as_str(), chart.as_str()), ("http://127.0.0.1:1/charts", "app"));
                assert_eq!(repo.password.unwrap().expose(), "from-env");
                assert_eq!(repo.username, None);
            }
            other => panic!("{other:?}"),
        }
        match r(1).unwrap().source {
            ChartSource::Oci { url, repo } => {
                assert_eq!(url, "oci://127.0.0.1:5000/charts/app");
                assert_eq!(repo.unwrap().username.as_deref(), Some("u"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(r(2).unwrap().source, ChartSource::Oci { ref url, repo: None } if url == "oci://127.0.0.1:5000/x/app"));
        assert_eq!(r(3).unwrap().source, ChartSource::Local { path: t.path().join("local") });
        let e = r(4).unwrap_err().to_string();
        assert!(e.contains("release \"e\"") && e.contains("no repository named \"nope\"") && e.contains("known: my-repo, reg"), "{e}");
    }

    #[test]
    fn lock_file_pins_versions() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("local")).unwrap();
        std::fs::write(
            t.path().join("helmfile.lock"),
            "version: v0.166.0\ndependencies:\n- name: app\n  repository: http://127.0.0.1:1/charts\n  version: 1.4.2\ndigest: sha256:x\ngenerated: \"2024-01-01T00:00:00Z\"\n",
        )
        .unwrap();
        let s = state(t.path(), STATE);
        let none = |_: &str| None;
        assert_eq!(chart_request(&s, &s.spec.releases[0], &none).unwrap().version, "1.4.2");
        // reg/app wants 2.0.0: the lock has no such version.
        let e = chart_request(&s, &s.spec.releases[1], &none).unwrap_err().to_string();
        assert!(e.contains("running \"helmfile deps\" may resolve the issue"), "{e}");
        // oci:// charts are not lock-managed.
        assert_eq!(chart_request(&s, &s.spec.releases[2], &none).unwrap().version, "");
    }
}
