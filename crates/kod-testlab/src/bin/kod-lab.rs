//! `kod-lab`: start the kod test lab for demos and manual testing.
//!
//! ```text
//! kod-lab up --env-file FILE [--charts DIR] [--user U] [--password P]
//!            [--no-images] [--ignore-stdin] [--bench-images N --layer-mib M]
//!            [--extra-image NAME]... [--private-registries N]
//! kod-lab chart PARENT NAME VERSION IMAGE...
//! ```
//!
//! `chart` writes the source of a chart `PARENT/NAME` whose one Deployment runs every IMAGE
//! (the tests' [`ChartSpec::running_images`]), for scripts that need such stand-ins.
//!
//! Starts (all on 127.0.0.1, ephemeral ports):
//! * a public stand-in registry with the default synthetic image catalogue and a
//!   `registries.conf` redirecting docker.io, quay.io, ghcr.io, registry.k8s.io, gcr.io … to it,
//! * a private TLS + htpasswd registry (the "air-gapped" target); with
//!   `--private-registries N`, N of them (the 2nd… exported as `KOD_LAB_PRIVATE<i>_*`),
//! * a chart repository serving `--charts DIR` (or two generated demo charts),
//! * the Kubernetes API test double (`KOD_LAB_KUBECONFIG`), for helm and helmfile to install into.
//!
//! Then writes shell-sourceable `export KOD_LAB_…=…` lines to FILE (atomically,
//! so a script can wait for the file to appear) and runs until SIGTERM/SIGINT,
//! or until stdin reaches EOF when stdin is a pipe or terminal (ignored for
//! `/dev/null`, e.g. a background job, or with `--ignore-stdin`). On exit every
//! process is stopped, temp dirs are removed and FILE is deleted.

use anyhow::{bail, Context, Result};
use kod_testlab::{catalog, ChartRepo, ChartSpec, ImageSpec, LayerSpec, PublicRegistry, Registry, RegistryOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

struct Args {
    env_file: PathBuf,
    charts: Option<PathBuf>,
    user: String,
    password: String,
    images: bool,
    watch_stdin: bool,
    bench_images: usize,
    layer_mib: usize,
    extra_images: Vec<String>,
    private_registries: usize,
}

const USAGE: &str = "usage: kod-lab up --env-file FILE [--charts DIR] [--user U] [--password P] [--no-images] [--ignore-stdin] [--bench-images N --layer-mib M] [--extra-image NAME]... [--private-registries N]\n       kod-lab chart PARENT NAME VERSION IMAGE...";

/// `kod-lab chart PARENT NAME VERSION IMAGE...`
fn write_chart(args: &[String]) -> Result<()> {
    let [parent, name, version, images @ ..] = args else { bail!("{USAGE}") };
    if images.is_empty() {
        bail!("kod-lab chart: no IMAGE given\n{USAGE}");
    }
    let images: Vec<&str> = images.iter().map(String::as_str).collect();
    ChartSpec::running_images(name, version, &images).write_to(std::path::Path::new(parent))?;
    Ok(())
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("up") => {}
        Some("chart") => {
            write_chart(&it.collect::<Vec<_>>())?;
            std::process::exit(0);
        }
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        _ => bail!("{USAGE}"),
    }
    let mut a = Args {
        env_file: PathBuf::new(),
        charts: None,
        user: "kod".into(),
        password: "kod-lab-password".into(),
        images: true,
        watch_stdin: true,
        bench_images: 0,
        layer_mib: 8,
        extra_images: Vec::new(),
        private_registries: 1,
    };
    let mut env_file = None;
    while let Some(arg) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--env-file" => env_file = Some(PathBuf::from(val("--env-file")?)),
            "--charts" => a.charts = Some(PathBuf::from(val("--charts")?)),
            "--user" => a.user = val("--user")?,
            "--password" => a.password = val("--password")?,
            "--no-images" => a.images = false,
            "--ignore-stdin" => a.watch_stdin = false,
            "--bench-images" => a.bench_images = val("--bench-images")?.parse().context("--bench-images N")?,
            "--layer-mib" => a.layer_mib = val("--layer-mib")?.parse().context("--layer-mib M")?,
            "--extra-image" => a.extra_images.push(val("--extra-image")?),
            "--private-registries" => a.private_registries = val("--private-registries")?.parse().context("--private-registries N")?,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    a.env_file = env_file.with_context(|| format!("--env-file is required\n{USAGE}"))?;
    Ok(a)
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn stdin_is_watchable() -> bool {
    // SAFETY: fstat on fd 0 with a zeroed stat buffer.
    unsafe {
        if libc::isatty(0) == 1 {
            return true;
        }
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) != 0 {
            return false;
        }
        let fmt = st.st_mode & libc::S_IFMT;
        fmt == libc::S_IFIFO || fmt == libc::S_IFSOCK
    }
}

fn demo_charts() -> Vec<ChartSpec> {
    vec![
        ChartSpec::new("redis", "19.0.1")
            .with_image("docker.io/bitnami/redis:7.2.4")
            .expect("valid ref"),
        ChartSpec::new("example-app", "1.0.0")
            .with_image("ghcr.io/example/app:1.0.0")
            .expect("valid ref"),
    ]
}

fn main() {
    if let Err(e) = run() {
        eprintln!("kod-lab: error: {e:#}");
        std::process::exit(1);
    }
}

/// Benchmark catalogue: `n` images `docker.io/kodbench/app-<i>:1.0`, each with two shared
/// base layers (`layer_mib` MiB each, shared by every image) and an own layer of
/// `layer_mib` MiB; content is incompressible, so the bundle size is the blob size.
fn bench_images(n: usize, layer_mib: usize) -> Vec<ImageSpec> {
    let mib = layer_mib * 1024 * 1024;
    (0..n)
        .map(|i| {
            ImageSpec::new(&format!("docker.io/kodbench/app-{i}:1.0")).layers(vec![
                LayerSpec::base_sized("bench-os", mib),
                LayerSpec::base_sized(if i % 2 == 0 { "bench-runtime-a" } else { "bench-runtime-b" }, mib),
                LayerSpec::own_salted(mib, &format!("app-{i}")),
            ])
        })
        .collect()
}

fn run() -> Result<()> {
    let args = parse_args()?;
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }

    eprintln!("kod-lab: starting public registry …");
    let public = PublicRegistry::start()?;
    let mut images = if args.bench_images > 0 { bench_images(args.bench_images, args.layer_mib) } else { catalog::default_images() };
    images.extend(args.extra_images.iter().map(|n| catalog::tiny(n)));
    if args.images {
        let digests = public.push_images(&images)?;
        for (n, d) in &digests {
            eprintln!("kod-lab:   {n} {d}");
        }
    }
    eprintln!("kod-lab: starting private TLS+auth registry …");
    let private = Registry::start(RegistryOptions::tls().with_auth(&args.user, &args.password))?;
    let mut more_private = Vec::new();
    for _ in 1..args.private_registries.max(1) {
        more_private.push(Registry::start(RegistryOptions::tls().with_auth(&args.user, &args.password))?);
    }
    eprintln!("kod-lab: starting chart repository …");
    let repo = match &args.charts {
        Some(d) => ChartRepo::new(d)?,
        None => ChartRepo::from_charts(&demo_charts())?,
    };

    eprintln!("kod-lab: starting the Kubernetes API test double …");
    let kube = kod_testlab::KubeApiDouble::start()?;

    let mut vars: Vec<(&str, String)> = vec![
        ("KOD_LAB_PID", std::process::id().to_string()),
        ("KOD_LAB_PUBLIC_REGISTRY", public.host()),
        (
            "KOD_LAB_REGISTRIES_CONF",
            public.registries_conf().display().to_string(),
        ),
        ("KOD_LAB_PRIVATE_REGISTRY", private.host()),
        ("KOD_LAB_PRIVATE_REGISTRY_HELM", private.helm_host()),
        ("KOD_LAB_PRIVATE_URL", private.url()),
        ("KOD_LAB_PRIVATE_USER", args.user.clone()),
        ("KOD_LAB_PRIVATE_PASSWORD", args.password.clone()),
        (
            "KOD_LAB_CA_FILE",
            private.ca_file().unwrap().display().to_string(),
        ),
        (
            "KOD_LAB_CERT_DIR",
            private.cert_dir().unwrap().display().to_string(),
        ),
        ("KOD_LAB_CHART_REPO_URL", repo.url()),
        ("KOD_LAB_CHART_REPO_DIR", repo.dir().display().to_string()),
        // A kubeconfig for the Kubernetes API test double (not a cluster: it stores
        // objects so that helm and helmfile can install releases against it).
        ("KOD_LAB_KUBECONFIG", kube.kubeconfig().display().to_string()),
    ];
    let mut numbered: Vec<(String, String)> = Vec::new();
    for (i, reg) in more_private.iter().enumerate() {
        let n = i + 2;
        numbered.push((format!("KOD_LAB_PRIVATE{n}_REGISTRY"), reg.host()));
        numbered.push((format!("KOD_LAB_PRIVATE{n}_REGISTRY_HELM"), reg.helm_host()));
        numbered.push((format!("KOD_LAB_PRIVATE{n}_CA_FILE"), reg.ca_file().unwrap().display().to_string()));
        numbered.push((format!("KOD_LAB_PRIVATE{n}_CERT_DIR"), reg.cert_dir().unwrap().display().to_string()));
    }
    vars.extend(numbered.iter().map(|(k, v)| (k.as_str(), v.clone())));
    if args.images {
        let names: Vec<&str> = images.iter().map(|i| i.name.as_str()).collect();
        vars.push(("KOD_LAB_IMAGES", names.join(" ")));
    }
    let mut text = String::from("# kod-lab environment (source me); removed when kod-lab stops\n");
    for (k, v) in &vars {
        text.push_str(&format!("export {k}={}\n", sh_quote(v)));
    }
    let tmp = args.env_file.with_extension("kod-lab-tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.env_file)?;
    eprint!("{text}");
    eprintln!(
        "kod-lab: ready; stop with SIGTERM/SIGINT{}",
        if args.watch_stdin && stdin_is_watchable() {
            " or by closing stdin"
        } else {
            ""
        }
    );

    if args.watch_stdin && stdin_is_watchable() {
        let _ = std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(|| {
                let mut sink = [0u8; 1024];
                loop {
                    match std::io::Read::read(&mut std::io::stdin(), &mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                STOP.store(true, Ordering::SeqCst);
            });
    }
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("kod-lab: stopping …");
    let _ = std::fs::remove_file(&args.env_file);
    drop(repo);
    drop(more_private);
    drop(private);
    drop(public);
    eprintln!("kod-lab: stopped");
    Ok(())
}
