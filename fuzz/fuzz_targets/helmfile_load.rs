//! The helmfile loader (`kod::helmfile::load`): arbitrary `helmfile.yaml` text in a scratch
//! directory, loaded the way `kod helmfile build/list/plan` load it, then planned and
//! printed. Errors are fine; a panic, a hang or unbounded memory is a bug.
//!
//! Templates run with `HELMFILE_DISABLE_INSECURE_FEATURES=true` and a fixed environment
//! map, so `exec`/`envExec`/`readFile`/`readDir` are refused and no input can run a
//! command. The scratch directory holds a few files a helmfile can name (values files, a
//! `.gotmpl` values file, a base, a sub-helmfile, a `_helpers.tpl`); they never change.
//!
//! The first input byte picks the options, the rest is the file: bit 0 — the file is
//! `helmfile.yaml.gotmpl` (else `helmfile.yaml`); bit 1 — `--helmfile-v0`; bit 2 —
//! `-e prod` (else `default`); bit 3 — `-l name=app`; bit 4 — `--state-values-set
//! owner=cli,replicas=3`.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use kod::helmfile::{load, output};
use kod::plan::{self, PlanOptions};
use kod::template::limits::Limits;
use libfuzzer_sys::fuzz_target;

const FUZZ_LIMITS: Limits = Limits { max_steps: 100_000, max_bytes: 16 << 20 };

const SUPPORT: &[(&str, &str)] = &[
    ("values.yaml", "replicas: 2\nimage:\n  repository: docker.io/library/nginx\n  tag: \"1.27\"\n"),
    ("values.yaml.gotmpl", "env: {{ .Environment.Name }}\nowner: {{ .Values | get \"owner\" \"none\" }}\n"),
    ("env/prod.yaml", "owner: prod-team\nreplicas: 3\n"),
    ("_helpers.tpl", "{{ define \"ns\" }}ns-{{ . }}{{ end }}\n"),
    ("bases/repos.yaml", "repositories:\n- name: repo\n  url: https://charts.example.com\n"),
    (
        "bases/environments.yaml",
        "environments:\n  default:\n    values:\n    - owner: team\n  prod:\n    values:\n    - env/prod.yaml\n",
    ),
    ("sub/helmfile.yaml", "releases:\n- name: sub\n  namespace: sub\n  chart: repo/sub\n"),
    ("charts/app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n"),
];

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        let root = d.path().join("project");
        for (name, text) in SUPPORT {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        (d, root)
    })
    .1
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, text)) = input.split_first() else { return };
    let root = scratch();
    let name = if mode & 1 == 1 { "helmfile.yaml.gotmpl" } else { "helmfile.yaml" };
    let file = root.join(name);
    std::fs::write(&file, text).unwrap();

    let mut env_vars = BTreeMap::new();
    env_vars.insert("HELMFILE_DISABLE_INSECURE_FEATURES".to_string(), "true".to_string());
    env_vars.insert("HOME".to_string(), root.display().to_string());
    env_vars.insert("KOD_FUZZ".to_string(), "1".to_string());
    let opts = load::LoadOptions {
        file: Some(PathBuf::from(name)),
        environment: (mode & 4 != 0).then(|| "prod".to_string()),
        state_values_set: if mode & 16 != 0 { vec!["owner=cli,replicas=3".to_string()] } else { Vec::new() },
        state_values_files: Vec::new(),
        namespace: None,
        kube_context: None,
        v0: mode & 2 != 0,
        cwd: Some(root.clone()),
        env_vars: Some(env_vars),
        selectors: if mode & 8 != 0 { vec!["name=app".to_string()] } else { Vec::new() },
        // smaller than the default so that a runaway template fails well within
        // libFuzzer's timeout; the limiting itself is the same
        template_limits: FUZZ_LIMITS,
    };
    if let Ok(states) = load::load_all(&opts) {
        let _ = plan::build(&states, &PlanOptions { skip_needs: true, ..Default::default() });
        let _ = plan::build(&states, &PlanOptions { include_transitive_needs: true, ..Default::default() });
    }
    if let Ok(states) = load::load(&opts) {
        let _ = output::build_yaml(&states, true);
        if let Ok(rows) = output::list_rows(&states) {
            let _ = output::list_table(&rows);
        }
    }
    std::fs::remove_file(&file).unwrap();
});
