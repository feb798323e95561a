//! Two-phase commit, step by step and end to end.
