//! Tools that read traces: the viewer, the narrative and the exports, and the record readers
//! they share. None of them runs a simulation or knows a protocol's types or words: they read
//! trace text, and what its annotations mean from the vocabulary in its header.

pub mod explain;
pub mod export;
pub mod read;
pub mod view;
