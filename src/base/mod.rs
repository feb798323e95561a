//! The ground floor: value types, seeded random streams, the pinned hash, fixed-point
//! maths and bounded reading from any reader. Imports nothing else of the crate and opens no
//! files.

pub mod fixed;
pub mod hash;
pub mod read;
pub mod rng;
pub mod types;
