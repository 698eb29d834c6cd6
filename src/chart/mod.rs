//! The chart stage: from a release's `chart:`/`version:` to one exact chart archive in
//! kod's content-addressed work directory.
//!
//! - [`source`]: where a chart comes from, decided like helmfile 0.166 (repositories,
//!   `oci://`, local paths, the helmfile lock file, credentials from the helmfile or
//!   `<NAME>_USERNAME`/`<NAME>_PASSWORD`).
//! - [`constraint`]: helm/helmfile version constraints (Masterminds semver syntax).
//! - [`fetch`]: [`ChartFetcher`] pulls with helm through the runner (isolated helm state,
//!   passwords on stdin), each distinct chart once, and records the sha256 of the archive.
//! - [`archive`]: reading `Chart.yaml` and values files out of an archive.
//! - [`workdir`]: the work directory layout (see docs/architecture.md).

pub mod archive;
pub mod constraint;
pub mod fetch;
pub mod source;
pub mod workdir;

pub use fetch::{ChartFetcher, FetchedChart};
pub use source::{chart_request, ChartRequest, ChartSource, RepoSettings};
pub use workdir::WorkDir;
