//! helmfile state: the model (`model`), loading as helmfile 0.166 does (`load`), values
//! handling (`values`) and release processing (`release`). See docs/helmfile-semantics.md.

pub mod load;
pub mod model;
pub mod output;
pub mod release;
pub mod values;

pub use load::{load, load_all, Environment, LoadOptions, LoadedState};
pub use model::{ReleaseSpec, StateSpec};
