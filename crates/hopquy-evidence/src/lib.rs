//! Evidence bundle formats. Depends on no other hopquy crate so outside tools can read
//! bundles with it alone.
pub mod model;
pub use model::*;
