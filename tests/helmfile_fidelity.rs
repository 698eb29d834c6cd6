//! Differential fidelity: the real `helmfile build --embed-values` against
//! `kod helmfile build --embed-values` on every fixture under tests/fixtures/helmfiles, on
//! every example under examples/helmfiles, and (with KOD_CORPUS set) on every corpus
//! helmfile that helmfile itself can build. Releases must be identical after normalising
//! key order; the test prints "N of M identical" per suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use kod_testlab::Tools;
use serde_yaml::Value;

struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

/// Run a tool with an isolated home and helm state; returns (success, stdout, stderr).
fn run(program: &Path, dir: &Path, args: &[String], env: &BTreeMap<String, String>, home: &Path) -> (bool, String, String) {
    let helm = Tools::find().expect("tools").helm;
    let path = format!("{}:{}", helm.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELMFILE_UPGRADE_NOTICE_DISABLED", "1")
        .env("KOD_HELM", &helm)
        // Any network access fails at once instead of hanging.
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// (file, releases) per state document.
fn releases_of(output: &str) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(output) {
        let v = <Value as serde::Deserialize>::deserialize(doc).expect("yaml");
        if v.is_null() {
            continue;
        }
        let file = v.get("filepath").and_then(Value::as_str).unwrap_or("").to_string();
        let releases = v.get("releases").cloned().unwrap_or(Value::Sequence(vec![]));
        docs.push((file, releases));
    }
    docs
}

/// Compare one case; returns None when identical, else a description of the difference.
fn compare(case: &Case) -> Result<Option<String>, String> {
    let home = tempfile::tempdir().unwrap();
    let helmfile = Tools::helmfile().expect("helmfile (run scripts/install-tools.sh)");
    let mut hargs = case.args.clone();
    hargs.extend(["build".to_string(), "--embed-values".to_string()]);
    let (h_ok, hout, herr) = run(&helmfile, &case.dir, &hargs, &case.env, home.path());
    let kod = PathBuf::from(env!("CARGO_BIN_EXE_kod"));
    let mut kargs = vec!["helmfile".to_string()];
    kargs.extend(hargs);
    let (ok, kout, kerr) = run(&kod, &case.dir, &kargs, &case.env, home.path());
    if !h_ok {
        // Where helmfile refuses the input, kod must refuse it too (never build something
        // helmfile would not).
        let herr = herr.lines().last().unwrap_or("").to_string();
        return if ok {
            Ok(Some(format!("helmfile fails ({herr}) but kod succeeds")))
        } else {
            Err(format!("both fail; helmfile: {herr}; kod: {}", kerr.trim()))
        };
    }
    if !ok {
        return Ok(Some(format!("kod fails: {}", kerr.trim())));
    }
    let (h, k) = (releases_of(&hout), releases_of(&kout));
    if h != k {
        let show = |d: &[(String, Value)]| serde_yaml::to_string(&d.iter().map(|(f, r)| (f.clone(), r.clone())).collect::<Vec<_>>()).unwrap();
        return Ok(Some(format!("--- helmfile\n{}\n--- kod\n{}", show(&h), show(&k))));
    }
    // `list -o json` must match too, without and with each selector variant of the case.
    let mut variants: Vec<Vec<String>> = vec![vec![]];
    if let Ok(text) = std::fs::read_to_string(case.dir.join("kod-list-selectors")) {
        variants.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| vec!["-l".to_string(), l.trim().to_string()]));
    }
    for sel in variants {
        let mut largs = case.args.clone();
        largs.extend(sel.clone());
        largs.extend(["list".to_string(), "--output".to_string(), "json".to_string()]);
        let (h_ok, hl, herr) = run(&helmfile, &case.dir, &largs, &case.env, home.path());
        let mut kl_args = vec!["helmfile".to_string()];
        kl_args.extend(largs.clone());
        let (k_ok, kl, kerr) = run(&kod, &case.dir, &kl_args, &case.env, home.path());
        if h_ok != k_ok {
            return Ok(Some(format!("list {sel:?}: helmfile ok={h_ok} ({herr}), kod ok={k_ok} ({kerr})")));
        }
        let parse = |t: &str| -> serde_json::Value {
            // helmfile prints nothing at all (not `[]`) when no release matches.
            let t = t.trim();
            if t.is_empty() {
                serde_json::json!([])
            } else {
                serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.to_string()))
            }
        };
        if h_ok && parse(&hl) != parse(&kl) {
            return Ok(Some(format!("list {sel:?} differs:\n--- helmfile\n{hl}\n--- kod\n{kl}")));
        }
    }
    Ok(None)
}

fn read_case(dir: &Path, name: String) -> Case {
    let args = std::fs::read_to_string(dir.join("kod-args")).ok().map(|s| shlex::split(s.trim()).expect("kod-args")).unwrap_or_default();
    let env = std::fs::read_to_string(dir.join("kod-env"))
        .ok()
        .map(|s| s.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default();
    Case { name, dir: dir.to_path_buf(), args, env }
}

fn suite(title: &str, cases: Vec<Case>, require_all: bool) {
    let mut identical = 0;
    let mut compared = 0;
    let mut failures = Vec::new();
    for case in &cases {
        match compare(case) {
            Err(skip) => println!("[{title}] {}: skipped ({skip})", case.name),
            Ok(None) => {
                compared += 1;
                identical += 1;
                println!("[{title}] {}: identical", case.name);
            }
            Ok(Some(diff)) => {
                compared += 1;
                println!("[{title}] {}: DIFFERENT\n{diff}", case.name);
                failures.push(case.name.clone());
            }
        }
    }
    println!("[{title}] {identical} of {compared} identical ({} cases, {} skipped because helmfile and kod both refuse them)", cases.len(), cases.len() - compared);
    if require_all {
        assert!(failures.is_empty(), "[{title}] not identical: {failures:?}");
    }
}

fn fixture_cases(root: &Path) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .filter(|d| !d.file_name().unwrap().to_string_lossy().starts_with('_'))
        .map(|d| read_case(&d, d.file_name().unwrap().to_string_lossy().to_string()))
        .collect()
}

#[test]
fn fixtures_build_identically() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helmfiles");
    let cases = fixture_cases(&root);
    assert!(cases.len() >= 10, "fixtures missing");
    suite("fixtures", cases, true);
}

#[test]
fn examples_build_identically() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/helmfiles");
    suite("examples", fixture_cases(&root), true);
}

/// Every corpus helmfile project, in every environment it declares, with the dummy
/// variables its `requiredEnv` calls need (as its STATUS.md describes).
#[test]
fn corpus_builds_identically() {
    let Some(corpus) = common::corpus_cases() else {
        println!("KOD_CORPUS not set: corpus fidelity skipped");
        return;
    };
    let cases = corpus.into_iter().map(|c| Case { name: c.name, dir: c.dir, args: c.args, env: c.env }).collect();
    suite("corpus", cases, true);
}

