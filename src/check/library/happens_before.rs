//! The clock service's check as a property: every node's logical clocks agree with the true
//! happens-before relation (see [`LogicalClocks`](crate::protocol::LogicalClocks)).
//!
//! The world already stops a run at the first disagreement, as the always-check
//! `happens_before`, for every node that uses the service. This invariant reads the same
//! verdict through [`View::clocks`], for a check that wants it beside its own (a driver
//! that lets the world run on after a finding, a protocol that lists it among its
//! properties so `faultline list` shows it). Used by: none of the bundled protocols yet,
//! which rely on the built-in check.

use super::touched;
use crate::check::{Failure, Trigger, View};
use crate::protocol::Protocol;

/// Fails when a node the step touched has logical clocks that disagreed with its true
/// vector time at one of its clock events.
pub fn happens_before<P: Protocol>(view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
    for n in touched(view) {
        if let Some(why) = view.clocks(n).and_then(|c| c.failure()) {
            return Err(Failure::new(why.to_string(), vec![n]));
        }
    }
    Ok(())
}
