//! One TCP connection: the handshake, then frames in both directions (SPEC §4).
//!
//! A connection task moves frames only: decoded messages go to the node's channel, encoded
//! ones come from the link's bounded send queue. Bad bytes end this connection and no other.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hearsay_proto::handshake::{self, Hello, Proof};
use hearsay_proto::node::DialToken;
use hearsay_proto::wire::{self, Msg, MAX_FRAME};
use hearsay_proto::{Keypair, LinkId, Remote, Role};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// A framed TCP stream.
pub type Wire = Framed<TcpStream, LengthDelimitedCodec>;

/// This node as its handshakes present it.
pub struct Identity {
    /// Its key.
    pub key: Keypair,
    /// Its role.
    pub role: Role,
    /// The address others should dial.
    pub addr: SocketAddr,
}

/// What connection tasks tell the node task.
#[derive(Debug)]
pub enum NetEvent {
    /// A handshake finished.
    Up {
        /// The link's number.
        link: LinkId,
        /// The other side.
        remote: Remote,
        /// Set if this node dialled.
        dial: Option<DialToken>,
        /// The link's send queue.
        tx: mpsc::Sender<Bytes>,
        /// Ends the link at once, queued frames or not.
        cancel: CancellationToken,
    },
    /// A frame arrived.
    Frame {
        /// The link.
        link: LinkId,
        /// The message.
        msg: Msg,
    },
    /// The connection ended; `error` is set when bad bytes ended it.
    Down {
        /// The link.
        link: LinkId,
        /// What was wrong with the input, if anything.
        error: Option<String>,
    },
    /// A dial failed.
    DialFailed {
        /// The dial.
        token: DialToken,
        /// Why.
        reason: String,
    },
    /// A line typed on stdin.
    Command(String),
    /// An ICMP echo finished.
    Echo {
        /// The host.
        ip: std::net::IpAddr,
        /// Whether it answered.
        answered: Option<bool>,
    },
    /// An inbound connection failed its handshake.
    Refused {
        /// Where it came from.
        from: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// Frames a stream with the hard frame limit.
pub fn framed(stream: TcpStream) -> Wire {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec();
    Framed::new(stream, codec)
}

/// Largest handshake frame: a Hello or a Proof is about 150 bytes. Until the other side has
/// proved its key, it cannot make this node reserve more.
const MAX_HANDSHAKE_FRAME: usize = 512;

async fn read_frame<T: serde::de::DeserializeOwned>(wire: &mut Wire) -> Result<T, String> {
    match wire.next().await {
        Some(Ok(bytes)) => wire::decode(&bytes).map_err(|e| e.to_string()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("closed during the handshake".into()),
    }
}

/// Runs the handshake on a fresh connection: both sides send Hello, then Proof.
pub async fn handshake(
    stream: TcpStream,
    me: &Identity,
    limit: Duration,
) -> Result<(Wire, Remote), String> {
    let source = stream.peer_addr().map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut wire = framed(stream);
    wire.codec_mut().set_max_frame_length(MAX_HANDSHAKE_FRAME);
    let steps = async {
        let mine = Hello::new(me.role, me.key.id(), me.addr, rand::random());
        wire.send(Bytes::from(wire::encode(&mine)))
            .await
            .map_err(|e| e.to_string())?;
        let theirs: Hello = read_frame(&mut wire).await?;
        handshake::check_hello(&mine, &theirs).map_err(|e| e.to_string())?;
        let proof = handshake::prove(&me.key, &theirs);
        wire.send(Bytes::from(wire::encode(&proof)))
            .await
            .map_err(|e| e.to_string())?;
        let proof: Proof = read_frame(&mut wire).await?;
        handshake::check_proof(&mine, &theirs, &proof).map_err(|e| e.to_string())?;
        Ok::<_, String>(Remote {
            id: theirs.id,
            role: theirs.role,
            addr: theirs.addr,
            source,
        })
    };
    match tokio::time::timeout(limit, steps).await {
        Ok(Ok(remote)) => {
            wire.codec_mut().set_max_frame_length(MAX_FRAME);
            Ok((wire, remote))
        }
        Ok(Err(e)) => Err(format!("handshake failed: {e}")),
        Err(_) => Err(format!(
            "handshake not finished within {}",
            humantime::format_duration(limit)
        )),
    }
}

/// A write that takes longer than this means the other side stopped reading: the link is
/// dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Moves frames until either side ends the link or `cancel` fires, then says `Down`.
///
/// Reading and writing are two tasks, so a stalled write never stops reading (nor the
/// reverse). When the node drops the queue's sender, what is queued is flushed first.
pub async fn run_link(
    wire: Wire,
    link: LinkId,
    node: mpsc::Sender<NetEvent>,
    mut queue: mpsc::Receiver<Bytes>,
    cancel: CancellationToken,
) {
    let (mut sink, mut stream) = wire.split();
    let writer_cancel = cancel.clone();
    let writer = tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = writer_cancel.cancelled() => break,
                next = queue.recv() => next,
            };
            let Some(bytes) = next else {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
                break;
            };
            match tokio::time::timeout(WRITE_TIMEOUT, sink.send(bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        writer_cancel.cancel();
    });
    let error = loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break None,
            frame = stream.next() => frame,
        };
        match frame {
            Some(Ok(bytes)) => match wire::decode::<Msg>(&bytes) {
                Ok(msg) => {
                    let sent = tokio::select! {
                        _ = cancel.cancelled() => break None,
                        sent = node.send(NetEvent::Frame { link, msg }) => sent,
                    };
                    if sent.is_err() {
                        break None;
                    }
                }
                Err(e) => break Some(e.to_string()),
            },
            Some(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                break Some(format!("bad frame: {e}"));
            }
            Some(Err(_)) | None => break None,
        }
    };
    cancel.cancel();
    let _ = writer.await;
    let _ = node.send(NetEvent::Down { link, error }).await;
}
