//! Coverage of one run over an abstraction built from the protocol's vocabulary: which roles
//! each node reached and which role changes it made, how many epoch changes and progress
//! steps each node made (in powers of two), and which roles were held after the heal. A
//! feedback sweep (`run::feedback`) keeps the inputs whose runs reach features no earlier
//! run reached. Collected only when asked (`SimConfig::coverage`); it never changes the run.
//!
//! The features are words of the vocabulary and node indexes, never a protocol's own terms:
//! `role n1 leader`, `role n1 candidate>leader`, `term changes n2 >=4`,
//! `commit steps n0 >=16`, `after heal leader`.

use crate::base::types::NodeId;
use crate::protocol::{Value, Vocabulary};
use std::collections::BTreeSet;

/// What one run has reached so far.
#[derive(Clone, Debug)]
pub struct Coverage {
    vocabulary: Vocabulary,
    /// Each node's last role.
    roles: Vec<Option<String>>,
    /// Each node's epoch changes.
    epochs: Vec<u64>,
    /// Each node's steps of each progress key (index into `vocabulary.progress`).
    progress: Vec<Vec<u64>>,
    features: BTreeSet<String>,
}

fn word(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Word(w) => (*w).to_string(),
        Value::Node(Some(n)) => format!("n{}", n.0),
        Value::Node(None) => "none".into(),
        Value::Text(t) => t.clone(),
    }
}

/// The power-of-two bucket a count falls in (0 for none).
fn bucket(count: u64) -> u64 {
    if count == 0 {
        0
    } else {
        1 << (63 - count.leading_zeros())
    }
}

impl Coverage {
    /// Nothing reached yet, for `nodes` nodes speaking `vocabulary`.
    pub fn new(vocabulary: Vocabulary, nodes: u32) -> Coverage {
        let keys = vocabulary.progress.len();
        Coverage {
            vocabulary,
            roles: vec![None; nodes as usize],
            epochs: vec![0; nodes as usize],
            progress: vec![vec![0; keys]; nodes as usize],
            features: BTreeSet::new(),
        }
    }

    /// Takes one annotation; `healed` says whether the liveness phase has begun.
    pub fn note(&mut self, node: NodeId, key: &str, value: &Value, healed: bool) {
        let i = node.index();
        if i >= self.roles.len() {
            return;
        }
        if self.vocabulary.role.as_deref() == Some(key) {
            let now = word(value);
            let n = node.0;
            self.features.insert(format!("role n{n} {now}"));
            if let Some(before) = &self.roles[i] {
                if *before != now {
                    self.features.insert(format!("role n{n} {before}>{now}"));
                }
            }
            if healed {
                self.features.insert(format!("after heal {now}"));
            }
            self.roles[i] = Some(now);
        } else if self.vocabulary.epoch.as_deref() == Some(key) {
            self.epochs[i] += 1;
        } else if let Some(k) = self.vocabulary.progress.iter().position(|p| p == key) {
            self.progress[i][k] += 1;
        }
    }

    /// Every feature reached, the counters bucketed.
    pub fn features(&self) -> BTreeSet<String> {
        let mut f = self.features.clone();
        if let Some(epoch) = &self.vocabulary.epoch {
            for (n, &c) in self.epochs.iter().enumerate() {
                f.insert(format!("{epoch} changes n{n} >={}", bucket(c)));
            }
            let total: u64 = self.epochs.iter().sum();
            f.insert(format!("{epoch} changes >={}", bucket(total)));
        }
        for (k, key) in self.vocabulary.progress.iter().enumerate() {
            for (n, steps) in self.progress.iter().enumerate() {
                f.insert(format!("{key} steps n{n} >={}", bucket(steps[k])));
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_changes_and_buckets_become_features() {
        // A made-up vocabulary: the engine knows no protocol's words.
        let v = Vocabulary::none()
            .role("post", &["chief"], &["hopeful"])
            .epoch("era")
            .progress(&["done"]);
        let mut c = Coverage::new(v, 2);
        let n0 = NodeId(0);
        c.note(n0, "post", &Value::Word("hopeful"), false);
        c.note(n0, "post", &Value::Word("chief"), false);
        for t in 1..=5 {
            c.note(n0, "era", &Value::Int(t), false);
        }
        c.note(NodeId(1), "done", &Value::Int(1), true);
        c.note(NodeId(1), "post", &Value::Word("member"), true);
        c.note(NodeId(9), "post", &Value::Word("chief"), true); // no such node: ignored
        let f = c.features();
        for want in [
            "role n0 hopeful",
            "role n0 hopeful>chief",
            "era changes n0 >=4",
            "era changes n1 >=0",
            "era changes >=4",
            "done steps n1 >=1",
            "done steps n0 >=0",
            "after heal member",
        ] {
            assert!(f.contains(want), "{want} in {f:?}");
        }
        assert_eq!(f.len(), 10, "{f:?}");
        assert_eq!((bucket(0), bucket(1), bucket(3), bucket(8)), (0, 1, 2, 8));
    }
}
