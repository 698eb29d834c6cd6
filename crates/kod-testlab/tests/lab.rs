//! Real-tool tests: every test starts real registries / helm / skopeo on loopback.

use kod_testlab::*;
use std::time::Duration;

fn contains_any(hay: &str, needles: &[&str]) -> bool {
    let h = hay.to_ascii_lowercase();
    needles.iter().any(|n| h.contains(n))
}

#[test]
fn plain_registry_skopeo_round_trip() {
    let reg = Registry::start(RegistryOptions::plain()).unwrap();
    assert!(!reg.is_tls());
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert_eq!(reg.helm_host(), reg.host());

    let spec = ImageSpec::new("docker.io/bitnami/redis:7.2.4");
    let pushed = reg.push_image(&spec).unwrap();
    assert_eq!(pushed.repository, "bitnami/redis");
    assert_eq!(
        pushed.digest, pushed.built.digest,
        "skopeo must keep the layout's manifest bytes"
    );
    assert_eq!(reg.catalog().unwrap(), vec!["bitnami/redis".to_string()]);
    assert_eq!(
        reg.tags("bitnami/redis").unwrap(),
        vec!["7.2.4".to_string()]
    );
    assert_eq!(
        reg.manifest_digest("bitnami/redis", "7.2.4").unwrap(),
        pushed.digest
    );
    for l in &pushed.built.platforms[0].layer_digests {
        assert!(reg.blob_exists("bitnami/redis", l).unwrap());
    }
    assert!(!reg
        .blob_exists("bitnami/redis", &sha256_digest(b"nope"))
        .unwrap());
    assert!(reg.tags("does/not-exist").unwrap().is_empty());

    // multi-arch: an OCI index with two platform manifests
    let multi = ImageSpec::new("registry.k8s.io/ingress-nginx/controller:v1.11.0")
        .platforms(&["linux/amd64", "linux/arm64"]);
    let pm = reg.push_image(&multi).unwrap();
    assert_eq!(pm.built.media_type, OCI_INDEX);
    let (mt, body) = reg.manifest("ingress-nginx/controller", "v1.11.0").unwrap();
    assert_eq!(mt, OCI_INDEX);
    assert_eq!(sha256_digest(&body), pm.digest);
    for p in &pm.built.platforms {
        assert_eq!(
            reg.manifest_digest("ingress-nginx/controller", &p.manifest_digest)
                .unwrap(),
            p.manifest_digest
        );
    }

    // docker schema 2 flavour (manifest list) is stored byte-for-byte too
    let docker = ImageSpec::new("docker.io/istio/proxyv2:1.27.1")
        .platforms(&["linux/amd64", "linux/arm64/v8"])
        .docker_format();
    let pd = reg.push_image(&docker).unwrap();
    assert_eq!(pd.digest, pd.built.digest);
    let (mt, _) = reg.manifest("istio/proxyv2", "1.27.1").unwrap();
    assert_eq!(mt, DOCKER_MANIFEST_LIST);
    let single = reg
        .push_image(&ImageSpec::new("docker.io/istio/pilot:1.27.1").docker_format())
        .unwrap();
    assert_eq!(
        reg.manifest("istio/pilot", "1.27.1").unwrap().0,
        DOCKER_MANIFEST
    );
    assert_eq!(
        reg.manifest_digest("istio/pilot", "1.27.1").unwrap(),
        single.digest
    );

    // pull back with skopeo into a fresh OCI layout: same digest
    let skopeo = Skopeo::new().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut c = skopeo.command();
    c.args(["copy", "--all", "--retry-times=0"])
        .args(src_flags(&reg))
        .arg(format!("docker://{}/bitnami/redis:7.2.4", reg.host()))
        .arg(format!("oci:{}:pulled", out.path().display()));
    let o = kod_testlab::process::run_checked(&mut c, None, Duration::from_secs(60)).unwrap();
    assert!(o.status.success());
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        idx["manifests"][0]["digest"].as_str().unwrap(),
        pushed.digest
    );
}

#[test]
fn tls_auth_registry_with_skopeo_and_helm() {
    let reg = Registry::start(RegistryOptions::tls().with_auth("kod", "s3cret-pw")).unwrap();
    assert!(reg.is_tls() && reg.has_auth());
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    let alias = reg.tls_host_alias().unwrap().to_string();
    assert_eq!(reg.helm_host(), format!("{alias}:{}", reg.port()));
    // the skopeo cert dir must contain only ca.crt
    let entries: Vec<_> = std::fs::read_dir(reg.cert_dir().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["ca.crt".to_string()]);
    assert_eq!(
        reg.ca_file().unwrap(),
        reg.cert_dir().unwrap().join("ca.crt")
    );

    // skopeo push with --dest-cert-dir + --dest-creds, verify via the API (Basic auth)
    let pushed = reg
        .push_image(&catalog::tiny("ghcr.io/example/app:1.0.0"))
        .unwrap();
    assert_eq!(reg.catalog().unwrap(), vec!["example/app".to_string()]);
    assert_eq!(
        reg.manifest_digest("example/app", "1.0.0").unwrap(),
        pushed.digest
    );
    let skopeo = Skopeo::new().unwrap();
    let ok = skopeo.inspect(&reg, "example/app:1.0.0", false).unwrap();
    assert!(ok.status.success(), "{}", ok.combined());
    let v: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(v["Digest"].as_str().unwrap(), pushed.digest);

    // wrong password is rejected (skopeo)
    let mut c = skopeo.command();
    c.args(["inspect", "--retry-times=0"])
        .arg(format!("--cert-dir={}", reg.cert_dir().unwrap().display()))
        .arg("--creds=kod:wrong")
        .arg(format!("docker://{}/example/app:1.0.0", reg.host()));
    let bad = kod_testlab::process::run_bounded(&mut c, None, Duration::from_secs(60)).unwrap();
    assert!(!bad.status.success());
    assert!(
        contains_any(&bad.combined(), &["unauthorized", "401"]),
        "{}",
        bad.combined()
    );
    // and without trusting the CA, TLS verification fails
    let mut c = skopeo.command();
    c.args(["inspect", "--retry-times=0", "--creds=kod:s3cret-pw"])
        .arg(format!("docker://{}/example/app:1.0.0", reg.host()));
    let untrusted =
        kod_testlab::process::run_bounded(&mut c, None, Duration::from_secs(60)).unwrap();
    assert!(!untrusted.status.success());
    assert!(
        contains_any(&untrusted.combined(), &["certificate", "x509"]),
        "{}",
        untrusted.combined()
    );

    // helm: login (password on stdin) + push + pull through the alias host with --ca-file
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tgz = ChartSpec::new("demo", "0.1.0")
        .package(&helm, &work.path().join("src"), &work.path().join("out"))
        .unwrap();
    let chart_ref = helm.push_oci(&reg, &tgz, "charts").unwrap();
    assert_eq!(chart_ref, format!("oci://{}/charts/demo", reg.helm_host()));
    assert!(reg.catalog().unwrap().contains(&"charts/demo".to_string()));
    assert_eq!(reg.tags("charts/demo").unwrap(), vec!["0.1.0".to_string()]);
    let pulled = helm
        .pull_oci(&reg, &chart_ref, "0.1.0", &work.path().join("pulled"))
        .unwrap();
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&tgz).unwrap()
    );
    // the convenience function with a fresh isolated helm
    let tgz2 = ChartSpec::new("other", "1.2.3")
        .package(&helm, &work.path().join("src"), &work.path().join("out"))
        .unwrap();
    push_chart_oci(&reg, &tgz2, "charts").unwrap();
    assert_eq!(reg.tags("charts/other").unwrap(), vec!["1.2.3".to_string()]);

    // wrong password is rejected (helm)
    let fresh = Helm::new().unwrap();
    let bad = fresh.registry_login_with(&reg, "kod", "wrong").unwrap();
    assert!(!bad.status.success());
    assert!(
        contains_any(&bad.combined(), &["unauthorized", "401"]),
        "{}",
        bad.combined()
    );
    // a failed login stores no credentials in the isolated helm registry config
    let cfg = fresh.home().join("registry/config.json");
    assert!(
        !cfg.exists()
            || !std::fs::read_to_string(&cfg)
                .unwrap()
                .contains(&reg.helm_host())
    );
    // plain HTTPS with wrong Basic credentials is a 401 too
    let agent = ureq::AgentBuilder::new()
        .tls_config(rustls_config(reg.ca_der().unwrap()).unwrap())
        .build();
    let r = agent
        .get(&format!("{}/v2/_catalog", reg.url()))
        .set("Authorization", "Basic a29kOndyb25n")
        .call();
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));
}

#[test]
fn public_registry_redirects_and_shares_base_layers() {
    let public = PublicRegistry::start().unwrap();
    let digests = public.push_images(&catalog::shared_base_pair()).unwrap();
    let redis = &digests["docker.io/bitnami/redis:7.2.4"];
    let pg = &digests["docker.io/bitnami/postgresql:16.3.0"];
    assert_ne!(redis, pg);

    let reg = public.registry();
    assert_eq!(
        reg.catalog().unwrap(),
        vec![
            "docker.io/bitnami/postgresql".to_string(),
            "docker.io/bitnami/redis".to_string()
        ]
    );
    assert_eq!(
        reg.manifest_digest("docker.io/bitnami/redis", "7.2.4")
            .unwrap(),
        *redis
    );
    assert_eq!(
        public
            .lab_reference("docker.io/bitnami/redis:7.2.4")
            .unwrap(),
        format!("{}/docker.io/bitnami/redis:7.2.4", public.host())
    );
    let conf = std::fs::read_to_string(public.registries_conf()).unwrap();
    assert!(conf.contains("prefix = \"docker.io\""));
    assert!(conf.contains(&format!("location = \"{}/quay.io\"", public.host())));
    assert!(conf.contains("unqualified-search-registries = [\"docker.io\"]"));

    // skopeo resolves the public name through registries.conf to the lab
    let skopeo = public.skopeo().unwrap();
    let out = skopeo
        .run(&[
            "inspect".into(),
            "--no-tags".into(),
            "--retry-times=0".into(),
            "docker://docker.io/bitnami/redis:7.2.4".into(),
        ])
        .unwrap();
    assert!(out.status.success(), "{}", out.combined());
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["Digest"].as_str().unwrap(), redis);
    // short names resolve through unqualified-search-registries = ["docker.io"]
    let short = skopeo
        .run(&[
            "inspect".into(),
            "--no-tags".into(),
            "--retry-times=0".into(),
            "docker://bitnami/redis:7.2.4".into(),
        ])
        .unwrap();
    assert!(short.status.success(), "{}", short.combined());
    // copy (what kod does) goes through the rewrite too
    let out_dir = tempfile::tempdir().unwrap();
    let copy = skopeo
        .run(&[
            "copy".into(),
            "--all".into(),
            "--retry-times=0".into(),
            "docker://docker.io/bitnami/postgresql:16.3.0".into(),
            format!("oci:{}:pg", out_dir.path().display()),
        ])
        .unwrap();
    assert!(copy.status.success(), "{}", copy.combined());
    // an image that is not in the lab fails fast (no internet fallback)
    let missing = skopeo
        .run(&[
            "inspect".into(),
            "--no-tags".into(),
            "--retry-times=0".into(),
            "docker://quay.io/nope/nothing:1".into(),
        ])
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        missing.combined().contains(&public.host()),
        "{}",
        missing.combined()
    );

    // shared base layer: same digest in both images, stored once
    let pushed = public.pushed();
    let a = &pushed["docker.io/bitnami/redis:7.2.4"].built.platforms[0];
    let b = &pushed["docker.io/bitnami/postgresql:16.3.0"]
        .built
        .platforms[0];
    assert_eq!(a.layer_digests[0], b.layer_digests[0]);
    assert_ne!(a.layer_digests[1], b.layer_digests[1]);
    let stored = reg.stored_blobs().unwrap();
    let mut expected: Vec<String> = pushed
        .values()
        .flat_map(|p| p.built.all_digests())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(
        stored, expected,
        "every blob (incl. the shared base) stored exactly once"
    );
    assert!(reg
        .blob_exists("docker.io/bitnami/postgresql", &a.layer_digests[0])
        .unwrap());

    // an image from a source not in the default list is added to registries.conf
    public
        .push_image(&catalog::tiny("registry.example.org/team/tool:2.0"))
        .unwrap();
    assert!(std::fs::read_to_string(public.registries_conf())
        .unwrap()
        .contains("registry.example.org"));
}

#[test]
fn chart_repo_serves_index_and_helm_pulls() {
    let repo = ChartRepo::from_charts(&[
        ChartSpec::new("demo", "0.1.0"),
        ChartSpec::new("demo", "0.2.0"),
    ])
    .unwrap();
    let index = ureq::get(&format!("{}/index.yaml", repo.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(index.contains("demo"));
    assert!(index.contains(&format!("{}/demo-0.1.0.tgz", repo.url())));
    let helm = Helm::new().unwrap();
    let dest = tempfile::tempdir().unwrap();
    helm.run_ok(&[
        "pull",
        "--repo",
        &repo.url(),
        "demo",
        "--version",
        "0.1.0",
        "-d",
        &dest.path().display().to_string(),
    ])
    .unwrap();
    assert!(dest.path().join("demo-0.1.0.tgz").is_file());
    assert!(
        repo.requests()
            .iter()
            .any(|r| r == "GET /demo-0.1.0.tgz 200"),
        "{:?}",
        repo.requests()
    );
    // add another chart later
    repo.add_chart(&ChartSpec::new("extra", "1.0.0")).unwrap();
    let index = ureq::get(&format!("{}/index.yaml", repo.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(index.contains("extra-1.0.0.tgz"));
    assert!(matches!(
        ureq::get(&format!("{}/../etc/passwd", repo.url())).call(),
        Err(ureq::Error::Status(404, _))
    ));
}

#[test]
fn chart_repo_with_basic_auth() {
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("repo");
    ChartSpec::new("secret-chart", "1.0.0")
        .package(&helm, &work.path().join("src"), &dir)
        .unwrap();
    let repo = ChartRepo::with_auth(&dir, "u", "p").unwrap();
    assert!(matches!(
        ureq::get(&format!("{}/index.yaml", repo.url())).call(),
        Err(ureq::Error::Status(401, _))
    ));
    std::fs::create_dir_all(work.path().join("dl")).unwrap();
    let dest = work.path().join("dl").display().to_string();
    let bad = helm
        .run(&[
            "pull",
            "--repo",
            &repo.url(),
            "secret-chart",
            "--version",
            "1.0.0",
            "-d",
            &dest,
        ])
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        contains_any(&bad.combined(), &["401", "unauthorized"]),
        "{}",
        bad.combined()
    );
    helm.run_ok(&[
        "pull",
        "--repo",
        &repo.url(),
        "--username",
        "u",
        "--password",
        "p",
        "secret-chart",
        "--version",
        "1.0.0",
        "-d",
        &dest,
    ])
    .unwrap();
    assert!(work.path().join("dl/secret-chart-1.0.0.tgz").is_file());
}

/// Whether a socket of this process listens on 127.0.0.1:`port` (/proc/net/tcp inodes
/// against this process's file descriptors).
fn listening_in_this_process(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port && f.get(3) == Some(&"0A")).then(|| f.get(9).map(|s| s.to_string()))?
        })
        .collect();
    std::fs::read_dir("/proc/self/fd").unwrap().flatten().any(|e| {
        std::fs::read_link(e.path()).is_ok_and(|t| {
            let t = t.to_string_lossy().to_string();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
    })
}

#[test]
fn everything_is_gone_after_drop() {
    let reg = Registry::start(RegistryOptions::tls()).unwrap();
    let pid = reg.pid();
    let dir = reg.dir().to_path_buf();
    assert!(pid_alive(pid));
    drop(reg);
    assert!(
        !pid_alive(pid),
        "registry pid {pid} still exists after drop"
    );
    assert!(!dir.exists(), "registry temp dir not removed");
    // (its port is free again once the process is gone; another process may take it at once)

    let repo = ChartRepo::from_charts(&[ChartSpec::new("gone", "0.0.1")]).unwrap();
    let (port, dir) = (repo.port(), repo.dir().to_path_buf());
    assert!(listening_in_this_process(port));
    drop(repo);
    // Another process may take the freed ephemeral port at once: ask whether this process
    // still listens on it, not whether anything does.
    assert!(!listening_in_this_process(port), "the chart repository still listens on {port}");
    assert!(!dir.exists());

    let public = PublicRegistry::start().unwrap();
    let (pid, conf) = (public.pid(), public.registries_conf());
    assert!(conf.is_file());
    drop(public);
    assert!(!pid_alive(pid));
    assert!(!conf.exists());
}

#[test]
fn plain_registry_with_auth_skopeo_and_helm() {
    let reg = Registry::start(RegistryOptions::plain().with_auth("bob", "pw")).unwrap();
    assert!(matches!(
        ureq::get(&format!("{}/v2/", reg.url())).call(),
        Err(ureq::Error::Status(401, _))
    ));
    let p = reg
        .push_image(&catalog::tiny("quay.io/prometheus/prometheus:v3.0.0"))
        .unwrap();
    assert_eq!(
        reg.manifest_digest("prometheus/prometheus", "v3.0.0")
            .unwrap(),
        p.digest
    );

    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    // a chart with a file:// dependency (helm dependency build runs on package)
    ChartSpec::new("sub", "0.0.1")
        .write_to(work.path())
        .unwrap();
    let mut parent = ChartSpec::new("parent", "0.3.0")
        .with_image("quay.io/prometheus/prometheus:v3.0.0")
        .unwrap();
    parent.dependencies.push(ChartDependency {
        name: "sub".into(),
        version: "0.0.1".into(),
        repository: "file://../sub".into(),
    });
    let tgz = parent
        .package(&helm, work.path(), &work.path().join("out"))
        .unwrap();
    let listing = {
        let f = std::fs::File::open(&tgz).unwrap();
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect::<Vec<_>>()
    };
    assert!(
        listing.iter().any(|p| p == "parent/charts/sub/Chart.yaml"),
        "{listing:?}"
    );

    let r = helm.push_oci(&reg, &tgz, "charts").unwrap();
    assert_eq!(r, format!("oci://{}/charts/parent", reg.host()));
    let pulled = helm
        .pull_oci(&reg, &r, "0.3.0", &work.path().join("pulled"))
        .unwrap();
    assert_eq!(std::fs::read(pulled).unwrap(), std::fs::read(&tgz).unwrap());
    // rendering shows the image kod has to discover
    let out = helm
        .run_ok(&["template", "rel", &tgz.display().to_string()])
        .unwrap();
    assert!(
        out.stdout
            .contains("image: \"quay.io/prometheus/prometheus:v3.0.0\""),
        "{}",
        out.stdout
    );
}

#[test]
fn lab_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Registry>();
    check::<PublicRegistry>();
    check::<ChartRepo>();
    check::<Helm>();
    check::<Skopeo>();
}
