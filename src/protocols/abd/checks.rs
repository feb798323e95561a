//! ABD's own check: one value per tag (its other, `tag_never_goes_back`, comes from the
//! check library).

use super::{Abd, Tag, Tagged};
use crate::protocol::library::touched;
use crate::protocol::{Failure, Metric, MetricDef, StoreTally, Trigger, View, ratio};

// What the checks read of a node: oracle code, kept beside the checks (docs/scale.md,
// "Mutation testing").
impl Abd {
    /// What this node holds.
    pub fn held(&self) -> &Tagged {
        &self.held
    }
}

/// `counter/writer`, as the checks' messages show a tag.
impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.counter, self.writer)
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

pub(super) fn metrics() -> Vec<MetricDef<Abd>> {
    vec![MetricDef {
        name: "abd_metrics",
        description: "store writes and syncs per client operation invoked",
        make: |_| Box::new(AbdMetrics::default()),
    }]
}

/// Run statistics for the summary.
#[derive(Default)]
struct AbdMetrics {
    stores: StoreTally,
    ops: u64,
}

impl Metric<Abd> for AbdMetrics {
    fn observe(&mut self, view: &View<'_, Abd>) {
        for node in touched(view) {
            self.stores.observe(view, node);
        }
        self.ops = view.history().ops().len() as u64;
    }

    fn report(&self) -> Vec<(String, serde_json::Value)> {
        let per_op = |x: u64| ratio(x, self.ops);
        vec![
            ("abd.writes_per_op".into(), per_op(self.stores.writes())),
            ("abd.syncs_per_op".into(), per_op(self.stores.syncs())),
        ]
    }
}
