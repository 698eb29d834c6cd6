//! The offline side's rewrite: pointing releases at the private registry. `post_render`
//! is the helm post-renderer for images no value path controls.

pub mod overrides;
pub mod post_render;
