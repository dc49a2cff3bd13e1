//! The status client behind `hearsay status` (SPEC §1, PROTOCOL §9).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hearsay_proto::wire::{self, Msg, Status};
use hearsay_proto::{Keypair, Role};
use tokio::net::TcpStream;

use crate::conn::{handshake, HandshakeFailed, Identity, Wire};

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
    /// Its answer did not decode.
    #[error("{0}")]
    Decode(#[from] wire::DecodeError),
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
        let me = Identity {
            key: Keypair::from_secret(rand::random()),
            role: Role::Client,
            addr: local,
        };
        let (mut wire, remote) = handshake(stream, &me, limit).await?;
        if remote.role != Role::Seed {
            let role = remote.role.name();
            return Err(StatusError::NotASeed { addr, role });
        }
        // Pages until an empty one or every peer the first page counted.
        let mut status = page(&mut wire, addr, 0).await?;
        let mut done = status.peers.is_empty();
        while !done && status.peers.len() < status.total as usize {
            let next = page(&mut wire, addr, status.peers.len() as u32).await?;
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
async fn page(wire: &mut Wire, addr: SocketAddr, offset: u32) -> Result<Status, StatusError> {
    wire.send(Bytes::from(wire::encode(&Msg::StatusRequest { offset })))
        .await?;
    match wire.next().await {
        Some(Ok(bytes)) => match wire::decode::<Msg>(&bytes)? {
            Msg::Status(page) => Ok(*page),
            other => Err(StatusError::Unexpected(format!("{other:?}"))),
        },
        Some(Err(e)) => Err(e.into()),
        None => Err(StatusError::Closed(addr)),
    }
}
