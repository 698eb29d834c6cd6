//! kod against real registries started by the test lab: TLS + htpasswd auth, plain HTTP,
//! wrong credentials, and the one runner driving real skopeo copies through a simulated
//! public internet (registries.conf mirror) into a private TLS registry.

use std::collections::BTreeMap;

use assert_cmd::Command;
use kod::exec::{Cmd, Runner, RunnerOptions, Tool, ToolOverrides};
use kod::ui::Ui;
use kod_testlab::{catalog, PublicRegistry, Registry, RegistryOptions, Tools};

const USER: &str = "kod-operator";
const PASSWORD: &str = "Corr3ct-Horse-Battery";

/// `kod` with the lab's tool binaries.
fn kod(tools: &Tools) -> Command {
    let mut c = Command::cargo_bin("kod").unwrap();
    c.env("KOD_HELM", &tools.helm)
        .env("KOD_SKOPEO", &tools.skopeo)
        .env("KOD_HELMFILE", Tools::helmfile().expect("helmfile (run scripts/install-tools.sh)"))
        .env_remove("KOD_REGISTRY_PASSWORD");
    c
}

fn output_of(assert: &assert_cmd::assert::Assert) -> String {
    let out = assert.get_output();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn doctor_logs_in_to_a_tls_htpasswd_registry_with_skopeo_and_helm() {
    let tools = Tools::find().unwrap();
    let reg = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let assert = kod(&tools)
        .args(["doctor", "-o", "json", "--registry"])
        .arg(format!("{}/platform", reg.helm_host()))
        .args(["--username", USER, "--password-stdin", "--ca-file"])
        .arg(reg.ca_file().unwrap())
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success();
    let text = output_of(&assert);
    let report: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(report["registry"]["verified_with"], serde_json::json!(["skopeo", "helm"]), "{text}");
    assert!(text.contains("--password-stdin"), "login commands are echoed: {text}");
    assert!(!text.contains(PASSWORD), "the password leaked: {text}");
}

#[test]
fn wrong_password_gives_a_clear_error_and_leaks_nothing() {
    let tools = Tools::find().unwrap();
    let reg = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let wrong = "Wr0ng-Pa55word-xyz";
    let assert = kod(&tools)
        .args(["doctor", "--registry"])
        .arg(reg.helm_host())
        .args(["--username", USER, "--ca-file"])
        .arg(reg.ca_file().unwrap())
        .env("KOD_REGISTRY_PASSWORD", wrong)
        .assert()
        .code(4);
    let text = output_of(&assert);
    let expected = format!(
        "kod: error: registry {} rejected the credentials of user \"{USER}\" (HTTP 401 unauthorized); check --username and the password",
        reg.helm_host()
    );
    assert!(text.contains(&expected), "{text}");
    assert!(!text.contains(wrong) && !text.contains(PASSWORD), "a password leaked: {text}");
}

#[test]
fn untrusted_tls_certificate_is_named_as_such() {
    let tools = Tools::find().unwrap();
    let reg = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let assert = kod(&tools)
        .args(["doctor", "--registry"])
        .arg(reg.helm_host())
        .args(["--username", USER, "--password-stdin"])
        .write_stdin(PASSWORD)
        .assert()
        .code(4);
    let text = output_of(&assert);
    assert!(text.contains("is not trusted"), "{text}");
    assert!(text.contains("pass --ca-file"), "{text}");
}

#[test]
fn plain_http_registry_with_auth_and_a_warning() {
    let tools = Tools::find().unwrap();
    let reg = Registry::start(RegistryOptions::plain().with_auth(USER, PASSWORD)).unwrap();
    let assert = kod(&tools)
        .args(["doctor", "--plain-http", "--registry"])
        .arg(reg.host())
        .args(["--username", USER, "--password-stdin"])
        .write_stdin(PASSWORD)
        .assert()
        .success();
    let text = output_of(&assert);
    assert!(text.contains(&format!("kod: warning: TLS verification is off for {} (--plain-http)", reg.host())), "{text}");
    assert!(text.contains("login verified with skopeo and helm"), "{text}");
}

/// The runner drives real skopeo: a pull of `docker.io/...` resolves to the lab's
/// public stand-in through registries.conf, and the copy lands in a TLS+auth registry
/// with the same digest; the echoed command carries no password.
#[tokio::test(flavor = "multi_thread")]
async fn runner_copies_a_public_image_into_a_private_tls_registry() {
    let tools = Tools::find().unwrap();
    let images = catalog::shared_base_pair();
    let public = PublicRegistry::start_with_images(&images).unwrap();
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let pushed = public.pushed();

    let (ui, lines) = Ui::memory();
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), std::env::var("PATH").unwrap_or_default());
    let runner = Runner::new(RunnerOptions {
        overrides: ToolOverrides { skopeo: Some(tools.skopeo.clone()), ..Default::default() },
        dry_run: false,
        ui,
        env: Some(env),
    });
    let scratch = tempfile::tempdir().unwrap();
    let policy = scratch.path().join("policy.json");
    std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();

    for (name, image) in &pushed {
        let path = name.split_once('/').unwrap().1; // docker.io/bitnami/redis:7.2.4 -> bitnami/redis:7.2.4
        let cmd = Cmd::new(Tool::Skopeo)
            .arg("--registries-conf")
            .arg(public.registries_conf().display().to_string())
            .arg("--policy")
            .arg(policy.display().to_string())
            .args(["copy", "--all", "--retry-times", "2"])
            .arg("--dest-cert-dir")
            .arg(private.cert_dir().unwrap().display().to_string())
            .arg("--dest-creds")
            .arg(format!("{USER}:{PASSWORD}"))
            .arg(format!("docker://{name}"))
            .arg(format!("docker://{}/{path}", private.host()));
        runner.run(&cmd).await.unwrap();
        let (repo, tag) = path.split_once(':').unwrap();
        assert_eq!(private.manifest_digest(repo, tag).unwrap(), image.digest, "{name}");
    }
    let lines = lines.lock().unwrap().join("\n");
    assert!(lines.contains(&format!("--dest-creds '{USER}:***'")), "{lines}");
    assert!(!lines.contains(PASSWORD), "{lines}");

    // The same copy with a wrong password fails with the command and skopeo's reason.
    let cmd = Cmd::new(Tool::Skopeo)
        .arg("--registries-conf")
        .arg(public.registries_conf().display().to_string())
        .arg("--policy")
        .arg(policy.display().to_string())
        .arg("copy")
        .arg("--dest-cert-dir")
        .arg(private.cert_dir().unwrap().display().to_string())
        .arg("--dest-creds")
        .arg(format!("{USER}:not-the-password"))
        .arg("docker://docker.io/bitnami/redis:7.2.4")
        .arg(format!("docker://{}/bitnami/redis:wrong", private.host()));
    let err = runner.run(&cmd).await.unwrap_err().to_string();
    assert!(err.contains("skopeo --registries-conf"), "{err}");
    assert!(err.contains("failed with exit code 1"), "{err}");
    assert!(err.to_lowercase().contains("unauthorized") || err.contains("401"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
}
