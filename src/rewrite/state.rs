//! The rewritten helmfile: a plain, fully rendered helmfile for one environment of a
//! bundle, where every chart comes from the private registry and every image is redirected
//! there (docs/rewrite.md).
//!
//! Input is the bundle's `rendered/<env>/state.yaml` (each state file as `helmfile build
//! --embed-values` prints it, so templates, environments, bases and release templates are
//! already applied) and the manifest (charts, images and the value shape of each image).
//! Output, in `<workdir>/rewrite/<env>/`:
//!
//! ```text
//! helmfile.yaml.gotmpl           the state (or `helmfiles:` naming states/NN-*.yaml.gotmpl)
//! values/<release>/NN.yaml        each values entry of the release, as rendered
//! values/<release>/kod-images.yaml   the override values that redirect its images
//! values/<state>-state-values.yaml   the state's rendered values (for `condition:` and hooks)
//! post-render/<release>.json      the post-renderer's map, for images no value path controls
//! rewrite.json                    what was redirected how (read by verify-offline and sync)
//! ```
//!
//! Charts are named `kod-private/NAME` with the exact version, through one `repositories:`
//! entry (`url: HOST[/PREFIX]/charts`, `oci: true`, plus `caFile`/`skipTLSVerify`): helmfile
//! then passes the CA to `helm pull` itself, which it does not for a bare `oci://` chart.
//! The files are written as `.gotmpl` (helmfile renders them in v0 and v1 mode alike) with
//! every literal `{{` escaped, so hook arguments that helmfile renders at run time survive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value as Yaml};

use super::overrides::{redirect, Destination};
use super::post_render::ImageMap;
use crate::bundle::format::{Manifest, Release};
use crate::helmfile::values::json_to_yaml;
use crate::image::reference::parse_normalized_named;
use crate::image::values::ValueShape;
use crate::registry::push::target_names;
use crate::registry::RegistryTarget;

/// The name of the one chart repository of a rewritten helmfile.
pub const CHART_REPOSITORY: &str = "kod-private";
/// The rewritten helmfile's file name.
pub const HELMFILE_NAME: &str = "helmfile.yaml.gotmpl";
/// The record of a rewrite.
pub const REPORT_NAME: &str = "rewrite.json";

/// What [`rewrite`] needs.
#[derive(Clone, Debug)]
pub struct RewriteOptions {
    /// The verified, unpacked bundle.
    pub bundle_dir: PathBuf,
    pub environment: String,
    /// Where the rewritten helmfile goes (replaced as a whole).
    pub out_dir: PathBuf,
    /// Reference images by digest (`repo@sha256:…`).
    pub pin_digests: bool,
    /// Redirect every image with the post-renderer too, not only those no value path
    /// controls (for charts whose value paths do not take effect).
    pub post_render_all: bool,
    /// The kod binary the post-renderer runs (absolute).
    pub kod_binary: PathBuf,
}

/// One redirected image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub source: String,
    pub target: String,
    /// `values PATH` or `post-render (REASON)`.
    pub how: String,
}

/// One release of the rewritten helmfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewrittenRelease {
    pub id: String,
    pub name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_context: String,
    pub installed: bool,
    /// `kod-private/NAME` (empty for releases that are only deleted).
    pub chart: String,
    pub version: String,
    pub images: Vec<Redirect>,
}

/// The record written to `rewrite.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteReport {
    pub environment: String,
    pub registry: String,
    pub charts_repository: String,
    pub helmfile: PathBuf,
    pub releases: Vec<RewrittenRelease>,
    pub warnings: Vec<String>,
}

impl RewriteReport {
    pub fn load(dir: &Path) -> Result<RewriteReport> {
        let path = dir.join(REPORT_NAME);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {} (run `kod helmfile rewrite` first)", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a kod rewrite record", path.display()))
    }
}

/// The outcome of [`rewrite`].
#[derive(Clone, Debug)]
pub struct Rewritten {
    pub report: RewriteReport,
    /// The original rendered state (as in the bundle).
    pub original: String,
    /// The rewritten state with values files shown inline, for the diff.
    pub view: String,
}

impl Rewritten {
    /// A unified diff between the original rendered state and the rewritten one.
    pub fn diff(&self) -> String {
        let env = &self.report.environment;
        similar::TextDiff::from_lines(&self.original, &self.view)
            .unified_diff()
            .context_radius(3)
            .header(&format!("bundle: rendered/{env}/state.yaml"), &format!("rewritten: {} (values files inline)", self.report.helmfile.display()))
            .to_string()
    }
}

/// Keys of a rendered state that the rewritten one leaves out: they are applied already
/// (environments, bases, templates, sub-helmfiles, values) or point at public sources.
const DROPPED_STATE_KEYS: &[&str] = &[
    "filepath",
    "helmBinary",
    "kustomizeBinary",
    "renderedvalues",
    "templates",
    "environments",
    "bases",
    "helmfiles",
    "values",
    "repositories",
    "lockFilePath",
    "missingFileHandlerConfig",
];

/// Release keys that are applied already (templates) or that name the public chart.
const DROPPED_RELEASE_KEYS: &[&str] =
    &["chartPath", "directory", "valuesTemplate", "setTemplate", "inherit", "verifyTemplate", "waitTemplate", "installedTemplate", "devel", "forceGoGetter"];

fn key(s: &str) -> Yaml {
    Yaml::String(s.to_string())
}

fn get_str(m: &Mapping, k: &str) -> String {
    match m.get(k) {
        Some(Yaml::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// A file-name-safe key for a release.
fn release_key(r: &Release) -> String {
    let mut k = String::new();
    for part in [&r.kube_context, &r.namespace, &r.name] {
        if part.is_empty() {
            continue;
        }
        if !k.is_empty() {
            k.push('_');
        }
        k.extend(part.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '-' }));
    }
    k
}

/// Make the text survive helmfile's template pass unchanged.
pub fn escape_template(text: &str) -> String {
    text.replace("{{", "{{`{{`}}")
}

/// `HOST/PREFIX/path:tag` → `path` (the repository path under the base).
fn target_path(target_name: &str, base: &str) -> String {
    let rest = target_name.strip_prefix(base).unwrap_or(target_name).trim_start_matches('/');
    let rest = rest.split('@').next().unwrap_or(rest);
    match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => rest[..i].to_string(),
        _ => rest.to_string(),
    }
}

/// Find the manifest release of a rendered release.
fn find_release<'a>(manifest: &'a Manifest, env: &str, name: &str, namespace: &str, ctx: &str) -> Result<&'a Release> {
    let candidates: Vec<&Release> = manifest.releases.iter().filter(|r| r.environment == env && r.name == name).collect();
    let exact: Vec<&&Release> = candidates.iter().filter(|r| r.namespace == namespace && r.kube_context == ctx).collect();
    match (exact.as_slice(), candidates.as_slice()) {
        ([one], _) => Ok(one),
        ([], [one]) => Ok(one),
        _ => bail!(
            "release {name:?} (namespace {namespace:?}) of the rendered state is {} in the bundle manifest; the bundle is inconsistent",
            if candidates.is_empty() { "missing" } else { "ambiguous" }
        ),
    }
}

/// Write the rewritten helmfile of `opts.environment` for `target`.
pub fn rewrite(manifest: &Manifest, target: &RegistryTarget, opts: &RewriteOptions) -> Result<Rewritten> {
    let env = &opts.environment;
    if !manifest.environments.iter().any(|e| e == env) {
        bail!("environment {env:?} is not in the bundle (it has: {})", manifest.environments.join(", "));
    }
    let rendered_path = opts.bundle_dir.join("rendered").join(env).join("state.yaml");
    let original = std::fs::read_to_string(&rendered_path).with_context(|| format!("reading {}", rendered_path.display()))?;
    let mut docs = Vec::new();
    for d in serde_yaml::Deserializer::from_str(&original) {
        let doc = Yaml::deserialize(d).with_context(|| format!("parsing {}", rendered_path.display()))?;
        match doc {
            Yaml::Mapping(m) => docs.push(m),
            Yaml::Null => {}
            _ => bail!("{}: a state document is not a map", rendered_path.display()),
        }
    }

    let base = target.base();
    let sources: Vec<String> = manifest.images.iter().map(|i| i.source.clone()).collect();
    let names = target_names(&sources, target)?;
    let digests: BTreeMap<&str, &str> = manifest.images.iter().map(|i| (i.source.as_str(), i.digest.as_str())).collect();
    let pin = opts.pin_digests || manifest.pin_digests;

    // Build everything in a sibling directory, then swap it in.
    let parent = opts.out_dir.parent().ok_or_else(|| anyhow!("{} has no parent directory", opts.out_dir.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new().prefix(".rewrite-").tempdir_in(parent)?;
    let stage = staging.path();
    let final_dir = &opts.out_dir;

    let mut releases_out = Vec::new();
    let mut warnings = Vec::new();
    let mut state_texts = Vec::new();
    let mut view_docs = Vec::new();
    let single = docs.len() == 1;
    for (index, mut doc) in docs.into_iter().enumerate() {
        let state_name = {
            let f = get_str(&doc, "filepath");
            let stem = f.split('.').next().unwrap_or("state").to_string();
            format!("{:02}-{}", index + 1, stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect::<String>())
        };
        let state_values = doc.get("renderedvalues").cloned();
        let state_post_renderer = matches!(doc.get("helmDefaults"), Some(Yaml::Mapping(h)) if h.contains_key("postRenderer"));
        let state_namespace = get_str(&doc, "namespace");
        for k in DROPPED_STATE_KEYS {
            doc.remove(*k);
        }
        let mut view = doc.clone();
        // repositories: the private chart registry only.
        let mut repo = Mapping::new();
        repo.insert(key("name"), key(CHART_REPOSITORY));
        repo.insert(key("url"), key(&format!("{base}/charts")));
        repo.insert(key("oci"), Yaml::Bool(true));
        if let Some(ca) = &target.ca_file {
            let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
            repo.insert(key("caFile"), key(&ca.display().to_string()));
        }
        if target.insecure_skip_tls_verify {
            repo.insert(key("skipTLSVerify"), Yaml::Bool(true));
        }
        let mut head = Mapping::new();
        head.insert(key("repositories"), Yaml::Sequence(vec![Yaml::Mapping(repo)]));
        let mut view_head = head.clone();
        if let Some(v) = state_values.filter(|v| matches!(v, Yaml::Mapping(m) if !m.is_empty())) {
            let rel = format!("values/{state_name}-state-values.yaml");
            write_file(stage, &rel, &serde_yaml::to_string(&v)?)?;
            head.insert(key("values"), Yaml::Sequence(vec![key(&rel_from_state(&rel, single))]));
            view_head.insert(key("values"), Yaml::Sequence(vec![v]));
        }
        let releases = match doc.remove("releases") {
            Some(Yaml::Sequence(s)) => s,
            Some(Yaml::Null) | None => Vec::new(),
            Some(_) => bail!("{}: releases is not a list", rendered_path.display()),
        };
        let mut new_releases = Vec::new();
        let mut view_releases = Vec::new();
        for r in releases {
            let Yaml::Mapping(mut r) = r else { bail!("{}: a release is not a map", rendered_path.display()) };
            let name = get_str(&r, "name");
            let mut namespace = get_str(&r, "namespace");
            if namespace.is_empty() {
                namespace = state_namespace.clone();
            }
            let rel = find_release(manifest, env, &name, &namespace, &get_str(&r, "kubeContext"))?;
            let rkey = release_key(rel);
            for k in DROPPED_RELEASE_KEYS {
                r.remove(*k);
            }
            let mut out = RewrittenRelease {
                id: rel.id.clone(),
                name: rel.name.clone(),
                namespace: rel.namespace.clone(),
                kube_context: rel.kube_context.clone(),
                installed: rel.installed,
                chart: String::new(),
                version: String::new(),
                images: Vec::new(),
            };
            if let Some(chart) = manifest.charts.iter().find(|c| c.file == rel.chart_file && !rel.chart_file.is_empty()) {
                out.chart = format!("{CHART_REPOSITORY}/{}", chart.name);
                out.version = chart.version.clone();
                r.insert(key("chart"), key(&out.chart));
                r.insert(key("version"), key(&out.version));
            } else {
                // Only deleted (installed: false): helmfile needs no chart to uninstall it;
                // keep the chart's name under the private repository so nothing public is named.
                let chart_name = get_str(&r, "chart").rsplit('/').next().unwrap_or_default().to_string();
                out.chart = format!("{CHART_REPOSITORY}/{chart_name}");
                r.insert(key("chart"), key(&out.chart));
                r.remove("version");
            }
            if r.contains_key("dependencies") {
                warnings.push(format!("{}: `dependencies:` (chartify) are left as written; their charts are not in the bundle", rel.id));
            }
            let state_dir = Path::new(&rel.state_file).parent().map(Path::to_path_buf).unwrap_or_default();
            let bundled_helmfile_dir = opts.bundle_dir.join("helmfile").join(&state_dir);
            // Files named relative to the original state: point into the unpacked bundle.
            if let Some(Yaml::Sequence(secrets)) = r.get_mut("secrets") {
                warnings.push(format!("{}: `secrets:` need the helm-secrets plugin and its keys on this machine", rel.id));
                for s in secrets.iter_mut() {
                    if let Yaml::String(p) = s {
                        if Path::new(p.as_str()).is_relative() {
                            *p = bundled_helmfile_dir.join(&*p).display().to_string();
                        }
                    }
                }
            }

            // Images: overrides through value shapes, the rest through the post-renderer.
            let images: Vec<(String, Option<String>, Option<ValueShape>)> =
                rel.images.iter().map(|i| (i.source.clone(), i.value_path.clone(), i.value_shape.clone())).collect();
            let plan = release_redirects(&images, &names, &digests, target, pin, opts.post_render_all)
                .with_context(|| format!("release {}", rel.id))?;
            warnings.extend(plan.warnings.iter().map(|w| format!("{}: {w}", rel.id)));
            let (overrides, map) = (plan.overrides, plan.map);
            out.images = plan.redirects;

            // values: each entry as a file, then the overrides.
            let mut files = Vec::new();
            let mut view_values = Vec::new();
            if let Some(Yaml::Sequence(values)) = r.get("values") {
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Yaml::String(p) => {
                            // Not embedded (a missing file helmfile skips): keep the path, inside the bundle.
                            let abs = bundled_helmfile_dir.join(p);
                            files.push(key(&abs.display().to_string()));
                            view_values.push(v.clone());
                        }
                        other => {
                            let rel_path = format!("values/{rkey}/{i:02}.yaml");
                            write_file(stage, &rel_path, &serde_yaml::to_string(other)?)?;
                            files.push(key(&rel_from_state(&rel_path, single)));
                            view_values.push(other.clone());
                        }
                    }
                }
            }
            let overrides_yaml = json_to_yaml(&overrides);
            if overrides.as_object().is_some_and(|o| !o.is_empty()) {
                let rel_path = format!("values/{rkey}/kod-images.yaml");
                let text = format!(
                    "# Written by kod: redirects this release's images to {base} (see rewrite.json).\n{}",
                    serde_yaml::to_string(&overrides_yaml)?
                );
                write_file(stage, &rel_path, &text)?;
                files.push(key(&rel_from_state(&rel_path, single)));
                view_values.push(overrides_yaml.clone());
                // `set:` wins over values files: a set entry on an overridden path takes the override.
                if let Some(Yaml::Sequence(sets)) = r.get_mut("set") {
                    for s in sets.iter_mut() {
                        let Yaml::Mapping(sm) = s else { continue };
                        let name = get_str(sm, "name");
                        if let Some(v) = crate::image::values::lookup(&overrides, &name).filter(|v| !v.is_object()) {
                            let text = match v {
                                serde_json::Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            warnings.push(format!("{}: set {name} is replaced by the private registry's value {text:?}", rel.id));
                            sm.insert(key("value"), key(&text));
                        }
                    }
                }
            }
            let mut view_r = r.clone();
            if files.is_empty() {
                r.remove("values");
                view_r.remove("values");
            } else {
                r.insert(key("values"), Yaml::Sequence(files));
                view_r.insert(key("values"), Yaml::Sequence(view_values));
            }
            if let Some(Yaml::Sequence(sets)) = r.get_mut("set") {
                for s in sets.iter_mut() {
                    if let Yaml::Mapping(sm) = s {
                        let file = get_str(sm, "file");
                        if !file.is_empty() && Path::new(&file).is_relative() {
                            sm.insert(key("file"), key(&bundled_helmfile_dir.join(&file).display().to_string()));
                        }
                    }
                }
                view_r.insert(key("set"), r.get("set").cloned().unwrap_or(Yaml::Null));
            }
            if !map.images.is_empty() && rel.installed {
                if r.contains_key("postRenderer") || state_post_renderer {
                    bail!(
                        "{}: the release has its own postRenderer, and kod needs one to redirect {}; give these images a value path with a hints file (docs/hints.md) and package again",
                        rel.id,
                        map.images.keys().cloned().collect::<Vec<_>>().join(", ")
                    );
                }
                let rel_path = format!("post-render/{rkey}.json");
                write_file(stage, &rel_path, &serde_json::to_string_pretty(&map)?)?;
                let abs_map = final_dir.join(&rel_path);
                for target_r in [&mut r, &mut view_r] {
                    target_r.insert(key("postRenderer"), key(&opts.kod_binary.display().to_string()));
                    target_r.insert(
                        key("postRendererArgs"),
                        Yaml::Sequence(vec![key("post-render"), key("--map"), key(&abs_map.display().to_string())]),
                    );
                }
            }
            new_releases.push(Yaml::Mapping(r));
            view_releases.push(Yaml::Mapping(view_r));
            releases_out.push(out);
        }
        let mut state = head;
        let mut view_state = view_head;
        for (k, v) in doc {
            state.insert(k.clone(), v.clone());
        }
        for (k, v) in std::mem::take(&mut view) {
            if k.as_str() != Some("releases") {
                view_state.insert(k, v);
            }
        }
        state.insert(key("releases"), Yaml::Sequence(new_releases));
        view_state.insert(key("releases"), Yaml::Sequence(view_releases));
        let header = format!(
            "# Written by kod from a bundle: environment {env:?}, private registry {base}.\n# Plain helmfile: `helmfile -f {} sync` (log in with `helm registry login {}` first when it needs credentials).\n",
            final_dir.join(HELMFILE_NAME).display(),
            target.host
        );
        let text = format!("{header}{}", escape_template(&serde_yaml::to_string(&Yaml::Mapping(state))?));
        state_texts.push((state_name, text));
        view_docs.push(serde_yaml::to_string(&Yaml::Mapping(view_state))?);
    }

    if single {
        let (_, text) = state_texts.pop().expect("one state");
        write_file(stage, HELMFILE_NAME, &text)?;
    } else {
        let mut list = Vec::new();
        for (name, text) in &state_texts {
            let rel = format!("states/{name}.yaml.gotmpl");
            write_file(stage, &rel, text)?;
            let mut m = Mapping::new();
            m.insert(key("path"), key(&rel));
            list.push(Yaml::Mapping(m));
        }
        let mut top = Mapping::new();
        top.insert(key("helmfiles"), Yaml::Sequence(list));
        let text = format!("# Written by kod from a bundle: environment {env:?}, private registry {base}.\n{}", serde_yaml::to_string(&Yaml::Mapping(top))?);
        write_file(stage, HELMFILE_NAME, &text)?;
    }
    let report = RewriteReport {
        environment: env.clone(),
        registry: base.clone(),
        charts_repository: format!("oci://{base}/charts"),
        helmfile: final_dir.join(HELMFILE_NAME),
        releases: releases_out,
        warnings,
    };
    write_file(stage, REPORT_NAME, &serde_json::to_string_pretty(&report)?)?;

    // Swap the new directory in.
    if final_dir.exists() {
        std::fs::remove_dir_all(final_dir).with_context(|| format!("removing the previous rewrite {}", final_dir.display()))?;
    }
    let kept = staging.keep();
    std::fs::rename(&kept, final_dir).with_context(|| format!("moving the rewrite into {}", final_dir.display()))?;
    let view = view_docs.join("---\n");
    Ok(Rewritten { report, original, view })
}

/// How one release's images are redirected: the override values, the post-renderer's map,
/// and a record per image.
#[derive(Clone, Debug, Default)]
pub struct ReleaseRedirects {
    pub overrides: serde_json::Value,
    pub map: ImageMap,
    pub redirects: Vec<Redirect>,
    pub warnings: Vec<String>,
}

/// Redirect a release's images `(source, value path, value shape)`: through their value
/// shapes where they have one (two images needing different values in one field: the
/// second goes to the post-renderer), through the post-renderer's map otherwise, or also
/// through the map with `post_render_all`. `names` are the push targets
/// ([`target_names`]), `digests` the bundle's digests (for `pin`).
pub fn release_redirects(
    images: &[(String, Option<String>, Option<ValueShape>)],
    names: &BTreeMap<String, String>,
    digests: &BTreeMap<&str, &str>,
    target: &RegistryTarget,
    pin: bool,
    post_render_all: bool,
) -> Result<ReleaseRedirects> {
    let base = target.base();
    let dest = Destination { host: &target.host, prefix: target.prefix.as_deref() };
    let mut out = ReleaseRedirects { overrides: serde_json::json!({}), ..Default::default() };
    let mut owners = BTreeMap::new();
    for (source, value_path, shape) in images {
        let target_name = names.get(source).ok_or_else(|| anyhow!("image {source} is not in the bundle's image list"))?;
        let digest = digests.get(source.as_str()).copied();
        let private = match (pin, digest) {
            (true, Some(d)) => format!("{base}/{}@{d}", target_path(target_name, &base)),
            _ => target_name.clone(),
        };
        let reference = parse_normalized_named(source).map_err(|e| anyhow!("{source}: {e}"))?;
        let mut by_values = None;
        if let Some(shape) = shape {
            let mut trial = out.overrides.clone();
            let mut trial_owners = owners.clone();
            match redirect(&mut trial, &mut trial_owners, &reference, shape, &dest, &target_path(target_name, &base), if pin { digest } else { None }) {
                Ok(()) => {
                    out.overrides = trial;
                    owners = trial_owners;
                    by_values = Some(value_path.clone().unwrap_or_else(|| shape.path.clone()));
                }
                Err(e) => out.warnings.push(format!("{source}: {e:#}; the post-renderer redirects it instead")),
            }
        }
        let how = match &by_values {
            Some(p) => format!("values {p}"),
            None if shape.is_none() => "post-render (no value path controls it)".to_string(),
            None => "post-render (its value path is shared with another image)".to_string(),
        };
        if by_values.is_none() || post_render_all {
            out.map.images.insert(source.clone(), private.clone());
        }
        out.redirects.push(Redirect {
            source: source.clone(),
            target: private,
            how: if by_values.is_some() && post_render_all { format!("{how} + post-render") } else { how },
        });
    }
    Ok(out)
}

/// Paths in a state file are relative to it: the top file sits in the rewrite directory,
/// state files of several in `states/`.
fn rel_from_state(rel: &str, single: bool) -> String {
    if single {
        rel.to_string()
    } else {
        format!("../{rel}")
    }
}

fn write_file(dir: &Path, rel: &str, text: &str) -> Result<()> {
    let path = dir.join(rel);
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_paths_strip_base_and_tag() {
        assert_eq!(target_path("reg:5000/p/bitnami/redis:7.2", "reg:5000/p"), "bitnami/redis");
        assert_eq!(target_path("reg:5000/p/x/y@sha256:abc", "reg:5000/p"), "x/y");
        assert_eq!(target_path("reg:5000/quay.io/a/b:v1", "reg:5000"), "quay.io/a/b");
    }

    #[test]
    fn template_delimiters_are_escaped_for_helmfile() {
        assert_eq!(escape_template("args: [\"{{ .Release.Name }}\"]"), "args: [\"{{`{{`}} .Release.Name }}\"]");
    }

    fn shape_of(values: serde_json::Value) -> ValueShape {
        crate::image::values::find_value_images(&values, Some("1.0")).into_iter().next().unwrap().shape()
    }

    #[test]
    fn redirects_pin_fall_back_and_post_render_all() {
        let target = RegistryTarget::parse("reg.local:5000/site").unwrap();
        let d = format!("sha256:{}", "c".repeat(64));
        let sources = vec!["docker.io/library/busybox:1.36".to_string(), "quay.io/org/app:2".to_string(), "quay.io/other/tool:3".to_string()];
        let names = target_names(&sources, &target).unwrap();
        let digests = BTreeMap::from([("docker.io/library/busybox:1.36", d.as_str())]);
        let images = vec![
            (sources[0].clone(), Some("sidecar.image".to_string()), Some(shape_of(serde_json::json!({"sidecar": {"image": "docker.io/library/busybox:1.36"}})))),
            // Two images whose hub would need different values: the second goes to the post-renderer.
            (sources[1].clone(), Some("global.hub".to_string()), Some(ValueShape { hub_path: Some("global.hub".into()), ..shape_of(serde_json::json!({"global": {"hub": "quay.io/org", "tag": "2"}, "app": {"image": "app"}})) })),
            (sources[2].clone(), Some("global.hub".to_string()), Some(ValueShape { hub_path: Some("global.hub".into()), ..shape_of(serde_json::json!({"global": {"hub": "quay.io/other", "tag": "3"}, "tool": {"image": "tool"}})) })),
        ];
        let r = release_redirects(&images, &names, &digests, &target, true, false).unwrap();
        assert_eq!(r.overrides["sidecar"]["image"], format!("reg.local:5000/site/library/busybox@{d}"));
        assert_eq!(r.overrides["global"]["hub"], "reg.local:5000/site/org");
        assert_eq!(r.map.images.keys().collect::<Vec<_>>(), vec!["quay.io/other/tool:3"], "{:?}", r.redirects);
        assert!(r.warnings[0].contains("value path global.hub would need"), "{:?}", r.warnings);
        assert_eq!(r.redirects[2].how, "post-render (its value path is shared with another image)");

        let all = release_redirects(&images[..1], &names, &digests, &target, false, true).unwrap();
        assert_eq!(all.map.images["docker.io/library/busybox:1.36"], "reg.local:5000/site/library/busybox:1.36");
        assert_eq!(all.redirects[0].how, "values sidecar.image + post-render");
    }

    /// Two state files (a sub-helmfile and its parent): the rewrite writes a `helmfiles:`
    /// list, and kod's own loader and planner read it back like helmfile would.
    #[test]
    fn several_states_load_back_with_conditions_secrets_and_hooks() {
        use crate::bundle::format::{Chart, ReleaseImage, Totals};
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rendered/prod")).unwrap();
        std::fs::create_dir_all(bundle.join("helmfile/apps")).unwrap();
        std::fs::write(bundle.join("helmfile/apps/secrets.yaml"), "a: b\n").unwrap();
        let rendered = r#"---
#  Source: apps/helmfile.yaml
filepath: helmfile.yaml
helmBinary: helm
kustomizeBinary: kustomize
repositories:
- name: bitnami
  url: https://charts.example.org/bitnami
releases:
- chart: bitnami/redis
  version: 19.0.0
  name: cache
  namespace: data
  condition: cache.enabled
  secrets:
  - secrets.yaml
  values:
  - image:
      registry: docker.io
      repository: bitnami/redis
      tag: 7.2.4
templates: {}
renderedvalues:
  cache:
    enabled: true
---
#  Source: helmfile.yaml
filepath: helmfile.yaml
helmBinary: helm
kustomizeBinary: kustomize
environments:
  prod:
    values:
    - x: 1
releases:
- chart: oci://registry.example.org/charts/app
  version: 1.0.0
  name: app
  namespace: apps
  hooks:
  - events: [postsync]
    command: echo
    args: ["{{ .Release.Name }}"]
templates: {}
renderedvalues:
  x: 1
"#;
        std::fs::write(bundle.join("rendered/prod/state.yaml"), rendered).unwrap();
        let shape = crate::image::values::find_value_images(&serde_json::json!({"image": {"registry": "docker.io", "repository": "bitnami/redis", "tag": "7.2.4"}}), None)
            .into_iter()
            .next()
            .unwrap()
            .shape();
        let release = |name: &str, ns: &str, file: &str, chart: &str, images: Vec<ReleaseImage>| Release {
            environment: "prod".into(),
            id: format!("{ns}/{name}"),
            name: name.into(),
            namespace: ns.into(),
            kube_context: String::new(),
            state_file: file.into(),
            chart_ref: String::new(),
            chart_file: format!("charts/{chart}.tgz"),
            installed: true,
            images,
        };
        let chart = |name: &str, version: &str| Chart {
            name: name.into(),
            version: version.into(),
            source: String::new(),
            file: format!("charts/{name}-{version}.tgz"),
            sha256: String::new(),
            size: 0,
        };
        let image = |source: &str| crate::bundle::format::Image {
            source: source.into(),
            digest: format!("sha256:{}", "d".repeat(64)),
            media_type: String::new(),
            source_digest: String::new(),
            platforms: Vec::new(),
            size: 0,
            blobs: 0,
            pulled_from: None,
        };
        let manifest = Manifest {
            schema_version: 1,
            kind: "kod-bundle".into(),
            kod_version: "t".into(),
            created_at: String::new(),
            environments: vec!["prod".into()],
            platforms: Vec::new(),
            pin_digests: false,
            plans: Vec::new(),
            releases: vec![
                release("cache", "data", "apps/helmfile.yaml", "redis-19.0.0", vec![ReleaseImage { source: "docker.io/bitnami/redis:7.2.4".into(), value_path: Some("image".into()), value_shape: Some(shape), provenance: Vec::new() }]),
                release("app", "apps", "helmfile.yaml", "app-1.0.0", vec![ReleaseImage { source: "ghcr.io/example/app:1.0.0".into(), value_path: None, value_shape: None, provenance: Vec::new() }]),
            ],
            charts: vec![chart("redis", "19.0.0"), chart("app", "1.0.0")],
            images: vec![image("docker.io/bitnami/redis:7.2.4"), image("ghcr.io/example/app:1.0.0")],
            files: Vec::new(),
            totals: Totals::default(),
        };
        let target = RegistryTarget::parse("reg.local:5000/site").unwrap();
        let out_dir = dir.path().join("work/rewrite/prod");
        let opts = RewriteOptions {
            bundle_dir: bundle.clone(),
            environment: "prod".into(),
            out_dir: out_dir.clone(),
            pin_digests: false,
            post_render_all: false,
            kod_binary: PathBuf::from("/usr/local/bin/kod"),
        };
        let rw = rewrite(&manifest, &target, &opts).unwrap();
        assert!(out_dir.join("states/01-helmfile.yaml.gotmpl").is_file());
        assert!(out_dir.join("states/02-helmfile.yaml.gotmpl").is_file());
        assert!(rw.diff().contains("+- chart: kod-private/app"), "{}", rw.diff());
        // A second rewrite replaces the first as a whole.
        rewrite(&manifest, &target, &opts).unwrap();

        let states = crate::helmfile::load(&crate::helmfile::LoadOptions {
            file: Some(out_dir.join(HELMFILE_NAME)),
            cwd: Some(dir.path().to_path_buf()),
            env_vars: Some(Default::default()),
            ..Default::default()
        })
        .unwrap();
        // The two states, then the top file that only lists them.
        assert_eq!(states.len(), 3);
        assert!(states[2].spec.releases.is_empty());
        let cache = &states[0].spec.releases[0];
        assert_eq!((cache.chart.as_str(), cache.version.as_str()), ("kod-private/redis", "19.0.0"));
        assert_eq!(states[0].spec.repositories[0].url, "reg.local:5000/site/charts");
        assert_eq!(states[0].rendered_values["cache"]["enabled"], true, "the state values are there for the condition");
        assert_eq!(cache.secrets, vec![Yaml::String(bundle.join("helmfile/apps/secrets.yaml").display().to_string())]);
        let app = &states[1].spec.releases[0];
        assert_eq!(app.chart, "kod-private/app");
        assert_eq!(app.post_renderer.as_deref(), Some("/usr/local/bin/kod"));
        assert_eq!(app.hooks[0]["args"][0], Yaml::String("{{ .Release.Name }}".into()), "the hook template survives for helmfile to render at run time");
        let plan = crate::plan::build(&crate::helmfile::load_all(&crate::helmfile::LoadOptions {
            file: Some(out_dir.join(HELMFILE_NAME)),
            cwd: Some(dir.path().to_path_buf()),
            env_vars: Some(Default::default()),
            ..Default::default()
        })
        .unwrap(), &Default::default())
        .unwrap();
        assert_eq!(plan.releases().count(), 2);
        let overrides = std::fs::read_to_string(out_dir.join("values/data_cache/kod-images.yaml")).unwrap();
        assert!(overrides.contains("registry: reg.local:5000") && overrides.contains("repository: site/bitnami/redis"), "{overrides}");
    }
}
