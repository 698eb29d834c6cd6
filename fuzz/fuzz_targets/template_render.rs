//! The Go-template translator and renderer (`kod::template::Engine`): arbitrary template
//! text rendered with a small fixed values context, in both of helmfile's modes (the
//! normal render and the tolerant first pass). Errors are fine; a panic, a hang or
//! unbounded memory is a bug. Insecure functions (`exec`, `readFile`, ...) are disabled,
//! the environment is a fixed map, so no input can run a command or read a file's text.
//!
//! Property: text without `{{` renders to itself (the translator's escaping of minijinja
//! syntax in plain text).
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kod::template::limits::Limits;
use kod::template::{Engine, EngineOptions};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    data: serde_json::Value,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        // a helper template directory like helmfile's `_*.tpl` files, and a file `isFile` finds
        std::fs::write(dir.path().join("_helpers.tpl"), "{{ define \"h\" }}h:{{ . }}{{ end }}\n").unwrap();
        std::fs::write(dir.path().join("values.yaml"), "a: 1\n").unwrap();
        let mut env = BTreeMap::new();
        env.insert("HOME".to_string(), "/home/kod".to_string());
        env.insert("KOD_FUZZ".to_string(), "1".to_string());
        // limits smaller than the default so that a runaway template fails well within
        // libFuzzer's timeout; the limiting itself is the same
        let limits = Limits { max_steps: 100_000, max_bytes: 16 << 20 };
        let engine = Engine::new(EngineOptions { base_dir: dir.path().to_path_buf(), disable_insecure: true, env: Some(env), limits });
        let values = serde_json::json!({
            "image": {"repository": "docker.io/library/nginx", "tag": "1.27", "pullPolicy": "IfNotPresent"},
            "replicas": 2,
            "ratio": 1.5,
            "enabled": true,
            "nothing": null,
            "list": ["a", "b", 3],
            "teams": {"core": {"ns": "core-ns", "replicas": 2}, "edge": {"ns": "edge-ns", "replicas": 1}},
        });
        let data = serde_json::json!({
            "Environment": {"Name": "default", "KubeContext": "", "Values": values.clone()},
            "Values": values.clone(),
            "StateValues": values,
            "Namespace": "ns",
            "KubeContext": "",
            "Release": {"Name": "app", "Namespace": "ns", "Labels": {"tier": "web"}, "Chart": "repo/app"},
        });
        Fixture { _dir: dir, engine, data }
    })
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let f = fixture();
    let rendered = f.engine.render("fuzz.gotmpl", text, &f.data);
    if !text.contains("{{") {
        match &rendered {
            Ok(out) => assert_eq!(out, text, "text without actions must render to itself"),
            Err(e) => panic!("text without actions failed to render: {e}"),
        }
    }
    let _ = f.engine.render_first_pass("fuzz.gotmpl", text, &f.data);
    let _ = f.engine.render_first_pass_partial("fuzz.gotmpl", text, &f.data);
});
