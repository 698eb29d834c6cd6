//! The offline side's push: a bundle built from the lab's public stand-in is pushed into a
//! private TLS + htpasswd registry — images with the bundle's digests under the prefix,
//! charts as OCI artifacts — and a wrong password fails clearly.

use kod::bundle::assemble::{assemble, ChartFile, Contents};
use kod::bundle::{read, write};
use kod::exec::{Runner, RunnerOptions, ToolOverrides};
use kod::image::fetch::{fetch_all, FetchOptions, Platforms};
use kod::image::reference::parse_normalized_named;
use kod::registry::push::{push_charts, push_images, PushOptions};
use kod::registry::{RegistryTarget, Secret};
use kod::ui::Ui;
use kod_testlab::{catalog, ChartSpec, Helm, PublicRegistry, Registry, RegistryOptions, Tools};

const USER: &str = "offline-ops";
const PASSWORD: &str = "Air-Gapped-2026";

fn runner() -> Runner {
    let tools = Tools::find().unwrap();
    let (ui, _) = Ui::memory();
    Runner::new(RunnerOptions {
        overrides: ToolOverrides { skopeo: Some(tools.skopeo.clone()), helm: Some(tools.helm.clone()), helmfile: None },
        dry_run: false,
        ui,
        env: None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn push_bundle_images_and_charts_to_a_tls_auth_registry() {
    let specs = catalog::default_images();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let work = tempfile::tempdir().unwrap();
    let r = runner();
    let refs: Vec<_> = specs.iter().map(|s| parse_normalized_named(&s.name).unwrap()).collect();
    let fopts = FetchOptions {
        dir: work.path().join("images"),
        platforms: Platforms::Some(vec!["linux/amd64".into()]),
        registries_conf: Some(public.registries_conf()),
        concurrency: 4,
        retry_times: 1,
    };
    let images = fetch_all(&r, &refs, &fopts, &|_| {}).await.unwrap();

    let helm = Helm::new().unwrap();
    let tgz = ChartSpec::new("webapp", "1.2.3").package(&helm, &work.path().join("chart-src"), &work.path().join("chart-out")).unwrap();
    let contents = Contents {
        environments: vec!["default".into()],
        platforms: vec!["linux/amd64".into()],
        charts: vec![ChartFile {
            name: "webapp".into(),
            version: "1.2.3".into(),
            source: "lab".into(),
            sha256: write::hash_file(&tgz).unwrap().0,
            path: tgz,
        }],
        images,
        images_dir: work.path().join("images"),
        ..Default::default()
    };
    let (mut manifest, staged) = assemble(&contents, "t", "2026-01-01T00:00:00Z", &work.path().join("staging")).unwrap();
    write::prepare(&mut manifest, &staged).unwrap();
    let bundle = work.path().join("b.kod.tar");
    write::write(&bundle, &manifest, &staged, &|_| {}).unwrap();
    let unpacked = work.path().join("unpacked");
    let (manifest, report) = read::unpack(&bundle, &unpacked).unwrap();
    assert!(report.ok);

    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let mut target = RegistryTarget::parse(&format!("{}/platform", private.helm_host())).unwrap();
    target.username = Some(USER.into());
    target.password = Some(Secret::new(PASSWORD));
    target.ca_file = private.ca_file();
    let opts = PushOptions { bundle_dir: unpacked.clone(), work_dir: work.path().join("push"), concurrency: 3, attempts: 2 };

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
