//! The `kod-lab up` binary: env file, real services, clean shutdown on stdin EOF and SIGTERM.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_for(path: &std::path::Path, child: &mut std::process::Child) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !path.exists() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("kod-lab exited early: {st}");
        }
        assert!(
            Instant::now() < deadline,
            "kod-lab did not write its env file in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kod-lab did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn closed(hostport: &str) -> bool {
    std::net::TcpStream::connect(hostport).is_err()
}

#[test]
fn kod_lab_up_writes_env_and_stops_on_stdin_eof() {
    let t = tempfile::tempdir().unwrap();
    let env_file = t.path().join("lab.env");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kod-lab"))
        .args(["up", "--env-file"])
        .arg(&env_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let vars = wait_for(&env_file, &mut child);
    for k in [
        "KOD_LAB_PUBLIC_REGISTRY",
        "KOD_LAB_REGISTRIES_CONF",
        "KOD_LAB_PRIVATE_REGISTRY",
        "KOD_LAB_PRIVATE_REGISTRY_HELM",
        "KOD_LAB_PRIVATE_USER",
        "KOD_LAB_PRIVATE_PASSWORD",
        "KOD_LAB_CA_FILE",
        "KOD_LAB_CERT_DIR",
        "KOD_LAB_CHART_REPO_URL",
        "KOD_LAB_IMAGES",
    ] {
        assert!(vars.contains_key(k), "missing {k} in {vars:?}");
    }
    let public = vars["KOD_LAB_PUBLIC_REGISTRY"].clone();
    let private = vars["KOD_LAB_PRIVATE_REGISTRY"].clone();
    let catalog = ureq::get(&format!("http://{public}/v2/_catalog"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(catalog.contains("docker.io/bitnami/redis"), "{catalog}");
    let index = ureq::get(&format!("{}/index.yaml", vars["KOD_LAB_CHART_REPO_URL"]))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(index.contains("redis"));
    assert!(std::path::Path::new(&vars["KOD_LAB_CA_FILE"]).is_file());

    drop(child.stdin.take()); // EOF
    assert!(wait_exit(&mut child).success());
    assert!(!env_file.exists(), "env file removed on stop");
    assert!(closed(&public) && closed(&private));
    assert!(!std::path::Path::new(&vars["KOD_LAB_CA_FILE"]).exists());
}

#[test]
fn kod_lab_up_stops_on_sigterm() {
    let t = tempfile::tempdir().unwrap();
    let env_file = t.path().join("lab.env");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kod-lab"))
        .args(["up", "--no-images", "--env-file"])
        .arg(&env_file)
        .stdin(Stdio::null()) // like a background job: must keep running
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let vars = wait_for(&env_file, &mut child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stdin=/dev/null must not stop kod-lab"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(wait_exit(&mut child).success());
    assert!(closed(&vars["KOD_LAB_PUBLIC_REGISTRY"]) && closed(&vars["KOD_LAB_PRIVATE_REGISTRY"]));
    let _ = std::io::stderr().flush();
}
