use super::*;
use serde_json::json;

fn engine() -> Engine {
    Engine::new(EngineOptions { base_dir: PathBuf::from("/tmp"), disable_insecure: false, env: Some(BTreeMap::new()) })
}

fn r(src: &str) -> String {
    engine().render("t.gotmpl", src, &json!({"Values": {"a": 1}})).unwrap()
}

#[test]
fn smoke() {
    assert_eq!(r("x{{ .Values.a }}y"), "x1y");
}

/// Comparison harness: `KOD_TPL_CASES=/path/cases.txt cargo test --lib
/// template::tests::dump_cases -- --ignored --nocapture` prints each case's
/// output in the same format as the helmfile-side script used to record
/// the expectations below (cases separated by "\n=====\n").
#[test]
#[ignore]
fn dump_cases() {
    let Ok(path) = std::env::var("KOD_TPL_CASES") else { return };
    let text = std::fs::read_to_string(path).unwrap();
    let e = engine();
    for c in text.split("\n=====\n") {
        if c.trim().is_empty() {
            continue;
        }
        println!("### {}", c.replace('\n', "\\n"));
        match e.render("stringTemplate", c, &hf_dot()) {
            Ok(s) => println!("{}", s),
            Err(err) => println!("ERR: {}", err),
        }
    }
}

/// The dot helmfile gives a values template with the harness' environment.
fn hf_dot() -> serde_json::Value {
    let vals = json!({"a": {"b": 1, "s": "str", "f": 1.5, "z": null, "l": [1, 2, "x"], "e": "", "m": {}, "t": true, "big": 1000000, "nested": {"x": {"w": "deep"}}}});
    json!({"Values": vals, "StateValues": vals, "Environment": {"Name": "default", "KubeContext": "", "Values": vals}, "Namespace": ""})
}
