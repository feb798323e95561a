//! ABD's own check: one value per tag (its other, `tag_never_goes_back`, comes from the
//! check library).

use super::{Abd, Tagged};
use crate::protocol::library::touched;
use crate::protocol::{Failure, Trigger, View};

// What the checks read of a node: oracle code, kept beside the checks (docs/scale.md,
// "Mutation testing").
impl Abd {
    /// What this node holds.
    pub fn held(&self) -> &Tagged {
        &self.held
    }
}

/// No two nodes hold different values under the same tag: the node a step touched is
/// compared with every other.
pub(super) fn one_value_per_tag(view: &View<'_, Abd>, _: Option<&Trigger>) -> Result<(), Failure> {
    for a in touched(view) {
        let Some(x) = view.node(a).map(Abd::held) else {
            continue;
        };
        for b in view.nodes().filter(|&b| b != a) {
            if let Some(y) = view.node(b).map(Abd::held) {
                if x.tag == y.tag && x.value != y.value {
                    return Err(Failure::new(
                        format!(
                            "{a} holds {:?} and {b} holds {:?} under the same tag {}",
                            x.value, y.value, x.tag
                        ),
                        vec![a, b],
                    ));
                }
            }
        }
    }
    Ok(())
}
