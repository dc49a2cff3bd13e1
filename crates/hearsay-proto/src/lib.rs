//! hearsay's protocol as sans-I/O state machines (see `docs/PROTOCOL.md`).
//!
//! Nothing here opens a socket, reads a clock or asks the OS for randomness: time is passed
//! in, randomness is a seeded RNG handed to `new`, and every effect is an [`node::Output`]
//! value for the runtime (`hearsay-net`) or the simulator to carry out.

#![deny(missing_docs)]

pub mod attach;
pub mod cert;
pub mod config;
pub mod event;
pub mod gossip;
pub mod handshake;
pub mod id;
pub mod node;
pub mod peer;
pub mod quorum;
pub mod seed;
pub mod suspicion;
pub mod time;
pub mod wire;

#[cfg(test)]
mod tests;

/// A hash map with a fixed hasher (proto takes no randomness from the OS, not even there),
/// for maps that are looked up by key and never walked, so their order cannot leak out.
pub(crate) type FixedMap<K, V> = std::collections::HashMap<
    K,
    V,
    std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>,
>;

pub use id::{Keypair, PeerId, Signature};
pub use node::{Input, LinkId, Machine, Output, Remote, Role};
pub use time::Time;
