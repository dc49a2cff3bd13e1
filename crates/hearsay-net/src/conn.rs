//! One TCP connection: the handshake, then frames in both directions (SPEC §4).
//!
//! A connection task moves frames only: decoded messages go to the node's channel, encoded
//! ones come from the link's bounded send queue. Bad bytes end this connection and no other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use hearsay_proto::handshake::{self, Hello, Proof};
use hearsay_proto::node::DialToken;
use hearsay_proto::wire::{self, Msg, MAX_FRAME};
use hearsay_proto::{Keypair, LinkId, Remote, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
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
        tx: mpsc::Sender<Msg>,
        /// Ends the link at once, queued frames or not.
        cancel: CancellationToken,
        /// The largest frame the link takes now ([`STRANGER_FRAME`] or [`MAX_FRAME`]); the
        /// node raises it once the machine protects the link.
        limit: Arc<AtomicUsize>,
    },
    /// Frames arrived (every whole frame of one read, in order).
    Frames {
        /// The link.
        link: LinkId,
        /// The messages.
        msgs: Vec<Msg>,
    },
    /// The connection ended; `error` is set when bad bytes ended it.
    Down {
        /// The link.
        link: LinkId,
        /// What was wrong with the input, if anything.
        error: Option<String>,
        /// Set when `error` is one of the budget's own bounds (a stranger's frame over
        /// [`STRANGER_FRAME`], a frame not whole within [`FRAME_DEADLINE`]): counted into
        /// one log line per interval rather than logged one per link.
        cut_off: bool,
    },
    /// A dial failed.
    DialFailed {
        /// The dial.
        token: DialToken,
        /// Why.
        error: hearsay_proto::node::DialError,
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

/// Why a handshake did not complete; the link is not opened.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailed {
    /// The connection failed.
    #[error("handshake failed: {0}")]
    Io(#[from] std::io::Error),
    /// The other side closed it.
    #[error("handshake failed: closed during the handshake")]
    Closed,
    /// A handshake frame did not decode.
    #[error("handshake failed: {0}")]
    Frame(#[from] wire::DecodeError),
    /// The other side's Hello or Proof does not hold.
    #[error("handshake failed: {0}")]
    Refused(#[from] handshake::HandshakeError),
    /// Not finished in time.
    #[error("handshake not finished within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

async fn read_frame<T: serde::de::DeserializeOwned>(wire: &mut Wire) -> Result<T, HandshakeFailed> {
    match wire.next().await {
        Some(Ok(bytes)) => Ok(wire::decode(&bytes)?),
        Some(Err(e)) => Err(e.into()),
        None => Err(HandshakeFailed::Closed),
    }
}

/// Runs the handshake on a fresh connection: both sides send Hello, then Proof.
pub async fn handshake(
    stream: TcpStream,
    me: &Identity,
    limit: Duration,
) -> Result<(Wire, Remote), HandshakeFailed> {
    let source = stream.peer_addr()?;
    let _ = stream.set_nodelay(true);
    let mut wire = framed(stream);
    wire.codec_mut().set_max_frame_length(MAX_HANDSHAKE_FRAME);
    let steps = async {
        let mine = Hello::new(me.role, me.key.id(), me.addr, rand::random());
        wire.send(Bytes::from(wire::encode(&mine))).await?;
        let theirs: Hello = read_frame(&mut wire).await?;
        handshake::check_hello(&mine, &theirs)?;
        let proof = handshake::prove(&me.key, &theirs);
        wire.send(Bytes::from(wire::encode(&proof))).await?;
        let proof: Proof = read_frame(&mut wire).await?;
        handshake::check_proof(&mine, &theirs, &proof)?;
        Ok::<_, HandshakeFailed>(Remote {
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
        Ok(Err(e)) => Err(e),
        Err(_) => Err(HandshakeFailed::TimedOut(limit)),
    }
}

/// The largest frame a link the machine does not protect may send (PROTOCOL §3.1): what a
/// stranger legitimately sends (a registration, a link request, a status or peer-list request,
/// a probe request, a dead-node report) is a few KiB at most.
pub const STRANGER_FRAME: usize = 64 * 1024;

/// A frame whose length prefix has come must be whole within this, or the link closes: a
/// half-sent frame holds its buffer for no longer.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(10);

/// A write that takes longer than this means the other side stopped reading: the link is
/// dropped. One deadline covers each batch written, not each frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Frames are gathered from the send queue into one write until it holds this much.
const BATCH_BYTES: usize = 64 * 1024;

/// A batch buffer grown past this (by one large frame) is given back after its write.
const KEEP_BYTES: usize = 4 * BATCH_BYTES;

/// Moves frames until either side ends the link or `cancel` fires, then says `Down`.
///
/// Reading and writing are two tasks, so a stalled write never stops reading (nor the
/// reverse). The writer encodes every frame waiting in the queue into one reused buffer and
/// writes it at once; the reader decodes every whole frame that one read brought and hands
/// them to the node together. When the node drops the queue's sender, what is queued is
/// flushed first.
pub async fn run_link(
    wire: Wire,
    link: LinkId,
    node: mpsc::Sender<NetEvent>,
    queue: mpsc::Receiver<Msg>,
    cancel: CancellationToken,
    limit: Arc<AtomicUsize>,
) {
    // Bytes the handshake read past its last frame belong to the first frames.
    let parts = wire.into_parts();
    let (reader, writer) = parts.io.into_split();
    let writer = tokio::spawn(write_frames(writer, queue, cancel.clone()));
    let reading = Reading {
        link,
        node: &node,
        cancel: &cancel,
        limit: &limit,
    };
    let ended = read_frames(reader, parts.read_buf, reading).await;
    cancel.cancel();
    let _ = writer.await;
    let (error, cut_off) = match ended {
        Some(Ended::Bad(e)) => (Some(e), false),
        Some(Ended::CutOff(e)) => (Some(e), true),
        None => (None, false),
    };
    let down = NetEvent::Down {
        link,
        error,
        cut_off,
    };
    let _ = node.send(down).await;
}

/// Why the reader ended a link, when the other side did not.
enum Ended {
    /// Bytes that are not the protocol.
    Bad(String),
    /// One of the budget's bounds (see [`NetEvent::Down`]).
    CutOff(String),
}

/// What the reading half works with.
struct Reading<'a> {
    link: LinkId,
    node: &'a mpsc::Sender<NetEvent>,
    cancel: &'a CancellationToken,
    limit: &'a AtomicUsize,
}

/// The writing half: batches of queued frames, one write each.
async fn write_frames(
    mut sink: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Msg>,
    cancel: CancellationToken,
) {
    let mut buf = Vec::with_capacity(BATCH_BYTES);
    // One wait for the cancellation for the link's whole life, not one per batch.
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        let next = tokio::select! {
            _ = &mut cancelled => break,
            next = queue.recv() => next,
        };
        let Some(msg) = next else {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.shutdown()).await;
            break;
        };
        buf.clear();
        // A frame over the limit is a bug of ours, not the other side's: the link goes.
        if wire::put_frame(&msg, &mut buf).is_err() {
            break;
        }
        while buf.len() < BATCH_BYTES {
            let Ok(msg) = queue.try_recv() else { break };
            if wire::put_frame(&msg, &mut buf).is_err() {
                break;
            }
        }
        match tokio::time::timeout(WRITE_TIMEOUT, sink.write_all(&buf)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
        if buf.capacity() > KEEP_BYTES {
            buf = Vec::with_capacity(BATCH_BYTES);
        }
    }
    cancel.cancel();
}

/// The reading half: every whole frame of each read, decoded and handed over together.
/// Returns why the link was ended on this side, if it was.
///
/// The buffer holds what has come and room for one read ([`READ_BYTES`]): a length prefix
/// alone reserves nothing, so a frame announced and never sent costs no memory; it grows
/// only as bytes arrive (by doubling, as `BytesMut` does), and a buffer grown past
/// [`KEEP_BYTES`] by one large frame is given back once that frame is taken.
async fn read_frames(
    mut source: OwnedReadHalf,
    mut buf: BytesMut,
    r: Reading<'_>,
) -> Option<Ended> {
    let Reading {
        link,
        node,
        cancel,
        limit,
    } = r;
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    // Since when the buffer has held part of a frame.
    let mut partial: Option<tokio::time::Instant> = None;
    loop {
        let mut msgs = Vec::new();
        loop {
            let max = limit.load(Ordering::Relaxed);
            match wire::next_frame(&buf, max) {
                Ok(Some((start, end))) => {
                    match wire::decode::<Msg>(&buf[start..end]) {
                        Ok(msg) => msgs.push(msg),
                        Err(e) => return Some(Ended::Bad(e.to_string())),
                    }
                    buf.advance(end);
                }
                Ok(None) => break,
                Err(e) if max < MAX_FRAME => {
                    let why = format!("a stranger's frame: {e} (a stranger's limit)");
                    return Some(Ended::CutOff(why));
                }
                Err(e) => return Some(Ended::Bad(format!("bad frame: {e}"))),
            }
        }
        if buf.is_empty() {
            partial = None;
            if buf.capacity() > KEEP_BYTES {
                buf = BytesMut::new();
            }
        } else if partial.is_none() || !msgs.is_empty() {
            partial = Some(tokio::time::Instant::now());
        }
        if !msgs.is_empty() {
            let sent = tokio::select! {
                _ = &mut cancelled => return None,
                sent = node.send(NetEvent::Frames { link, msgs }) => sent,
            };
            if sent.is_err() {
                return None;
            }
        }
        if buf.capacity() - buf.len() < READ_BYTES / 2 {
            buf.reserve(READ_BYTES);
        }
        let deadline = async {
            match partial {
                Some(since) => tokio::time::sleep_until(since + FRAME_DEADLINE).await,
                None => std::future::pending().await,
            }
        };
        let read = tokio::select! {
            _ = &mut cancelled => return None,
            _ = deadline => {
                let why = format!(
                    "a frame not whole within {}",
                    humantime::format_duration(FRAME_DEADLINE)
                );
                return Some(Ended::CutOff(why));
            }
            read = source.read_buf(&mut buf) => read,
        };
        match read {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Room made for each read.
const READ_BYTES: usize = 16 * 1024;
