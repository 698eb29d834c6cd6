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
