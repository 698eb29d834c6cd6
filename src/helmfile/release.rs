//! Release processing after a state is loaded (helmfile's `ExecuteTemplates` and
//! `ApplyOverrides`): inherited templates, defaults, template expressions rendered until
//! stable, the `*Template` booleans, overrides, `needs` normalisation and `chartPath`.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

use super::load::{inherit_merge, LoadedState};
use super::model::ReleaseSpec;
use super::values::{json_to_yaml, yaml_to_json};
use crate::template::Engine;

/// Process every release of `state` in place.
pub fn execute_templates(state: &mut LoadedState, engine: &Engine) -> Result<()> {
    let display = state.file.display().to_string();
    let mut releases = std::mem::take(&mut state.spec.releases);
    for (i, raw) in releases.iter_mut().enumerate() {
        let mut release = inherit(state, raw, &mut Vec::new())
            .map_err(|e| anyhow!("{display}: releases[{i}] ({}): {e:#}", raw.name))?;
        if release.kube_context.is_empty() {
            release.kube_context = state.spec.helm_defaults.kube_context.clone().unwrap_or_default();
        }
        for (k, v) in &state.spec.common_labels {
            release.labels.insert(k.clone(), v.clone());
        }
        if release.api_versions.is_empty() {
            release.api_versions = state.spec.api_versions.clone();
        }
        if release.kube_version.is_empty() {
            release.kube_version = state.spec.kube_version.clone().unwrap_or_default();
        }

        let mut prev = release.clone();
        let mut done = None;
        for _ in 0..6 {
            let data = template_data(state, &prev);
            let rendered = render_release(&release, engine, &display, &data)?;
            if rendered == prev {
                done = Some(rendered);
                break;
            }
            prev = rendered;
        }
        let mut r = done.ok_or_else(|| {
            anyhow!("failed executing templates in release \"{display}\".\"{}\": recursive references can't be resolved", release.name)
        })?;
        apply_bool_templates(&mut r).map_err(|e| anyhow!("failed executing templates in release \"{display}\".\"{}\": {e}", r.name))?;
        if r.chart.is_empty() {
            bail!("{display}: encountered empty chart while reading release {:?}", r.name);
        }
        apply_overrides(state, &mut r);
        *raw = r;
    }
    state.spec.releases = releases;
    Ok(())
}

/// `inherit:` resolution with cycle detection.
fn inherit(state: &LoadedState, r: &ReleaseSpec, path: &mut Vec<String>) -> Result<ReleaseSpec> {
    let mut merged = ReleaseSpec::default();
    for inh in &r.inherit {
        let name = &inh.template;
        if name.is_empty() {
            return Ok(r.clone());
        }
        if path.contains(name) {
            path.push(name.clone());
            bail!("cyclic inheritance detected: {}", path.join("->"));
        }
        let template = state
            .spec
            .templates
            .get(name)
            .ok_or_else(|| anyhow!("release {:?} tried to inherit inexistent release template {:?}", r.name, name))?;
        path.push(name.clone());
        let mut src = inherit(state, template, path).map_err(|e| anyhow!("unable to load release template {name:?}: {e:#}"))?;
        path.pop();
        for k in &inh.except {
            match k.as_str() {
                "labels" => src.labels.clear(),
                "values" => src.values.clear(),
                "valuesTemplate" => src.values_template.clear(),
                "setTemplate" => src.set_values_template.clear(),
                "set" => src.set_values.clear(),
                "secrets" => src.secrets.clear(),
                other => bail!(
                    "{other:?} is not allowed under `inherit`. Allowed values are \"set\", \"setTemplate\", \"values\", \"valuesTemplate\", \"secrets\", and \"labels\""
                ),
            }
        }
        merged = inherit_merge(&merged, &src);
    }
    let mut out = inherit_merge(&merged, r);
    out.inherit.clear();
    Ok(out)
}

/// The dot for release templates.
fn template_data(state: &LoadedState, r: &ReleaseSpec) -> Value {
    let vals = state.rendered_values.clone();
    json!({
        "Environment": { "Name": state.env.name, "KubeContext": state.env.kube_context, "Values": state.env.values },
        "KubeContext": state.spec.kube_context.clone().unwrap_or_default(),
        "Namespace": state.spec.namespace.clone().unwrap_or_default(),
        "Chart": state.spec.chart.clone().unwrap_or_default(),
        "Values": vals.clone(),
        "StateValues": vals,
        "Release": {
            "Name": r.name,
            "Chart": r.chart,
            "Namespace": r.namespace,
            "Labels": r.labels,
            "KubeContext": r.kube_context,
            "ChartVersion": r.version,
        },
    })
}

/// helmfile's `ExecuteTemplateExpressions` (always from the inherited release, with the
/// template data of the previous iteration).
fn render_release(src: &ReleaseSpec, engine: &Engine, file: &str, data: &Value) -> Result<ReleaseSpec> {
    let mut r = src.clone();
    let name = src.name.clone();
    let render = |field: &str, s: &str| -> Result<String> {
        if !s.contains("{{") {
            return Ok(s.to_string());
        }
        engine
            .render(file, s, data)
            .map_err(|e| anyhow!("failed executing template expressions in release \"{name}\".{field} = \"{s}\": {e}"))
    };
    r.name = render("name", &r.name)?;
    r.chart = render("chart", &r.chart)?;
    r.namespace = render("namespace", &r.namespace)?;
    r.version = render("version", &r.version)?;
    if let Some(t) = &r.wait_template {
        r.wait_template = Some(render("waitTemplate", t)?);
    }
    if let Some(t) = &r.installed_template {
        r.installed_template = Some(render("installedTemplate", t)?);
    }
    if let Some(t) = &r.verify_template {
        r.verify_template = Some(render("verifyTemplate", t)?);
    }
    let keys: Vec<String> = r.labels.keys().cloned().collect();
    for k in keys {
        let v = r.labels[&k].clone();
        r.labels.insert(k.clone(), render(&format!("labels[{k}]"), &v)?);
    }
    if !r.values_template.is_empty() {
        for (i, t) in r.values_template.iter_mut().enumerate() {
            if let Yaml::Mapping(_) = t {
                let text = crate::template::yaml::to_yaml(&crate::template::value::from_json(&yaml_to_json(t)?));
                let out = render(&format!("values[{i}]"), &text)?;
                let parsed = super::values::parse_values_yaml(&out)
                    .map_err(|e| anyhow!("failed executing template expressions in release \"{name}\".values[{i}]: {e}"))?;
                *t = json_to_yaml(&parsed);
            }
        }
        let mut vals = r.values_template.clone();
        vals.extend(r.values.clone());
        r.values = vals;
    }
    for (i, v) in r.values.iter_mut().enumerate() {
        if let Yaml::String(s) = v {
            *s = render(&format!("values[{i}]"), s)?;
        }
    }
    for (i, v) in r.secrets.iter_mut().enumerate() {
        if let Yaml::String(s) = v {
            *s = render(&format!("secrets[{i}]"), s)?;
        }
    }
    if !r.set_values_template.is_empty() {
        for (i, sv) in r.set_values_template.iter_mut().enumerate() {
            sv.name = render(&format!("set[{i}].name"), &sv.name)?;
            sv.value = render(&format!("set[{i}].value"), &sv.value)?;
            sv.file = render(&format!("set[{i}].file"), &sv.file)?;
            for (j, v) in sv.values.iter_mut().enumerate() {
                *v = render(&format!("set[{i}].values[{j}]"), v)?;
            }
        }
        let mut sets = r.set_values_template.clone();
        sets.extend(r.set_values.clone());
        r.set_values = sets;
    }
    for (i, n) in r.needs.iter_mut().enumerate() {
        *n = render(&format!("needs[{i}]"), n)?;
    }
    Ok(r)
}

/// `installedTemplate`/`waitTemplate`/`verifyTemplate` → booleans (YAML truth).
fn apply_bool_templates(r: &mut ReleaseSpec) -> Result<()> {
    fn parse(field: &str, s: &str) -> Result<bool> {
        match serde_yaml::from_str::<Yaml>(s) {
            Ok(Yaml::Bool(b)) => Ok(b),
            _ => bail!("{field}: failed deserialising string {s} into a boolean"),
        }
    }
    if let Some(t) = r.installed_template.take() {
        r.installed = Some(parse("installedTemplate", &t)?);
    }
    if let Some(t) = r.wait_template.take() {
        r.wait = Some(parse("waitTemplate", &t)?);
    }
    if let Some(t) = r.verify_template.take() {
        r.verify = Some(parse("verifyTemplate", &t)?);
    }
    Ok(())
}

/// Top-level `kubeContext`/`namespace` overrides and the normalisation of `needs` into IDs
/// (`name` → `[ctx/]ns/name` from the needing release; `ctx//name` when only a context).
pub fn apply_overrides(state: &LoadedState, r: &mut ReleaseSpec) {
    if let Some(kc) = state.spec.kube_context.as_deref().filter(|s| !s.is_empty()) {
        r.kube_context = kc.to_string();
    }
    if let Some(ns) = state.spec.namespace.as_deref().filter(|s| !s.is_empty()) {
        r.namespace = ns.to_string();
    }
    r.needs = r.needs.iter().map(|n| normalize_need(n, &r.namespace, &r.kube_context)).collect();
}

/// helmfile's normalisation of one `needs` entry.
pub fn normalize_need(need: &str, namespace: &str, kube_context: &str) -> String {
    let comps: Vec<&str> = need.split('/').collect();
    let name = comps[comps.len() - 1];
    let ns = if comps.len() > 1 { comps[comps.len() - 2].to_string() } else { namespace.to_string() };
    let kc = if comps.len() > 2 { comps[..comps.len() - 2].join("/") } else { kube_context.to_string() };
    let mut out = Vec::new();
    if !kc.is_empty() {
        out.push(kc.clone());
    }
    if !kc.is_empty() || !ns.is_empty() {
        out.push(ns);
    }
    out.push(name.to_string());
    out.join("/")
}

/// A chart reference that names a local directory.
pub fn is_local_chart(chart: &str) -> bool {
    chart.starts_with("./") || chart.starts_with("../") || chart.starts_with('/') || chart == "." || chart == ".."
}

/// Go's `filepath.Clean` for the relative paths helmfile prints as `chartPath`.
pub fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Evaluate `condition: foo.enabled` against the state's values (helmfile's rule: exactly
/// `KEY.enabled`, the key must exist and hold a map).
pub fn condition_enabled(r: &ReleaseSpec, values: &Value) -> Result<bool> {
    if r.condition.is_empty() {
        return Ok(true);
    }
    let parts: Vec<&str> = r.condition.split('.').collect();
    if parts.len() != 2 || parts[1] != "enabled" {
        bail!(
            "failed to parse condition in release {}: Condition value must be in the form 'foo.enabled' where 'foo' can be modified as necessary",
            r.name
        );
    }
    match values.get(parts[0]) {
        Some(Value::Object(m)) => Ok(matches!(m.get("enabled"), Some(Value::Bool(true)))),
        Some(_) | None => bail!("failed to parse condition in release {}: environment values field '.{}' not found", r.name, parts[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_normalisation_matches_helmfile() {
        assert_eq!(normalize_need("r2", "ns1", ""), "ns1/r2");
        assert_eq!(normalize_need("r2", "", ""), "r2");
        assert_eq!(normalize_need("other/r2", "ns1", ""), "other/r2");
        assert_eq!(normalize_need("r2", "ns", "kc"), "kc/ns/r2");
        assert_eq!(normalize_need("r2", "", "kc"), "kc//r2");
        assert_eq!(normalize_need("kc2/ns/r2", "x", "kc"), "kc2/ns/r2");
    }

    #[test]
    fn chart_paths() {
        assert_eq!(clean_path("./charts/c"), "charts/c");
        assert_eq!(clean_path("./c/../d/"), "d");
        assert_eq!(clean_path("../x"), "../x");
        assert!(is_local_chart("./c") && !is_local_chart("bitnami/redis") && !is_local_chart("oci://r/c"));
    }

    #[test]
    fn conditions() {
        let r = ReleaseSpec { name: "pg".into(), condition: "postgres.enabled".into(), ..Default::default() };
        assert!(condition_enabled(&r, &json!({"postgres": {"enabled": true}})).unwrap());
        assert!(!condition_enabled(&r, &json!({"postgres": {"enabled": false}})).unwrap());
        assert_eq!(
            condition_enabled(&r, &json!({})).unwrap_err().to_string(),
            "failed to parse condition in release pg: environment values field '.postgres' not found"
        );
    }
}
