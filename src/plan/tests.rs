//! Unit tests of the plan. Expected groupings were recorded from helmfile 0.166.0 with
//! the same releases, e.g. (fake `helm` on PATH that succeeds and lists nothing):
//!
//! ```sh
//! helmfile show-dag
//! helmfile --debug sync --skip-deps [-l name=app] [--include-needs|--include-transitive-needs|--skip-needs=false]
//! #   -> "processing N groups of releases in this order:" + the GROUP table
//! ```

use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::helmfile::release::normalize_need;
use crate::helmfile::{Environment, StateSpec};

fn rel(name: &str, ns: &str, needs: &[&str]) -> ReleaseSpec {
    ReleaseSpec {
        name: name.into(),
        namespace: ns.into(),
        chart: "./c".into(),
        needs: needs.iter().map(|n| normalize_need(n, ns, "")).collect(),
        ..Default::default()
    }
}

fn state(file: &str, releases: Vec<ReleaseSpec>, selectors: &[&str]) -> LoadedState {
    LoadedState {
        file: PathBuf::from(file),
        abs_path: PathBuf::from("/x").join(file),
        base_dir: PathBuf::from("/x"),
        spec: StateSpec { releases, ..Default::default() },
        env: Environment::default(),
        rendered_values: json!({}),
        selectors: selectors.iter().map(|s| s.to_string()).collect(),
        warnings: vec![],
    }
}

/// Waves as lists of IDs.
fn ids(waves: &[Wave]) -> Vec<Vec<String>> {
    waves.iter().map(|w| w.releases.iter().map(|r| r.id.clone()).collect()).collect()
}

fn v(groups: &[&[&str]]) -> Vec<Vec<String>> {
    groups.iter().map(|g| g.iter().map(|s| s.to_string()).collect()).collect()
}

/// helmfile 0.166 `show-dag` on this set printed groups
/// 1: istio-system/base; 2: istio-system/istiod; 3: gw-a/gw, gw-b/gw; 4: apps/app, apps/off.
fn istio() -> Vec<ReleaseSpec> {
    let mut off = rel("off", "apps", &["gw-b/gw"]);
    off.installed = Some(false);
    vec![
        rel("base", "istio-system", &[]),
        rel("istiod", "istio-system", &["base"]),
        rel("gw", "gw-a", &["istio-system/istiod"]),
        rel("gw", "gw-b", &["istio-system/istiod"]),
        rel("app", "apps", &["gw-a/gw"]),
        off,
    ]
}

#[test]
fn waves_are_levels_and_deletions_are_separate() {
    let plan = build(&[state("helmfile.yaml", istio(), &[])], &PlanOptions::default()).unwrap();
    // `helmfile --debug sync`: 1 istio-system/base; 2 istio-system/istiod; 3 gw-a/gw, gw-b/gw; 4 apps/app
    assert_eq!(
        ids(&plan.waves),
        v(&[&["istio-system/base"], &["istio-system/istiod"], &["gw-a/gw", "gw-b/gw"], &["apps/app"]])
    );
    assert_eq!(ids(&plan.deletions), v(&[&["apps/off"]]));
    assert_eq!(plan.waves[2].index, 3);
    assert!(plan.waves.iter().flat_map(|w| &w.releases).all(|r| r.action == Action::Install));
    assert_eq!(plan.deletions[0].releases[0].action, Action::Delete);
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn diamond_and_definition_order_inside_a_wave() {
    // d needs b and c; b and c need a; z is independent but defined last.
    let releases = vec![
        rel("d", "n", &["c", "b"]),
        rel("c", "n", &["a"]),
        rel("b", "n", &["a"]),
        rel("a", "n", &[]),
        rel("z", "n", &[]),
    ];
    let plan = build(&[state("h.yaml", releases, &[])], &PlanOptions::default()).unwrap();
    assert_eq!(ids(&plan.waves), v(&[&["n/a", "n/z"], &["n/c", "n/b"], &["n/d"]]));
}

#[test]
fn selectors_cut_through_needs_as_helmfile_sync_does() {
    let st = |sel: &[&str]| vec![state("helmfile.yaml", istio(), sel)];
    // default (skip needs): only the selected release, in its own wave
    let p = build(&st(&["name=app"]), &PlanOptions::default()).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["apps/app"]]));
    // --include-needs: every need, transitively (helmfile's DAG includes needs of needs)
    let inc = PlanOptions { include_needs: true, ..Default::default() };
    let p = build(&st(&["name=app"]), &inc).unwrap();
    assert_eq!(
        ids(&p.waves),
        v(&[&["istio-system/base"], &["istio-system/istiod"], &["gw-a/gw"], &["apps/app"]])
    );
    // --skip-needs=false alone: helmfile's error
    let strict = PlanOptions { skip_needs: false, ..Default::default() };
    let e = build(&st(&["name=app"]), &strict).unwrap_err().to_string();
    assert_eq!(
        e,
        "in ./helmfile.yaml: release \"apps/app\" depends on \"gw-a/gw\" which does not match the selectors. Please add a selector like \"--selector name=gw\", or indicate whether to skip (--skip-needs) or include (--include-needs) these dependencies"
    );
    // every cut need is named
    let e = build(&st(&["name=app", "name=istiod"]), &strict).unwrap_err().to_string();
    assert!(e.starts_with("in ./helmfile.yaml: release \"apps/app\" depends on \"gw-a/gw\""), "{e}");
    assert!(e.ends_with("; other needs outside the selection: \"istio-system/base\" (needed by istio-system/istiod)"), "{e}");
    // two selectors are OR-ed; the selection may pick a deletion
    let p = build(&st(&["name=base", "name=off"]), &PlanOptions::default()).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["istio-system/base"]]));
    assert_eq!(ids(&p.deletions), v(&[&["apps/off"]]));
    // automatic labels: namespace and chart
    let p = build(&st(&["namespace=gw-b"]), &PlanOptions::default()).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["gw-b/gw"]]));
}

#[test]
fn include_transitive_needs_follows_names_like_helmfile() {
    // helmfile 0.166 `-l name=app sync --include-transitive-needs` printed
    // 1: a/x, b/y; 2: a/gw; 3: apps/app (b/y comes in through the other "gw");
    // `--include-needs` printed 1: a/x; 2: a/gw; 3: apps/app.
    let releases = vec![
        rel("x", "a", &[]),
        rel("y", "b", &[]),
        rel("gw", "a", &["x"]),
        rel("gw", "b", &["y"]),
        rel("app", "apps", &["a/gw"]),
    ];
    let st = vec![state("helmfile.yaml", releases, &["name=app"])];
    let p = build(&st, &PlanOptions { include_transitive_needs: true, ..Default::default() }).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["a/x", "b/y"], &["a/gw"], &["apps/app"]]));
    let p = build(&st, &PlanOptions { include_needs: true, ..Default::default() }).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["a/x"], &["a/gw"], &["apps/app"]]));
}

#[test]
fn conditions_and_deletions_in_reverse_order() {
    // helmfile 0.166 `sync` (every installed:false release reported installed by the fake
    // helm): deletions 1 apps/gone3; 2 apps/gone; 3 apps/gone2; installs 1 mon/prom;
    // 2 apps/api; 3 apps/web. With `-l tier=api --include-needs`: 1 data/pg, mon/prom; 2 apps/api.
    let mut pg = rel("pg", "data", &[]);
    pg.condition = "pg.enabled".into();
    let mut api = rel("api", "apps", &["data/pg", "mon/prom"]);
    api.labels.insert("tier".into(), "api".into());
    let mut prom = rel("prom", "mon", &[]);
    prom.condition = "mon.enabled".into();
    let mut gone = rel("gone", "apps", &["api"]);
    gone.installed = Some(false);
    let mut gone2 = rel("gone2", "apps", &[]);
    gone2.installed = Some(false);
    let mut gone3 = rel("gone3", "apps", &["gone"]);
    gone3.installed = Some(false);
    let releases = vec![pg, api, prom, rel("web", "apps", &["api"]), gone, gone2, gone3];
    let values = json!({"pg": {"enabled": false}, "mon": {"enabled": true}});
    let mk = |sel: &[&str]| {
        let mut s = state("helmfile.yaml", releases.clone(), sel);
        s.rendered_values = values.clone();
        vec![s]
    };
    let p = build(&mk(&[]), &PlanOptions::default()).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["mon/prom"], &["apps/api"], &["apps/web"]]));
    assert_eq!(ids(&p.deletions), v(&[&["apps/gone3"], &["apps/gone"], &["apps/gone2"]]));
    let p = build(&mk(&["tier=api"]), &PlanOptions { include_needs: true, ..Default::default() }).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["data/pg", "mon/prom"], &["apps/api"]]));
    assert!(p.deletions.is_empty());
    // a need on an uninstalled release warns (helmfile: "release gone3 needs gone, but gone
    // is not installed due to installed: false") — only for desired releases
    assert!(p.warnings.is_empty());
    let mut with_need = releases.clone();
    with_need.push(rel("late", "apps", &["gone2"]));
    let mut s = state("helmfile.yaml", with_need, &[]);
    s.rendered_values = values.clone();
    let p = build(&[s], &PlanOptions::default()).unwrap();
    assert_eq!(
        p.warnings,
        vec!["in ./helmfile.yaml: release \"apps/late\" needs \"apps/gone2\", but \"apps/gone2\" is not installed due to installed: false. Either mark it as installed or remove it from the needs of \"apps/late\"".to_string()]
    );
}

#[test]
fn kube_context_in_ids_and_needs() {
    let mk = |name: &str, ns: &str, ctx: &str, needs: &[&str]| ReleaseSpec {
        name: name.into(),
        namespace: ns.into(),
        kube_context: ctx.into(),
        chart: "c".into(),
        needs: needs.iter().map(|n| normalize_need(n, ns, ctx)).collect(),
        ..Default::default()
    };
    let releases = vec![
        mk("crds", "", "east", &[]),
        mk("cm", "cert-manager", "east", &["east//crds"]),
        mk("app", "apps", "west", &["east/cert-manager/cm"]),
        mk("local", "apps", "west", &["app"]),
    ];
    let p = build(&[state("h.yaml", releases, &[])], &PlanOptions::default()).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["east//crds"], &["east/cert-manager/cm"], &["west/apps/app"], &["west/apps/local"]]));
    assert_eq!(p.waves[3].releases[0].needs, vec!["west/apps/app"]);
}

#[test]
fn cycles_name_every_release_on_them() {
    // helmfile 0.166: "cycle detected: n/a -> n/b -> n/c -> n/a"
    let releases = vec![rel("a", "n", &["c"]), rel("b", "n", &["a"]), rel("c", "n", &["b"]), rel("x", "n", &[]), rel("t", "n", &["a"])];
    let e = build(&[state("helmfile.yaml", releases, &[])], &PlanOptions::default()).unwrap_err().to_string();
    assert_eq!(
        e,
        "in ./helmfile.yaml: cycle detected: n/a -> n/b -> n/c -> n/a (each release is needed by the next one; remove one of these needs)"
    );
    let e = build(&[state("h.yaml", vec![rel("self", "n", &["self"])], &[])], &PlanOptions::default()).unwrap_err().to_string();
    assert!(e.contains("cycle detected: n/self -> n/self"), "{e}");
}

#[test]
fn undefined_needs_name_the_closest_release() {
    let releases = vec![rel("gateway", "n", &[]), rel("a", "n", &["gatway"])];
    let e = build(&[state("helmfile.yaml", releases, &[])], &PlanOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with("in ./helmfile.yaml: release \"n/a\" needs \"n/gatway\", which no release defines (closest: \"n/gateway\"). Perhaps you made a typo in \"needs\""), "{e}");
    // the same name in another namespace: a need without namespace means the needer's
    let releases = vec![rel("gw", "gw-a", &[]), rel("gw", "gw-b", &[]), rel("app", "apps", &["gw"])];
    let e = build(&[state("h.yaml", releases, &[])], &PlanOptions::default()).unwrap_err().to_string();
    assert!(e.contains("needs \"apps/gw\", which no release defines (closest: \"gw-a/gw\", \"gw-b/gw\")"), "{e}");
}

#[test]
fn duplicates() {
    // helmfile 0.166 sync: `found 2 duplicate releases with ID "n/a"`
    let e = build(&[state("h.yaml", vec![rel("a", "n", &[]), rel("a", "n", &[])], &[])], &PlanOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("in ./h.yaml: found 2 duplicate releases with ID \"n/a\" (releases[0], releases[1])"), "{e}");
    // a selector that picks one of them keeps that one
    let mut second = rel("a", "n", &[]);
    second.labels.insert("pick".into(), "yes".into());
    let p = build(&[state("h.yaml", vec![rel("a", "n", &[]), second, rel("b", "n", &["a"])], &["pick=yes"])], &PlanOptions::default()).unwrap();
    assert_eq!(p.waves[0].releases[0].labels.get("pick").map(String::as_str), Some("yes"));
    // duplicates nobody selects leave the graph; a need on them says why
    let mut blue = rel("a", "n", &[]);
    blue.labels.insert("color".into(), "blue".into());
    let e = build(&[state("h.yaml", vec![blue, rel("a", "n", &[]), rel("b", "n", &["a"])], &["name=b"])], &PlanOptions { include_needs: true, ..Default::default() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("release \"n/b\" needs \"n/a\", which is defined 2 times (releases[0], releases[1]) and none of them is selected"), "{e}");
    // the same need twice (helmfile 0.166 panics)
    let e = build(&[state("h.yaml", vec![rel("x", "a", &[]), rel("y", "a", &["x", "a/x"])], &[])], &PlanOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("release \"a/y\" needs \"a/x\" twice"), "{e}");
}

#[test]
fn several_state_files_run_one_after_another() {
    let mut off = rel("old", "x", &[]);
    off.installed = Some(false);
    let sub = state("sub.yaml", vec![rel("s1", "x", &[]), rel("s2", "x", &["s1"]), off], &[]);
    let root = state("helmfile.yaml", vec![rel("r", "y", &[])], &[]);
    let p = build(&[sub, root], &PlanOptions::default()).unwrap();
    assert_eq!(ids(&p.waves), v(&[&["x/s1"], &["x/s2"], &["y/r"]]));
    assert_eq!(p.waves.iter().map(|w| w.index).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(p.state_files, vec!["sub.yaml", "helmfile.yaml"]);
    let seq: Vec<(Action, usize, &str)> = p.sequence().iter().map(|s| (s.action, s.wave.index, s.wave.state_file.as_str())).collect();
    assert_eq!(
        seq,
        vec![
            (Action::Delete, 1, "sub.yaml"),
            (Action::Install, 1, "sub.yaml"),
            (Action::Install, 2, "sub.yaml"),
            (Action::Install, 3, "helmfile.yaml")
        ]
    );
}

#[test]
fn no_match_is_an_error() {
    let e = build(&[state("h.yaml", istio(), &["name=zzz"])], &PlanOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with("no releases found that match the selector(s) \"name=zzz\" in environment \"\", in any helmfile"), "{e}");
    // helmfile 0.166 `sync` on `releases: []` (or only disabled releases): "no releases found"
    let e = build(&[state("h.yaml", vec![], &[])], &PlanOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with("no releases to plan"), "{e}");
}

#[test]
fn json_shape() {
    let p = build(&[state("helmfile.yaml", istio(), &[])], &PlanOptions::default()).unwrap();
    let j = serde_json::to_value(&p).unwrap();
    assert_eq!(j["waves"][0]["index"], 1);
    assert_eq!(j["waves"][0]["releases"][0]["id"], "istio-system/base");
    assert_eq!(j["deletions"][0]["releases"][0]["action"], "delete");
    let back: Plan = serde_json::from_value(j).unwrap();
    assert_eq!(back, p);
}

/// A 2000-release DAG (20 namespaces, needs on up to 3 earlier releases) plans well under
/// a second; this checks the result's shape, scripts/bench/plan.sh measures the time.
#[test]
fn large_generated_dag() {
    let mut releases = Vec::new();
    for i in 0..2000usize {
        let ns = format!("ns-{}", i % 20);
        let needs: Vec<String> = [i / 2, i / 3, i.saturating_sub(7)]
            .iter()
            .filter(|&&j| j < i)
            .map(|&j| format!("ns-{}/r{j}", j % 20))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let refs: Vec<&str> = needs.iter().map(String::as_str).collect();
        releases.push(rel(&format!("r{i}"), &ns, &refs));
    }
    let p = build(&[state("h.yaml", releases.clone(), &[])], &PlanOptions::default()).unwrap();
    assert_eq!(p.releases().count(), 2000);
    // every need is in an earlier wave
    let mut wave_of = HashMap::new();
    for w in &p.waves {
        for r in &w.releases {
            wave_of.insert(r.id.clone(), w.index);
        }
    }
    for w in &p.waves {
        for r in &w.releases {
            for n in &r.needs {
                assert!(wave_of[n] < w.index, "{} in wave {} needs {n} in wave {}", r.id, w.index, wave_of[n]);
            }
        }
    }
}
