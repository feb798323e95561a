//! Reusable protocol parts: what several protocols need and none should write again.
//!
//! A kit module imports only the protocol API (`crate::protocol`) and other kit modules,
//! exactly like a protocol, so any protocol, bundled or not, can use it.

pub mod driver;
pub mod reliable;
