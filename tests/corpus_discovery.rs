//! Discovery over the real-chart corpus (gated on `KOD_CORPUS`, e.g. /work/shared/corpus):
//! a copy of `$KOD_CORPUS/charts` is served by the lab on an ephemeral port, every chart is
//! rendered with default values (release `test`, namespace `demo`, as `images.txt` was
//! produced), and the result is compared with `images.txt`. Recall and precision are
//! printed per chart; recall must be 100% for `podspec` images; missed non-podspec images
//! are listed (not a failure). Each image is printed with the value path that controls it
//! (strategy 3) or the hint that adds it (strategy 5); every `images.txt` image must have
//! one of the two, and images left out by a hint are listed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kod::chart::WorkDir;
use kod::image::discover::{discover, DiscoverOptions, Strategy};

#[tokio::test(flavor = "multi_thread")]
async fn corpus_images_match_images_txt() {
    let Some(corpus) = std::env::var_os("KOD_CORPUS").map(PathBuf::from) else {
        eprintln!("KOD_CORPUS not set: corpus discovery test skipped");
        return;
    };
    // expected: chart -> image -> where
    let mut expected: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in std::fs::read_to_string(corpus.join("images.txt")).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        expected.entry(f[0].to_string()).or_default().insert(f[1].to_string(), f[2].to_string());
    }

    let corpus_charts = common::corpus_charts(&corpus);
    let (charts, states) = (&corpus_charts.charts, &corpus_charts.states);
    let runner = common::lab_runner();
    let work = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(work.path()).unwrap();
    // No registry check: the corpus images are not in any lab registry, and nothing may
    // reach a public registry from a test.
    let opts = DiscoverOptions { registry_check: false, concurrency: 4, ..Default::default() };
    let d = discover(&runner, &wd, states, &opts).await.unwrap();

    // `common` is a library chart: helm refuses to render it, and kod says so.
    for f in &d.failures {
        assert_eq!(f.release.kube_context, "common", "unexpected failure: {f:#?}");
        assert!(f.error.contains("library charts are not installable"), "{}", f.error);
    }
    assert!(charts.iter().any(|(n, _)| n == "common") == (d.failures.len() == 1));

    let mut podspec_missed = Vec::new();
    let mut uncontrolled = Vec::new();
    let (mut tp_all, mut found_all, mut expected_all) = (0, 0, 0);
    println!("\n{:<24} {:>5} {:>5} {:>5}  {:>8} {:>9}", "chart", "exp", "found", "hit", "recall", "precision");
    for r in &d.releases {
        let chart = r.release.kube_context.clone();
        let want = expected.get(&chart).cloned().unwrap_or_default();
        let got: BTreeSet<String> = r.images.iter().map(|i| i.image.clone()).collect();
        let hit = want.keys().filter(|i| got.contains(*i)).count();
        let recall = if want.is_empty() { 1.0 } else { hit as f64 / want.len() as f64 };
        let precision = if got.is_empty() { 1.0 } else { hit as f64 / got.len() as f64 };
        println!("{chart:<24} {:>5} {:>5} {hit:>5}  {:>7.1}% {:>8.1}%", want.len(), got.len(), recall * 100.0, precision * 100.0);
        for (img, place) in &want {
            if !got.contains(img) {
                if place == "podspec" {
                    podspec_missed.push(format!("{chart}: {img}"));
                } else {
                    println!("    missed ({place}): {img}");
                }
            }
        }
        for i in &r.images {
            let hinted = i.provenance.iter().any(|p| p.strategy == Strategy::Hint);
            let how = match (i.value_path(), hinted) {
                (Some(v), _) => format!("value path {v}"),
                (None, true) => "added by a hint".to_string(),
                (None, false) => "none — needs a hint or post-render".to_string(),
            };
            println!("    {} -> {how}", i.image);
            if want.contains_key(&i.image) && i.value_path().is_none() && !hinted {
                uncontrolled.push(format!("{chart}: {}", i.image));
            }
        }
        for p in &r.possible {
            println!("    possible (not bundled): {} at {} — {}", p.image, p.value_path.as_deref().unwrap_or("-"), p.reason);
        }
        for n in &r.notes {
            println!("    note: {n}");
        }
        for e in &r.excluded_by_hint {
            println!("    excluded by hint {} ({}): {}", e.pattern, e.hint, e.image);
        }
        for img in got.iter().filter(|i| !want.contains_key(*i)) {
            println!("    extra (not in images.txt): {img}");
        }
        for u in &r.unconfirmed {
            println!("    unconfirmed candidate: {} ({})", u.image, u.provenance.describe());
        }
        for p in &r.placeholders {
            println!("    placeholder (not an image): {:?} in {}", p.written, p.describe());
        }
        for i in &r.invalid {
            println!("    invalid: {:?} {}", i.provenance.written, i.error);
        }
        tp_all += hit;
        found_all += got.len();
        expected_all += want.len();
    }
    println!(
        "overall: recall {:.1}% ({tp_all}/{expected_all}), precision {:.1}% ({tp_all}/{found_all})",
        100.0 * tp_all as f64 / expected_all.max(1) as f64,
        100.0 * tp_all as f64 / found_all.max(1) as f64
    );
    assert!(podspec_missed.is_empty(), "podspec images missed: {podspec_missed:#?}");
    assert!(uncontrolled.is_empty(), "images.txt images without value path or hint: {uncontrolled:#?}");
    // istio's gateway renders `image: auto` (injection placeholder): never an image.
    assert!(!d.all_images().iter().any(|i| i == "docker.io/library/auto:latest"));
    // Every chart of images.txt was rendered.
    let rendered: BTreeSet<String> = d.releases.iter().map(|r| r.release.kube_context.clone()).collect();
    for chart in expected.keys() {
        assert!(rendered.contains(chart), "{chart} was not rendered");
    }
}
