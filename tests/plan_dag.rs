//! Differential test of the release plan against helmfile 0.166 itself, on every fixture
//! under tests/fixtures/helmfiles, every example under examples/helmfiles and (when
//! KOD_CORPUS is set) every corpus helmfile:
//!
//! * **show-dag**: `helmfile show-dag` prints, per state file, the DAG groups of every
//!   release. kod's plan (no selectors) must group the same way: show-dag's groups
//!   restricted to kod's install releases (empty groups dropped) are kod's install waves,
//!   restricted to kod's deletions and reversed they are kod's deletion waves, and kod
//!   plans no release show-dag does not know.
//! * **sync**: `helmfile --debug sync --skip-deps [variant flags]` with a fake `helm` on
//!   PATH (it succeeds, and `helm list` reports every release installed, so uninstalled
//!   releases are deleted) logs "processing N groups of releases in this order:" before
//!   each deletion and each install pass. Those tables, in order, must be exactly kod's
//!   plan in execution order, without and with each line of the fixture's
//!   `kod-plan-variants` (selectors and needs flags); where helmfile refuses a variant,
//!   kod must refuse it too.
//!
//! Each suite prints "N of M identical". helmfile runs from a scratch copy of the fixture
//! with an isolated HOME and helm state; network access fails at once (dead proxy).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use kod_testlab::Tools;
use serde_json::Value;

struct Case {
    name: String,
    /// The case's directory.
    dir: PathBuf,
    /// The directory copied to scratch space for helmfile (it may reference siblings).
    root: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    variants: Vec<Vec<String>>,
    /// Whether `helmfile sync` may run here (never where the helmfile has hooks: they
    /// would run commands).
    sync: bool,
}

/// Run a program in `dir`; returns (success, stdout, stderr).
fn run(program: &Path, dir: &Path, args: &[String], env: &BTreeMap<String, String>, home: &Path, bin: &Path) -> (bool, String, String) {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HOME", home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("HELMFILE_UPGRADE_NOTICE_DISABLED", "1")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// A scratch environment: HOME, and a bin dir whose `helm` succeeds at everything and
/// whose `helm list --filter ^NAME$` reports NAME installed (after helm 3's header line,
/// which helmfile drops).
struct Scratch {
    _dir: tempfile::TempDir,
    home: PathBuf,
    bin: PathBuf,
    work: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    let helm = bin.join("helm");
    std::fs::write(
        &helm,
        "#!/bin/sh\ncase \"$1\" in\n  version) echo 'v3.15.3+g3bb50bb';;\n  list) n=$(printf %s \"$3\" | tr -d '^$'); printf 'NAME\\tNAMESPACE\\n%s\\tx\\n' \"$n\";;\nesac\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = dir.path().join("work");
    Scratch { home, bin, work, _dir: dir }
}

/// Copy the case's root (the case with the siblings it references, e.g. `../_chart`)
/// into the scratch dir; returns the case's copy.
fn copy_case(case: &Case, s: &Scratch) -> PathBuf {
    copy_dir(&case.root, &s.work);
    s.work.join(case.dir.strip_prefix(&case.root).unwrap())
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let t = dst.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

type Groups = Vec<Vec<String>>;

/// helmfile's error line (not its warnings or debug lines).
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("err:") || l.starts_with("in "))
        .or(lines.last())
        .unwrap_or(&"")
        .to_string()
}

/// kod's plan as JSON.
fn kod_plan(case: &Case, dir: &Path, s: &Scratch, variant: &[String]) -> Result<Value, String> {
    let kod = PathBuf::from(env!("CARGO_BIN_EXE_kod"));
    let mut args = vec!["helmfile".to_string()];
    args.extend(case.args.clone());
    args.extend(["plan".to_string(), "-o".to_string(), "json".to_string()]);
    args.extend(variant.iter().cloned());
    let (ok, out, err) = run(&kod, dir, &args, &case.env, &s.home, &s.bin);
    if !ok {
        return Err(err.trim().to_string());
    }
    Ok(serde_json::from_str(&out).expect("kod plan -o json"))
}

/// The waves of one state visit (an index into `state_files`), as IDs.
fn wave_ids(waves: &Value, state: usize) -> Groups {
    waves
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["state"] == state)
        .map(|w| w["releases"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect())
        .collect()
}

/// kod's plan in execution order: per state file, its deletion pass then its install pass.
fn kod_passes(plan: &Value) -> Vec<Groups> {
    let mut passes = Vec::new();
    for f in 0..plan["state_files"].as_array().unwrap().len() {
        for key in ["deletions", "waves"] {
            let g = wave_ids(&plan[key], f);
            if !g.is_empty() {
                passes.push(g);
            }
        }
    }
    passes
}

/// The GROUP tables `helmfile --debug sync` logs, in order.
fn sync_passes(log: &str) -> Vec<Groups> {
    let mut passes = Vec::new();
    let mut lines = log.lines();
    while let Some(l) = lines.next() {
        if !l.contains("groups of releases in this order:") {
            continue;
        }
        let mut groups = Vec::new();
        for row in lines.by_ref() {
            let row = row.trim_end();
            if row.is_empty() {
                break;
            }
            if row.starts_with("GROUP") {
                continue;
            }
            let (_, ids) = row.split_once(char::is_whitespace).unwrap_or((row, ""));
            groups.push(ids.trim().split(", ").map(str::to_string).collect());
        }
        passes.push(groups);
    }
    passes
}

/// `helmfile show-dag`: per state file, the groups of IDs (one table per state).
fn show_dag_tables(out: &str) -> Vec<Groups> {
    let mut tables: Vec<Vec<(usize, String)>> = Vec::new();
    for line in out.lines() {
        if line.starts_with("GROUP") {
            tables.push(Vec::new());
            continue;
        }
        let mut cols = line.split_whitespace();
        let (Some(g), Some(id)) = (cols.next(), cols.next()) else { continue };
        if let (Ok(g), Some(t)) = (g.parse::<usize>(), tables.last_mut()) {
            t.push((g, id.to_string()));
        }
    }
    tables
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| {
            let mut groups: Groups = Vec::new();
            for (g, id) in t {
                while groups.len() < g {
                    groups.push(Vec::new());
                }
                groups[g - 1].push(id);
            }
            groups
        })
        .collect()
}

fn restrict(groups: &Groups, keep: &[String]) -> Groups {
    groups
        .iter()
        .map(|g| g.iter().filter(|id| keep.contains(id)).cloned().collect::<Vec<_>>())
        .filter(|g| !g.is_empty())
        .collect()
}

/// Compare `show-dag` with kod's plan (no variant). Err = skipped.
fn compare_show_dag(case: &Case) -> Result<Option<String>, String> {
    let s = scratch();
    let dir = copy_case(case, &s);
    let helmfile = Tools::helmfile().expect("helmfile (run scripts/install-tools.sh)");
    let mut args = case.args.clone();
    args.push("show-dag".into());
    let (h_ok, hout, herr) = run(&helmfile, &dir, &args, &case.env, &s.home, &s.bin);
    let plan = kod_plan(case, &dir, &s, &[]);
    if !h_ok {
        return Err(format!(
            "helmfile show-dag refuses it ({}); kod: {}",
            error_line(&herr),
            match plan {
                Ok(_) => "plans it (see the sync suite)".to_string(),
                Err(e) => e,
            }
        ));
    }
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            // show-dag does not evaluate conditions; sync (which kod plans) does.
            let mut sync_args = case.args.clone();
            sync_args.extend(["sync".to_string(), "--skip-deps".to_string()]);
            let (sync_ok, _, sync_err) = run(&helmfile, &dir, &sync_args, &case.env, &s.home, &s.bin);
            if !sync_ok {
                return Err(format!("kod refuses it as helmfile sync does (sync: {}; kod: {e})", error_line(&sync_err)));
            }
            return Ok(Some(format!("helmfile show-dag and sync succeed, kod fails: {e}")));
        }
    };
    let tables = show_dag_tables(&hout);
    let mut kod_files: Vec<usize> = Vec::new();
    for f in 0..plan["state_files"].as_array().unwrap().len() {
        if !wave_ids(&plan["waves"], f).is_empty() || !wave_ids(&plan["deletions"], f).is_empty() {
            kod_files.push(f);
        }
    }
    if tables.len() != kod_files.len() {
        return Ok(Some(format!("show-dag printed {} non-empty tables, kod planned {} state files:\n{hout}", tables.len(), kod_files.len())));
    }
    for (table, f) in tables.iter().zip(kod_files) {
        let installs = wave_ids(&plan["waves"], f);
        let deletions = wave_ids(&plan["deletions"], f);
        let known: Vec<String> = table.iter().flatten().cloned().collect();
        let planned: Vec<String> = installs.iter().chain(&deletions).flatten().cloned().collect();
        if let Some(extra) = planned.iter().find(|id| !known.contains(id)) {
            return Ok(Some(format!("{}: kod plans {extra}, which show-dag does not list:\n{hout}", plan["state_files"][f])));
        }
        let inst: Vec<String> = installs.iter().flatten().cloned().collect();
        let del: Vec<String> = deletions.iter().flatten().cloned().collect();
        let mut expect_del = restrict(table, &del);
        expect_del.reverse();
        if restrict(table, &inst) != installs || expect_del != deletions {
            return Ok(Some(format!(
                "{}: grouping differs\n--- show-dag\n{hout}--- kod installs {installs:?}\n--- kod deletions {deletions:?}",
                plan["state_files"][f]
            )));
        }
    }
    Ok(None)
}

/// How one sync comparison came out.
enum SyncOutcome {
    Same,
    BothRefuse,
    Different(String),
}

/// Compare `helmfile --debug sync` with kod's plan for one variant.
fn compare_sync(case: &Case, variant: &[String]) -> SyncOutcome {
    let s = scratch();
    let dir = copy_case(case, &s);
    let helmfile = Tools::helmfile().expect("helmfile (run scripts/install-tools.sh)");
    let mut args = case.args.clone();
    args.extend(["--debug".to_string(), "sync".to_string(), "--skip-deps".to_string()]);
    args.extend(variant.iter().cloned());
    let (h_ok, hout, herr) = run(&helmfile, &dir, &args, &case.env, &s.home, &s.bin);
    let plan = kod_plan(case, &dir, &s, variant);
    let log = format!("{hout}\n{herr}");
    match (h_ok, plan) {
        (false, Err(kerr)) => {
            println!("    both refuse it\n      helmfile: {}\n      kod:      {kerr}", error_line(&herr));
            SyncOutcome::BothRefuse
        }
        (false, Ok(_)) => SyncOutcome::Different(format!("helmfile sync fails ({}) but kod plans it", error_line(&herr))),
        (true, Err(kerr)) => SyncOutcome::Different(format!("helmfile sync succeeds but kod fails: {kerr}")),
        (true, Ok(plan)) => {
            let (h, k) = (sync_passes(&log), kod_passes(&plan));
            if h == k {
                SyncOutcome::Same
            } else {
                SyncOutcome::Different(format!("--- helmfile sync passes\n{h:?}\n--- kod passes\n{k:?}"))
            }
        }
    }
}

fn suite(title: &str, cases: &[Case], require_all: bool) {
    let mut failures = Vec::new();
    let (mut dag_same, mut dag_compared, mut dag_skipped) = (0, 0, 0);
    let (mut sync_same, mut sync_compared, mut sync_refused) = (0, 0, 0);
    for case in cases {
        match compare_show_dag(case) {
            Err(why) => {
                dag_skipped += 1;
                println!("[{title}] show-dag {}: skipped: {why}", case.name);
            }
            Ok(None) => {
                dag_compared += 1;
                dag_same += 1;
                println!("[{title}] show-dag {}: identical", case.name);
            }
            Ok(Some(diff)) => {
                dag_compared += 1;
                println!("[{title}] show-dag {}: DIFFERENT\n{diff}", case.name);
                failures.push(format!("show-dag {}", case.name));
            }
        }
        if !case.sync {
            println!("[{title}] sync {}: not run (the helmfile has hooks)", case.name);
            continue;
        }
        let mut variants = vec![Vec::new()];
        variants.extend(case.variants.iter().cloned());
        for v in variants {
            let label = format!("{} [{}]", case.name, v.join(" "));
            sync_compared += 1;
            match compare_sync(case, &v) {
                SyncOutcome::Same => {
                    sync_same += 1;
                    println!("[{title}] sync {label}: identical");
                }
                SyncOutcome::BothRefuse => {
                    sync_same += 1;
                    sync_refused += 1;
                    println!("[{title}] sync {label}: identical (both refuse it)");
                }
                SyncOutcome::Different(diff) => {
                    println!("[{title}] sync {label}: DIFFERENT\n{diff}");
                    failures.push(format!("sync {label}"));
                }
            }
        }
    }
    println!(
        "[{title}] show-dag: {dag_same} of {dag_compared} identical ({} cases; {dag_skipped} skipped: show-dag refuses them, or kod refuses them as helmfile sync does)",
        cases.len()
    );
    println!("[{title}] sync: {sync_same} of {sync_compared} identical (cases x selector/needs variants; {sync_refused} of them refused by both)");
    if require_all {
        assert!(failures.is_empty(), "[{title}] not identical: {failures:?}");
    }
}

/// Whether a `hooks:` key appears anywhere (a line's first key, in a list item or not). Not
/// a substring test: chart values such as `admissionWebhooks:` are no helmfile hooks.
fn has_hooks(text: &str) -> bool {
    regex::Regex::new(r"(?m)^[ \t-]*hooks:").unwrap().is_match(text)
}

fn read_case(root: &Path, dir: &Path, name: String) -> Case {
    let split = |f: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(dir.join(f))
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).map(|l| shlex::split(l.trim()).expect(f)).collect())
            .unwrap_or_default()
    };
    let args = split("kod-args").into_iter().flatten().collect();
    let env = std::fs::read_to_string(dir.join("kod-env"))
        .ok()
        .map(|s| s.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
        .unwrap_or_default();
    let sync = !has_hooks(&common::all_text(dir));
    Case { name, dir: dir.to_path_buf(), root: root.to_path_buf(), args, env, variants: split("kod-plan-variants"), sync }
}


fn dir_cases(root: &Path) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(root).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .filter(|d| !d.file_name().unwrap().to_string_lossy().starts_with('_'))
        .map(|d| read_case(root, &d, d.file_name().unwrap().to_string_lossy().to_string()))
        .collect()
}

#[test]
fn fixtures_plan_like_helmfile() {
    let cases = dir_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helmfiles"));
    assert!(cases.iter().any(|c| !c.variants.is_empty()), "plan fixtures missing");
    suite("fixtures", &cases, true);
}

#[test]
fn examples_plan_like_helmfile() {
    suite("examples", &dir_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/helmfiles")), true);
}

/// Every corpus helmfile project, in every environment it declares, with the dummy
/// variables its `requiredEnv` calls need (as tests/helmfile_fidelity.rs runs them).
#[test]
fn corpus_plans_like_helmfile() {
    let Some(corpus) = common::corpus_cases() else {
        println!("KOD_CORPUS not set: corpus plan comparison skipped");
        return;
    };
    let cases: Vec<Case> = corpus
        .into_iter()
        .map(|c| Case { sync: !has_hooks(&c.text), name: c.name, dir: c.dir, root: c.project, args: c.args, env: c.env, variants: Vec::new() })
        .collect();
    suite("corpus", &cases, true);
}

/// `kod helmfile plan` as a user sees it: the table in run order with the summary on
/// stderr, warnings, and errors (exit code 1) that name the file and the releases.
#[test]
fn cli_table_warnings_and_errors() {
    use assert_cmd::Command as Cmd;
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helmfiles/15-needs-istio");
    let out = Cmd::cargo_bin("kod").unwrap().current_dir(&fixture).args(["helmfile", "plan"]).assert().success().get_output().clone();
    let table = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], vec!["WAVE", "RELEASE", "NAMESPACE", "CHART@VERSION", "NEEDS", "ACTION"]);
    assert_eq!(rows[1], vec!["d1", "legacy-app", "apps", "../_chart/app", "ingress-public/legacy-gateway", "delete"]);
    assert_eq!(rows[3], vec!["1", "cert-manager", "cert-manager", "jetstack/cert-manager@v1.14.4", "-", "install"]);
    assert_eq!(rows.last().unwrap()[..3], ["4", "shop", "apps"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("kod: 9 releases to install/upgrade in 4 waves, 2 releases to delete in 2 waves"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let write = |text: &str| std::fs::write(dir.path().join("helmfile.yaml"), text).unwrap();
    let plan = |args: &[&str]| Cmd::cargo_bin("kod").unwrap().current_dir(dir.path()).arg("helmfile").args(args).arg("plan").assert();
    write("releases:\n- {name: old, namespace: n, chart: c/old, installed: false}\n- {name: app, namespace: n, chart: c/app, needs: [old]}\n");
    let out = plan(&[]).success().get_output().clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("kod: warning: in ./helmfile.yaml: release \"n/app\" needs \"n/old\", but \"n/old\" is not installed due to installed: false"),
        "{err}"
    );
    write("releases:\n- {name: a, namespace: n, chart: c/a, needs: [c]}\n- {name: b, namespace: n, chart: c/b, needs: [a]}\n- {name: c, namespace: n, chart: c/c, needs: [b]}\n");
    let out = plan(&[]).code(1).get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("kod: error: in ./helmfile.yaml: cycle detected: n/a -> n/b -> n/c -> n/a"));
    write("releases:\n- {name: a, namespace: n, chart: c/a}\n");
    let out = plan(&["-l", "name=zzz"]).code(1).get_output().clone();
    assert!(String::from_utf8(out.stderr).unwrap().contains("no releases found that match the selector(s) \"name=zzz\""));
    plan(&["-l", "novalue"]).code(2);
}
