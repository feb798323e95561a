//! The scripted driver (placeholder while the world lands).
