//! A release's effective values, as Helm computes them, for the value-path strategy
//! ([`super::values`], [`super::hints`]).
//!
//! [`ChartDefaults::from_archive`] takes a chart read by [`crate::chart::archive`] (nested
//! subchart archives included) and builds its default values: the chart's `values.yaml`, each subchart's defaults under its
//! name or alias (the parent's values for that key winning), subchart `global`s merged into
//! the parent's `global` (the parent winning). [`ChartDefaults::effective_values`] then
//! merges the release's values over them, in order, and evaluates the subcharts'
//! `condition`s against the result (the first condition path that is set decides, as in
//! Helm). Library charts are left out: they have no images of their own.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

use super::values::{deep_merge, lookup, Subchart};
use crate::chart::archive::{read_archive, ChartArchive};

/// The files of a chart archive that matter here, by path inside it.
type Files = BTreeMap<String, String>;

/// A chart's default values, with its subcharts.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartDefaults {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: Option<String>,
    /// Chart appVersion.
    pub app_version: Option<String>,
    /// Default values (subcharts' under their key).
    pub values: Value,
    /// Subcharts (nested ones with dotted paths) and their condition paths, absolute in
    /// [`Self::values`].
    subcharts: Vec<(Subchart, Vec<String>)>,
}

/// The values a release renders with, and its subcharts' state under them.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveValues {
    /// Chart defaults with the release's values merged over them.
    pub values: Value,
    /// Subcharts, each with [`Subchart::disabled`] evaluated against [`Self::values`].
    pub subcharts: Vec<Subchart>,
}

impl ChartDefaults {
    /// Reads the chart archive at `path`.
    pub fn read(path: &Path) -> Result<ChartDefaults> {
        ChartDefaults::from_archive(&read_archive(path)?, path)
    }

    /// Builds the defaults from an archive already read (`path` names it in errors).
    pub fn from_archive(archive: &ChartArchive, path: &Path) -> Result<ChartDefaults> {
        let mut files = Files::new();
        for (name, text) in &archive.chart_yaml {
            files.insert(name.clone(), text.clone());
        }
        for (name, text) in &archive.values {
            if name.rsplit('/').next() == Some("values.yaml") {
                files.insert(name.clone(), text.clone());
            }
        }
        let top = files
            .keys()
            .filter(|k| k.ends_with("/Chart.yaml"))
            .min_by_key(|k| k.matches('/').count())
            .and_then(|k| k.strip_suffix("/Chart.yaml"))
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{} is not a chart archive: no Chart.yaml", path.display()))?;
        match load(&files, &top).with_context(|| format!("chart archive {}", path.display()))? {
            Some(c) => Ok(c),
            None => bail!("{}: is a library chart, which cannot be installed", path.display()),
        }
    }

    /// The defaults with `user` values merged over them in order (later wins), and the
    /// subcharts' conditions evaluated.
    pub fn effective_values(&self, user: &[Value]) -> EffectiveValues {
        let mut values = self.values.clone();
        for v in user {
            if v.is_object() {
                deep_merge(&mut values, v);
            }
        }
        let subcharts = self
            .subcharts
            .iter()
            .map(|(s, conditions)| {
                let mut s = s.clone();
                s.disabled = conditions.iter().find_map(|path| match lookup(&values, path) {
                    Some(Value::Bool(enabled)) => Some((!enabled).then(|| format!("condition {path} is false"))),
                    _ => None,
                }).flatten();
                s
            })
            .collect();
        EffectiveValues { values, subcharts }
    }
}

fn yaml_at(files: &Files, path: &str) -> Result<Option<Value>> {
    let Some(text) = files.get(path) else { return Ok(None) };
    let value: Value = serde_yaml::from_str(text).with_context(|| format!("cannot parse {path}"))?;
    Ok(Some(if value.is_null() { Value::Object(Map::new()) } else { value }))
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Loads the chart in directory `dir` of the archive; `None` for a library chart.
fn load(files: &Files, dir: &str) -> Result<Option<ChartDefaults>> {
    let chart_yaml = format!("{dir}/Chart.yaml");
    let meta = yaml_at(files, &chart_yaml)?.ok_or_else(|| anyhow!("{chart_yaml} is missing"))?;
    if text(&meta, "type").as_deref() == Some("library") {
        return Ok(None);
    }
    let mut values = yaml_at(files, &format!("{dir}/values.yaml"))?.unwrap_or(Value::Object(Map::new()));
    if !values.is_object() {
        bail!("{dir}/values.yaml is not a map");
    }
    let mut subcharts = Vec::new();
    let dependencies = meta.get("dependencies").and_then(Value::as_array).cloned().unwrap_or_default();
    for dependency in dependencies {
        let name = text(&dependency, "name").ok_or_else(|| anyhow!("{chart_yaml}: a dependency has no name"))?;
        let key = text(&dependency, "alias").unwrap_or_else(|| name.clone());
        // Not vendored (or a library chart): nothing to add.
        if !files.contains_key(&format!("{dir}/charts/{name}/Chart.yaml")) {
            continue;
        }
        let Some(sub) = load(files, &format!("{dir}/charts/{name}"))? else { continue };
        let mut sub_values = sub.values.clone();
        if let Some(own) = values.get(&key) {
            deep_merge(&mut sub_values, own);
        }
        let sub_global = sub_values.as_object_mut().and_then(|m| m.remove("global"));
        let object = values.as_object_mut().expect("checked to be a map");
        object.insert(key.clone(), sub_values);
        if let Some(mut global) = sub_global {
            if let Some(parent_global) = object.get("global") {
                deep_merge(&mut global, parent_global);
            }
            object.insert("global".into(), global);
        }
        let conditions: Vec<String> = text(&dependency, "condition")
            .map(|c| c.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        for (nested, nested_conditions) in sub.subcharts {
            let prefixed = nested_conditions.into_iter().map(|p| format!("{key}.{p}")).collect();
            subcharts.push((Subchart { path: format!("{key}.{}", nested.path), ..nested }, prefixed));
        }
        subcharts.push((
            Subchart { path: key, name: sub.name, version: sub.version, app_version: sub.app_version, disabled: None },
            conditions,
        ));
    }
    let name = text(&meta, "name").ok_or_else(|| anyhow!("{chart_yaml} has no name"))?;
    Ok(Some(ChartDefaults { name, version: text(&meta, "version"), app_version: text(&meta, "appVersion"), values, subcharts }))
}

/// A `set:` pair of the helmfile (as written there, before kod escapes it for `--set`) as
/// a values tree: `NAME` split on unescaped `.`, `VALUE` typed like helm does
/// (`true`/`false`/`null`, integers). A list index (`containers[0].image`, `args[2]`)
/// makes a list with the value at that index (`null` before it), which replaces a list of
/// the same name in earlier values as helm's merge does (helm would change an element of a
/// list set by an earlier `-f` file in place; kod replaces the list). `None` for a name
/// it cannot read.
pub fn set_value(name: &str, value: &str) -> Option<Value> {
    if name.is_empty() {
        return None;
    }
    // Segments: a key, or a list index following a key.
    enum Seg {
        Key(String),
        Index(usize),
    }
    let mut segs = Vec::new();
    let mut current = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            '.' => {
                if !current.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut current)));
                } else if !matches!(segs.last(), Some(Seg::Index(_))) {
                    return None;
                }
            }
            '[' => {
                if !current.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut current)));
                }
                if segs.is_empty() {
                    return None;
                }
                let mut digits = String::new();
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    digits.push(d);
                }
                // helm refuses large indexes; so does kod.
                let index: usize = digits.parse().ok().filter(|i| *i <= 65536)?;
                segs.push(Seg::Index(index));
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        segs.push(Seg::Key(current));
    }
    if segs.is_empty() {
        return None;
    }
    let mut leaf = match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        v => v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(v.to_string())),
    };
    for seg in segs.into_iter().rev() {
        leaf = match seg {
            Seg::Key(k) => {
                let mut m = Map::new();
                m.insert(k, leaf);
                Value::Object(m)
            }
            Seg::Index(i) => {
                let mut list = vec![Value::Null; i];
                list.push(leaf);
                Value::Array(list)
            }
        };
    }
    Some(leaf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::chart::archive::test_tgz as tgz;

    #[test]
    fn subcharts_globals_and_conditions() {
        let f = tgz(&[
            (
                "app/Chart.yaml",
                "name: app\nversion: 1.0.0\nappVersion: '2.0'\ndependencies:\n- name: redis\n  alias: cache\n  condition: cache.enabled\n- name: absent\n",
            ),
            ("app/values.yaml", "image: {repository: app}\ncache: {image: {tag: '7.1'}}\nglobal: {imageRegistry: ''}\n"),
            ("app/charts/redis/Chart.yaml", "name: redis\nversion: 3.0.0\nappVersion: '7.0'\n"),
            ("app/charts/redis/values.yaml", "enabled: true\nimage: {repository: redis, tag: '7.0'}\nglobal: {imageRegistry: sub, other: 1}\n"),
        ]);
        let c = ChartDefaults::read(f.path()).unwrap();
        assert_eq!((c.name.as_str(), c.version.as_deref(), c.app_version.as_deref()), ("app", Some("1.0.0"), Some("2.0")));
        assert_eq!(c.values["cache"]["image"], json!({"repository": "redis", "tag": "7.1"}));
        assert_eq!(c.values["global"], json!({"imageRegistry": "", "other": 1}));
        let e = c.effective_values(&[]);
        assert_eq!(e.subcharts.len(), 1);
        assert_eq!((e.subcharts[0].path.as_str(), e.subcharts[0].name.as_str(), e.subcharts[0].disabled.as_deref()), ("cache", "redis", None));
        let e = c.effective_values(&[json!({"cache": {"enabled": false}}), json!({"image": {"tag": "x"}})]);
        assert_eq!(e.subcharts[0].disabled.as_deref(), Some("condition cache.enabled is false"));
        assert_eq!(e.values["image"], json!({"repository": "app", "tag": "x"}));
    }

    #[test]
    fn set_values() {
        assert_eq!(set_value("image.tag", "1.2"), Some(json!({"image": {"tag": "1.2"}})));
        assert_eq!(set_value("a\\.b.c", "true"), Some(json!({"a.b": {"c": true}})));
        assert_eq!(set_value("n", "3"), Some(json!({"n": 3})));
        assert_eq!(set_value("l", "x,y"), Some(json!({"l": "x,y"})));
        assert_eq!(set_value("a[0].b", "1"), Some(json!({"a": [{"b": 1}]})));
        assert_eq!(set_value("extraContainers[1].image", "busybox:1.36"), Some(json!({"extraContainers": [null, {"image": "busybox:1.36"}]})));
        assert_eq!(set_value("args[0]", "--x"), Some(json!({"args": ["--x"]})));
        assert_eq!(set_value("m[0][1]", "v"), Some(json!({"m": [[null, "v"]]})));
        assert_eq!(set_value("[0]", "v"), None);
        assert_eq!(set_value("a[x]", "v"), None);
        assert_eq!(set_value("a[99999999]", "v"), None);
    }

    #[test]
    fn library_and_missing_charts() {
        let f = tgz(&[("lib/Chart.yaml", "name: lib\ntype: library\n")]);
        assert!(ChartDefaults::read(f.path()).unwrap_err().to_string().contains("library chart"));
        let f = tgz(&[("x/readme", "hi")]);
        assert!(ChartDefaults::read(f.path()).unwrap_err().to_string().contains("no Chart.yaml"));
    }
}
