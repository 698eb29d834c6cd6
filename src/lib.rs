//! kod: move a helmfile-defined Kubernetes platform into an air-gapped cluster.
//!
//! The module tree follows the pipeline (see docs/architecture.md).

pub mod bundle;
pub mod chart;
pub mod cli;
pub mod registry;
pub mod rewrite;
pub mod sync;
pub mod ui;
pub mod exec;
pub mod helmfile;
pub mod image;
pub mod plan;
pub mod template;
