//! The private registry on the offline side: how to address it, authenticate to it and TLS
//! to it, expressed the skopeo way and the helm way. Pushing images and charts builds on this.

pub mod push;
pub mod target;

pub use target::{RegistryTarget, Secret};
