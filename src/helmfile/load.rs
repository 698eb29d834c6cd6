//! Loading helmfile state the way helmfile 0.166 does.
//!
//! 1. **Discovery**: `-f FILE` (a file, or a directory holding `helmfile.d/`-style files),
//!    else `helmfile.yaml`, `helmfile.yaml.gotmpl`, or `helmfile.d/*.y*ml(.gotmpl)` sorted.
//!    Having both a helmfile file and `helmfile.d/` is an error.
//! 2. **Parts**: a file is split on `\n---\n`; each part is rendered (when it is a template)
//!    with the environment accumulated from the parts before it, parsed strictly, its bases
//!    loaded and layered under it, its environment values loaded, and merged into the state
//!    (later parts override; a non-empty list replaces the earlier one).
//! 3. **Which files are templates** (documented in docs/helmfile-semantics.md): v1 rule —
//!    files ending in `.gotmpl` are templates; v0 rule — any file is, when `--helmfile-v0`
//!    is given or the file contains a template action (`{{`). Values files are templates
//!    only when they end in `.gotmpl`.
//! 4. **Environments**: `values` < environment `values` < `--state-values-file` <
//!    `--state-values-set`, maps deep-merged, lists replaced. `.Environment.Values`
//!    excludes the top-level `values`; `.Values`/`.StateValues` include them.
//! 5. **Releases**: templates inherited (`inherit:` + `except`), `helmDefaults.kubeContext`,
//!    `commonLabels`, `apiVersions`/`kubeVersion` defaults, then the release's template
//!    expressions rendered until stable (`name`, `chart`, `namespace`, `version`, labels,
//!    `valuesTemplate`, string `values`/`secrets`, `setTemplate`, `needs`, `*Template`),
//!    then the top-level `namespace`/`kubeContext` overrides and helmfile's normalisation
//!    of `needs` into release IDs.
//! 6. **Sub-helmfiles** (`helmfiles:`) are loaded with the same environment name and only
//!    the values their entry passes; they come before the parent, as in helmfile.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

use super::model::{EnvironmentSpec, ReleaseSpec, StateSpec};
use super::values::{self, merge, yaml_to_json};
use crate::template::{Engine, EngineOptions};

/// What the user asked for on the command line.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f/--file`.
    pub file: Option<PathBuf>,
    /// `-e/--environment` (default `default`).
    pub environment: Option<String>,
    /// `--state-values-set` (each may hold several comma-separated pairs).
    pub state_values_set: Vec<String>,
    /// `--state-values-file`.
    pub state_values_files: Vec<PathBuf>,
    /// `-n/--namespace` override.
    pub namespace: Option<String>,
    /// `--kube-context` override.
    pub kube_context: Option<String>,
    /// `--helmfile-v0`: every helmfile is a template.
    pub v0: bool,
    /// Working directory (default: the process's).
    pub cwd: Option<PathBuf>,
    /// Environment variables for templates (`None` = the process environment).
    pub env_vars: Option<BTreeMap<String, String>>,
    /// `-l/--selector` (each one AND-ed terms; several are OR-ed).
    pub selectors: Vec<String>,
    /// The budget of each template execution (see [`crate::template::limits`]).
    pub template_limits: crate::template::limits::Limits,
}

impl LoadOptions {
    fn env_name(&self) -> &str {
        self.environment.as_deref().unwrap_or("default")
    }
}

/// The environment a state was loaded with.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Environment {
    pub name: String,
    pub kube_context: String,
    /// Environment values (with `--state-values-*` and sub-helmfile values merged in).
    pub values: Value,
    /// The top-level `values:` of the state.
    pub defaults: Value,
}

impl Environment {
    fn new(name: &str) -> Environment {
        Environment { name: name.to_string(), kube_context: String::new(), values: values::empty_map(), defaults: values::empty_map() }
    }

    /// `.Values`: defaults, then environment values on top.
    pub fn merged(&self) -> Value {
        let mut v = self.defaults.clone();
        merge(&mut v, &self.values);
        v
    }

    /// The dot for templates rendered while loading.
    fn template_data(&self) -> Value {
        let vals = self.merged();
        json!({
            "Environment": { "Name": self.name, "KubeContext": self.kube_context, "Values": self.values },
            "Values": vals.clone(),
            "StateValues": vals,
            "Namespace": "",
            "KubeContext": "",
        })
    }
}

/// One loaded state file.
#[derive(Clone, Debug)]
pub struct LoadedState {
    /// The file as the user would name it (relative to the working directory when it is
    /// under it).
    pub file: PathBuf,
    /// Absolute path of the file.
    pub abs_path: PathBuf,
    /// Directory relative paths in the file are resolved against.
    pub base_dir: PathBuf,
    pub spec: StateSpec,
    pub env: Environment,
    /// `.Values` of this state.
    pub rendered_values: Value,
    /// The selectors that pick this state's releases: the command line's, or a
    /// sub-helmfile entry's own `selectors` (which replace them). Empty = every release.
    pub selectors: Vec<String>,
    /// Warnings found while loading this state (helmfile prints them too).
    pub warnings: Vec<String>,
}

/// Load every state file kod must read, in helmfile's order (sub-helmfiles before their
/// parent, `helmfile.d` files sorted), keeping only the releases each state's selectors
/// pick (what `helmfile build`/`list` show). The release plan needs every release and
/// uses [`load_all`] instead.
pub fn load(opts: &LoadOptions) -> Result<Vec<LoadedState>> {
    let mut states = load_all(opts)?;
    let cwd = match &opts.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir().context("reading the working directory")?,
    };
    for state in &mut states {
        select_releases(state)?;
        check_duplicates(state).map_err(|e| in_file(&state.abs_path, &cwd, e))?;
    }
    Ok(states)
}

/// helmfile's `checkDuplicates` for `build`/`list`: two selected releases with the same
/// name, namespace and kube context are an error (checked against helmfile 0.166 `build`).
fn check_duplicates(state: &LoadedState) -> Result<()> {
    let mut counts: Vec<((&str, &str, &str), usize)> = Vec::new();
    for r in &state.spec.releases {
        let key = (r.namespace.as_str(), r.name.as_str(), r.kube_context.as_str());
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, c)) => *c += 1,
            None => counts.push((key, 1)),
        }
    }
    if let Some(((ns, name, ctx), c)) = counts.into_iter().find(|(_, c)| *c > 1) {
        let mut msg = String::new();
        if !ns.is_empty() {
            msg.push_str(&format!(" in namespace {ns:?}"));
        }
        if !ctx.is_empty() {
            msg.push_str(&format!(" in kubecontext {ctx:?}"));
        }
        bail!("duplicate release {name:?} found{msg}: there were {c} releases named \"{name}\" matching specified selector");
    }
    Ok(())
}

/// Load every state file like [`load`], with every release kept; each state records the
/// selectors that apply to it in [`LoadedState::selectors`].
pub fn load_all(opts: &LoadOptions) -> Result<Vec<LoadedState>> {
    let cwd = match &opts.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir().context("reading the working directory")?,
    };
    let files = discover(&cwd, opts.file.as_deref())?;
    let mut overrides = values::empty_map();
    for f in &opts.state_values_files {
        let path = if f.is_absolute() { f.clone() } else { cwd.join(f) };
        let text = read_text_file(&path).with_context(|| format!("--state-values-file {}: cannot read it", f.display()))?;
        let v = values::parse_values_yaml(&text).map_err(|e| anyhow!("--state-values-file {}: {e}", f.display()))?;
        merge(&mut overrides, &v);
    }
    for s in &opts.state_values_set {
        merge(&mut overrides, &values::parse_set(s)?);
    }
    let ld = Loader { opts, cwd: cwd.clone(), warnings: Default::default() };
    let mut out = Vec::new();
    let any_overrides = !opts.state_values_files.is_empty() || !opts.state_values_set.is_empty();
    for f in files {
        ld.visit(&f, if any_overrides { Some(&overrides) } else { None }, &opts.selectors, &mut out, 0)?;
    }
    Ok(out)
}

/// helmfile's file discovery.
pub fn discover(cwd: &Path, file: Option<&Path>) -> Result<Vec<PathBuf>> {
    if let Some(f) = file {
        let p = if f.is_absolute() { f.to_path_buf() } else { cwd.join(f) };
        if p.is_dir() {
            return dir_files(&p).and_then(|v| {
                if v.is_empty() {
                    bail!("no helmfile found in directory {}", f.display())
                } else {
                    Ok(v)
                }
            });
        }
        if !p.is_file() {
            bail!("helmfile {} does not exist", f.display());
        }
        return Ok(vec![p]);
    }
    let candidates: Vec<PathBuf> =
        ["helmfile.yaml", "helmfile.yaml.gotmpl"].iter().map(|n| cwd.join(n)).filter(|p| p.is_file()).collect();
    let d = cwd.join("helmfile.d");
    let dir = if d.is_dir() { dir_files(&d)? } else { Vec::new() };
    match (candidates.len(), dir.is_empty()) {
        (0, true) => bail!(
            "no state file found: expected helmfile.yaml, helmfile.yaml.gotmpl or helmfile.d/*.yaml in {} (or pass -f FILE)",
            cwd.display()
        ),
        (2, _) => bail!("both helmfile.yaml and helmfile.yaml.gotmpl exist in {}: keep one", cwd.display()),
        (1, false) => bail!(
            "both {} and helmfile.d/ exist in {}: helmfile refuses to choose; keep one or pass -f",
            candidates[0].file_name().unwrap_or_default().to_string_lossy(),
            cwd.display()
        ),
        (1, true) => Ok(candidates),
        _ => Ok(dir),
    }
}

fn dir_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            p.is_file() && (n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".yaml.gotmpl") || n.ends_with(".yml.gotmpl"))
        })
        .collect();
    v.sort();
    Ok(v)
}

struct Loader<'a> {
    opts: &'a LoadOptions,
    cwd: PathBuf,
    warnings: std::cell::RefCell<Vec<String>>,
}

/// An error in a file, helmfile style: `in FILE: ...` (unless the message already starts
/// with the file's own `FILE:LINE:` position).
fn in_file(file: &Path, cwd: &Path, e: anyhow::Error) -> anyhow::Error {
    let shown = display_path(file, cwd);
    let text = format!("{e:#}");
    if text.starts_with(&format!("{shown}:")) || text.starts_with("in ") {
        anyhow!(text)
    } else {
        anyhow!("in {shown}: {text}")
    }
}

/// Rewrite serde's "unknown field `x`, expected one of `a`, `b`, ..." into a short message
/// with a suggestion of the closest accepted key.
fn unknown_key_message(msg: &str) -> String {
    let Some(start) = msg.find("unknown field `") else { return msg.to_string() };
    let rest = &msg[start + "unknown field `".len()..];
    let Some(end) = rest.find('`') else { return msg.to_string() };
    let key = &rest[..end];
    let prefix = &msg[..start];
    let candidates: Vec<&str> = match rest.find("expected one of ") {
        Some(i) => rest[i..].split('`').skip(1).step_by(2).collect(),
        None => match rest.find("expected `") {
            Some(i) => rest[i..].split('`').skip(1).step_by(2).collect(),
            None => Vec::new(),
        },
    };
    let best = candidates
        .iter()
        .map(|c| (edit_distance(&key.to_lowercase(), &c.to_lowercase()), *c))
        .min()
        .filter(|(d, c)| *d <= 3.max(c.len() / 3));
    match best {
        Some((_, c)) => format!("{prefix}unknown key `{key}` (did you mean `{c}`?)"),
        None => format!("{prefix}unknown key `{key}` (not a key helmfile 0.166 accepts here)"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn display_path(p: &Path, cwd: &Path) -> String {
    match p.strip_prefix(cwd) {
        Ok(rel) => format!("./{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

impl<'a> Loader<'a> {
    /// Record a warning (printed once by the command, in order).
    fn warn(&self, msg: String) {
        let mut w = self.warnings.borrow_mut();
        if !w.contains(&msg) {
            w.push(msg);
        }
    }

    fn engine(&self, base_dir: &Path) -> Engine {
        let disable_insecure = match &self.opts.env_vars {
            Some(m) => m.get("HELMFILE_DISABLE_INSECURE_FEATURES").is_some_and(|v| v == "true"),
            None => std::env::var("HELMFILE_DISABLE_INSECURE_FEATURES").is_ok_and(|v| v == "true"),
        };
        Engine::new(EngineOptions {
            base_dir: base_dir.to_path_buf(),
            disable_insecure,
            env: self.opts.env_vars.clone(),
            limits: self.opts.template_limits,
        })
    }

    /// Load `path` and (first) its sub-helmfiles, appending to `out`.
    fn visit(
        &self,
        path: &Path,
        overrides: Option<&Value>,
        selectors: &[String],
        out: &mut Vec<LoadedState>,
        depth: usize,
    ) -> Result<()> {
        if depth > 32 {
            bail!("sub-helmfiles nest deeper than 32 levels at {} (a cycle?)", path.display());
        }
        let mut state = self.load_root(path, overrides).map_err(|e| in_file(path, &self.cwd, e))?;
        state.warnings = std::mem::take(&mut *self.warnings.borrow_mut());
        state.selectors = selectors.to_vec();
        for (i, sub) in state.spec.helmfiles.iter().enumerate() {
            if sub.path == "." {
                bail!(
                    "in {}: contains a recursion into the directory containing this helmfile at helmfiles[{i}]",
                    display_path(path, &self.cwd)
                );
            }
            let mut sub_values = values::empty_map();
            for (j, entry) in sub.values.iter().enumerate() {
                let v = self
                    .load_values_entry(entry, &state.base_dir, "Error", &state.env, &format!("helmfiles[{i}].values[{j}]"))
                    .map_err(|e| in_file(path, &self.cwd, e))?;
                if let Some(v) = v {
                    merge(&mut sub_values, &v);
                }
            }
            if sub.selectors_inherited && !sub.selectors.is_empty() {
                bail!(
                    "in {}: you cannot use 'selectorsInherited: true' along with explicit selectors for path: {}",
                    display_path(path, &self.cwd),
                    sub.path
                );
            }
            // A sub-helmfile's own selectors replace its parent's; otherwise (and with
            // `selectorsInherited`) the parent's apply — the command line's at the top,
            // a sub-helmfile entry's own further down (checked against helmfile 0.166 with
            // root -> a.yaml (selectors: [name=x]) -> b.yaml: `helmfile -l name=y list`
            // lists only x from b.yaml).
            let sub_selectors = if sub.selectors.is_empty() { selectors } else { &sub.selectors };
            let matches = expand_glob(&state.base_dir, &sub.path)?;
            if matches.is_empty() {
                bail!("in {}: helmfiles[{i}]: no file matches {:?}", display_path(path, &self.cwd), sub.path);
            }
            for m in matches {
                if m == state.abs_path {
                    bail!("in {}: contains a recursion into the same sub-helmfile at helmfiles[{i}]", display_path(path, &self.cwd));
                }
                let ov = if sub.values.is_empty() { None } else { Some(&sub_values) };
                if m.is_dir() {
                    for f in dir_files(&m)? {
                        self.visit(&f, ov, sub_selectors, out, depth + 1)?;
                    }
                } else {
                    self.visit(&m, ov, sub_selectors, out, depth + 1)?;
                }
            }
        }
        out.push(state);
        Ok(())
    }

    /// Load one state file with its bases, parts and environment, then process releases.
    fn load_root(&self, path: &Path, overrides: Option<&Value>) -> Result<LoadedState> {
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let (spec, env) = self.load_file(path, None, overrides, true)?;
        if spec.environments.is_empty() && self.opts.env_name() != "default" && overrides.is_none() {
            bail!("failed to read {}: environment {:?} is not defined", file_name(path), self.opts.env_name());
        }
        let rendered_values = env.merged();
        let mut state = LoadedState {
            file: path.strip_prefix(&self.cwd).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf()),
            abs_path: path.to_path_buf(),
            base_dir,
            spec,
            env,
            rendered_values,
            selectors: Vec::new(),
            warnings: Vec::new(),
        };
        self.apply_cli_overrides(&mut state)?;
        let engine = self.engine(&state.base_dir);
        super::release::execute_templates(&mut state, &engine)?;
        Ok(state)
    }

    fn apply_cli_overrides(&self, state: &mut LoadedState) -> Result<()> {
        if let Some(kc) = &self.opts.kube_context {
            if state.spec.kube_context.as_deref().is_some_and(|s| !s.is_empty()) {
                bail!("Cannot use option --kube-context and set attribute kubeContext.");
            }
            state.spec.kube_context = Some(kc.clone());
            state.spec.helm_defaults.kube_context = Some(kc.clone());
        }
        if let Some(ns) = &self.opts.namespace {
            if state.spec.namespace.as_deref().is_some_and(|s| !s.is_empty()) {
                bail!("Cannot use option --namespace and set attribute namespace.");
            }
            state.spec.namespace = Some(ns.clone());
        }
        Ok(())
    }

    /// helmfile's `load`: split into parts, render, parse, layer bases, load environment,
    /// merge parts.
    fn load_file(
        &self,
        path: &Path,
        ctx_env: Option<&Environment>,
        overrides: Option<&Value>,
        evaluate_bases: bool,
    ) -> Result<(StateSpec, Environment)> {
        let raw = read_text_file(path).with_context(|| format!("cannot read {}", path.display()))?;
        let content = raw.replace("\r\n", "\n");
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let name = file_name(path);
        let gotmpl = name.ends_with(".gotmpl");
        // v1: `.gotmpl` files are templates; v0: every file is (forced, or a `.yaml` that
        // contains template actions).
        let v0 = self.opts.v0 || (!gotmpl && content.contains("{{"));
        let templated = gotmpl || v0;
        let engine = self.engine(&base_dir);
        let display = display_path(path, &self.cwd);

        let parts: Vec<&str> = content.split("\n---\n").collect();
        let mut env = ctx_env.cloned();
        let mut final_state: Option<StateSpec> = None;
        let mut final_env = Environment::new(self.opts.env_name());
        // Line offset of each part, so errors point at the line in the file.
        let mut line_offset = 0usize;
        for part in parts.iter() {
            let source = pad_lines(part, line_offset);
            let rendered = if templated {
                let base_env = env.clone().unwrap_or_else(|| self.initial_env(overrides));
                // helmfile v0 renders every part twice: a tolerant first pass reads the
                // part's own `environments:`, the second renders with them. kod does the
                // same for v0 files, and for a v1 file whose part defines environments and
                // releases together (which helmfile 0.166 renders the v0 way).
                let (first_env, both) = self.first_pass(&source, &base_dir, &base_env, overrides);
                if both {
                    self.warn(format!(
                        "{display}: environments and releases are defined in the same YAML part; rendered in two passes as helmfile 0.x does (use --- to put the environments into a part of their own)"
                    ));
                }
                let data_env = if v0 || both { first_env } else { base_env };
                engine.render(&display, &source, &data_env.template_data()).map_err(|e| anyhow!("{e}"))?
            } else {
                source
            };
            let current = parse_state(&rendered, path, &self.cwd)?;
            if !templated && !current.environments.is_empty() && !current.releases.is_empty() {
                self.warn(format!(
                    "{display}: environments and releases cannot be defined within the same YAML part. Use --- to extract the environments into a dedicated part"
                ));
            }
            let current = if evaluate_bases {
                self.layer_bases(current, &base_dir, env.as_ref(), overrides)?
            } else if !current.bases.is_empty() {
                bail!("nested `base` helmfile is unsupported. please submit a feature request if you need this!");
            } else {
                current
            };
            let cur_env = self.load_env(&current, &base_dir, env.as_ref(), overrides)?;
            final_state = Some(match final_state {
                None => current,
                Some(mut f) => {
                    merge_override(&mut f, current);
                    f
                }
            });
            final_env = cur_env.clone();
            env = Some(cur_env);
            line_offset += part.matches('\n').count() + 2;
            let fs = final_state.as_ref().expect("set above");
            if !fs.environments.is_empty()
                && evaluate_bases
                && final_env.name != "default"
                && !fs.environments.contains_key(&final_env.name)
            {
                bail!("failed to read {name}: environment {:?} is not defined", final_env.name);
            }
        }
        Ok((final_state.unwrap_or_default(), final_env))
    }

    /// The environment a file's first part is rendered with: the name, and the values
    /// passed in (`--state-values-*`, or a sub-helmfile entry's `values`).
    fn initial_env(&self, overrides: Option<&Value>) -> Environment {
        let mut e = Environment::new(self.opts.env_name());
        if let Some(o) = overrides {
            e.values = o.clone();
        }
        e
    }

    /// helmfile v0's tolerant first pass over one part: render with `missingkey=default`,
    /// keep what rendered before any error, drop `<no value>`, parse leniently, and load the
    /// part's environment on top of `base`. Any failure just yields `base` (the second pass
    /// reports real errors). Also says whether the part defines both environments and
    /// releases.
    fn first_pass(&self, source: &str, base_dir: &Path, base: &Environment, overrides: Option<&Value>) -> (Environment, bool) {
        let engine = self.engine(base_dir);
        let (out, _err) = engine.render_first_pass_partial("first-pass", source, &base.template_data());
        let sanitized = out.replace("<no value>", "");
        let Ok(Yaml::Mapping(m)) = serde_yaml::from_str::<Yaml>(&sanitized) else {
            return (base.clone(), false);
        };
        let has = |k: &str| m.get(k).is_some_and(|v| !v.is_null());
        let both = has("environments") && has("releases");
        if has("bases") {
            return (base.clone(), both);
        }
        let mut lenient = serde_yaml::Mapping::new();
        for key in ["environments", "values"] {
            if let Some(v) = m.get(key) {
                lenient.insert(Yaml::String(key.into()), v.clone());
            }
        }
        let Ok(spec) = serde_yaml::from_value::<StateSpec>(Yaml::Mapping(lenient)) else {
            return (base.clone(), both);
        };
        match self.load_env(&spec, base_dir, Some(base), overrides) {
            Ok(e) => (e, both),
            Err(_) => (base.clone(), both),
        }
    }

    /// Load `bases:` and layer the state on top of them.
    fn layer_bases(
        &self,
        state: StateSpec,
        base_dir: &Path,
        env: Option<&Environment>,
        overrides: Option<&Value>,
    ) -> Result<StateSpec> {
        if state.bases.is_empty() {
            return Ok(state);
        }
        let mut layers = Vec::new();
        for b in &state.bases {
            let p = base_dir.join(b);
            let (base, _) = self
                .load_file(&p, env, overrides, false)
                .map_err(|e| anyhow!("failed to load base {b}: {e:#}"))?;
            layers.push(base);
        }
        let mut state = state;
        state.bases.clear();
        layers.push(state);
        let mut it = layers.into_iter();
        let mut acc = it.next().expect("at least the state");
        for layer in it {
            merge_layer(&mut acc, layer);
        }
        Ok(acc)
    }

    /// helmfile's `loadEnvValues` + defaults: the environment of this state.
    fn load_env(
        &self,
        state: &StateSpec,
        base_dir: &Path,
        ctx_env: Option<&Environment>,
        overrides: Option<&Value>,
    ) -> Result<Environment> {
        let name = self.opts.env_name();
        let mut env = Environment::new(name);
        let load_ctx = ctx_env.cloned().unwrap_or_else(|| Environment::new(name));
        if let Some(spec) = state.environments.get(name) {
            env.kube_context = spec.kube_context.clone().unwrap_or_default();
            let handler = env_missing_file_handler(state, spec);
            for (i, entry) in spec.values.iter().enumerate() {
                if let Some(v) =
                    self.load_values_entry(entry, base_dir, &handler, &load_ctx, &format!("environments.{name}.values[{i}]"))?
                {
                    merge(&mut env.values, &v);
                }
            }
            if let Some((i, secret)) = spec.secrets.iter().enumerate().next() {
                bail!(
                    "environments.{name}.secrets[{i}] ({secret}): encrypted environment secrets need helm-secrets and cannot be read by kod; decrypt them into a values file first"
                );
            }
        }
        if let Some(ctx) = ctx_env {
            let mut d = ctx.defaults.clone();
            merge(&mut d, &env.defaults);
            env.defaults = d;
            let mut v = ctx.values.clone();
            merge(&mut v, &env.values);
            env.values = v;
            if !ctx.kube_context.is_empty() {
                env.kube_context = ctx.kube_context.clone();
            }
        }
        if let Some(o) = overrides {
            merge(&mut env.values, o);
        }
        let handler = state.missing_file_handler.clone().unwrap_or_else(|| "Error".to_string());
        for (i, entry) in state.values.iter().enumerate() {
            if let Some(v) = self.load_values_entry(entry, base_dir, &handler, &load_ctx, &format!("values[{i}]"))? {
                merge(&mut env.defaults, &v);
            }
        }
        Ok(env)
    }

    /// One entry of a `values:` list: an inline map, or a path/glob to YAML files (rendered
    /// first when they end in `.gotmpl`). Returns `None` when a missing file is tolerated.
    fn load_values_entry(
        &self,
        entry: &Yaml,
        base_dir: &Path,
        missing_handler: &str,
        ctx: &Environment,
        what: &str,
    ) -> Result<Option<Value>> {
        match entry {
            Yaml::Mapping(_) => Ok(Some(yaml_to_json(entry)?)),
            Yaml::Null => Ok(None),
            Yaml::String(p) => {
                let files = expand_glob(base_dir, p)?;
                if files.is_empty() {
                    return match missing_handler {
                        "Warn" | "Info" | "Debug" => {
                            if missing_handler == "Warn" {
                                self.warn(format!("{what}: skipping missing values file matching {p:?}"));
                            }
                            Ok(None)
                        }
                        _ => bail!("{what}: values file {p:?} does not exist (relative to {})", base_dir.display()),
                    };
                }
                let mut acc = values::empty_map();
                for f in files {
                    let text = read_text_file(&f).with_context(|| format!("{what}: cannot read {}", f.display()))?;
                    let text = if f.to_string_lossy().ends_with(".gotmpl") {
                        let data = ctx.template_data();
                        self.engine(f.parent().unwrap_or(base_dir))
                            .render(&display_path(&f, &self.cwd), &text, &data)
                            .map_err(|e| anyhow!("{e}"))?
                    } else {
                        text
                    };
                    let v = values::parse_values_yaml(&text)
                        .map_err(|e| anyhow!("{}: {e}", display_path(&f, &self.cwd)))?;
                    merge(&mut acc, &v);
                }
                Ok(Some(acc))
            }
            other => bail!("{what}: expected a map or a file path, found {other:?}"),
        }
    }
}

/// Keep only the releases the state's selectors pick; like helmfile, a selected release
/// then carries the automatic `chart`, `name` and `namespace` labels.
fn select_releases(state: &mut LoadedState) -> Result<()> {
    use crate::plan::selector::{release_labels, Selector};
    if state.selectors.is_empty() {
        return Ok(());
    }
    let parsed = state.selectors.iter().map(|s| Selector::parse(s)).collect::<Result<Vec<_>>>()?;
    let releases = std::mem::take(&mut state.spec.releases);
    for mut r in releases {
        let labels = release_labels(&r);
        if parsed.iter().any(|sel| sel.matches(&labels)) {
            r.labels = labels;
            state.spec.releases.push(r);
        }
    }
    Ok(())
}

fn env_missing_file_handler(state: &StateSpec, spec: &EnvironmentSpec) -> String {
    spec.missing_file_handler.clone().or_else(|| state.missing_file_handler.clone()).unwrap_or_else(|| "Error".to_string())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
}

/// Prefix `n` newlines so YAML and template errors report the line in the whole file.
fn pad_lines(part: &str, n: usize) -> String {
    if n == 0 {
        part.to_string()
    } else {
        let mut s = "\n".repeat(n);
        s.push_str(part);
        s
    }
}

/// Largest file kod reads as a helmfile, base or values file.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Read a helmfile, base or values file as text: only regular files (a device such as
/// `/dev/zero` never ends, a FIFO blocks), at most [`MAX_FILE_BYTES`] (found by the
/// helmfile_load fuzz target's probes).
pub fn read_text_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        bail!("{} is larger than {} MiB, more than kod reads as a helmfile or values file", path.display(), MAX_FILE_BYTES >> 20);
    }
    String::from_utf8(buf).map_err(|_| anyhow!("{} is not UTF-8 text", path.display()))
}

/// Directory entries one glob may look at before kod gives up on it.
const MAX_GLOB_ENTRIES: usize = 100_000;

/// Expand a path or glob relative to `base`; a plain existing path yields itself.
pub fn expand_glob(base: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let full = if Path::new(pattern).is_absolute() { PathBuf::from(pattern) } else { base.join(pattern) };
    if !pattern.contains(['*', '?', '[']) {
        return Ok(if full.exists() { vec![full] } else { Vec::new() });
    }
    let mut out = Vec::new();
    glob_walk(&full, &mut out, MAX_GLOB_ENTRIES).with_context(|| format!("expanding {pattern:?}"))?;
    out.sort();
    Ok(out)
}

/// A small glob: `*`, `?` and `[...]` within path components (`**` matches one component).
/// At most `max_entries` directory entries are looked at (`/*/*/*/*` would walk the whole
/// file system).
fn glob_walk(pattern: &Path, out: &mut Vec<PathBuf>, max_entries: usize) -> Result<()> {
    let comps: Vec<String> = pattern.components().map(|c| c.as_os_str().to_string_lossy().to_string()).collect();
    let mut current = vec![PathBuf::new()];
    let mut visited = 0usize;
    for (i, comp) in comps.iter().enumerate() {
        let mut next = Vec::new();
        for base in &current {
            if comp.contains(['*', '?', '[']) {
                let dir = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base.clone() };
                let Ok(rd) = std::fs::read_dir(&dir) else { continue };
                for e in rd.flatten() {
                    visited += 1;
                    if visited > max_entries {
                        bail!("the glob looks at more than {max_entries} directory entries; name the files more precisely");
                    }
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.starts_with('.') && !comp.starts_with('.') {
                        continue;
                    }
                    if glob_match(comp, &name) {
                        next.push(base.join(&name));
                    }
                }
            } else {
                let p = if i == 0 && comp == "/" { PathBuf::from("/") } else { base.join(comp) };
                next.push(p);
            }
        }
        current = next;
    }
    out.extend(current.into_iter().filter(|p| p.exists()));
    Ok(())
}

/// One element of a glob pattern.
enum GlobItem {
    /// `*`: any run of characters
    Star,
    /// `?`: one character
    Any,
    /// `[...]` / `[!...]` / `[^...]`: one character in (or not in) the set
    Class { neg: bool, set: Vec<char> },
    Char(char),
}

impl GlobItem {
    fn matches(&self, c: char) -> bool {
        match self {
            GlobItem::Star | GlobItem::Any => true,
            GlobItem::Char(x) => *x == c,
            GlobItem::Class { neg, set } => {
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != *neg
            }
        }
    }
}

/// Match one path component against a glob pattern, in time proportional to the product
/// of their lengths (the recursive matcher this replaces took exponential time on patterns
/// with many `*`; found by the helmfile_load fuzz target's probes). A `[` without `]` never
/// matches.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => items.push(GlobItem::Star),
            '?' => items.push(GlobItem::Any),
            '[' => {
                let Some(len) = p[i..].iter().position(|c| *c == ']') else { return false };
                let set = &p[i + 1..i + len];
                let (neg, set) = if set.first() == Some(&'!') || set.first() == Some(&'^') { (true, &set[1..]) } else { (false, set) };
                items.push(GlobItem::Class { neg, set: set.to_vec() });
                i += len;
            }
            c => items.push(GlobItem::Char(c)),
        }
        i += 1;
    }
    let n: Vec<char> = name.chars().collect();
    // greedy matching that backtracks only to the last `*`
    let (mut pi, mut ni) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match items.get(pi) {
            Some(GlobItem::Star) => {
                last_star = Some((pi, ni));
                pi += 1;
            }
            Some(item) if item.matches(n[ni]) => {
                pi += 1;
                ni += 1;
            }
            _ => match last_star {
                Some((sp, sn)) => {
                    last_star = Some((sp, sn + 1));
                    pi = sp + 1;
                    ni = sn + 1;
                }
                None => return false,
            },
        }
    }
    items[pi..].iter().all(|it| matches!(it, GlobItem::Star))
}

/// Parse a rendered part strictly; several YAML documents in it are merged with lists
/// appended (helmfile's `Parse`).
fn parse_state(text: &str, path: &Path, cwd: &Path) -> Result<StateSpec> {
    use serde::Deserialize;
    let mut state: Option<StateSpec> = None;
    for doc in serde_yaml::Deserializer::from_str(text) {
        // YAML merge keys (`<<: *anchor`) must be applied before the strict decode; that
        // path goes through a Value, which keeps the key path but not the line.
        let decoded = if text.contains("<<") {
            Yaml::deserialize(doc).and_then(|mut v| {
                v.apply_merge()?;
                serde_yaml::from_value::<StateSpec>(v)
            })
        } else {
            StateSpec::deserialize(doc)
        };
        let spec = match decoded {
            Ok(s) => s,
            Err(e) => {
                let loc = e.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
                let msg = e.to_string();
                let msg = match msg.find(" at line ") {
                    Some(at) => msg[..at].to_string(),
                    None => msg,
                };
                let msg = unknown_key_message(&msg);
                bail!("{}{loc}: {msg}", display_path(path, cwd));
            }
        };
        state = Some(match state {
            None => spec,
            Some(mut acc) => {
                merge_layer(&mut acc, spec);
                acc
            }
        });
    }
    Ok(state.unwrap_or_default())
}

macro_rules! override_fields {
    ($dst:ident, $src:ident; opt: $($o:ident),*; vec: $($v:ident),*; map: $($m:ident),*) => {
        $( if $src.$o.is_some() { $dst.$o = $src.$o; } )*
        $( if !$src.$v.is_empty() { $dst.$v = $src.$v; } )*
        $( for (k, v) in $src.$m { $dst.$m.insert(k, v); } )*
    };
}

macro_rules! append_fields {
    ($dst:ident, $src:ident; opt: $($o:ident),*; vec: $($v:ident),*; map: $($m:ident),*) => {
        $( if $src.$o.is_some() { $dst.$o = $src.$o; } )*
        $( $dst.$v.extend($src.$v); )*
        $( for (k, v) in $src.$m { $dst.$m.insert(k, v); } )*
    };
}

/// Merge a later part into the state (`mergo.WithOverride`): set scalars override, non-empty
/// lists replace, maps merge key by key.
fn merge_override(dst: &mut StateSpec, src: StateSpec) {
    let hd = src.helm_defaults.clone();
    override_fields!(dst, src;
        opt: helm_binary, kustomize_binary, context, kube_context, namespace, chart, kube_version,
             missing_file_handler, missing_file_handler_config, lock_file_path;
        vec: values, bases, helmfiles, charts, repositories, releases, api_versions, hooks;
        map: environments, common_labels, templates);
    if !hd.is_empty() {
        dst.helm_defaults = hd;
    }
}

/// Layer a state over a base (`mergo.WithAppendSlice` + `WithOverride`): lists append,
/// scalars override, maps merge; environments merge with their values concatenated.
fn merge_layer(dst: &mut StateSpec, mut src: StateSpec) {
    let envs = std::mem::take(&mut src.environments);
    for (name, e) in envs {
        match dst.environments.get_mut(&name) {
            Some(d) => {
                d.values.extend(e.values);
                d.secrets.extend(e.secrets);
                if e.kube_context.is_some() {
                    d.kube_context = e.kube_context;
                }
                if e.missing_file_handler.is_some() {
                    d.missing_file_handler = e.missing_file_handler;
                }
                if e.missing_file_handler_config.is_some() {
                    d.missing_file_handler_config = e.missing_file_handler_config;
                }
            }
            None => {
                dst.environments.insert(name, e);
            }
        }
    }
    let hd = src.helm_defaults.clone();
    append_fields!(dst, src;
        opt: helm_binary, kustomize_binary, context, kube_context, namespace, chart, kube_version,
             missing_file_handler, missing_file_handler_config, lock_file_path;
        vec: values, bases, helmfiles, charts, repositories, releases, api_versions, hooks;
        map: common_labels, templates);
    if !hd.is_empty() {
        dst.helm_defaults = hd;
    }
}

/// Release-level merge used by `inherit:` (mergo `WithAppendSlice`, no override): the
/// template's fields first; the release's non-empty fields win; lists append; maps merge.
pub(crate) fn inherit_merge(base: &ReleaseSpec, over: &ReleaseSpec) -> ReleaseSpec {
    let b = serde_yaml::to_value(base).unwrap_or(Yaml::Null);
    let o = serde_yaml::to_value(over).unwrap_or(Yaml::Null);
    let merged = yaml_inherit(b, o);
    serde_yaml::from_value(merged).unwrap_or_else(|_| over.clone())
}

fn yaml_inherit(base: Yaml, over: Yaml) -> Yaml {
    match (base, over) {
        (Yaml::Mapping(mut b), Yaml::Mapping(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(bv) => match (bv, v) {
                        (Yaml::Sequence(mut bs), Yaml::Sequence(os)) => {
                            bs.extend(os);
                            Yaml::Sequence(bs)
                        }
                        (bm @ Yaml::Mapping(_), om @ Yaml::Mapping(_)) => yaml_inherit(bm, om),
                        (_, ov) => ov,
                    },
                    None => v,
                };
                b.insert(k, merged);
            }
            Yaml::Mapping(b)
        }
        (_, o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let m = unknown_key_message("releases[0]: unknown field `namspace`, expected one of `chart`, `name`, `namespace`");
        assert_eq!(m, "releases[0]: unknown key `namspace` (did you mean `namespace`?)");
        let m = unknown_key_message("unknown field `zzzzzzzz`, expected one of `chart`, `name`");
        assert_eq!(m, "unknown key `zzzzzzzz` (not a key helmfile 0.166 accepts here)");
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.yaml", "a.yaml"));
        assert!(!glob_match("*.yaml", "a.yml"));
        assert!(glob_match("v?.y*ml", "v1.yaml"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[!a-c]x", "bx"));
        assert!(!glob_match("a[b", "a[b"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("?", ""));
    }

    /// The recursive matcher `glob_match` replaced, kept as the reference for its results.
    fn glob_match_recursive(pattern: &str, name: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let n: Vec<char> = name.chars().collect();
        fn rec(p: &[char], n: &[char]) -> bool {
            match p.first() {
                None => n.is_empty(),
                Some('*') => (0..=n.len()).any(|i| rec(&p[1..], &n[i..])),
                Some('?') => !n.is_empty() && rec(&p[1..], &n[1..]),
                Some('[') => {
                    let Some(end) = p.iter().position(|c| *c == ']') else { return false };
                    if n.is_empty() {
                        return false;
                    }
                    let set = &p[1..end];
                    let (neg, set) = if set.first() == Some(&'!') || set.first() == Some(&'^') { (true, &set[1..]) } else { (false, set) };
                    let mut hit = false;
                    let mut i = 0;
                    while i < set.len() {
                        if i + 2 < set.len() && set[i + 1] == '-' {
                            hit |= set[i] <= n[0] && n[0] <= set[i + 2];
                            i += 3;
                        } else {
                            hit |= set[i] == n[0];
                            i += 1;
                        }
                    }
                    hit != neg && rec(&p[end + 1..], &n[1..])
                }
                Some(c) => n.first() == Some(c) && rec(&p[1..], &n[1..]),
            }
        }
        rec(&p, &n)
    }

    #[test]
    fn glob_match_agrees_with_the_recursive_matcher() {
        // every pattern and name over small alphabets, up to 4 characters
        let pat_chars = ['a', 'b', '*', '?', '[', ']', '!', '-'];
        let name_chars = ['a', 'b', '-', ']'];
        let words = |alphabet: &[char], max: usize| {
            let mut all = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last.iter().flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}"))).collect();
                all.extend(last.iter().cloned());
            }
            all
        };
        let names = words(&name_chars, 4);
        for p in words(&pat_chars, 4) {
            for n in &names {
                assert_eq!(glob_match(&p, n), glob_match_recursive(&p, n), "pattern {p:?} name {n:?}");
            }
        }
    }

    /// Found by the helmfile_load fuzz target's probes: 40 stars took exponential time.
    #[test]
    fn many_stars_match_quickly() {
        let start = std::time::Instant::now();
        assert!(!glob_match(&format!("{}x", "*".repeat(40)), "helmfile.yaml.gotmpl-and-more-characters"));
        assert!(glob_match(&format!("{}l", "*a".repeat(20)), &format!("{}l", "a".repeat(40))));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    /// Found by the helmfile_load fuzz target's probes: a values file or base that is a
    /// device never ends (`/dev/zero` took all memory), and `/*/*/*/*/*` walked the whole
    /// file system.
    #[test]
    fn only_regular_files_are_read_and_globs_are_bounded() {
        let err = read_text_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("is not a regular file"), "{err}");
        assert!(read_text_file(Path::new("/")).unwrap_err().to_string().contains("is not a regular file"));
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("helmfile.yaml"), "values:\n- /dev/zero\n").unwrap();
        let opts = LoadOptions { cwd: Some(d.path().to_path_buf()), env_vars: Some(Default::default()), ..Default::default() };
        let err = load_all(&opts).unwrap_err();
        assert!(format!("{err:#}").contains("/dev/zero is not a regular file"), "{err:#}");
        let many = tempfile::tempdir().unwrap();
        for i in 0..10 {
            let sub = many.path().join(format!("d{i}"));
            std::fs::create_dir(&sub).unwrap();
            for j in 0..10 {
                std::fs::write(sub.join(format!("f{j}")), "").unwrap();
            }
        }
        let mut out = Vec::new();
        glob_walk(&many.path().join("*/*"), &mut out, 200).unwrap();
        assert_eq!(out.len(), 100);
        let err = glob_walk(&many.path().join("*/*"), &mut Vec::new(), 50).unwrap_err();
        assert!(err.to_string().contains("more than 50 directory entries"), "{err}");
    }

    #[test]
    fn discovery_rules() {
        let d = tempfile::tempdir().unwrap();
        assert!(discover(d.path(), None).unwrap_err().to_string().contains("no state file found"));
        std::fs::create_dir(d.path().join("helmfile.d")).unwrap();
        std::fs::write(d.path().join("helmfile.d/b.yaml"), "").unwrap();
        std::fs::write(d.path().join("helmfile.d/a.yaml.gotmpl"), "").unwrap();
        std::fs::write(d.path().join("helmfile.d/notes.txt"), "").unwrap();
        let files = discover(d.path(), None).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().to_string()).collect();
        assert_eq!(names, vec!["a.yaml.gotmpl", "b.yaml"]);
        std::fs::write(d.path().join("helmfile.yaml"), "").unwrap();
        assert!(discover(d.path(), None).unwrap_err().to_string().contains("helmfile.d/ exist"));
        assert!(discover(d.path(), Some(Path::new("nope.yaml"))).unwrap_err().to_string().contains("does not exist"));
    }

    #[test]
    fn inherit_appends_lists_and_lets_the_release_win() {
        let t: ReleaseSpec = serde_yaml::from_str("namespace: t\nvalues: [a.yaml]\nlabels: {x: '1'}\n").unwrap();
        let r: ReleaseSpec = serde_yaml::from_str("name: r\nchart: c\nvalues: [b.yaml]\nlabels: {y: '2'}\n").unwrap();
        let m = inherit_merge(&t, &r);
        assert_eq!(m.namespace, "t");
        assert_eq!(m.values.len(), 2);
        assert_eq!(m.labels.len(), 2);
        assert_eq!(m.name, "r");
    }
}
