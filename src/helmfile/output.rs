//! The shapes `helmfile build` and `helmfile list` print.

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_yaml::{Mapping, Value as Yaml};

use super::load::{expand_glob, LoadedState};
use super::release::condition_enabled;
use super::values::{json_to_yaml, parse_values_yaml};
use crate::template::{Engine, EngineOptions};

/// One state as `helmfile build` prints it (keys in helmfile's order).
pub fn build_document(state: &LoadedState, embed_values: bool) -> Result<Yaml> {
    let spec = serde_yaml::to_value(&state.spec).context("serialising the state")?;
    let Yaml::Mapping(spec) = spec else { return Err(anyhow!("state did not serialise to a map")) };
    let mut out = Mapping::new();
    // helmfile prints the file name relative to its own directory (it works from there).
    let file_name = state.abs_path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    out.insert("filepath".into(), Yaml::String(file_name));
    out.insert("helmBinary".into(), Yaml::String(state.spec.helm_binary.clone().unwrap_or_else(|| "helm".into())));
    out.insert(
        "kustomizeBinary".into(),
        Yaml::String(state.spec.kustomize_binary.clone().unwrap_or_else(|| "kustomize".into())),
    );
    for (k, v) in spec {
        let key = k.as_str().unwrap_or_default().to_string();
        if key == "helmBinary" || key == "kustomizeBinary" {
            continue;
        }
        if key == "releases" {
            out.insert(k, if embed_values { embedded_releases(state)? } else { releases_with_chart_paths(state)? });
            continue;
        }
        out.insert(k, v);
    }
    if !out.contains_key("templates") {
        out.insert("templates".into(), Yaml::Mapping(Mapping::new()));
    }
    out.insert("renderedvalues".into(), json_to_yaml(&state.rendered_values));
    Ok(Yaml::Mapping(out))
}

/// Releases as `helmfile build` prints them: a chart given as `./path` gets `chartPath`
/// (the cleaned path), as helmfile 0.166 does; `../path` and absolute paths do not
/// (checked against the real binary). Inline values maps print with sorted keys (Go maps).
fn releases_with_chart_paths(state: &LoadedState) -> Result<Yaml> {
    let mut list = Vec::new();
    for r in &state.spec.releases {
        let mut r = r.clone();
        with_chart_path(&mut r);
        r.values = r.values.iter().map(sorted).collect::<Result<_>>()?;
        list.push(serde_yaml::to_value(&r)?);
    }
    Ok(Yaml::Sequence(list))
}

/// Releases with every values-file entry replaced by its (rendered) content.
fn embedded_releases(state: &LoadedState) -> Result<Yaml> {
    let engine = Engine::new(EngineOptions { base_dir: state.base_dir.clone(), ..Default::default() });
    let mut list = Vec::new();
    for r in &state.spec.releases {
        let mut r = r.clone();
        let mut vals = Vec::new();
        for v in &r.values {
            match v {
                Yaml::String(p) => {
                    let files = expand_glob(&state.base_dir, p)?;
                    if files.is_empty() {
                        match r.missing_file_handler.as_deref().unwrap_or("Error") {
                            "Warn" | "Info" | "Debug" => continue,
                            _ => {
                                return Err(anyhow!(
                                    "{}: release {:?}: values file {p:?} does not exist",
                                    state.file.display(),
                                    r.name
                                ))
                            }
                        }
                    }
                    for f in files {
                        let text = super::load::read_text_file(&f).with_context(|| format!("reading {}", f.display()))?;
                        let text = if f.to_string_lossy().ends_with(".gotmpl") {
                            let data = serde_json::json!({
                                "Environment": {"Name": state.env.name, "KubeContext": state.env.kube_context, "Values": state.env.values},
                                "Values": state.rendered_values, "StateValues": state.rendered_values,
                                "Namespace": state.spec.namespace.clone().unwrap_or_default(),
                                "Release": {"Name": r.name, "Namespace": r.namespace, "Chart": r.chart, "Labels": r.labels, "KubeContext": r.kube_context},
                            });
                            engine.render(&f.display().to_string(), &text, &data).map_err(|e| anyhow!("{e}"))?
                        } else {
                            text
                        };
                        let parsed = parse_values_yaml(&text).map_err(|e| anyhow!("{}: {e}", f.display()))?;
                        vals.push(json_to_yaml(&parsed));
                    }
                }
                other => vals.push(other.clone()),
            }
        }
        r.values = vals.iter().map(sorted).collect::<Result<_>>()?;
        with_chart_path(&mut r);
        list.push(serde_yaml::to_value(&r)?);
    }
    Ok(Yaml::Sequence(list))
}

fn with_chart_path(r: &mut super::ReleaseSpec) {
    if r.chart_path.is_none() && r.chart.starts_with("./") {
        r.chart_path = Some(super::release::clean_path(&r.chart));
    }
}

/// A values entry with map keys sorted, as Go prints a map.
fn sorted(v: &Yaml) -> Result<Yaml> {
    Ok(match v {
        Yaml::Mapping(_) => json_to_yaml(&super::values::yaml_to_json(v)?),
        other => other.clone(),
    })
}

/// Print states the way `helmfile build` does (`---` + `#  Source:` per state).
pub fn build_yaml(states: &[LoadedState], embed_values: bool) -> Result<String> {
    let mut out = String::new();
    for s in states {
        let doc = build_document(s, embed_values)?;
        out.push_str("---\n");
        out.push_str(&format!("#  Source: {}\n\n", s.abs_path.display()));
        out.push_str(&serde_yaml::to_string(&doc)?);
    }
    Ok(out)
}

/// One row of `helmfile list`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ListRow {
    pub name: String,
    pub namespace: String,
    pub enabled: bool,
    pub installed: bool,
    pub labels: String,
    pub chart: String,
    pub version: String,
}

/// The rows of `helmfile list` (the loader has already applied the selectors).
pub fn list_rows(states: &[LoadedState]) -> Result<Vec<ListRow>> {
    let mut rows = Vec::new();
    for s in states {
        for r in &s.spec.releases {
            let enabled = condition_enabled(r, &s.rendered_values)
                .map_err(|e| anyhow!("in {}: {e}", s.file.display()))?;
            let labels = r.labels.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",");
            rows.push(ListRow {
                name: r.name.clone(),
                namespace: r.namespace.clone(),
                enabled,
                installed: r.desired(),
                labels,
                chart: r.chart.clone(),
                version: r.version.clone(),
            });
        }
    }
    Ok(rows)
}

/// helmfile's tab-padded table.
pub fn list_table(rows: &[ListRow]) -> String {
    let header = ["NAME", "NAMESPACE", "ENABLED", "INSTALLED", "LABELS", "CHART", "VERSION"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.namespace.clone(),
                r.enabled.to_string(),
                r.installed.to_string(),
                r.labels.clone(),
                r.chart.clone(),
                r.version.clone(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |row: Vec<&str>| -> String {
        let last = row.len() - 1;
        row.iter()
            .enumerate()
            .map(|(i, c)| if i == last { format!("{c:<w$}", w = widths[i]) } else { format!("{c:<w$}\t", w = widths[i]) })
            .collect::<String>()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}
