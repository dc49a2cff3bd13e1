//! The status client behind `hearsay status` (SPEC §1, PROTOCOL §9).

use std::net::SocketAddr;
use std::time::Duration;

use hearsay_proto::wire::{Msg, Status};
use hearsay_proto::{Keypair, Role};
use tokio::net::TcpStream;

use crate::conn::{handshake, Channel, HandshakeFailed, Identity};
use crate::secure::ChannelError;

/// Why a seed's status could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// No connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The seed asked.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The connection failed after it opened.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The link failed, or its bytes did not hold.
    #[error("{0}")]
    Link(#[from] ChannelError),
    /// The handshake did not complete.
    #[error(transparent)]
    Handshake(#[from] HandshakeFailed),
    /// The node there is not a seed.
    #[error("{addr} is a {role}, not a seed")]
    NotASeed {
        /// The node asked.
        addr: SocketAddr,
        /// What it is.
        role: &'static str,
    },
    /// It answered something else than a status page.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// It closed the connection before the last page.
    #[error("{0} closed the connection")]
    Closed(SocketAddr),
    /// Not every page came in time.
    #[error("{addr} did not answer within {}", humantime::format_duration(*.limit))]
    TimedOut {
        /// The seed asked.
        addr: SocketAddr,
        /// The time it had.
        limit: Duration,
    },
}

/// Asks the seed at `addr` for its whole status, page by page, within `limit`.
pub async fn fetch_status(addr: SocketAddr, limit: Duration) -> Result<Status, StatusError> {
    let work = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| StatusError::Connect { addr, source })?;
        let local = stream.local_addr()?;
        let me = Identity::new(Keypair::from_secret(rand::random()), Role::Client, local);
        let (mut link, remote) = handshake(stream, &me, limit).await?;
        if remote.role != Role::Seed {
            let role = remote.role.name();
            return Err(StatusError::NotASeed { addr, role });
        }
        // Pages until an empty one or every peer the first page counted.
        let mut status = page(&mut link, addr, 0).await?;
        let mut done = status.peers.is_empty();
        while !done && status.peers.len() < status.total as usize {
            let next = page(&mut link, addr, status.peers.len() as u32).await?;
            done = next.peers.is_empty();
            status.peers.extend(next.peers);
        }
        Ok(status)
    };
    tokio::time::timeout(limit, work)
        .await
        .map_err(|_| StatusError::TimedOut { addr, limit })?
}

/// One status page, from `offset`.
async fn page(link: &mut Channel, addr: SocketAddr, offset: u32) -> Result<Status, StatusError> {
    link.send(&Msg::StatusRequest { offset }).await?;
    match link.recv().await? {
        Some(Msg::Status(page)) => Ok(*page),
        Some(other) => Err(StatusError::Unexpected(format!("{other:?}"))),
        None => Err(StatusError::Closed(addr)),
    }
}
