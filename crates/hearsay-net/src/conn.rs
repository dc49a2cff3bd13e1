//! One TCP connection after its handshake ([`crate::secure`]): frames in both directions
//! (SPEC §4), sealed in Noise transport messages.
//!
//! A connection task moves frames only: decoded messages go to the node's channel, encoded
//! ones come from the link's bounded send queue. Bad bytes end this connection and no other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use hearsay_proto::node::DialToken;
use hearsay_proto::wire::{self, Msg, MAX_FRAME};
use hearsay_proto::{LinkId, Remote};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::secure::{Open, Seal, FORGED};

pub use crate::secure::{accept, handshake, Channel, HandshakeFailed, Identity};

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
    channel: Channel,
    link: LinkId,
    node: mpsc::Sender<NetEvent>,
    queue: mpsc::Receiver<Msg>,
    cancel: CancellationToken,
    limit: Arc<AtomicUsize>,
) {
    let Channel {
        stream,
        seal,
        open,
        sealed,
        plain,
    } = channel;
    let (reader, writer) = stream.into_split();
    let writer = tokio::spawn(write_frames(writer, seal, queue, cancel.clone()));
    let reading = Reading {
        link,
        node: &node,
        cancel: &cancel,
        limit: &limit,
    };
    // Bytes the handshake read past its end belong to the first frames.
    let ended = read_frames(reader, open, (sealed, plain), reading).await;
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

/// The writing half: batches of queued frames, sealed together, one write each.
async fn write_frames(
    mut sink: OwnedWriteHalf,
    mut seal: Seal,
    mut queue: mpsc::Receiver<Msg>,
    cancel: CancellationToken,
) {
    let mut buf = Vec::with_capacity(BATCH_BYTES);
    let mut sealed = Vec::with_capacity(BATCH_BYTES + BATCH_BYTES / 64);
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
        // Wait for the end of the runtime's tick (every task that was ready has run and the
        // reactor has been polled once): what the nodes queue for this link meanwhile goes in
        // the same write.
        tokio::task::yield_now().await;
        while buf.len() < BATCH_BYTES {
            let Ok(msg) = queue.try_recv() else { break };
            if wire::put_frame(&msg, &mut buf).is_err() {
                break;
            }
        }
        sealed.clear();
        if seal.seal(&buf, &mut sealed).is_err() {
            break;
        }
        match tokio::time::timeout(WRITE_TIMEOUT, sink.write_all(&sealed)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
        if buf.capacity() > KEEP_BYTES {
            buf = Vec::with_capacity(BATCH_BYTES);
        }
        if sealed.capacity() > KEEP_BYTES {
            sealed = Vec::with_capacity(BATCH_BYTES);
        }
    }
    cancel.cancel();
}

/// The reading half: every whole frame of each read, opened, decoded and handed over
/// together. Returns why the link was ended on this side, if it was.
///
/// Two buffers: what has come and is not opened yet (`sealed`, at most one Noise message of
/// 64 KiB and room for one read, [`READ_BYTES`]), and what is opened and not yet a whole frame
/// (`buf`). A length prefix alone reserves nothing, so a frame announced and never sent costs
/// no memory; the buffers grow only as bytes arrive (by doubling, as `BytesMut` does), and one
/// grown past [`KEEP_BYTES`] by one large frame is given back once that frame is taken.
async fn read_frames(
    mut source: OwnedReadHalf,
    mut open: Open,
    (mut sealed, mut buf): (BytesMut, BytesMut),
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
        if open.open(&mut sealed, &mut buf).is_err() {
            return Some(Ended::Bad(FORGED.to_string()));
        }
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
        if buf.capacity() > KEEP_BYTES && buf.is_empty() {
            buf = BytesMut::new();
        }
        if sealed.capacity() > KEEP_BYTES && sealed.is_empty() {
            sealed = BytesMut::new();
        }
        if buf.is_empty() && sealed.is_empty() {
            partial = None;
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
        if sealed.capacity() - sealed.len() < READ_BYTES / 2 {
            sealed.reserve(READ_BYTES);
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
            read = source.read_buf(&mut sealed) => read,
        };
        match read {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Room made for each read.
const READ_BYTES: usize = 16 * 1024;
