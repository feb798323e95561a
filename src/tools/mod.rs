//! Tools that read traces: the viewer, the narrative and the exports. None of them runs a
//! simulation or knows a protocol's types; they read trace text.

pub mod explain;
pub mod export;
pub mod view;
