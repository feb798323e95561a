//! The ground floor: value types, seeded random streams, the pinned hash and fixed-point
//! maths. Imports nothing else of the crate.

pub mod fixed;
pub mod hash;
pub mod rng;
pub mod types;
