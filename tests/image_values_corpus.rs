//! Checks value-path discovery and the built-in hints against the real
//! charts of the shared corpus (`$KOD_CORPUS/charts/*.tgz` and
//! `$KOD_CORPUS/images.txt`). Skipped unless `KOD_CORPUS` is set:
//!
//! ```sh
//! KOD_CORPUS=/work/shared/corpus cargo test --test image_values_corpus -- --nocapture
//! ```
//!
//! For every chart, the default values are built like Helm does (chart
//! values, vendored subcharts' values under their name or alias, subchart
//! globals under the parent's, subchart conditions), the values are walked,
//! the built-in hints resolved, and every image listed for the chart in
//! `images.txt` must be controlled by a value path or covered by an
//! extra-image hint. A table of the result is printed per chart. Nothing
//! from the corpus is copied into the repository: the files are read here.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use kod::image::annotations::chart_yaml_annotation_images;
use kod::image::hints::{chart_value_images, ChartMeta, Hints};
use kod::image::reference::{parse_normalized_named, Reference};
use kod::image::values::{
    deep_merge, find_value_images_with, lookup, match_value_paths, possible_images, ImageStyle,
    Subchart, WalkOptions,
};
use serde_json::Value;

/// The files of a packaged chart, by path inside the archive.
type Files = BTreeMap<String, Vec<u8>>;

fn read_tgz(path: &Path) -> Files {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Files::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("entry data");
        files.insert(name, data);
    }
    files
}

fn yaml_at(files: &Files, path: &str) -> Option<Value> {
    let text = std::str::from_utf8(files.get(path)?).expect("UTF-8");
    let value: Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
    Some(if value.is_null() {
        Value::Object(Default::default())
    } else {
        value
    })
}

/// A chart (or vendored subchart) with its default values already merged
/// with its own subcharts.
struct Chart {
    name: String,
    version: Option<String>,
    app_version: Option<String>,
    chart_yaml: String,
    values: Value,
    /// Subcharts, with paths relative to this chart's values.
    subcharts: Vec<Subchart>,
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Loads the chart in directory `dir` of the archive, like Helm computes
/// default values: subchart defaults under the subchart's key, parent
/// values winning, globals copied down.
fn load_chart(files: &Files, dir: &str) -> Option<Chart> {
    let chart_yaml_path = format!("{dir}/Chart.yaml");
    let meta = yaml_at(files, &chart_yaml_path)?;
    if text(&meta, "type").as_deref() == Some("library") {
        return None;
    }
    let mut values =
        yaml_at(files, &format!("{dir}/values.yaml")).unwrap_or(Value::Object(Default::default()));
    let mut subcharts = Vec::new();
    let dependencies = meta
        .get("dependencies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for dependency in dependencies {
        let name = text(&dependency, "name").expect("dependency name");
        let key = text(&dependency, "alias").unwrap_or_else(|| name.clone());
        let Some(sub) = load_chart(files, &format!("{dir}/charts/{name}")) else {
            continue;
        };
        // Subchart defaults under the parent's values for its key.
        let mut sub_values = sub.values.clone();
        if let Some(own) = values.get(&key) {
            deep_merge(&mut sub_values, own);
        }
        let sub_global = sub_values.as_object_mut().and_then(|m| m.remove("global"));
        values
            .as_object_mut()
            .unwrap()
            .insert(key.clone(), sub_values);
        if let Some(sub_global) = sub_global {
            let mut global = sub_global;
            if let Some(parent_global) = values.get("global") {
                deep_merge(&mut global, parent_global);
            }
            values
                .as_object_mut()
                .unwrap()
                .insert("global".into(), global);
        }
        // The first condition path that is set decides, as in Helm.
        let disabled = text(&dependency, "condition").and_then(|condition| {
            condition
                .split(',')
                .map(str::trim)
                .find_map(|path| match lookup(&values, path) {
                    Some(Value::Bool(enabled)) => {
                        Some((!enabled).then(|| format!("condition {path} is false")))
                    }
                    _ => None,
                })?
        });
        for nested in sub.subcharts {
            subcharts.push(Subchart {
                path: format!("{key}.{}", nested.path),
                ..nested
            });
        }
        subcharts.push(Subchart {
            path: key,
            name: sub.name,
            version: sub.version,
            app_version: sub.app_version,
            disabled,
        });
    }
    Some(Chart {
        name: text(&meta, "name").expect("chart name"),
        version: text(&meta, "version"),
        app_version: text(&meta, "appVersion"),
        chart_yaml: String::from_utf8(files[&chart_yaml_path].clone()).unwrap(),
        values,
        subcharts,
    })
}

fn expected_images(corpus: &Path) -> BTreeMap<String, Vec<(Reference, String)>> {
    let text = std::fs::read_to_string(corpus.join("images.txt")).expect("images.txt");
    let mut out: BTreeMap<String, Vec<(Reference, String)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 3, "images.txt line {line:?}");
        let reference = parse_normalized_named(fields[1]).expect("images.txt reference");
        out.entry(fields[0].to_owned())
            .or_default()
            .push((reference, fields[2].to_owned()));
    }
    out
}

#[test]
fn corpus_images_are_mapped_to_value_paths_or_hints() {
    let Some(corpus) = std::env::var_os("KOD_CORPUS").map(PathBuf::from) else {
        eprintln!("KOD_CORPUS not set: skipping the corpus check");
        return;
    };
    let hints = Hints::builtin().expect("built-in hints parse");
    let expected = expected_images(&corpus);
    let mut charts: Vec<PathBuf> = std::fs::read_dir(corpus.join("charts"))
        .expect("corpus charts")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    charts.sort();
    let mut uncovered = Vec::new();
    let mut unresolved = Vec::new();
    let mut checked = 0;
    for tgz in charts {
        let files = read_tgz(&tgz);
        let top = files
            .keys()
            .next()
            .and_then(|k| k.split('/').next())
            .unwrap()
            .to_owned();
        let Some(chart) = load_chart(&files, &top) else {
            println!("\n## {} — library chart, no images", tgz.display());
            continue;
        };
        checked += 1;
        let meta = ChartMeta {
            name: chart.name.clone(),
            version: chart.version.clone(),
            app_version: chart.app_version.clone(),
        };
        let described = chart_value_images(&chart.values, &meta, &chart.subcharts, &hints);
        let extra: Vec<_> = described.extra_images().cloned().collect();
        let value_images = described.value_images.clone();
        // The values walk alone, for comparison.
        let walk_only = find_value_images_with(
            &chart.values,
            &WalkOptions {
                app_version: chart.app_version.clone(),
                subcharts: chart.subcharts.clone(),
            },
        );

        let images = expected.get(&chart.name).cloned().unwrap_or_default();
        let found: Vec<Reference> = images.iter().map(|(r, _)| r.clone()).collect();
        println!(
            "\n## {} {} (appVersion {}) — {} images in images.txt, {} value images",
            chart.name,
            chart.version.as_deref().unwrap_or("?"),
            chart.app_version.as_deref().unwrap_or("?"),
            images.len(),
            value_images.len()
        );
        println!("| image | where | controlled by | values walk alone |\n|---|---|---|---|");
        let by_walk = match_value_paths(&found, &walk_only);
        for (((reference, value_image), (_, place)), (_, walked)) in
            match_value_paths(&found, &value_images)
                .into_iter()
                .zip(&images)
                .zip(&by_walk)
        {
            let alone = walked
                .as_ref()
                .map_or("—".to_owned(), |v| format!("`{}`", v.path));
            let how = match value_image {
                Some(v) => {
                    let kind = if v.style == ImageStyle::Hint {
                        "hint"
                    } else {
                        "values"
                    };
                    let state = match v.enabled {
                        Some(false) => format!(
                            " [disabled: {}]",
                            v.disabled_by.as_deref().unwrap_or_default()
                        ),
                        _ => String::new(),
                    };
                    let path = if v.path.is_empty() {
                        "(values root)"
                    } else {
                        v.path.as_str()
                    };
                    format!(
                        "{kind} `{path}`: {}{state}",
                        v.controlling_paths().join(", ")
                    )
                }
                None => match extra
                    .iter()
                    .find(|e| e.reference.as_ref().ok() == Some(&reference))
                {
                    Some(e) => format!("hint: extra image ({}) — {}", e.provenance, e.reason),
                    None => {
                        uncovered.push(format!("{}: {reference}", chart.name));
                        "none — needs a hint or post-render".to_owned()
                    }
                },
            };
            println!("| {reference} | {place} | {how} | {alone} |");
        }
        for e in extra
            .iter()
            .filter(|e| !e.reference.as_ref().is_ok_and(|r| found.contains(r)))
        {
            println!(
                "| {} | (hint only) | extra image ({}) — {} | — |",
                e.written, e.provenance, e.reason
            );
        }
        let uncovered_here = uncovered
            .iter()
            .filter(|u| u.starts_with(&format!("{}: ", chart.name)))
            .count();
        println!(
            "coverage: {}/{} by the values walk alone, {}/{} with the built-in hints",
            by_walk.iter().filter(|(_, v)| v.is_some()).count(),
            images.len(),
            images.len() - uncovered_here,
            images.len()
        );
        let possible = possible_images(&found, &value_images);
        if !possible.is_empty() {
            println!(
                "possible (in values, not rendered with defaults): {}",
                possible.len()
            );
            for p in &possible {
                println!(
                    "  - {} at {} — {}",
                    p.value_image.written, p.value_image.path, p.reason
                );
            }
        }
        for u in described.unresolved() {
            unresolved.push(format!("{}: {u}", chart.name));
        }
        let annotations =
            chart_yaml_annotation_images(&chart.chart_yaml).expect("Chart.yaml parses");
        assert!(
            annotations.errors.is_empty(),
            "{}: {:?}",
            chart.name,
            annotations.errors
        );
        for a in &annotations.images {
            let matched = match_value_paths(std::slice::from_ref(&a.reference), &value_images);
            let path = matched[0].1.as_ref().map(|v| v.path.clone());
            println!(
                "annotation {} {}: {}",
                a.key,
                a.reference,
                path.as_deref().unwrap_or("no value path")
            );
            assert!(
                path.is_some(),
                "{}: annotation image {} has no value path",
                chart.name,
                a.reference
            );
        }
    }
    assert!(checked >= 11, "only {checked} charts were checked");
    assert!(
        uncovered.is_empty(),
        "images without value path or hint: {uncovered:#?}"
    );
    assert!(
        unresolved.is_empty(),
        "built-in hints that do not fit the corpus charts: {unresolved:#?}"
    );
}
