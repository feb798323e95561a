//! The key-value state machine with client sessions, and the leader's table of clients
//! waiting for their command to be applied.
//!
//! Sessions are what make a retried write safe (Raft §8; the same rule in any replicated
//! log): a client's request ids only grow, and the service remembers, per client, the last
//! request it applied and the answer it gave. A command whose id equals that one is a retry
//! and gets the same answer without being applied again; one with a lower id is a late
//! duplicate of a request the client no longer waits for and is dropped. Because every replica
//! applies the same commands in the same order, every replica holds the same sessions, so a
//! new leader de-duplicates exactly as the old one would have.

use super::{Answer, Command, Op};
use crate::protocol::{ClientId, RequestId};
use std::collections::BTreeMap;

/// What the service knows of a request, by its client's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    /// Not applied yet: the request is new (or a retry of one not applied yet).
    Fresh,
    /// The last request applied for its client: here is the answer it got.
    Applied(&'a Answer),
    /// Older than the last request applied for its client: a late copy nobody waits for.
    Stale,
}

/// The key-value state machine: the data and one session per client.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct KvService {
    data: BTreeMap<String, String>,
    /// Per client: the last request applied and its answer.
    sessions: BTreeMap<ClientId, (RequestId, Answer)>,
    /// Commands applied (retries and stale copies not counted).
    applied: u64,
}

impl KvService {
    /// An empty map with no sessions.
    pub fn new() -> Self {
        KvService::default()
    }

    /// What the sessions say of request `id` from `client`.
    pub fn seen(&self, client: ClientId, id: RequestId) -> Seen<'_> {
        match self.sessions.get(&client) {
            Some((last, answer)) if *last == id => Seen::Applied(answer),
            Some((last, _)) if *last > id => Seen::Stale,
            _ => Seen::Fresh,
        }
    }

    /// Applies a command taken from the log, once: returns the answer for its client, the
    /// remembered one for a retry, and `None` for a stale copy (nobody waits for it).
    pub fn apply(&mut self, command: &Command) -> Option<Answer> {
        match self.seen(command.client, command.id) {
            Seen::Applied(answer) => return Some(answer.clone()),
            Seen::Stale => return None,
            Seen::Fresh => {}
        }
        let answer = match &command.op {
            Op::Get { key } => self.read(key),
            Op::Put { key, value } => {
                self.data.insert(key.clone(), value.clone());
                Answer::Ok { value: None }
            }
            Op::Append { key, value } => {
                self.data.entry(key.clone()).or_default().push_str(value);
                Answer::Ok { value: None }
            }
        };
        self.applied += 1;
        self.sessions
            .insert(command.client, (command.id, answer.clone()));
        Some(answer)
    }

    /// Answers a get from the current state, outside the log: what a leader that knows it
    /// is up to date serves.
    pub fn read(&self, key: &str) -> Answer {
        Answer::Ok {
            value: self.data.get(key).cloned(),
        }
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// The whole map, in key order.
    pub fn data(&self) -> &BTreeMap<String, String> {
        &self.data
    }

    /// The last request applied for `client`, if any.
    pub fn last_applied(&self, client: ClientId) -> Option<RequestId> {
        self.sessions.get(&client).map(|(id, _)| *id)
    }

    /// How many commands took effect (retries and stale copies are not counted).
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// The sessions, per client: the last request applied and its answer (what a snapshot
    /// of the service holds besides the data).
    pub fn sessions(&self) -> &BTreeMap<ClientId, (RequestId, Answer)> {
        &self.sessions
    }

    /// The service rebuilt from a snapshot's parts: the data, the sessions and the count of
    /// commands applied.
    pub fn from_parts(
        data: BTreeMap<String, String>,
        sessions: BTreeMap<ClientId, (RequestId, Answer)>,
        applied: u64,
    ) -> Self {
        KvService {
            data,
            sessions,
            applied,
        }
    }
}

/// A leader's clients waiting for their command, by the log position it was put at.
///
/// The leader answers a client when it applies the entry at that position, and only if the
/// entry there is still that client's command (a new leader may have overwritten it; the
/// client then times out and retries). Volatile: a leader that steps down forgets it, and
/// clients retry with the new one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Waiting {
    by_index: BTreeMap<u64, (ClientId, RequestId)>,
}

impl Waiting {
    /// Nobody waiting.
    pub fn new() -> Self {
        Waiting::default()
    }

    /// `client`'s request `id` was put in the log at `index`.
    pub fn insert(&mut self, index: u64, client: ClientId, id: RequestId) {
        self.by_index.insert(index, (client, id));
    }

    /// Whether `client`'s request `id` is in the log, waiting to be applied.
    pub fn contains(&self, client: ClientId, id: RequestId) -> bool {
        self.by_index.values().any(|&(c, i)| c == client && i == id)
    }

    /// The entry at `index` was applied as `command`: whoever waited there stops waiting,
    /// and is returned if the command is theirs (so the answer goes to them).
    pub fn settle(&mut self, index: u64, command: &Command) -> Option<(ClientId, RequestId)> {
        self.by_index
            .remove(&index)
            .filter(|&(client, id)| client == command.client && id == command.id)
    }

    /// Forgets everyone (the leader stepped down).
    pub fn clear(&mut self) {
        self.by_index.clear();
    }

    /// How many clients wait.
    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(client: u32, id: u64, op: Op) -> Command {
        Command {
            client: ClientId(client),
            id: RequestId(id),
            op,
        }
    }

    fn append(key: &str, value: &str) -> Op {
        Op::Append {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn a_retried_write_is_applied_once_and_answered_again() {
        let mut kv = KvService::new();
        let first = cmd(0, 1, append("k", "a"));
        assert_eq!(kv.apply(&first), Some(Answer::Ok { value: None }));
        // The same request again (the client retried and the log holds it twice).
        assert_eq!(kv.apply(&first), Some(Answer::Ok { value: None }));
        assert_eq!(kv.get("k"), Some("a"), "appended once");
        assert_eq!(kv.applied(), 1);
        assert_eq!(
            kv.seen(ClientId(0), RequestId(1)),
            Seen::Applied(&Answer::Ok { value: None })
        );
        assert_eq!(kv.last_applied(ClientId(0)), Some(RequestId(1)));
    }

    #[test]
    fn a_late_copy_of_an_older_request_is_dropped() {
        let mut kv = KvService::new();
        kv.apply(&cmd(0, 1, append("k", "a")));
        kv.apply(&cmd(0, 2, append("k", "b")));
        assert_eq!(kv.apply(&cmd(0, 1, append("k", "a"))), None);
        assert_eq!(kv.get("k"), Some("ab"));
        assert_eq!(kv.seen(ClientId(0), RequestId(1)), Seen::Stale);
        assert_eq!(kv.seen(ClientId(0), RequestId(3)), Seen::Fresh);
        assert_eq!(
            kv.seen(ClientId(1), RequestId(1)),
            Seen::Fresh,
            "sessions are per client"
        );
    }

    #[test]
    fn gets_and_puts_read_and_overwrite() {
        let mut kv = KvService::new();
        let get = |id| cmd(2, id, Op::Get { key: "k".into() });
        assert_eq!(kv.apply(&get(1)), Some(Answer::Ok { value: None }));
        kv.apply(&cmd(
            2,
            2,
            Op::Put {
                key: "k".into(),
                value: "v".into(),
            },
        ));
        assert_eq!(
            kv.apply(&get(3)),
            Some(Answer::Ok {
                value: Some("v".into())
            })
        );
        assert_eq!(
            kv.read("k"),
            Answer::Ok {
                value: Some("v".into())
            }
        );
        assert_eq!(kv.read("absent"), Answer::Ok { value: None });
        assert_eq!(kv.data().len(), 1);
    }

    #[test]
    fn a_waiting_client_is_answered_only_for_its_own_command() {
        let mut w = Waiting::new();
        w.insert(4, ClientId(0), RequestId(7));
        w.insert(5, ClientId(1), RequestId(9));
        assert!(w.contains(ClientId(0), RequestId(7)));
        assert!(!w.contains(ClientId(0), RequestId(8)));
        // A new leader overwrote index 4 with another client's command: nobody is answered,
        // and the slot is freed.
        assert_eq!(w.settle(4, &cmd(3, 1, append("k", "x"))), None);
        assert!(!w.contains(ClientId(0), RequestId(7)));
        assert_eq!(
            w.settle(5, &cmd(1, 9, append("k", "y"))),
            Some((ClientId(1), RequestId(9)))
        );
        assert!(w.is_empty());
        w.insert(6, ClientId(2), RequestId(1));
        w.clear();
        assert_eq!(w.len(), 0);
    }
}
