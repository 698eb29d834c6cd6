//! Test helpers shared by the test suites (helmfile fidelity, plan DAG, corpus discovery
//! and rewrite, the offline lab tests).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One corpus helmfile entry point in one environment.
pub struct CorpusCase {
    /// `PROJECT[/releases/X] -e ENV`.
    pub name: String,
    /// The directory helmfile runs in.
    pub dir: PathBuf,
    /// The corpus project the entry point belongs to.
    pub project: PathBuf,
    /// `-e ENV` (empty for the default environment).
    pub args: Vec<String>,
    /// Dummy values for every `requiredEnv` variable of the project.
    pub env: BTreeMap<String, String>,
    /// Every text file of the entry point, concatenated (for feature checks).
    pub text: String,
}

/// Every corpus helmfile entry point (a project directory with `helmfile.yaml` or
/// `helmfile.d/`, or each `releases/*` directory holding one), in every environment its
/// files mention, with the `requiredEnv` variables set to `dummy` (as the corpus'
/// STATUS.md describes). `None` when `KOD_CORPUS` is not set.
pub fn corpus_cases() -> Option<Vec<CorpusCase>> {
    let corpus = std::env::var_os("KOD_CORPUS")?;
    let root = PathBuf::from(corpus).join("helmfiles");
    let mut projects: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    projects.sort();
    let re = regex::Regex::new(r#"requiredEnv\s+"([A-Za-z0-9_]+)""#).unwrap();
    let mut cases = Vec::new();
    for project in projects {
        let mut entries = Vec::new();
        if project.join("helmfile.yaml").exists() || project.join("helmfile.d").exists() {
            entries.push(project.clone());
        }
        if let Ok(rd) = std::fs::read_dir(project.join("releases")) {
            let mut subs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.join("helmfile.yaml").exists()).collect();
            subs.sort();
            entries.extend(subs);
        }
        for entry in entries {
            let text = all_text(&entry);
            let mut envs = vec!["default".to_string()];
            for name in ["dev", "qa", "staging", "prod", "production", "load"] {
                if text.contains(&format!("{name}:")) {
                    envs.push(name.to_string());
                }
            }
            let env: BTreeMap<String, String> = re.captures_iter(&text).map(|c| (c[1].to_string(), "dummy".to_string())).collect();
            for e in envs {
                cases.push(CorpusCase {
                    name: format!("{} -e {e}", entry.strip_prefix(&root).unwrap().display()),
                    dir: entry.clone(),
                    project: project.clone(),
                    args: if e == "default" { vec![] } else { vec!["-e".to_string(), e.clone()] },
                    env: env.clone(),
                    text: text.clone(),
                });
            }
        }
    }
    Some(cases)
}

/// Every readable file under `dir`, concatenated.
pub fn all_text(dir: &Path) -> String {
    let mut s = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                s.push_str(&t);
            }
        }
    }
    s
}

/// Every file under `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The corpus charts served by the lab, and a helmfile with one release per chart (release
/// `test` in namespace `demo`, as `images.txt` was made; the kube context, named after the
/// chart, keeps the release IDs apart), loaded. Keep the returned guards alive.
pub struct CorpusCharts {
    pub repo: kod_testlab::ChartRepo,
    pub served: tempfile::TempDir,
    pub project: tempfile::TempDir,
    /// `(name, version)`, sorted.
    pub charts: Vec<(String, String)>,
    pub states: Vec<kod::helmfile::LoadedState>,
}

pub fn corpus_charts(corpus: &Path) -> CorpusCharts {
    let served = tempfile::tempdir().unwrap();
    let mut charts = Vec::new();
    for e in std::fs::read_dir(corpus.join("charts")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tgz") {
            std::fs::copy(&p, served.path().join(p.file_name().unwrap())).unwrap();
            let meta = kod::chart::archive::read_archive(&p).unwrap().meta;
            charts.push((meta.name, meta.version));
        }
    }
    charts.sort();
    let repo = kod_testlab::ChartRepo::new(served.path()).unwrap();
    let project = tempfile::tempdir().unwrap();
    let mut hf = format!("repositories:\n- name: corpus\n  url: {}\nreleases:\n", repo.url());
    for (name, version) in &charts {
        hf.push_str(&format!("- {{name: test, namespace: demo, kubeContext: {name}, chart: corpus/{name}, version: '{version}'}}\n"));
    }
    std::fs::write(project.path().join("helmfile.yaml"), hf).unwrap();
    let states = kod::helmfile::load(&kod::helmfile::LoadOptions {
        file: Some(project.path().join("helmfile.yaml")),
        cwd: Some(project.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    CorpusCharts { repo, served, project, charts, states }
}

/// A runner with the lab's helm and skopeo and a silent UI.
pub fn lab_runner() -> kod::exec::Runner {
    lab_runner_with_lines().0
}

/// Same, with the lines its UI printed.
pub fn lab_runner_with_lines() -> (kod::exec::Runner, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let tools = kod_testlab::Tools::find().expect("lab tools (run scripts/install-tools.sh)");
    let (ui, lines) = kod::ui::Ui::memory();
    let runner = kod::exec::Runner::new(kod::exec::RunnerOptions {
        overrides: kod::exec::ToolOverrides { skopeo: Some(tools.skopeo.clone()), helm: Some(tools.helm.clone()), helmfile: None },
        dry_run: false,
        ui,
        env: None,
    });
    (runner, lines)
}

/// A bundle `work/FILE_NAME` written by the library: the images `names` fetched (linux/amd64)
/// through `registries_conf` (the lab's public stand-in) and one chart, `webapp` 1.2.3.
pub async fn lab_bundle(work: &Path, registries_conf: PathBuf, names: &[String], file_name: &str) -> (PathBuf, kod::bundle::format::Manifest) {
    use kod::bundle::assemble::{assemble, ChartFile, Contents};
    use kod::bundle::write;
    use kod::image::fetch::{fetch_all, FetchOptions, Platforms};
    let refs: Vec<_> = names.iter().map(|n| kod::image::reference::parse_normalized_named(n).unwrap()).collect();
    let fopts = FetchOptions {
        dir: work.join("images"),
        platforms: Platforms::Some(vec!["linux/amd64".into()]),
        registries_conf: Some(registries_conf),
        concurrency: 2,
        retry_times: 1,
    };
    let images = fetch_all(&lab_runner(), &refs, &fopts, &|_| {}).await.unwrap();
    let helm = kod_testlab::Helm::new().unwrap();
    let tgz = kod_testlab::ChartSpec::new("webapp", "1.2.3").package(&helm, &work.join("chart-src"), &work.join("chart-out")).unwrap();
    let contents = Contents {
        environments: vec!["default".into()],
        platforms: vec!["linux/amd64".into()],
        charts: vec![ChartFile { name: "webapp".into(), version: "1.2.3".into(), source: "lab".into(), sha256: write::hash_file(&tgz).unwrap().0, path: tgz }],
        images,
        images_dir: work.join("images"),
        ..Default::default()
    };
    let (mut manifest, staged) = assemble(&contents, "t", "2026-01-01T00:00:00Z", &work.join("staging")).unwrap();
    write::prepare(&mut manifest, &staged).unwrap();
    let path = work.join(file_name);
    write::write(&path, &manifest, &staged, &|_| {}).unwrap();
    (path, manifest)
}

/// Whether an echoed command pulls a chart (`helm pull`, but not of a repository's
/// `index.yaml`, which kod downloads the same way).
pub fn is_chart_pull(cmd: &str) -> bool {
    cmd.contains("helm pull ") && !cmd.contains("/index.yaml ")
}
