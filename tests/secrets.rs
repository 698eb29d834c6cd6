//! No secret leaks: every command that takes credentials is run with them set in every way
//! kod accepts (stdin, environment, auth file, helmfile repository credentials), in text and
//! JSON log formats, and all of its output — stdout, stderr, echoed commands, errors — is
//! searched for the secret values. Zero hits allowed. TLS verification off warns.

use std::path::Path;

use assert_cmd::Command;
use base64::Engine as _;
use kod_testlab::{catalog, ChartRepo, ChartSpec, Helm, PublicRegistry, Registry, RegistryOptions, Tools};

const USER: &str = "leak-check";
const REGISTRY_PASSWORD: &str = "S3cret-Registry-Pa55";
const REPO_PASSWORD: &str = "S3cret-ChartRepo-Pa55";

fn kod() -> Command {
    let tools = Tools::find().unwrap();
    let mut c = Command::cargo_bin("kod").unwrap();
    c.env("KOD_HELM", &tools.helm).env("KOD_SKOPEO", &tools.skopeo).env("KOD_HELMFILE", Tools::helmfile().unwrap()).env_remove("KOD_REGISTRY_PASSWORD");
    c
}

/// Every byte kod printed, and the secrets that must not be in it.
fn assert_clean(what: &str, out: &std::process::Output) {
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{REGISTRY_PASSWORD}"));
    for secret in [REGISTRY_PASSWORD, REPO_PASSWORD, b64.as_str()] {
        assert!(!all.contains(secret), "{what}: a secret appeared in the output:\n{all}");
    }
}

fn auth_file(dir: &Path, host: &str) -> std::path::PathBuf {
    let p = dir.join("auth.json");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{REGISTRY_PASSWORD}"));
    std::fs::write(&p, serde_json::json!({"auths": {host: {"auth": token}}}).to_string()).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_appear_in_any_output() {
    let work = tempfile::tempdir().unwrap();
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, REGISTRY_PASSWORD)).unwrap();
    let host = private.helm_host();
    let ca = private.ca_file().unwrap();

    // doctor: password on stdin, in the environment, wrong password (error path), auth file.
    for format in ["text", "json"] {
        let out = kod().args(["--log-format", format, "doctor", "--registry", &host, "--username", USER, "--password-stdin", "--ca-file"]).arg(&ca).write_stdin(REGISTRY_PASSWORD).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_clean("doctor --password-stdin", &out);
        let out = kod().args(["--log-format", format, "doctor", "--registry", &host, "--username", USER, "--ca-file"]).arg(&ca).env("KOD_REGISTRY_PASSWORD", REGISTRY_PASSWORD).output().unwrap();
        assert!(out.status.success());
        assert_clean("doctor KOD_REGISTRY_PASSWORD", &out);
        let out = kod().args(["--log-format", format, "doctor", "--registry", &host, "--username", "nobody", "--password-stdin", "--ca-file"]).arg(&ca).write_stdin(REGISTRY_PASSWORD).output().unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert_clean("doctor wrong user", &out);
    }
    let auth = auth_file(work.path(), &host);
    let out = kod().args(["doctor", "--registry", &host, "--registry-auth-file"]).arg(&auth).arg("--ca-file").arg(&ca).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean("doctor --registry-auth-file", &out);

    // package: a chart repository that needs credentials, given as <NAME>_PASSWORD.
    let specs = catalog::shared_base_pair();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let helm = Helm::new().unwrap();
    let repo_dir = work.path().join("repo");
    ChartSpec::new("cache", "1.0.0").package(&helm, &work.path().join("src"), &repo_dir).unwrap();
    let repo = ChartRepo::with_auth(&repo_dir, USER, REPO_PASSWORD).unwrap();
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("helmfile.yaml"),
        format!("repositories:\n- name: secured\n  url: {}\n  username: {USER}\nreleases:\n- name: cache\n  namespace: data\n  chart: secured/cache\n  version: 1.0.0\n", repo.url()),
    )
    .unwrap();
    let bundle = work.path().join("b.kod.tar");
    for format in ["text", "json"] {
        let out = kod()
            .current_dir(&project)
            .env("SECURED_PASSWORD", REPO_PASSWORD)
            .args(["--no-progress", "--log-format", format, "helmfile", "package", "--workdir"])
            .arg(work.path().join(format!("w-{format}")))
            .arg("-o")
            .arg(&bundle)
            .arg("--source-registries-conf")
            .arg(public.registries_conf())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_clean("package with repository credentials", &out);
    }

    // push: stdin, environment, auth file; and --dry-run.
    let push = |extra: &[&str]| {
        let mut c = kod();
        c.args(["helmfile", "push"]).arg(&bundle).args(["--registry", &format!("{host}/p"), "--ca-file"]).arg(&ca).arg("--workdir").arg(work.path().join("offline")).args(extra);
        c
    };
    let out = push(&["--username", USER, "--password-stdin"]).write_stdin(REGISTRY_PASSWORD).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean("push --password-stdin", &out);
    let out = push(&["--username", USER, "--dry-run"]).env("KOD_REGISTRY_PASSWORD", REGISTRY_PASSWORD).output().unwrap();
    assert!(out.status.success());
    assert_clean("push --dry-run with KOD_REGISTRY_PASSWORD", &out);
    let out = push(&["--registry-auth-file", auth.to_str().unwrap(), "--log-format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean("push --registry-auth-file", &out);

    // Turning TLS verification off is loud.
    let out = push(&["--username", USER, "--password-stdin", "--insecure-skip-tls-verify"]).write_stdin(REGISTRY_PASSWORD).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: TLS verification is off"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_clean("push --insecure-skip-tls-verify", &out);
}
