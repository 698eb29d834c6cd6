//! The kod binary as a user meets it: help, version, tool discovery, exit codes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

fn kod() -> Command {
    let mut c = Command::cargo_bin("kod").unwrap();
    c.env_remove("KOD_HELM").env_remove("KOD_HELMFILE").env_remove("KOD_SKOPEO");
    c
}

fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A directory with fake helm/helmfile/skopeo that print the given versions.
fn fake_tools(helm: &str, helmfile: &str, skopeo: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    script(d.path(), "helm", &format!("echo {helm}"));
    script(d.path(), "helmfile", &format!("echo {helmfile}"));
    script(d.path(), "skopeo", &format!("echo 'skopeo version {skopeo}'"));
    d
}

/// The first word of each line between `Commands:` and `Options:` of a help text.
fn listed_commands(help: &str) -> Vec<&str> {
    help.split("Commands:")
        .nth(1)
        .expect("a Commands: section")
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

/// clap's own consistency checks over every command (duplicate flags, ids, …).
#[test]
fn every_command_definition_is_consistent() {
    use clap::CommandFactory;
    kod::cli::Cli::command().debug_assert();
}

#[test]
fn helm_help_lists_single_chart_verbs() {
    let out = kod().args(["helm", "--help"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(listed_commands(&text), vec!["package", "sync", "help"], "{text}");
    let out = kod().args(["helm", "package", "--help"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    for flag in ["--version", "--repo", "--values", "--set", "--namespace", "--release", "--output", "--platform", "--hints"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn version_flag() {
    kod().arg("--version").assert().success().stdout(format!("kod {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_lists_only_working_commands() {
    let out = kod().arg("--help").assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    let commands = listed_commands(&text);
    assert_eq!(commands, vec!["helmfile", "helm", "bundle", "post-render", "completion", "doctor", "help"], "{text}");
}

#[test]
fn helmfile_help_lists_only_working_verbs() {
    let out = kod().args(["helmfile", "--help"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    let verbs = listed_commands(&text);
    assert_eq!(verbs, vec!["build", "list", "plan", "images", "package", "push", "rewrite", "verify-offline", "sync", "help"], "{text}");
    for flag in ["--file", "--environment", "--state-values-set", "--state-values-file", "--selector", "--kube-context", "--namespace"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helmfiles").join(name)
}

/// helmfile's flags work before and after the verb, as with helmfile itself.
#[test]
fn helmfile_flags_before_or_after_the_verb() {
    let dir = fixture("02-environments");
    let before = kod()
        .current_dir(&dir)
        .args(["helmfile", "-e", "prod", "--state-values-set", "extra=x", "-l", "size=large", "list", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let after = kod()
        .current_dir(&dir)
        .args(["helmfile", "list", "-o", "json", "-e", "prod", "--state-values-set", "extra=x", "-l", "size=large"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let global_first = kod()
        .current_dir(&dir)
        .args(["--quiet", "helmfile", "--environment=prod", "list", "--selector", "size=large", "--output", "json", "--state-values-set=extra=x"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(before, after);
    assert_eq!(before, global_first);
    let rows: serde_json::Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(
        rows,
        serde_json::json!([{"name": "web-prod", "namespace": "web-prod", "enabled": true, "installed": true,
                             "labels": "chart:app,name:web-prod,namespace:web-prod,region:eu,size:large",
                             "chart": "../_chart/app", "version": ""}])
    );
    // A selector that matches nothing lists nothing.
    kod().current_dir(&dir).args(["helmfile", "-e", "prod", "list", "-o", "json", "-l", "size=tiny"]).assert().success().stdout("[]\n");
}

#[test]
fn unknown_environment_is_an_error() {
    kod()
        .current_dir(fixture("02-environments"))
        .args(["helmfile", "-e", "nope", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("environment \"nope\" is not defined"));
}

#[test]
fn unknown_flag_is_usage_error() {
    kod().args(["doctor", "--bogus"]).assert().code(2).stderr(predicate::str::contains("--bogus"));
}

#[test]
fn doctor_reports_fake_tools_through_env_overrides() {
    let d = fake_tools("v3.15.3+gabc", "0.166.0", "1.9.3");
    kod()
        .env("KOD_HELM", d.path().join("helm"))
        .env("KOD_HELMFILE", d.path().join("helmfile"))
        .env("KOD_SKOPEO", d.path().join("skopeo"))
        .args(["doctor", "-o", "json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"version\": \"3.15.3\""))
        .stdout(predicate::str::contains("\"version\": \"0.166.0\""))
        .stdout(predicate::str::contains("\"version\": \"1.9.3\""));
}

#[test]
fn flags_beat_env_for_tool_binaries() {
    let good = fake_tools("v3.15.3+gabc", "0.166.0", "1.9.3");
    let old = fake_tools("v2.17.0+gold", "0.166.0", "1.9.3");
    kod()
        .env("KOD_HELM", old.path().join("helm"))
        .env("KOD_HELMFILE", good.path().join("helmfile"))
        .env("KOD_SKOPEO", good.path().join("skopeo"))
        .arg("--helm-binary")
        .arg(good.path().join("helm"))
        .arg("doctor")
        .assert()
        .success();
}

#[test]
fn missing_tool_is_one_clear_line_with_exit_code_3() {
    let d = fake_tools("v3.15.3+gabc", "0.166.0", "1.9.3");
    let out = kod()
        .env("KOD_HELM", d.path().join("helm"))
        .env("KOD_HELMFILE", d.path().join("helmfile"))
        .env("KOD_SKOPEO", "/nonexistent/skopeo")
        .args(["doctor"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.contains("skopeo")).unwrap();
    assert!(
        line.contains("skopeo not found (KOD_SKOPEO=/nonexistent/skopeo): kod needs skopeo 1.9 or newer (1.x); run scripts/install-tools.sh"),
        "{line}"
    );
}

#[test]
fn unsupported_version_is_refused_naming_the_version() {
    let d = fake_tools("v3.15.3+gabc", "0.120.0", "1.9.3");
    let out = kod()
        .env("KOD_HELM", d.path().join("helm"))
        .env("KOD_HELMFILE", d.path().join("helmfile"))
        .env("KOD_SKOPEO", d.path().join("skopeo"))
        .args(["doctor"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("helmfile 0.120.0 at "), "{stdout}");
    assert!(stdout.contains("is not supported: kod needs helmfile 0.150 or newer"), "{stdout}");
}

#[test]
fn echoed_commands_and_json_log_format() {
    let d = fake_tools("v3.15.3+gabc", "0.166.0", "1.9.3");
    let out = kod()
        .env("KOD_HELM", d.path().join("helm"))
        .env("KOD_HELMFILE", d.path().join("helmfile"))
        .env("KOD_SKOPEO", d.path().join("skopeo"))
        .args(["doctor", "--log-format", "json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let events: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    let commands: Vec<&str> = events.iter().filter(|e| e["event"] == "exec").map(|e| e["command"].as_str().unwrap()).collect();
    assert_eq!(
        commands,
        vec!["helm version --short", "HELMFILE_UPGRADE_NOTICE_DISABLED=1 helmfile version --output short", "skopeo --version"]
    );
}

#[test]
fn password_stdin_needs_username() {
    kod().args(["doctor", "--registry", "r:5000", "--password-stdin"]).assert().code(2);
}

#[test]
fn post_render_rewrites_stdin_with_a_map() {
    let d = tempfile::tempdir().unwrap();
    let map = d.path().join("map.json");
    std::fs::write(&map, r#"{"images": {"docker.io/library/busybox:1.36": "reg.local:5000/p/library/busybox:1.36"}}"#).unwrap();
    kod()
        .args(["post-render", "--map"])
        .arg(&map)
        .write_stdin("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: busybox:1.36\n")
        .assert()
        .success()
        .stdout("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: reg.local:5000/p/library/busybox:1.36\n");
    kod().args(["post-render", "--map", "/nonexistent/map.json"]).write_stdin("").assert().code(1).stderr(predicate::str::contains("reading the image map /nonexistent/map.json"));
}

#[test]
fn shell_completions() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef kod"), ("fish", "complete -c kod")] {
        let out = kod().args(["completion", shell]).assert().success().get_output().stdout.clone();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(marker), "{shell}: {}", &text[..text.len().min(200)]);
        assert!(text.contains("package") && text.contains("verify"), "{shell} completes the verbs");
    }
    kod().args(["completion", "powershell-of-doom"]).assert().code(2);
}

/// Flags that change how a helmfile is rendered mean nothing for a bundle: refused, not ignored.
#[test]
fn rendering_flags_are_refused_offline() {
    let out = kod().args(["helmfile", "sync", "x.kod.tar", "--registry", "reg:5000", "--state-values-set", "a=b", "-n", "ns"]).assert().code(2).get_output().stderr.clone();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("--state-values-set, --namespace has no effect offline"), "{text}");
}
