//! Rendering a release with `helm template` exactly as helmfile 0.166 would for
//! `helmfile template` (its `flagsForTemplate` + `namespaceAndValuesFlags`):
//!
//! `helm template NAME CHART.tgz [--api-versions A]… [--kube-version V] [--namespace NS]
//! [--values FILE]… [--set N=V | --set-file N=PATH | --set N={A,B}]… [--set N=$ENV,…]`
//!
//! - every `values:` entry in order: inline maps are written as YAML, files are read
//!   (relative to the helmfile, after `valuesPathPrefix`, one glob match at most) and
//!   rendered first when they end in `.gotmpl`; each becomes a content-addressed file in the
//!   work directory (`values/sha256/…`), so the paths helm gets depend only on content;
//! - a missing values file follows `missingFileHandler` (`Error` by default; `Warn`, `Info`,
//!   `Debug` skip it);
//! - `set:` values are escaped like helmfile (`{`, `}`, `,`), `set[].file` paths are made
//!   absolute, `env:` entries read the environment; a `set:` pair whose name looks secret
//!   (`password`, `token`, `secret`, …) is echoed as `***`;
//! - `secrets:` need helm-secrets decryption, which kod does not do: a release with secrets
//!   is an error that says so. A `postRenderer` is not run (its changes are not seen).
//!
//! The render key is the sha256 of the chart digest, the release name and every argument
//! (values files by content digest, `--set-file` files by content digest) and helm's
//! major.minor version: identical renders share one key, run once, and are cached as
//! `renders/<key>.yaml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::json;
use serde_yaml::Value as Yaml;

use super::effective::set_value;
use crate::chart::workdir::{sha256_digest, WorkDir};
use crate::chart::FetchedChart;
use crate::exec::redact::is_secret_env_name;
use crate::exec::{Cmd, Runner, Tool};
use crate::helmfile::load::expand_glob;
use crate::helmfile::model::ReleaseSpec;
use crate::helmfile::LoadedState;
use crate::template::{Engine, EngineOptions};

/// How long one `helm template` may run.
const RENDER_TIMEOUT: Duration = Duration::from_secs(300);

/// One argument of a render, remembering which ones are content-addressed files.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Arg {
    Plain(String),
    /// A `--set` pair whose name looks secret (`password`, `token`, …): echoed as `***`.
    Secret(String),
    /// A values file: its path and content digest.
    File { path: PathBuf, digest: String },
    /// `--set-file NAME=PATH`: the name and path, and the file's content digest.
    SetFile { name: String, path: PathBuf, digest: String },
}

/// Everything needed to render one release.
#[derive(Clone, Debug)]
pub struct RenderJob {
    /// Hash of every render input (the cache key).
    pub key: String,
    /// The release name.
    pub release: String,
    /// The chart archive.
    pub chart: PathBuf,
    args: Vec<Arg>,
    /// The text of every values file and `--set` value given to helm (for confirming
    /// candidate images that the user configured).
    pub values_texts: Vec<String>,
    /// The release's values as trees, in helm's precedence order (values files, then
    /// `--set`/`--set-file`/`env` pairs; later wins), for computing its effective values
    /// ([`super::effective`]; `--set` names as [`super::effective::set_value`] reads them,
    /// list indexes included).
    pub user_values: Vec<serde_json::Value>,
}

impl RenderJob {
    /// The `helm template` arguments.
    pub fn helm_args(&self) -> Vec<String> {
        self.marked_args().into_iter().map(|(a, _)| a).collect()
    }

    /// The arguments, each with whether it is secret (to be echoed redacted).
    pub fn marked_args(&self) -> Vec<(String, bool)> {
        let mut out = vec![
            ("template".to_string(), false),
            (self.release.clone(), false),
            (self.chart.display().to_string(), false),
        ];
        for a in &self.args {
            out.push(match a {
                Arg::Plain(s) => (s.clone(), false),
                Arg::Secret(s) => (s.clone(), true),
                Arg::File { path, .. } => (path.display().to_string(), false),
                Arg::SetFile { name, path, .. } => (format!("{name}={}", path.display()), false),
            });
        }
        out
    }
}

/// helmfile's `escape` for `--set` values.
pub fn escape_set(value: &str) -> String {
    value.replace('{', "\\{").replace('}', "\\}").replace(',', "\\,")
}

/// Build the render job of `release` (of `state`) with the fetched `chart`.
/// `helm_version` is helm's `major.minor` (renders differ between helm versions).
pub fn render_job(
    workdir: &WorkDir,
    state: &LoadedState,
    release: &ReleaseSpec,
    chart: &FetchedChart,
    helm_version: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<RenderJob> {
    let what = || format!("{}: release {:?}", state.file.display(), release.name);
    if !release.secrets.is_empty() {
        bail!("{}: has `secrets:`; kod does not decrypt helm-secrets files (render them into plain values first)", what());
    }
    let mut args = Vec::new();
    let mut texts = Vec::new();
    let mut user_values = Vec::new();
    let api_versions = if release.api_versions.is_empty() { &state.spec.api_versions } else { &release.api_versions };
    for a in api_versions {
        args.push(Arg::Plain("--api-versions".into()));
        args.push(Arg::Plain(a.clone()));
    }
    let kube_version = if release.kube_version.is_empty() { state.spec.kube_version.clone().unwrap_or_default() } else { release.kube_version.clone() };
    if !kube_version.is_empty() {
        args.push(Arg::Plain("--kube-version".into()));
        args.push(Arg::Plain(kube_version));
    }
    if !release.namespace.is_empty() {
        args.push(Arg::Plain("--namespace".into()));
        args.push(Arg::Plain(release.namespace.clone()));
    }
    let handler = release
        .missing_file_handler
        .clone()
        .or_else(|| state.spec.missing_file_handler.clone())
        .unwrap_or_else(|| "Error".to_string());
    let prefix = release.values_path_prefix.clone().unwrap_or_default();
    for (i, v) in release.values.iter().enumerate() {
        let text = match v {
            Yaml::String(p) => {
                let pattern = format!("{prefix}{p}");
                let files = expand_glob(&state.base_dir, &pattern)?;
                match files.len() {
                    0 => match handler.as_str() {
                        "Warn" | "Info" | "Debug" => continue,
                        _ => bail!("{}: values file {pattern:?} does not exist (in {})", what(), state.base_dir.display()),
                    },
                    1 => {}
                    _ => bail!("{}: values {pattern:?} matches several files; helmfile does not support globs there", what()),
                }
                let f = &files[0];
                let raw = crate::helmfile::load::read_text_file(f).with_context(|| format!("{}: reading values file {}", what(), f.display()))?;
                if f.to_string_lossy().ends_with(".gotmpl") {
                    render_values_template(state, release, f, &raw).with_context(|| format!("{}: failed to render values file {p:?}", what()))?
                } else {
                    raw
                }
            }
            Yaml::Mapping(_) => serde_yaml::to_string(v).with_context(|| format!("{}: values entry {i}", what()))?,
            Yaml::Null => continue,
            other => bail!("{}: values entry {i} is neither a file nor a map: {other:?}", what()),
        };
        // helm reads the first YAML document of a values file.
        if let Some(doc) = serde_yaml::Deserializer::from_str(&text).next() {
            let tree = serde_json::Value::deserialize(doc).with_context(|| format!("{}: values entry {i} is not valid YAML", what()))?;
            user_values.push(tree);
        }
        let (path, digest) = workdir.store_values(&text)?;
        args.push(Arg::Plain("--values".into()));
        args.push(Arg::File { path, digest });
        texts.push(text);
    }
    for s in &release.set_values {
        if !s.value.is_empty() {
            args.push(Arg::Plain("--set".into()));
            let pair = format!("{}={}", escape_set(&s.name), escape_set(&s.value));
            args.push(if is_secret_env_name(&s.name) { Arg::Secret(pair) } else { Arg::Plain(pair) });
            texts.push(s.value.clone());
            user_values.extend(set_value(&s.name, &s.value));
        } else if !s.file.is_empty() {
            let path = if Path::new(&s.file).is_absolute() { PathBuf::from(&s.file) } else { state.base_dir.join(&s.file) };
            let bytes = std::fs::read(&path).with_context(|| format!("{}: set[{}].file {}", what(), s.name, path.display()))?;
            let content = String::from_utf8_lossy(&bytes).to_string();
            user_values.extend(set_value(&s.name, &content).map(|v| string_leaves(v, &content)));
            texts.push(content);
            args.push(Arg::Plain("--set-file".into()));
            args.push(Arg::SetFile { name: escape_set(&s.name), path, digest: sha256_digest(&bytes) });
        } else if !s.values.is_empty() {
            let items: Vec<String> = s.values.iter().map(|v| escape_set(v)).collect();
            args.push(Arg::Plain("--set".into()));
            args.push(Arg::Plain(format!("{}={{{}}}", escape_set(&s.name), items.join(","))));
            texts.extend(s.values.iter().cloned());
            let list = serde_json::Value::Array(s.values.iter().map(|v| serde_json::Value::String(v.clone())).collect());
            user_values.extend(set_value(&s.name, "").map(|v| replace_leaf(v, list)));
        }
    }
    if !release.env_values.is_empty() {
        let mut pairs = Vec::new();
        let mut missing = Vec::new();
        for e in &release.env_values {
            match env(&e.value) {
                Some(v) => {
                    texts.push(v.clone());
                    user_values.extend(set_value(&e.name, &v));
                    pairs.push(format!("{}={}", escape_set(&e.name), escape_set(&v)));
                }
                None => missing.push(e.value.clone()),
            }
        }
        if !missing.is_empty() {
            bail!("{}: environment variables not found: {}", what(), missing.join(", "));
        }
        args.push(Arg::Plain("--set".into()));
        args.push(Arg::Plain(pairs.join(",")));
    }
    let key_args: Vec<String> = args
        .iter()
        .map(|a| match a {
            Arg::Plain(s) | Arg::Secret(s) => s.clone(),
            Arg::File { digest, .. } => format!("file:{digest}"),
            Arg::SetFile { name, digest, .. } => format!("{name}=file:{digest}"),
        })
        .collect();
    let key_input = json!({"v": 1, "helm": helm_version, "chart": chart.digest, "release": release.name, "args": key_args});
    let key = sha256_digest(key_input.to_string().as_bytes()).trim_start_matches("sha256:").to_string();
    Ok(RenderJob { key, release: release.name.clone(), chart: chart.path.clone(), args, values_texts: texts, user_values })
}

/// `tree` (a single chain of one-key maps) with its leaf replaced by `leaf`.
fn replace_leaf(tree: serde_json::Value, leaf: serde_json::Value) -> serde_json::Value {
    match tree {
        serde_json::Value::Object(m) if m.len() == 1 => {
            let (k, v) = m.into_iter().next().expect("one key");
            let mut out = serde_json::Map::new();
            out.insert(k, replace_leaf(v, leaf));
            serde_json::Value::Object(out)
        }
        _ => leaf,
    }
}

/// `--set-file` values are strings, never typed.
fn string_leaves(tree: serde_json::Value, content: &str) -> serde_json::Value {
    replace_leaf(tree, serde_json::Value::String(content.to_string()))
}

/// Render a `.gotmpl` values file with the release's data, as helmfile does.
fn render_values_template(state: &LoadedState, release: &ReleaseSpec, file: &Path, text: &str) -> Result<String> {
    let engine = Engine::new(EngineOptions { base_dir: state.base_dir.clone(), ..Default::default() });
    let data = json!({
        "Environment": {"Name": state.env.name, "KubeContext": state.env.kube_context, "Values": state.env.values},
        "Values": state.rendered_values, "StateValues": state.rendered_values,
        "Namespace": state.spec.namespace.clone().unwrap_or_default(),
        "Release": {"Name": release.name, "Namespace": release.namespace, "Chart": release.chart, "Labels": release.labels, "KubeContext": release.kube_context},
    });
    engine.render(&file.display().to_string(), text, &data).map_err(|e| anyhow!("{e}"))
}

/// Go's garbage-collection target for `helm template` (unless the user set `GOGC`). A render is
/// a short-lived process that allocates heavily (YAML parsing of every manifest, regexp
/// splitting): with the default (100) a large chart spends 15–25 % of its CPU collecting.
/// 400 lets the heap grow four times before a collection — about 1.5x the memory (60–150 MB
/// per render for the corpus' largest charts) for ~15 % less CPU over a whole helmfile
/// (`scripts/bench/images.sh`). The output does not depend on it.
pub const RENDER_GOGC: &str = "400";

/// The rendered manifests of `job`: from the cache, or by running `helm template`.
/// Returns the text and whether it came from the cache.
pub async fn render(runner: &Runner, workdir: &WorkDir, job: &RenderJob) -> Result<(String, bool)> {
    let path = workdir.render_path(&job.key);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok((text, true));
    }
    let mut cmd = workdir.helm_env(Cmd::new(Tool::Helm)).read_only().capture().timeout(RENDER_TIMEOUT);
    if std::env::var_os("GOGC").is_none() {
        cmd = cmd.env("GOGC", RENDER_GOGC);
    }
    for (arg, secret) in job.marked_args() {
        cmd = if secret { cmd.secret_arg(arg) } else { cmd.arg(arg) };
    }
    let out = runner.run(&cmd).await?;
    workdir.write_atomic(&path, out.stdout.as_bytes())?;
    Ok((out.stdout, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helmfile::model::StateSpec;

    fn fixture(yaml: &str) -> (tempfile::TempDir, LoadedState, WorkDir, FetchedChart) {
        let t = tempfile::tempdir().unwrap();
        let spec: StateSpec = serde_yaml::from_str(yaml).unwrap();
        let state = LoadedState {
            file: t.path().join("helmfile.yaml"),
            abs_path: t.path().join("helmfile.yaml"),
            base_dir: t.path().to_path_buf(),
            spec,
            env: Default::default(),
            rendered_values: json!({"x": "from-state"}),
            selectors: vec![],
            warnings: vec![],
        };
        let wd = WorkDir::open(t.path().join("work")).unwrap();
        let chart = FetchedChart {
            name: "app".into(),
            version: "1.0.0".into(),
            digest: "sha256:00".into(),
            path: t.path().join("app.tgz"),
            source: "test".into(),
        };
        (t, state, wd, chart)
    }

    #[test]
    fn flags_like_helmfile_and_content_addressed_values() {
        let (t, state, wd, chart) = fixture(
            "kubeVersion: '1.29'\nreleases:\n- name: r\n  namespace: ns\n  chart: ./c\n  apiVersions: [monitoring.coreos.com/v1]\n  values:\n  - {b: 2, a: 1}\n  - v.yaml.gotmpl\n  - missing.yaml\n  missingFileHandler: Warn\n  set:\n  - {name: s.x, value: 'a,b'}\n  - {name: l, values: [p, q]}\n  - {name: f, file: f.txt}\n  env:\n  - {name: e, value: MY_VAR}\n",
        );
        std::fs::write(t.path().join("v.yaml.gotmpl"), "name: {{ .Release.Name }}-{{ .Values.x }}\n").unwrap();
        std::fs::write(t.path().join("f.txt"), "content").unwrap();
        let env = |k: &str| (k == "MY_VAR").then(|| "ev".to_string());
        let job = render_job(&wd, &state, &state.spec.releases[0], &chart, "3.15", &env).unwrap();
        let args = job.helm_args();
        let vals: Vec<&String> = args.iter().filter(|a| a.contains("/values/sha256/")).collect();
        assert_eq!(vals.len(), 2, "{args:?}");
        assert_eq!(std::fs::read_to_string(vals[0]).unwrap(), "b: 2\na: 1\n");
        assert_eq!(std::fs::read_to_string(vals[1]).unwrap(), "name: r-from-state\n");
        assert_eq!(
            job.user_values,
            vec![
                json!({"b": 2, "a": 1}),
                json!({"name": "r-from-state"}),
                json!({"s": {"x": "a,b"}}),
                json!({"l": ["p", "q"]}),
                json!({"f": "content"}),
                json!({"e": "ev"}),
            ]
        );
        let shown: Vec<String> = args.iter().map(|a| if a.contains("/values/sha256/") { "VALUES".into() } else { a.clone() }).collect();
        let f = t.path().join("f.txt").display().to_string();
        assert_eq!(
            shown,
            vec![
                "template", "r", &chart.path.display().to_string(), "--api-versions", "monitoring.coreos.com/v1", "--kube-version", "1.29",
                "--namespace", "ns", "--values", "VALUES", "--values", "VALUES", "--set", "s.x=a\\,b", "--set", "l={p,q}",
                "--set-file", &format!("f={f}"), "--set", "e=ev",
            ]
        );
        // Same inputs → same key; another values content → another key.
        let again = render_job(&wd, &state, &state.spec.releases[0], &chart, "3.15", &env).unwrap();
        assert_eq!(job.key, again.key);
        std::fs::write(t.path().join("f.txt"), "changed").unwrap();
        let changed = render_job(&wd, &state, &state.spec.releases[0], &chart, "3.15", &env).unwrap();
        assert_ne!(job.key, changed.key);
    }

    #[test]
    fn secret_looking_set_values_are_marked() {
        let (_t, state, wd, chart) = fixture("releases:\n- {name: r, chart: ./c, set: [{name: db.password, value: hunter2}, {name: db.user, value: app}]}\n");
        let job = render_job(&wd, &state, &state.spec.releases[0], &chart, "3.15", &|_: &str| None).unwrap();
        let marked = job.marked_args();
        assert!(marked.contains(&("db.password=hunter2".to_string(), true)), "{marked:?}");
        assert!(marked.contains(&("db.user=app".to_string(), false)), "{marked:?}");
        let mut cmd = Cmd::new(Tool::Helm);
        for (a, secret) in marked {
            cmd = if secret { cmd.secret_arg(a) } else { cmd.arg(a) };
        }
        let shown = cmd.display("helm");
        assert!(shown.contains("--set '***'") || shown.contains("--set ***"), "{shown}");
        assert!(!shown.contains("hunter2") && shown.contains("db.user=app"), "{shown}");
    }

    #[test]
    fn errors_name_the_release() {
        let (_t, state, wd, chart) = fixture("releases:\n- {name: r, chart: ./c, values: [nope.yaml]}\n- {name: s, chart: ./c, secrets: [x.yaml]}\n- {name: e, chart: ./c, env: [{name: a, value: NOT_SET_VAR}]}\n");
        let none = |_: &str| None;
        let e = render_job(&wd, &state, &state.spec.releases[0], &chart, "3.15", &none).unwrap_err().to_string();
        assert!(e.contains("release \"r\"") && e.contains("values file \"nope.yaml\" does not exist"), "{e}");
        let e = render_job(&wd, &state, &state.spec.releases[1], &chart, "3.15", &none).unwrap_err().to_string();
        assert!(e.contains("release \"s\"") && e.contains("secrets"), "{e}");
        let e = render_job(&wd, &state, &state.spec.releases[2], &chart, "3.15", &none).unwrap_err().to_string();
        assert!(e.contains("NOT_SET_VAR"), "{e}");
    }
}
