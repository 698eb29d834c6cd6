//! The offline side's push: a bundle built from the lab's public stand-in is pushed into a
//! private TLS + htpasswd registry — images with the bundle's digests under the prefix,
//! charts as OCI artifacts — and a wrong password fails clearly.

mod common;

use kod::bundle::read;
use kod::registry::push::{push_charts, push_images, PushOptions};
use kod::registry::{RegistryTarget, Secret};
use kod_testlab::{catalog, Helm, PublicRegistry, Registry, RegistryOptions, Tools};

const USER: &str = "offline-ops";
const PASSWORD: &str = "Air-Gapped-2026";

use common::lab_runner as runner;

/// A bundle of a few lab images and one chart, written by the library.
async fn small_bundle(work: &std::path::Path, public: &PublicRegistry, names: &[&str]) -> std::path::PathBuf {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    common::lab_bundle(work, public.registries_conf(), &names, "small.kod.tar").await.0
}

/// `kod helmfile push` as an operator runs it: --dry-run prints and changes nothing, a
/// wrong password is named, the real push lands every image and the chart.
#[tokio::test(flavor = "multi_thread")]
async fn push_command_dry_run_wrong_password_and_real_push() {
    let specs = catalog::shared_base_pair();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let work = tempfile::tempdir().unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let bundle = small_bundle(work.path(), &public, &names).await;
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let tools = Tools::find().unwrap();
    let kod = || {
        let mut c = assert_cmd::Command::cargo_bin("kod").unwrap();
        c.env("KOD_HELM", &tools.helm).env("KOD_SKOPEO", &tools.skopeo).env_remove("KOD_REGISTRY_PASSWORD");
        // A relative --workdir, as operators type it (the per-image views link to blobs).
        c.current_dir(work.path());
        c
    };
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        v.extend(["helmfile", "push"].map(String::from));
        v.push(bundle.display().to_string());
        v.extend(["--registry".to_string(), format!("{}/site", private.helm_host()), "--username".into(), USER.into(), "--password-stdin".into()]);
        v.extend(["--ca-file".to_string(), private.ca_file().unwrap().display().to_string()]);
        v.extend(["--workdir".to_string(), "offline".to_string()]);
        v
    };

    let out = kod().args(args(&["--dry-run"])).write_stdin(PASSWORD).assert().success().get_output().clone();
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("skopeo copy --all --preserve-digests"), "{text}");
    assert!(text.contains("helm push"), "{text}");
    assert!(private.catalog().unwrap().is_empty(), "--dry-run pushed something");
    assert!(!text.contains(PASSWORD));

    let out = kod().args(args(&[])).write_stdin("not-the-password").assert().code(4).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rejected the credentials"), "{err}");

    let out = kod().args(args(&[])).args(["-o", "json"]).write_stdin(PASSWORD).assert().success().get_output().clone();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"].as_array().unwrap().len(), 2);
    assert_eq!(report["charts"][0]["target"], format!("oci://{}/site/charts/webapp:1.2.3", private.helm_host()));
    let catalog = private.catalog().unwrap();
    assert!(catalog.contains(&"site/bitnami/redis".to_string()) && catalog.contains(&"site/charts/webapp".to_string()), "{catalog:?}");

    // A damaged bundle is refused before anything is pushed.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    let bad = work.path().join("bad.kod.tar");
    std::fs::write(&bad, bytes).unwrap();
    let mut a = args(&[]);
    let pos = a.iter().position(|x| x == &bundle.display().to_string()).unwrap();
    a[pos] = bad.display().to_string();
    let pos = a.iter().position(|x| x.ends_with("offline")).unwrap();
    a[pos] = work.path().join("offline-bad").display().to_string();
    let out = kod().args(a).write_stdin(PASSWORD).assert().code(1).get_output().clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed verification; nothing was pushed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn push_bundle_images_and_charts_to_a_tls_auth_registry() {
    let specs = catalog::default_images();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let work = tempfile::tempdir().unwrap();
    let r = runner();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let (bundle, _) = common::lab_bundle(work.path(), public.registries_conf(), &names, "b.kod.tar").await;
    let unpacked = work.path().join("unpacked");
    let (manifest, report) = read::unpack(&bundle, &unpacked).unwrap();
    assert!(report.ok);

    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let mut target = RegistryTarget::parse(&format!("{}/platform", private.helm_host())).unwrap();
    target.username = Some(USER.into());
    target.password = Some(Secret::new(PASSWORD));
    target.ca_file = private.ca_file();
    let opts = PushOptions { attempts: 2, ..PushOptions::new(unpacked.clone(), work.path().join("push"), 3, kod::registry::push::DEFAULT_TIMEOUT) };

    let pushed = push_images(&r, &manifest, &target, &opts).await.unwrap();
    assert_eq!(pushed.len(), manifest.images.len());
    for (p, img) in pushed.iter().zip(&manifest.images) {
        assert_eq!(p.source, img.source);
        let path = p.target.split_once('/').unwrap().1; // drop host
        let (repo, tag) = path.rsplit_once(':').unwrap();
        assert_eq!(private.manifest_digest(repo, tag).unwrap(), img.digest, "{}", p.target);
    }
    let catalog = private.catalog().unwrap();
    assert!(catalog.contains(&"platform/bitnami/redis".to_string()), "{catalog:?}");
    assert!(catalog.contains(&"platform/ingress-nginx/controller".to_string()), "{catalog:?}");

    // A second push changes nothing and succeeds (blobs already there are not re-sent).
    let again = push_images(&r, &manifest, &target, &opts).await.unwrap();
    assert_eq!(again.len(), pushed.len());

    let charts = push_charts(&r, &manifest, &target, &opts).await.unwrap();
    assert_eq!(charts[0].target, format!("oci://{}/platform/charts/webapp:1.2.3", private.helm_host()));
    let helm = Helm::new().unwrap();
    let pulled = helm.pull_oci(&private, &format!("oci://{}/platform/charts/webapp", private.helm_host()), "1.2.3", &work.path().join("pulled")).unwrap();
    assert_eq!(std::fs::read(pulled).unwrap(), std::fs::read(unpacked.join("charts/webapp-1.2.3.tgz")).unwrap());

    // Credentials never reached a command line.
    for e in r.history() {
        assert!(!e.display.contains(PASSWORD), "{}", e.display);
    }

    // The wrong password is named as such.
    let mut wrong = target.clone();
    wrong.password = Some(Secret::new("nope-nope"));
    let wopts = PushOptions { work_dir: work.path().join("push-wrong"), ..opts.clone() };
    let err = push_images(&r, &manifest, &wrong, &wopts).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains(&format!("registry {} rejected the credentials of user \"{USER}\"", private.helm_host())), "{text}");
}
