//! Isolated helm invocations and a synthetic chart builder.

use crate::process::{run_bounded, run_checked, CmdOutput, DEFAULT_COMMAND_TIMEOUT};
use crate::registry::Registry;
use crate::tools::Tool;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A helm runner whose config/cache/data/registry-auth live in its own temp
/// dir (`HELM_CONFIG_HOME`, `HELM_CACHE_HOME`, `HELM_DATA_HOME`,
/// `HELM_REGISTRY_CONFIG`, `HELM_REPOSITORY_CONFIG`, `HELM_REPOSITORY_CACHE`),
/// inherited `HELM_*` variables removed and `KUBECONFIG` pointed at a
/// non-existent file, so tests never touch the user's helm setup or a cluster.
#[derive(Debug)]
pub struct Helm {
    bin: PathBuf,
    home: TempDir,
}

impl Helm {
    /// Locate helm ([`Tool::Helm`]) and create an isolated home.
    pub fn new() -> Result<Helm> {
        Self::with_binary(&Tool::Helm.locate()?)
    }

    /// Use an explicit helm binary.
    pub fn with_binary(bin: &Path) -> Result<Helm> {
        let home = tempfile::Builder::new().prefix("kod-lab-helm-").tempdir()?;
        for d in ["config", "cache", "data", "registry", "cache/repository"] {
            std::fs::create_dir_all(home.path().join(d))?;
        }
        Ok(Helm {
            bin: bin.to_path_buf(),
            home,
        })
    }

    /// The helm binary.
    pub fn binary(&self) -> &Path {
        &self.bin
    }

    /// The isolated home directory.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// Environment variables that isolate helm (also useful for running `kod`
    /// or helmfile under test with the same helm state).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let h = self.home.path();
        let p = |s: &str| h.join(s).display().to_string();
        vec![
            ("HELM_CONFIG_HOME".into(), p("config")),
            ("HELM_CACHE_HOME".into(), p("cache")),
            ("HELM_DATA_HOME".into(), p("data")),
            ("HELM_REGISTRY_CONFIG".into(), p("registry/config.json")),
            (
                "HELM_REPOSITORY_CONFIG".into(),
                p("config/repositories.yaml"),
            ),
            ("HELM_REPOSITORY_CACHE".into(), p("cache/repository")),
            ("KUBECONFIG".into(), p("no-kubeconfig")),
        ]
    }

    /// A `helm` command with the isolated environment.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("HELM_") {
                c.env_remove(&k);
            }
        }
        c.envs(self.env_vars());
        c
    }

    /// Run `helm <args>`; non-zero exit is NOT an error.
    pub fn run(&self, args: &[&str]) -> Result<CmdOutput> {
        let mut c = self.command();
        c.args(args);
        run_bounded(&mut c, None, DEFAULT_COMMAND_TIMEOUT)
    }

    /// Run `helm <args>`; non-zero exit is an error carrying the output.
    pub fn run_ok(&self, args: &[&str]) -> Result<CmdOutput> {
        let mut c = self.command();
        c.args(args);
        run_checked(&mut c, None, DEFAULT_COMMAND_TIMEOUT)
    }

    /// `helm registry login HOST --username U --password-stdin` (password on stdin).
    /// Uses [`Registry::helm_host`] and `--ca-file` for TLS, `--insecure` for plain.
    /// Returns the raw output (check `status` for success).
    pub fn registry_login_with(
        &self,
        reg: &Registry,
        user: &str,
        password: &str,
    ) -> Result<CmdOutput> {
        let mut c = self.command();
        c.args([
            "registry",
            "login",
            &reg.helm_host(),
            "--username",
            user,
            "--password-stdin",
        ]);
        // `registry login` has no --plain-http in helm 3.15: helm already uses
        // plain HTTP for loopback hosts; `--insecure` is harmless there.
        match reg.ca_file() {
            Some(ca) => {
                c.arg("--ca-file").arg(ca);
            }
            None => {
                c.arg("--insecure");
            }
        }
        run_bounded(&mut c, Some(password.as_bytes()), DEFAULT_COMMAND_TIMEOUT)
    }

    /// Log into `reg` with its own credentials (no-op if it has no auth).
    pub fn registry_login(&self, reg: &Registry) -> Result<()> {
        if let (Some(u), Some(p)) = (reg.username(), reg.password()) {
            let out = self.registry_login_with(reg, u, p)?;
            if !out.status.success() {
                bail!(
                    "helm registry login {} failed: {}",
                    reg.helm_host(),
                    out.combined()
                );
            }
        }
        Ok(())
    }

    /// `helm package CHART_DIR -d OUT_DIR` → path of the `.tgz`.
    pub fn package(&self, chart_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(out_dir)?;
        let out = self.run_ok(&[
            "package",
            &chart_dir.display().to_string(),
            "-d",
            &out_dir.display().to_string(),
        ])?;
        // "Successfully packaged chart and saved it to: /path/x.tgz"
        let path = out
            .stdout
            .rsplit_once(": ")
            .map(|(_, p)| PathBuf::from(p.trim()))
            .filter(|p| p.is_file())
            .context("cannot find packaged chart path in helm output")?;
        Ok(path)
    }

    /// `helm push TGZ oci://HOST/NAMESPACE` (logs in first if needed); returns
    /// the chart reference `oci://HELM_HOST/NAMESPACE/NAME` (without version).
    pub fn push_oci(&self, reg: &Registry, tgz: &Path, namespace: &str) -> Result<String> {
        self.registry_login(reg)?;
        let dest = format!("oci://{}/{}", reg.helm_host(), namespace.trim_matches('/'));
        let mut c = self.command();
        c.arg("push").arg(tgz).arg(&dest).args(tls_args(reg));
        let out = run_checked(&mut c, None, DEFAULT_COMMAND_TIMEOUT)?;
        // "Pushed: host/ns/name:version"
        let text = out.combined();
        let pushed = text
            .lines()
            .find_map(|l| l.strip_prefix("Pushed: "))
            .map(|s| s.trim().to_string())
            .context("helm push printed no `Pushed:` line")?;
        let name = pushed
            .rsplit_once(':')
            .map(|(n, _)| n.to_string())
            .unwrap_or(pushed);
        Ok(format!("oci://{name}"))
    }

    /// `helm pull oci://… --version V -d DEST` → path of the downloaded `.tgz`.
    pub fn pull_oci(
        &self,
        reg: &Registry,
        chart_ref: &str,
        version: &str,
        dest: &Path,
    ) -> Result<PathBuf> {
        self.registry_login(reg)?;
        std::fs::create_dir_all(dest)?;
        let mut c = self.command();
        c.args(["pull", chart_ref, "--version", version, "-d"])
            .arg(dest)
            .args(tls_args(reg));
        run_checked(&mut c, None, DEFAULT_COMMAND_TIMEOUT)?;
        newest_tgz(dest)
    }
}

/// helm TLS flags for `reg`: `--ca-file CA` (TLS) or `--plain-http`.
pub fn tls_args(reg: &Registry) -> Vec<String> {
    match reg.ca_file() {
        Some(ca) => vec!["--ca-file".into(), ca.display().to_string()],
        None => vec!["--plain-http".into()],
    }
}

pub(crate) fn newest_tgz(dir: &Path) -> Result<PathBuf> {
    let mut v: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().map(|e| e == "tgz").unwrap_or(false))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    v.sort();
    v.pop().map(|x| x.1).context("no .tgz downloaded")
}

/// Push a packaged chart to a lab registry with a throw-away isolated helm:
/// `helm push TGZ oci://HOST/NAMESPACE` (`--plain-http`, or the TLS alias host
/// + `--ca-file`, after `helm registry login … --password-stdin`).
pub fn push_chart_oci(reg: &Registry, tgz: &Path, namespace: &str) -> Result<String> {
    Helm::new()?.push_oci(reg, tgz, namespace)
}

/// A chart dependency entry of `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartDependency {
    /// Chart name.
    pub name: String,
    /// Version or range.
    pub version: String,
    /// `https://…`, `oci://…` or `file://…`.
    pub repository: String,
}

/// Description of a synthetic chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartSpec {
    /// Chart name.
    pub name: String,
    /// Chart version (semver).
    pub version: String,
    /// appVersion.
    pub app_version: String,
    /// `values.yaml` content.
    pub values_yaml: String,
    /// `(file name under templates/, content)`.
    pub templates: Vec<(String, String)>,
    /// Dependencies (written to Chart.yaml; `helm dependency build` runs when packaging).
    pub dependencies: Vec<ChartDependency>,
}

impl ChartSpec {
    /// A chart with one Deployment rendering `image.registry/image.repository:image.tag`
    /// from its values (default: `docker.io/bitnami/redis:7.2.4`).
    pub fn new(name: &str, version: &str) -> ChartSpec {
        ChartSpec {
            name: name.to_string(),
            version: version.to_string(),
            app_version: version.to_string(),
            values_yaml: "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: \"7.2.4\"\nreplicaCount: 1\n".to_string(),
            templates: vec![("deployment.yaml".to_string(), DEFAULT_DEPLOYMENT.to_string())],
            dependencies: vec![],
        }
    }

    /// A chart whose one Deployment (`RELEASE-CHART`) runs every image of `images` (values
    /// `images:`, one container each, written as given).
    pub fn running_images(name: &str, version: &str, images: &[&str]) -> ChartSpec {
        let mut c = ChartSpec::new(name, version);
        c.values_yaml = format!("images:\n{}", images.iter().map(|i| format!("- {i}\n")).collect::<String>());
        c.templates = vec![("deployment.yaml".to_string(), IMAGES_DEPLOYMENT.to_string())];
        c
    }

    /// Same default template, with the image set from a full reference.
    pub fn with_image(mut self, image: &str) -> Result<ChartSpec> {
        let r = crate::ImageRef::parse(image)?;
        self.values_yaml = format!(
            "image:\n  registry: {}\n  repository: {}\n  tag: \"{}\"\nreplicaCount: 1\n",
            r.registry, r.repository, r.tag
        );
        Ok(self)
    }

    /// Write the chart source directory `parent/<name>/`; returns its path.
    pub fn write_to(&self, parent: &Path) -> Result<PathBuf> {
        let dir = parent.join(&self.name);
        std::fs::create_dir_all(dir.join("templates"))?;
        let mut chart = format!(
            "apiVersion: v2\nname: {}\ndescription: kod-testlab synthetic chart\ntype: application\nversion: {}\nappVersion: \"{}\"\n",
            self.name, self.version, self.app_version
        );
        if !self.dependencies.is_empty() {
            chart.push_str("dependencies:\n");
            for d in &self.dependencies {
                chart.push_str(&format!(
                    "  - name: {}\n    version: \"{}\"\n    repository: \"{}\"\n",
                    d.name, d.version, d.repository
                ));
            }
        }
        std::fs::write(dir.join("Chart.yaml"), chart)?;
        std::fs::write(dir.join("values.yaml"), &self.values_yaml)?;
        for (f, content) in &self.templates {
            if f.contains("..") || f.starts_with('/') {
                bail!("bad template file name {f:?}");
            }
            let p = dir.join("templates").join(f);
            if let Some(pp) = p.parent() {
                std::fs::create_dir_all(pp)?;
            }
            std::fs::write(p, content)?;
        }
        Ok(dir)
    }

    /// Write the source under `work_dir`, build dependencies if any, and
    /// `helm package` it into `out_dir`; returns the `.tgz` path.
    pub fn package(&self, helm: &Helm, work_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
        let dir = self.write_to(work_dir)?;
        if !self.dependencies.is_empty() {
            helm.run_ok(&["dependency", "build", &dir.display().to_string()])?;
        }
        helm.package(&dir, out_dir)
    }
}

/// The template of [`ChartSpec::running_images`].
pub const IMAGES_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
spec:
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
      {{- range $i, $img := .Values.images }}
      - name: c{{ $i }}
        image: {{ $img }}
      {{- end }}
"#;

/// Default Deployment template used by [`ChartSpec::new`].
pub const DEFAULT_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .Chart.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .Chart.Name }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"#;
