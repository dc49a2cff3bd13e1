//! Links: what a driver tells a machine about a connection (PROTOCOL §1, §3).
//!
//! A link is one authenticated connection, numbered by the driver; its [`Remote`] is what the
//! handshake proved of the other end.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::id::PeerId;

/// A link (one authenticated connection), numbered by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// Names a dial the machine asked for, so the driver's answer finds its purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialToken(pub u64);

/// What a node is, as its handshake says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A seed: a member of the membership authority.
    Seed,
    /// A peer of the gossip overlay.
    Peer,
    /// A tool such as `hearsay status`: may only ask for status.
    Client,
}

impl Role {
    /// The role's name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Seed => "seed",
            Role::Peer => "peer",
            Role::Client => "client",
        }
    }
}

/// The other end of a link, as its handshake proved it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote {
    /// Its id: the handshake proved it holds the key.
    pub id: PeerId,
    /// Its role.
    pub role: Role,
    /// The address it says it listens on (not proved by the handshake).
    pub addr: SocketAddr,
    /// Where the connection actually comes from.
    pub source: SocketAddr,
}
