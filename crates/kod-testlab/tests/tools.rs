//! Tool lookup (separate test binary: it mutates the environment).

use kod_testlab::{Tool, Tools};

#[test]
fn tool_lookup_and_missing_tool_message() {
    let tools = Tools::find().expect("tools installed (run scripts/install-tools.sh)");
    assert!(tools.skopeo.is_file() && tools.registry.is_file() && tools.helm.is_file());

    std::env::set_var("KOD_SKOPEO", "/nonexistent/skopeo");
    let err = Tool::Skopeo.locate().unwrap_err().to_string();
    assert!(
        err.contains("skopeo") && err.contains("scripts/install-tools.sh"),
        "{err}"
    );
    std::env::set_var("KOD_SKOPEO", &tools.skopeo);
    assert_eq!(Tool::Skopeo.locate().unwrap(), tools.skopeo);
    std::env::remove_var("KOD_SKOPEO");
}
