//! How a protocol opts in to the exhaustive explorer: by making its node state and its
//! client hashable, so that the explorer can tell a state it has seen from a new one.

use crate::base::hash::StableHasher;
use crate::protocol::Protocol;
use std::hash::Hash;

/// What the explorer needs of a protocol beyond the [`Protocol`] trait: a hash of one node's
/// volatile state and of one client's, fed to the project's pinned hasher. Build it with
/// [`Explorable::hashed`] when both types derive `Hash`; return it from
/// [`Protocol::explorable`].
///
/// The hash must cover everything a later handler call may read: two nodes whose states
/// hash alike must behave alike from here on (a field left out makes the explorer merge
/// states that differ, and miss what follows from one of them). Configuration may be left
/// out: it is the same in every state of one exploration.
pub struct Explorable<P: Protocol> {
    pub(crate) node: fn(&P, &mut StableHasher),
    pub(crate) client: fn(&P::Client, &mut StableHasher),
}

fn hash_into<T: Hash>(value: &T, h: &mut StableHasher) {
    value.hash(h);
}

impl<P: Protocol> Explorable<P> {
    /// The node's and the client's derived `Hash`.
    pub fn hashed() -> Explorable<P>
    where
        P: Hash,
        P::Client: Hash,
    {
        Explorable {
            node: hash_into::<P>,
            client: hash_into::<P::Client>,
        }
    }

    /// Hashes written by hand (to leave out a cache, or a field that never changes).
    pub fn with(
        node: fn(&P, &mut StableHasher),
        client: fn(&P::Client, &mut StableHasher),
    ) -> Explorable<P> {
        Explorable { node, client }
    }
}
