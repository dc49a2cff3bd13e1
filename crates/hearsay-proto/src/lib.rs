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
pub mod link;
pub mod node;
pub mod peer;
pub mod quorum;
#[cfg(any(test, feature = "router"))]
pub mod router;
pub mod seed;
pub mod sig;
pub mod suspicion;
pub mod time;
pub mod wire;

#[cfg(test)]
mod testkit;

pub use id::{Keypair, PeerId, Signature};
pub use node::{Input, LinkId, LinkUse, Machine, Output, Remote, Role};
pub use time::Time;
