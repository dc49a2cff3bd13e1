//! The status client behind `hearsay status` (SPEC §1, PROTOCOL §9).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hearsay_proto::wire::{self, Msg, Status};
use hearsay_proto::{Keypair, Role};
use tokio::net::TcpStream;

use crate::conn::{handshake, Identity};

/// Asks the seed at `addr` for its whole status, page by page, within `limit`.
pub async fn fetch_status(addr: SocketAddr, limit: Duration) -> Result<Status, String> {
    let work = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let local = stream.local_addr().map_err(|e| e.to_string())?;
        let me = Identity {
            key: Keypair::from_secret(rand::random()),
            role: Role::Client,
            addr: local,
        };
        let (mut wire, remote) = handshake(stream, &me, limit).await?;
        if remote.role != Role::Seed {
            return Err(format!("{addr} is a {}, not a seed", remote.role.name()));
        }
        let mut status: Option<Status> = None;
        loop {
            let offset = status.as_ref().map_or(0, |s| s.peers.len()) as u32;
            let ask = wire::encode(&Msg::StatusRequest { offset });
            wire.send(Bytes::from(ask))
                .await
                .map_err(|e| e.to_string())?;
            let page = match wire.next().await {
                Some(Ok(bytes)) => match wire::decode::<Msg>(&bytes) {
                    Ok(Msg::Status(page)) => page,
                    Ok(other) => return Err(format!("unexpected answer: {other:?}")),
                    Err(e) => return Err(e.to_string()),
                },
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err(format!("{addr} closed the connection")),
            };
            let done = page.peers.is_empty();
            match status.as_mut() {
                None => status = Some(*page),
                Some(s) => s.peers.extend(page.peers),
            }
            let s = status.as_ref().ok_or("no status")?;
            if done || s.peers.len() >= s.total as usize {
                return status.ok_or_else(|| "no status".to_string());
            }
        }
    };
    tokio::time::timeout(limit, work).await.map_err(|_| {
        format!(
            "{addr} did not answer within {}",
            humantime::format_duration(limit)
        )
    })?
}
