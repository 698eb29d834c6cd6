//! The offline side's rewrite: pointing releases at the private registry (docs/rewrite.md).
//! `state` writes the rewritten helmfile, `overrides` the values that redirect images
//! through their value paths, and `post_render` is the helm post-renderer for images no
//! value path controls.

pub mod overrides;
pub mod post_render;
pub mod state;
