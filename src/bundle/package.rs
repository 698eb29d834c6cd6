//! `kod helmfile package`: the connected side end to end — load each environment, discover
//! every release's chart and images, copy the images into the work directory's shared OCI
//! layout, and write one bundle.
//!
//! The work directory is content-addressed (charts by digest, renders by input hash, images
//! by source name with shared blobs), so a re-run only does what is missing; `--cleanup`
//! removes it at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use super::assemble::{assemble, ChartFile, Contents};
use super::format::{EnvironmentPlan, Release, ReleaseImage};
use super::{sha256_hex, write};
use crate::chart::WorkDir;
use crate::exec::Runner;
use crate::helmfile::{self, output, LoadOptions};
use crate::image::discover::{discover, require_complete, DiscoverOptions};
use crate::image::fetch::{fetch_all, mirrors_registries_conf, FetchOptions, Platforms};
use crate::image::reference::parse_normalized_named;
use crate::ui::Ui;

/// What `package` needs.
#[derive(Clone, Debug)]
pub struct PackageOptions {
    /// The helmfile options (the environment is set per environment below).
    pub load: LoadOptions,
    /// Environments to package (their union); at least one.
    pub environments: Vec<String>,
    pub output: PathBuf,
    pub workdir: PathBuf,
    pub platforms: Platforms,
    /// `--source-registry-mirror REG=MIRROR`.
    pub mirrors: Vec<(String, String)>,
    /// A complete `registries.conf` for the source side (instead of mirrors).
    pub source_registries_conf: Option<PathBuf>,
    pub include_test_images: bool,
    /// Image hints: built-in and the `--hints` files.
    pub hints: crate::image::hints::Hints,
    pub concurrency: usize,
    pub cleanup: bool,
    /// Record that the offline side should reference images by digest.
    pub pin_digests: bool,
}

/// What `package` did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PackageReport {
    pub bundle: PathBuf,
    pub bytes: u64,
    pub releases: usize,
    pub charts: usize,
    pub images: usize,
    pub unique_blobs: u64,
    pub image_bytes: u64,
    pub unique_blob_bytes: u64,
}

/// The directory the helmfile project lives in (what `helmfile/` of the bundle holds).
fn project_root(load: &LoadOptions) -> Result<PathBuf> {
    let cwd = match &load.cwd {
        Some(c) => c.clone(),
        None => std::env::current_dir()?,
    };
    Ok(match &load.file {
        Some(f) => {
            let p = if f.is_absolute() { f.clone() } else { cwd.join(f) };
            if p.is_dir() {
                p
            } else {
                p.parent().map(Path::to_path_buf).unwrap_or(cwd)
            }
        }
        None => cwd,
    })
}

/// The project's files as read: every regular file under the root, except hidden entries,
/// bundles and the work directory. Files over 16 MiB are skipped with a warning.
fn project_files(root: &Path, skip: &[PathBuf], ui: &Ui) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            // A skipped directory that holds the root (single-chart mode writes its helmfile
            // into the work directory) does not hide the root's own files.
            if name.starts_with('.') || name.ends_with(".kod.tar") || skip.iter().any(|s| p.starts_with(s) && !root.starts_with(s)) {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let size = e.metadata()?.len();
                if size > 16 << 20 {
                    ui.warn(format!("not bundling {} ({size} bytes): larger than 16 MiB", p.display()));
                    continue;
                }
                let rel = p.strip_prefix(root).unwrap_or(&p).to_string_lossy().replace('\\', "/");
                if super::check_entry_path(&format!("helmfile/{rel}")).is_ok() {
                    out.push((format!("helmfile/{rel}"), p));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Package a helmfile project into one bundle.
pub async fn package(runner: &Runner, ui: &Ui, opts: &PackageOptions) -> Result<PackageReport> {
    if opts.environments.is_empty() {
        bail!("no environment to package");
    }
    let workdir = WorkDir::open(&opts.workdir)?;
    let root = project_root(&opts.load)?;
    let mut releases = Vec::new();
    let mut plans = Vec::new();
    let mut charts: BTreeMap<String, ChartFile> = BTreeMap::new();
    let mut images: BTreeSet<String> = BTreeSet::new();
    let mut rendered = Vec::new();
    let rendered_dir = workdir.root().join("rendered");
    // Chart-level hint mirrors of the releases that use each image: image → (registry, mirror).
    let mut chart_mirrors: BTreeMap<String, (String, String)> = BTreeMap::new();

    // Mirrors: the hints' `global.mirrors`, then --source-registry-mirror (which wins).
    let mut mirror_map = opts.hints.global_mirrors();
    for (reg, m) in &opts.mirrors {
        mirror_map.insert(reg.clone(), m.clone());
    }
    let mirrors: Vec<(String, String)> = mirror_map.into_iter().collect();
    let source_conf = match (&opts.source_registries_conf, mirrors.is_empty()) {
        (Some(_), false) if !opts.mirrors.is_empty() => bail!("give either --source-registries-conf or --source-registry-mirror, not both"),
        (Some(c), _) => {
            if !mirrors.is_empty() {
                ui.warn("the hints' global.mirrors are ignored: --source-registries-conf decides where images are pulled from");
            }
            Some(c.clone())
        }
        (None, false) => {
            let p = workdir.root().join("source-registries.conf");
            mirrors_registries_conf(&p, &mirrors)?;
            Some(p)
        }
        (None, true) => None,
    };

    for env in &opts.environments {
        ui.info(format!("environment {env}: reading the helmfile"));
        let mut load = opts.load.clone();
        load.environment = Some(env.clone());
        let states = helmfile::load(&load).with_context(|| format!("environment {env}"))?;
        for s in &states {
            for w in &s.warnings {
                ui.warn(w);
            }
        }
        let all = helmfile::load_all(&load).with_context(|| format!("environment {env}"))?;
        let plan = crate::plan::build(&all, &crate::plan::PlanOptions::default()).with_context(|| format!("environment {env}: planning"))?;
        for w in &plan.warnings {
            ui.warn(w);
        }
        plans.push(EnvironmentPlan { environment: env.clone(), plan: serde_json::to_value(&plan)? });

        ui.info(format!("environment {env}: fetching charts and discovering images"));
        let dopts = DiscoverOptions {
            include_test_images: opts.include_test_images,
            registry_check: true,
            source_registries_conf: source_conf.clone(),
            concurrency: opts.concurrency,
            hints: opts.hints.clone(),
        };
        let found = discover(runner, &workdir, &states, &dopts).await?;
        require_complete(&found).with_context(|| format!("environment {env}: discovery failed; nothing was packaged"))?;
        for r in &found.releases {
            for u in &r.unconfirmed {
                ui.warn(format!("{}: {} not bundled: {}", r.release.id, u.image, u.reason));
            }
            for i in &r.invalid {
                ui.warn(format!("{}: {:?} is not an image reference ({}); not bundled", r.release.id, i.provenance.written, i.error));
            }
            for e in &r.excluded_by_hint {
                ui.info(format!("{}: {} not bundled: excluded by hint {} ({})", r.release.id, e.image, e.pattern, e.hint));
            }
            let chart_path = workdir.chart_path(&r.chart.digest);
            let file = format!("charts/{}-{}.tgz", r.chart.name, r.chart.version);
            charts.entry(file.clone()).or_insert_with(|| ChartFile {
                name: r.chart.name.clone(),
                version: r.chart.version.clone(),
                source: r.chart.source.clone(),
                path: chart_path,
                sha256: r.chart.digest.trim_start_matches("sha256:").to_string(),
            });
            let mut rel_images = Vec::new();
            for img in &r.images {
                images.insert(img.image.clone());
                if let Ok(reference) = parse_normalized_named(&img.image) {
                    if let Some(m) = r.mirrors.get(reference.domain()) {
                        let entry = chart_mirrors.entry(img.image.clone()).or_insert((reference.domain().to_string(), m.clone()));
                        if entry.1 != *m {
                            ui.warn(format!("{}: the hints of two charts give {} different mirrors ({} and {m}); using {}", img.image, reference.domain(), entry.1, entry.1));
                        }
                    }
                }
                rel_images.push(ReleaseImage {
                    source: img.image.clone(),
                    value_path: img.provenance.iter().find_map(|p| p.value_path.clone()),
                    value_shape: img.provenance.iter().find_map(|p| p.value_shape.clone()),
                    provenance: img.provenance.iter().map(|p| p.describe()).collect(),
                });
            }
            releases.push(Release {
                environment: env.clone(),
                id: r.release.id.clone(),
                name: r.release.name.clone(),
                namespace: r.release.namespace.clone(),
                kube_context: r.release.kube_context.clone(),
                state_file: r.release.file.clone(),
                chart_ref: r.chart.requested.clone(),
                chart_file: file,
                installed: true,
                images: rel_images,
            });
        }
        for s in &found.skipped {
            releases.push(Release {
                environment: env.clone(),
                id: s.release.id.clone(),
                name: s.release.name.clone(),
                namespace: s.release.namespace.clone(),
                kube_context: s.release.kube_context.clone(),
                state_file: s.release.file.clone(),
                chart_ref: String::new(),
                chart_file: String::new(),
                installed: false,
                images: Vec::new(),
            });
        }
        let text = output::build_yaml(&states, true)?;
        let path = rendered_dir.join(env).join("state.yaml");
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        std::fs::write(&path, text)?;
        rendered.push((format!("rendered/{env}/state.yaml"), path));
    }

    let refs = images.iter().map(|i| parse_normalized_named(i).map_err(|e| anyhow!("{i}: {e}"))).collect::<Result<Vec<_>>>()?;
    ui.info(format!("copying {} image(s) into {}", refs.len(), workdir.root().join("images").display()));
    let bar = ui.progress_bar(refs.len() as u64, "images");
    let fopts = FetchOptions {
        dir: workdir.root().join("images"),
        platforms: opts.platforms.clone(),
        registries_conf: source_conf.clone(),
        concurrency: opts.concurrency,
        retry_times: 3,
    };
    // Images whose chart's hints name a mirror for their registry are pulled with a
    // registries.conf that has it (the command line's --source-registry-mirror still wins;
    // --source-registries-conf decides everything).
    let mut groups: BTreeMap<Option<(String, String)>, Vec<crate::image::reference::Reference>> = BTreeMap::new();
    for r in refs {
        let key = match (&opts.source_registries_conf, chart_mirrors.get(&r.to_string())) {
            (None, Some((reg, m))) if !opts.mirrors.iter().any(|(cli, _)| cli == reg) => Some((reg.clone(), m.clone())),
            (Some(_), Some(_)) => {
                ui.warn(format!("{r}: the chart hints' mirror is ignored: --source-registries-conf decides where images are pulled from"));
                None
            }
            _ => None,
        };
        groups.entry(key).or_default().push(r);
    }
    let mut fetched = Vec::new();
    let mut image_mirror: BTreeMap<String, String> = BTreeMap::new();
    for (key, group) in &groups {
        let mut gopts = fopts.clone();
        if let Some((reg, mirror)) = key {
            let mut list: Vec<(String, String)> = mirrors.iter().filter(|(r, _)| r != reg).cloned().collect();
            list.push((reg.clone(), mirror.clone()));
            let conf = workdir.root().join(format!("source-registries-{}.conf", &sha256_hex(format!("{reg}={mirror}").as_bytes())[..12]));
            mirrors_registries_conf(&conf, &list)?;
            gopts.registries_conf = Some(conf);
            for r in group {
                image_mirror.insert(r.to_string(), mirror.clone());
            }
        }
        fetched.extend(fetch_all(runner, group, &gopts, &|_| bar.inc(1)).await?);
    }
    fetched.sort_by(|a, b| a.source.cmp(&b.source));
    bar.finish_and_clear();

    let skip = vec![opts.workdir.clone(), opts.output.clone()];
    let helmfile_files = project_files(&root, &skip, ui)?;
    let pulled_from = match &opts.source_registries_conf {
        None => fetched
            .iter()
            .filter_map(|f| {
                if let Some(m) = image_mirror.get(&f.source) {
                    return Some((f.source.clone(), m.clone()));
                }
                let r = parse_normalized_named(&f.source).ok()?;
                mirrors.iter().find(|(reg, _)| reg == r.domain()).map(|(_, m)| (f.source.clone(), m.clone()))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let contents = Contents {
        environments: opts.environments.clone(),
        platforms: opts.platforms.describe(),
        plans,
        releases,
        charts: charts.into_values().collect(),
        images: fetched,
        images_dir: fopts.dir.clone(),
        helmfile_files,
        rendered_files: rendered,
        pulled_from,
        pin_digests: opts.pin_digests,
    };
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let staging = workdir.root().join("staging");
    let (mut manifest, staged) = assemble(&contents, env!("CARGO_PKG_VERSION"), &created, &staging)?;
    write::prepare(&mut manifest, &staged)?;
    write::check_space(&opts.output, &manifest)?;
    ui.info(format!("writing {}", opts.output.display()));
    let bar = ui.progress_bar(manifest.totals.file_bytes, "bundle");
    let written = write::write(&opts.output, &manifest, &staged, &|n| bar.set_position(n))?;
    bar.finish_and_clear();
    let report = PackageReport {
        bundle: written.path.clone(),
        bytes: written.bytes,
        releases: manifest.releases.len(),
        charts: manifest.charts.len(),
        images: manifest.images.len(),
        unique_blobs: manifest.totals.unique_blobs,
        image_bytes: manifest.totals.image_bytes,
        unique_blob_bytes: manifest.totals.unique_blob_bytes,
    };
    if opts.cleanup {
        std::fs::remove_dir_all(&opts.workdir).with_context(|| format!("removing the work directory {}", opts.workdir.display()))?;
        ui.info(format!("removed the work directory {}", opts.workdir.display()));
    }
    Ok(report)
}
