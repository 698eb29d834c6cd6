//! Bad helmfile input: each case gives one clear error line naming what is wrong and
//! where (file:line when there is one), a non-zero exit code, and writes nothing.

mod common;

use std::path::Path;

use assert_cmd::Command;

const CHART: &str = "apiVersion: v2\nname: c\nversion: 0.1.0\n";

/// Write `files` into a fresh directory with a local chart at ./c, run `kod helmfile
/// ARGS list`, and return (exit code, stderr).
fn run(files: &[(&str, &str)], args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    std::fs::write(dir.path().join("c/Chart.yaml"), CHART).unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let before = listing(dir.path());
    let mut cmd = Command::cargo_bin("kod").unwrap();
    cmd.current_dir(dir.path()).arg("helmfile").args(args).arg("list").env_remove("KOD_TEST_UNSET_VAR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(before, listing(dir.path()), "kod changed the user's files");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).to_string())
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = common::files_under(dir).into_iter().map(|p| (p.display().to_string(), std::fs::read(&p).unwrap())).collect();
    v.sort();
    v
}


fn assert_one_line(stderr: &str, expected: &str) {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("kod: error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line expected:\n{stderr}");
    assert_eq!(errors[0], expected, "\nfull stderr:\n{stderr}");
}

#[test]
fn malformed_yaml() {
    let (code, err) = run(&[("helmfile.yaml", "releases:\n- name: a\n  chart: ./c\n  values: [\n")], &[], &[]);
    assert_eq!(code, 1);
    assert_one_line(&err, "kod: error: ./helmfile.yaml:5:1: did not find expected node content");
}

#[test]
fn unknown_key_with_suggestion() {
    let (code, err) = run(&[("helmfile.yaml", "releases:\n- name: a\n  chart: ./c\n  namspace: x\n")], &[], &[]);
    assert_eq!(code, 1);
    assert_one_line(&err, "kod: error: ./helmfile.yaml:4:3: releases[0]: unknown key `namspace` (did you mean `namespace`?)");
}

#[test]
fn unknown_top_level_key() {
    let (_, err) = run(&[("helmfile.yaml", "relases:\n- name: a\n")], &[], &[]);
    assert_one_line(&err, "kod: error: ./helmfile.yaml:1:1: unknown key `relases` (did you mean `releases`?)");
}

#[test]
fn missing_values_file_per_handler_mode() {
    let hf = |mode: &str| {
        format!("environments:\n  default:\n    missingFileHandler: {mode}\n    values:\n    - missing.yaml\n---\nreleases:\n- name: a\n  chart: ./c\n")
    };
    let (code, err) = run(&[("helmfile.yaml", &hf("Error"))], &[], &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with("kod: error: in ./helmfile.yaml: environments.default.values[0]: values file \"missing.yaml\" does not exist"), "{err}");
    let (code, err) = run(&[("helmfile.yaml", &hf("Warn"))], &[], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: environments.default.values[0]: skipping missing values file matching \"missing.yaml\""), "{err}");
    for quiet in ["Info", "Debug"] {
        let (code, err) = run(&[("helmfile.yaml", &hf(quiet))], &[], &[]);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("missing.yaml"), "{quiet}: {err}");
    }
}

#[test]
fn template_syntax_error_names_file_and_line() {
    let (code, err) = run(&[("helmfile.yaml.gotmpl", "releases:\n- name: a\n  chart: ./c\n  namespace: {{ if }}\n")], &[], &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with("kod: error: ./helmfile.yaml.gotmpl:4: "), "{err}");
}

#[test]
fn missing_key_names_file_line_and_key() {
    let (_, err) = run(&[("helmfile.yaml.gotmpl", "releases:\n- name: a\n  chart: ./c\n  namespace: {{ .Values.missing }}\n")], &[], &[]);
    assert_one_line(&err, "kod: error: ./helmfile.yaml.gotmpl:4: map has no entry for key \"missing\" (in .Values.missing)");
}

#[test]
fn unknown_function() {
    let (_, err) = run(&[("helmfile.yaml.gotmpl", "\nreleases:\n- name: {{ nosuchfunc 1 }}\n  chart: ./c\n")], &[], &[]);
    assert_one_line(&err, "kod: error: ./helmfile.yaml.gotmpl:3: function \"nosuchfunc\" not defined");
}

#[test]
fn unknown_environment() {
    let (code, err) = run(&[("helmfile.yaml", "environments:\n  dev: {}\n---\nreleases:\n- name: a\n  chart: ./c\n")], &["-e", "prod"], &[]);
    assert_eq!(code, 1);
    assert_one_line(&err, "kod: error: in ./helmfile.yaml: failed to read helmfile.yaml: environment \"prod\" is not defined");
}

#[test]
fn required_env_unset() {
    let (_, err) = run(
        &[("helmfile.yaml.gotmpl", "releases:\n- name: a\n  chart: ./c\n  namespace: {{ requiredEnv \"KOD_TEST_UNSET_VAR\" }}\n")],
        &[],
        &[],
    );
    assert!(err.starts_with("kod: error: ./helmfile.yaml.gotmpl:4: "), "{err}");
    assert!(err.contains("KOD_TEST_UNSET_VAR") && err.contains("is not set"), "{err}");
    // ...and set, it renders.
    let (code, err) = run(
        &[("helmfile.yaml.gotmpl", "releases:\n- name: a\n  chart: ./c\n  namespace: {{ requiredEnv \"KOD_TEST_SET_VAR\" }}\n")],
        &[],
        &[("KOD_TEST_SET_VAR", "ns-from-env")],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn error_in_a_later_part_reports_the_line_in_the_file() {
    let text = "environments:\n  default:\n    values:\n    - a: 1\n---\nreleases:\n- name: x\n  chart: ./c\n  namespace: {{ .Values.b }}\n";
    let (_, err) = run(&[("helmfile.yaml.gotmpl", text)], &[], &[]);
    assert_one_line(&err, "kod: error: ./helmfile.yaml.gotmpl:9: map has no entry for key \"b\" (in .Values.b)");
}

#[test]
fn insecure_features_can_be_disabled() {
    let (code, err) = run(
        &[("helmfile.yaml.gotmpl", "releases:\n- name: a\n  chart: ./c\n  namespace: {{ exec \"echo\" (list \"x\") | trim }}\n")],
        &[],
        &[("HELMFILE_DISABLE_INSECURE_FEATURES", "true")],
    );
    assert_eq!(code, 1);
    assert!(err.starts_with("kod: error: ./helmfile.yaml.gotmpl:4: "), "{err}");
}

#[test]
fn state_values_set_malformed() {
    let (code, err) = run(&[("helmfile.yaml", "releases:\n- name: a\n  chart: ./c\n")], &["--state-values-set", "novalue"], &[]);
    assert_eq!(code, 1);
    assert_one_line(&err, "kod: error: --state-values-set \"novalue\": \"novalue\" is not KEY=VALUE");
}
