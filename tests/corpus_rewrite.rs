//! The rewrite against real charts (gated on `KOD_CORPUS`): every corpus chart is
//! discovered with default values (as `tests/corpus_discovery.rs` does), its images are
//! redirected exactly as `kod helmfile rewrite` redirects them (override values through the
//! recorded value shapes, the post-renderer for the rest), and the chart is rendered again
//! with real helm, the overrides and `kod post-render`. Every image of every rendered object
//! must then be under the private registry, and no string in args/env/ConfigMaps may still
//! name a discovered public image. Printed per chart: images redirected by values and by the
//! post-renderer.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use kod::chart::WorkDir;
use kod::image::discover::{discover, DiscoverOptions};
use kod::image::extract::extract_images;
use kod::registry::push::target_names;
use kod::registry::RegistryTarget;
use kod::rewrite::state::release_redirects;
use kod_testlab::Tools;

const PRIVATE: &str = "registry.site.example:5000/platform";

#[tokio::test(flavor = "multi_thread")]
async fn corpus_charts_render_with_only_private_images_after_the_rewrite() {
    let Some(corpus) = std::env::var_os("KOD_CORPUS").map(PathBuf::from) else {
        eprintln!("KOD_CORPUS not set: corpus rewrite test skipped");
        return;
    };
    let corpus_charts = common::corpus_charts(&corpus);
    let states = &corpus_charts.states;
    let tools = Tools::find().unwrap();
    let runner = common::lab_runner();
    let work = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(work.path().join("work")).unwrap();
    let opts = DiscoverOptions { registry_check: false, concurrency: 4, ..Default::default() };
    let d = discover(&runner, &wd, states, &opts).await.unwrap();

    let target = RegistryTarget::parse(PRIVATE).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    println!("\n{:<24} {:>6} {:>7} {:>12}", "chart", "images", "values", "post-render");
    for r in &d.releases {
        let chart = r.release.kube_context.clone();
        let sources: Vec<String> = r.images.iter().map(|i| i.image.clone()).collect();
        let names = target_names(&sources, &target).unwrap();
        let images: Vec<_> = r
            .images
            .iter()
            .map(|i| {
                let p = i.provenance.iter().find(|p| p.value_shape.is_some());
                (i.image.clone(), p.and_then(|p| p.value_path.clone()), p.and_then(|p| p.value_shape.clone()))
            })
            .collect();
        let plan = release_redirects(&images, &names, &BTreeMap::new(), &target, false, false).unwrap();
        let by_values = plan.redirects.iter().filter(|x| x.how.starts_with("values")).count();
        println!("{chart:<24} {:>6} {by_values:>7} {:>12}", images.len(), plan.map.images.len());
        for w in &plan.warnings {
            println!("    {w}");
        }
        let dir = work.path().join(&chart);
        std::fs::create_dir_all(&dir).unwrap();
        let overrides = dir.join("kod-images.yaml");
        std::fs::write(&overrides, serde_yaml::to_string(&plan.overrides).unwrap()).unwrap();
        let map = dir.join("map.json");
        std::fs::write(&map, serde_json::to_string(&plan.map).unwrap()).unwrap();
        let out = std::process::Command::new(&tools.helm)
            .env("HELM_CACHE_HOME", dir.join("cache"))
            .env("HELM_CONFIG_HOME", dir.join("config"))
            .args(["template", "test"])
            .arg(wd.chart_path(&r.chart.digest))
            .args(["--namespace", "demo", "-f"])
            .arg(&overrides)
            .arg("--post-renderer")
            .arg(env!("CARGO_BIN_EXE_kod"))
            .args(["--post-renderer-args", "post-render", "--post-renderer-args", "--map", "--post-renderer-args"])
            .arg(&map)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!("{chart}: helm template with the overrides failed: {}", String::from_utf8_lossy(&out.stderr)));
            continue;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let found = extract_images(&text);
        for f in &found.found {
            let Ok(reference) = &f.reference else { continue };
            let normalized = reference.to_string();
            if f.image == "auto" {
                continue;
            }
            if f.kind_of_place.is_candidate() {
                if sources.contains(&normalized) {
                    failures.push(format!("{chart}: {normalized} still named in {} {}", f.object.kind, f.field_path));
                }
                continue;
            }
            checked += 1;
            if !normalized.starts_with(&format!("{PRIVATE}/")) {
                let how = plan.redirects.iter().find(|x| x.source == normalized).map(|x| x.how.as_str()).unwrap_or("not discovered");
                failures.push(format!("{chart}: {} {} {} is {normalized} ({how})", f.object.kind, f.object.name, f.field_path));
            }
        }
    }
    println!("checked {checked} rendered image references");
    assert!(checked > 20, "too few images checked: {checked}");
    assert!(failures.is_empty(), "images left public after the rewrite:\n{}", failures.join("\n"));
}
