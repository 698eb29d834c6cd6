//! The README's first command: scripts/demo.sh runs the main job on the embedded example
//! (lab started, plan, package, inspect, verify, then `kod helmfile sync`: push to the
//! private TLS registry, rewrite, proof, helmfile sync in waves into the Kubernetes API test
//! double) and ends with its summary. The test reuses the binaries cargo built for the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn demo_script_packages_and_syncs_the_embedded_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kod = PathBuf::from(env!("CARGO_BIN_EXE_kod"));
    let bin_dir = kod.parent().unwrap().to_path_buf();
    if !bin_dir.join("kod-lab").exists() {
        // `cargo test --workspace` builds it; a narrower run may not have.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "kod-testlab", "--bin", "kod-lab"])
            .current_dir(root)
            .status()
            .unwrap();
        assert!(status.success(), "building kod-lab failed");
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("KOD_BIN_DIR", &bin_dir)
        // Never a real cluster from a test: the demo then uses the test double.
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    // pilot, proxyv2, redis, postgresql, app, distroless, and busybox from the istiod hint.
    assert!(stdout.contains("demo: packaged, pushed 7 images and 5 charts, and synced 3 waves"), "{stdout}");
    assert!(stdout.contains("installed into: the Kubernetes API test double"), "{stdout}");
    assert!(stdout.contains("offline-ready: 6 private images"), "{stdout}");
    assert!(stdout.contains("wave 3: install apps/shop: done"), "{stdout}");
    // The diff of the rewrite is shown.
    assert!(stderr.contains("+- chart: kod-private/istiod"), "{stderr}");
    assert!(stdout.contains("/platform/istio/pilot:1.27.1"), "{stdout}");
    assert!(stdout.contains("IMAGES (7)"), "inspect output missing: {stdout}");
    // The plan shows the waves: istiod before the gateway before the app.
    let wave_of = |name: &str| {
        stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).and_then(|l| l.split_whitespace().next()).map(str::to_string)
    };
    assert!(wave_of("istiod") < wave_of("ingressgateway") && wave_of("ingressgateway") < wave_of("shop"), "{stdout}");
}
