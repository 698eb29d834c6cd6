//! The release plan: selectors (and, with issue 4, the needs DAG and waves).

pub mod selector;
