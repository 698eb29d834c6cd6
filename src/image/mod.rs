//! Container image references and discovery.
//!
//! - [`reference`](mod@reference): the image reference grammar of `distribution/reference`
//!   (parsing, normalisation to `docker.io/library/…`, familiar names,
//!   relocation into a private registry).
//! - [`extract`]: finding the images a rendered chart will pull, in pod
//!   templates, custom resources, and (as candidates to be confirmed later)
//!   in container arguments, environment variables and ConfigMap data.
//! - [`render`]: rendering a release with `helm template` as helmfile would (cached by
//!   the hash of every input).
//! - [`discover`]: discovery for a whole helmfile (strategies 1 and 2: render, confirmed
//!   candidates) with provenance per image.
//! - [`effective`]: a release's effective values (chart defaults, subcharts, the release's
//!   values) for the value-path strategy.
//! - [`values`]: images described by a chart's values, with the value paths
//!   that control them, and matching of rendered images to those paths.
//! - [`annotations`]: images listed in `Chart.yaml` annotations (`images`,
//!   `artifacthub.io/images`, `helm.sh/images`).
//! - [`hints`]: the hints file (`kod-hints.yaml`, built-in hints for
//!   well-known charts): extra images, value paths per image, exclusions,
//!   registry mirrors.
//! - [`fetch`]: copying images into kod's work directory with skopeo.

pub mod annotations;
pub mod discover;
pub mod effective;
pub mod extract;
pub mod fetch;
pub mod hints;
pub mod reference;
pub mod render;
pub mod values;
