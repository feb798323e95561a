//! A protocol's vocabulary: which of its annotations say what, so that the tools (the viewer,
//! `explain`, the Perfetto export) and the swarm's strikes can speak of any protocol without
//! knowing its words.
//!
//! Raft calls its leader a `leader` and its epoch a `term`; Paxos has ballots and
//! distinguished proposers; primary-backup has views and a primary; two-phase commit has a
//! coordinator. The tools need only a few facts: which annotation key holds a node's role and
//! which role values lead or contend for leadership, which key is the epoch, which key names
//! the node a node believes leads, and which keys measure progress (a commit index, an
//! applied index, a decided slot). A protocol declares them in [`Protocol::vocabulary`]
//! (every field is optional), and the trace header carries them, so a trace read a year later
//! still says what its annotations meant.
//!
//! The vocabulary also says what counts as a node *serving* ([`Serves`]), so that the
//! recovery metrics (crash → the node serves again, docs/metrics.md) mean the same thing for
//! every protocol.
//!
//! [`Protocol::vocabulary`]: super::Protocol::vocabulary

use serde::{Deserialize, Serialize};

/// What a protocol's annotations mean. Empty by default: a protocol without roles, epochs or
/// progress still gets every generic view of its run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Vocabulary {
    /// The annotation key that holds a node's role (Raft: `role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Role values that lead: at most one per epoch in a correct run (Raft: `leader`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leading: Vec<String>,
    /// Role values that contend for leadership (Raft: `candidate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contending: Vec<String>,
    /// The annotation key that holds the epoch: term, ballot, view (Raft: `term`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// The annotation key that names the node this node believes leads (Raft: `leader`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// Annotation keys whose values only grow while a node is up and measure progress: a
    /// commit index, an applied index, a decided slot (Raft: `commit`). The first is the
    /// one the tools show first and the swarm aims at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub progress: Vec<String>,
    /// The annotation key that says why a leading node stepped down, written just before its
    /// role changes (Raft: `stepped_down`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_down: Option<String>,
    /// What counts as a node serving, for the recovery metrics: any of these events. Empty
    /// (undeclared) is read as [`Serves::Reply`]; every bundled protocol declares it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serves: Vec<Serves>,
}

/// What counts as a node serving: the event the recovery metrics wait for after a crash or a
/// pause ("the node serves again"). The engine watches for it; the protocol only declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Serves {
    /// The node sends a client a reply that [`Protocol::serves`] counts as service (a
    /// redirect, a "not the leader" or "unavailable" answer is not), at the moment it sends
    /// it, whether or not the reply arrives.
    ///
    /// [`Protocol::serves`]: super::Protocol::serves
    Reply,
    /// The node annotates this key with a whole number greater than the last value it
    /// annotated under that key (in any incarnation; the first value it ever annotates
    /// counts): for protocols without clients, whose service is progress of their own.
    Progress(String),
    /// The node says so itself, through [`Ctx::serving`] (not written to the trace): for
    /// protocols whose service is neither a reply nor a growing number.
    ///
    /// [`Ctx::serving`]: super::Ctx::serving
    Signal,
}

impl Serves {
    /// How the summary names it: `reply`, `progress of KEY`, `signal`.
    pub fn describe(&self) -> String {
        match self {
            Serves::Reply => "reply".to_string(),
            Serves::Progress(key) => format!("progress of {key}"),
            Serves::Signal => "signal".to_string(),
        }
    }
}

impl Vocabulary {
    /// No words: the default.
    pub fn none() -> Vocabulary {
        Vocabulary::default()
    }

    /// Names the role key and its leading and contending values.
    pub fn role(mut self, key: &str, leading: &[&str], contending: &[&str]) -> Vocabulary {
        self.role = Some(key.to_string());
        self.leading = leading.iter().map(|s| s.to_string()).collect();
        self.contending = contending.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Names the epoch key.
    pub fn epoch(mut self, key: &str) -> Vocabulary {
        self.epoch = Some(key.to_string());
        self
    }

    /// Names the key that says which node a node believes leads.
    pub fn leader(mut self, key: &str) -> Vocabulary {
        self.leader = Some(key.to_string());
        self
    }

    /// Names the progress keys, the main one first.
    pub fn progress(mut self, keys: &[&str]) -> Vocabulary {
        self.progress = keys.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Names the key that says why a leader stepped down.
    pub fn step_down(mut self, key: &str) -> Vocabulary {
        self.step_down = Some(key.to_string());
        self
    }

    /// A client reply that [`Protocol::serves`](super::Protocol::serves) counts is service.
    pub fn serves_replies(mut self) -> Vocabulary {
        self.serves.push(Serves::Reply);
        self
    }

    /// Growth of the whole number annotated under `key` is service.
    pub fn serves_progress(mut self, key: &str) -> Vocabulary {
        self.serves.push(Serves::Progress(key.to_string()));
        self
    }

    /// What the protocol signals through [`Ctx::serving`](super::Ctx::serving) is service.
    pub fn serves_signal(mut self) -> Vocabulary {
        self.serves.push(Serves::Signal);
        self
    }

    /// What counts as serving, the undeclared case read as [`Serves::Reply`].
    pub fn serving(&self) -> Vec<Serves> {
        if self.serves.is_empty() {
            vec![Serves::Reply]
        } else {
            self.serves.clone()
        }
    }

    /// How the summary names what counts as serving: `reply or progress of commit`.
    pub fn describe_serving(&self) -> String {
        let words: Vec<String> = self.serving().iter().map(Serves::describe).collect();
        words.join(" or ")
    }

    /// Whether `value` of the role key is a leading role.
    pub fn is_leading(&self, value: &str) -> bool {
        self.leading.iter().any(|l| l == value)
    }

    /// Whether `value` of the role key is a contending role.
    pub fn is_contending(&self, value: &str) -> bool {
        self.contending.iter().any(|c| c == value)
    }

    /// Every annotation key this vocabulary gives a meaning to.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.role
            .iter()
            .chain(self.epoch.iter())
            .chain(self.leader.iter())
            .chain(self.progress.iter())
            .chain(self.step_down.iter())
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_reads_and_round_trips() {
        let v = Vocabulary::none()
            .role("duty", &["chief"], &["hopeful"])
            .epoch("era")
            .leader("chief_is")
            .progress(&["settled", "done"])
            .step_down("stepped_down")
            .serves_progress("settled");
        assert_eq!(v.serving(), [Serves::Progress("settled".into())]);
        assert_eq!(Vocabulary::none().serving(), [Serves::Reply]);
        let both = Vocabulary::none().serves_replies().serves_progress("done");
        assert_eq!(both.describe_serving(), "reply or progress of done");
        assert!(v.is_leading("chief") && !v.is_leading("hopeful"));
        assert!(v.is_contending("hopeful") && !v.is_contending("hand"));
        let keys: Vec<&str> = v.keys().collect();
        assert_eq!(
            keys,
            ["duty", "era", "chief_is", "settled", "done", "stepped_down"]
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["progress"][1], "done");
        assert_eq!(json["serves"][0]["progress"], "settled");
        let back: Vocabulary = serde_json::from_value(json).unwrap();
        assert_eq!(back, v);
        // An empty vocabulary writes nothing and reads back from `{}`.
        assert_eq!(serde_json::to_string(&Vocabulary::none()).unwrap(), "{}");
        let empty: Vocabulary = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Vocabulary::none());
        assert!(serde_json::from_str::<Vocabulary>(r#"{"rol": "x"}"#).is_err());
    }
}
