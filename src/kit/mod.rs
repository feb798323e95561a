//! Reusable protocol parts: what several protocols need and none should write again.
//!
//! - [`kv`]: the replicated key-value service (operations, answers, log commands, the state
//!   machine with client sessions, the waiting table, the workload and the history mapping).
//! - [`txn`]: the transactional service commit protocols share (micro-operations, answers,
//!   the participant with strict two-phase locking, the workloads, the shared checks).
//! - [`crdt`]: state-based CRDTs (G-Counter, PN-Counter, G-Set, OR-Set, LWW-Register) and
//!   what their converged values may be given a client history.
//! - [`quorum`]: counting distinct answers in a round, and the value a quorum has reached.
//! - [`component`]: how a protocol embeds a part with its own messages, timers and cells.
//! - [`reliable`]: exactly-once FIFO delivery over a lossy network, as a component.
//! - [`driver`]: the closed-loop client (think, send, follow redirects, retry, give up).
//! - [`no_client`]: the client of protocols that have none.
//! - [`wal`]: checksummed records sealed to their place on the disk, byte encoding that reads
//!   anything, two alternating checkpoint copies, the log-truncation rule and idempotent replay.
//! - [`ring`]: consistent hashing with virtual nodes: preference lists, joins and leaves, and
//!   the ring metrics (balance, keys moved).
//!
//! A kit module imports only the protocol API (`crate::protocol`) and other kit modules,
//! exactly like a protocol, so any protocol, bundled or not, can use it. Nothing in the kit
//! names a protocol.

pub mod component;
pub mod crdt;
pub mod driver;
pub mod kv;
pub mod no_client;
pub mod quorum;
pub mod reliable;
pub mod ring;
pub mod txn;
pub mod wal;
