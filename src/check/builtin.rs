//! The checks every protocol with clients gets, besides its own: monitors of the client
//! history, each walking the settled prefix of it once.

use super::{Failure, FailureClass, Monitor, Param, Trigger, View};
use crate::base::types::Endpoint;
use crate::protocol::Protocol;

/// Checks every protocol with clients gets, besides its own.
pub const BUILTIN_CHECKS: &[(&str, &str)] = &[
    (
        "client_ops_ok",
        "at least `at_least` (default 1) client operations completed ok",
    ),
    (
        "ops_after_heal_complete",
        "every client operation invoked after the heal ends ok: a give-up (unknown) or a failure fails it",
    ),
];

/// The built-in check `name` in its initial state, if there is one by that name, with the
/// class it fails as when it is checked after every step (`always`).
///
/// `ops_after_heal_complete` is checked at every step so that it fails where an operation
/// ends badly, but what it asserts is liveness (operations after the heal complete: something
/// good happens), so it fails as `liveness`, not `safety`.
pub(super) fn builtin<P: Protocol>(
    name: &str,
    at_least: Option<u64>,
) -> Option<(Box<dyn Monitor<P>>, FailureClass)> {
    match name {
        "client_ops_ok" => Some((
            Box::new(ClientOpsOk {
                want: Param(at_least.unwrap_or(1)),
                settled: 0,
                ok: 0,
            }),
            FailureClass::Safety,
        )),
        "ops_after_heal_complete" => Some((
            Box::new(OpsAfterHeal { settled: 0 }),
            FailureClass::Liveness,
        )),
        _ => None,
    }
}

/// Counts operations that ended ok, walking the settled prefix of the history.
#[derive(Clone, Hash)]
struct ClientOpsOk {
    want: Param<u64>,
    settled: usize,
    ok: u64,
}

impl<P: Protocol> Monitor<P> for ClientOpsOk {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        let ops = view.history().ops();
        while let Some(op) = ops.get(self.settled) {
            match op.outcome {
                crate::history::Outcome::Pending => break,
                crate::history::Outcome::Ok(_) => self.ok += 1,
                _ => {}
            }
            self.settled += 1;
        }
        if self.ok >= *self.want {
            Ok(())
        } else {
            Err(Failure::new(
                format!(
                    "{} of the {} client operations needed have completed ok",
                    self.ok, *self.want
                ),
                vec![],
            ))
        }
    }
}

/// No operation invoked after the heal may end unknown or failed.
#[derive(Clone, Hash)]
struct OpsAfterHeal {
    settled: usize,
}

impl<P: Protocol> Monitor<P> for OpsAfterHeal {
    fn check(&mut self, view: &View<'_, P>, _: Option<&Trigger>) -> Result<(), Failure> {
        if matches!(view.touched, Some(Endpoint::Node(_))) {
            return Ok(()); // only client steps end operations
        }
        let Some(healed) = view.healed_at else {
            return Ok(());
        };
        let ops = view.history().ops();
        while let Some(op) = ops.get(self.settled) {
            match &op.outcome {
                crate::history::Outcome::Pending => break,
                crate::history::Outcome::Ok(_) => {}
                other if op.invoked_at >= healed => {
                    let what = if matches!(other, crate::history::Outcome::Unknown) {
                        "was given up (unknown)"
                    } else {
                        "failed"
                    };
                    return Err(Failure::new(
                        format!(
                            "{} invoked operation {} at {}, after the heal at {healed}, and it {what}",
                            op.client, self.settled, op.invoked_at
                        ),
                        vec![],
                    ));
                }
                _ => {}
            }
            self.settled += 1;
        }
        Ok(())
    }
}
