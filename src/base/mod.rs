//! The ground floor: value types, seeded random streams, the pinned hash, fixed-point
//! maths, bounded reading from any reader and the line that reruns a run. Imports nothing else of the crate and opens no
//! files.

pub mod fixed;
pub mod hash;
pub mod read;
pub mod replay;
pub mod rng;
pub mod types;
