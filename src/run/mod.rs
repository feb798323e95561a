//! Running scenarios at scale: seed sweeps and shrinking, generic over the protocol.

pub mod shrink;
pub mod sweep;
