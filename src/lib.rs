//! kod: move a helmfile-defined Kubernetes platform into an air-gapped cluster.
//!
//! The module tree follows the pipeline (see docs/architecture.md).

pub mod cli;
pub mod registry;
pub mod ui;
pub mod exec;
pub mod image;
pub mod template;
