//! One TCP connection after its handshake ([`crate::secure`]): frames in both directions
//! (SPEC §4), sealed in Noise transport messages.
//!
//! A connection task reads frames only: decoded messages go to the node's channel. The node
//! task writes its own frames ([`Outbox`]). Bad bytes end this connection and no other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use hearsay_proto::node::DialToken;
use hearsay_proto::wire::{self, Msg, MAX_FRAME};
use hearsay_proto::{LinkId, Remote};
use tokio::io::AsyncReadExt;
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
        /// The link's sending end.
        out: Outbox,
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

/// A socket that takes no byte for this long while frames wait means the other side stopped
/// reading: the link is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A buffer grown past this (by one large frame, or a backlog) is given back once empty.
const KEEP_BYTES: usize = 256 * 1024;

/// A link's two halves once its handshake is done: the node task writes through the
/// [`Outbox`], a task of its own reads ([`run_link`]).
pub fn split(channel: Channel, cap: usize, write_timeout: Duration) -> (Inbox, Outbox) {
    let Channel {
        stream,
        seal,
        open,
        sealed,
        plain,
    } = channel;
    let (reader, writer) = stream.into_split();
    let outbox = Outbox {
        half: Arc::new(writer),
        seal,
        plain: Vec::new(),
        frames: 0,
        waiting: 0,
        cap,
        write_timeout,
        backlog: Arc::new(Mutex::new(Backlog::default())),
    };
    // Bytes the handshake read past its end belong to the first frames.
    let inbox = Inbox {
        reader,
        open,
        sealed,
        plain,
    };
    (inbox, outbox)
}

/// The reading half of a link, for [`run_link`].
pub struct Inbox {
    reader: OwnedReadHalf,
    open: Open,
    sealed: BytesMut,
    plain: BytesMut,
}

/// The node's sending end of a link. Frames are encoded into one buffer as the node makes
/// them; at the end of the node's turn ([`Outbox::flush`]) they are sealed and written at
/// once by the node task itself, with no task or channel between. Only what the socket does
/// not take waits, for a task that writes it as the socket drains; what the node sends
/// meanwhile queues behind it, up to the cap.
pub struct Outbox {
    half: Arc<OwnedWriteHalf>,
    seal: Seal,
    /// Frames encoded since the last flush.
    plain: Vec<u8>,
    /// How many.
    frames: usize,
    /// Frames that waited for the socket at the last flush.
    waiting: usize,
    /// Most frames waiting and encoded together; one more, and the link is too slow.
    cap: usize,
    write_timeout: Duration,
    backlog: Arc<Mutex<Backlog>>,
}

/// Sealed bytes the socket has not taken yet, shared with the task that writes them.
#[derive(Default)]
struct Backlog {
    bytes: Vec<u8>,
    /// How much of `bytes` is written: the rest waits. (Kept as an offset, so that a long
    /// backlog written a little at a time is not moved down at each write.)
    written: usize,
    /// Frames sealed into `bytes` since it was last empty.
    frames: usize,
    /// A task is writing `bytes`: the node appends and leaves the writing to it.
    writing: bool,
    /// The node closed the link: the writing task ends it once `bytes` is written.
    closing: bool,
}

/// Why a frame could not be queued on a link.
#[derive(Debug, PartialEq, Eq)]
pub enum Unsent {
    /// The link's queue is full: the other side does not read fast enough.
    Full,
    /// The frame is over [`MAX_FRAME`]: a bug of ours, not the other side's.
    TooLarge,
}

impl Outbox {
    /// Encodes `msg` to go at the next flush.
    pub fn push(&mut self, msg: &Msg) -> Result<(), Unsent> {
        if self.frames + self.waiting >= self.cap {
            // What waited at the last flush may have been written since.
            self.waiting = lock(&self.backlog).frames;
            if self.frames + self.waiting >= self.cap {
                return Err(Unsent::Full);
            }
        }
        wire::put_frame(msg, &mut self.plain).map_err(|_| Unsent::TooLarge)?;
        self.frames += 1;
        Ok(())
    }

    /// Whether frames wait for the next flush.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Seals what was pushed since the last flush and writes it at once, or queues it behind
    /// what waits for the socket. `Err`: the connection failed; the link should be cut.
    pub fn flush(&mut self, cancel: &CancellationToken) -> Result<(), std::io::Error> {
        if self.frames == 0 {
            return Ok(());
        }
        let mut backlog = lock(&self.backlog);
        let backlog = &mut *backlog;
        if backlog.written > backlog.bytes.len() / 2 {
            backlog.bytes.drain(..backlog.written);
            backlog.written = 0;
        }
        let sealed = self.seal.seal(&self.plain, &mut backlog.bytes);
        sealed.map_err(|e| std::io::Error::other(e.to_string()))?;
        backlog.frames += std::mem::take(&mut self.frames);
        self.plain.clear();
        if self.plain.capacity() > KEEP_BYTES {
            self.plain = Vec::new();
        }
        if !backlog.writing {
            write_some(&self.half, backlog)?;
            if !backlog.bytes.is_empty() {
                backlog.writing = true;
                let (half, shared) = (self.half.clone(), self.backlog.clone());
                tokio::spawn(write_backlog(
                    half,
                    shared,
                    cancel.clone(),
                    self.write_timeout,
                ));
            }
        }
        self.waiting = backlog.frames;
        Ok(())
    }

    /// Writes what is queued, then ends the link (the other side reads everything first).
    pub fn close(mut self, cancel: &CancellationToken) {
        if self.flush(cancel).is_ok() {
            let mut backlog = lock(&self.backlog);
            if backlog.writing {
                backlog.closing = true;
                return;
            }
        }
        cancel.cancel();
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (f.debug_struct("Outbox"))
            .field("frames", &self.frames)
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

fn lock(backlog: &Mutex<Backlog>) -> std::sync::MutexGuard<'_, Backlog> {
    backlog
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes as much of the backlog as the socket takes now.
fn write_some(half: &OwnedWriteHalf, backlog: &mut Backlog) -> Result<(), std::io::Error> {
    while backlog.written < backlog.bytes.len() {
        match half.try_write(&backlog.bytes[backlog.written..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => backlog.written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    backlog.bytes.clear();
    backlog.written = 0;
    backlog.frames = 0;
    if backlog.bytes.capacity() > KEEP_BYTES {
        backlog.bytes = Vec::new();
    }
    Ok(())
}

/// Writes the backlog as the socket drains. The link ends when the socket takes nothing
/// for `timeout` (the other side stopped reading), when a write fails, or once all is
/// written after the node closed it.
async fn write_backlog(
    half: Arc<OwnedWriteHalf>,
    shared: Arc<Mutex<Backlog>>,
    cancel: CancellationToken,
    timeout: Duration,
) {
    loop {
        let ready = tokio::select! {
            _ = cancel.cancelled() => return,
            ready = tokio::time::timeout(timeout, half.writable()) => ready,
        };
        if !matches!(ready, Ok(Ok(()))) {
            break;
        }
        let mut backlog = lock(&shared);
        if write_some(&half, &mut backlog).is_err() {
            break;
        }
        if backlog.bytes.is_empty() {
            backlog.writing = false;
            if backlog.closing {
                break;
            }
            return;
        }
    }
    cancel.cancel();
}

/// Moves frames in until the other side ends the link or `cancel` fires, then says `Down`.
///
/// The reader decodes every whole frame that one read brought and hands them to the node
/// together. Writing is the node's ([`Outbox`]), so a stalled write never stops reading.
pub async fn run_link(
    inbox: Inbox,
    link: LinkId,
    node: mpsc::Sender<NetEvent>,
    cancel: CancellationToken,
    limit: Arc<AtomicUsize>,
) {
    let Inbox {
        mut reader,
        open,
        sealed,
        plain,
    } = inbox;
    let reading = Reading {
        link,
        node: &node,
        cancel: &cancel,
        limit: &limit,
    };
    let ended = read_frames(&mut reader, open, (sealed, plain), reading).await;
    cancel.cancel();
    // The connection ends now in both directions, whoever still holds its writing half.
    let _ = socket2::SockRef::from(reader.as_ref()).shutdown(std::net::Shutdown::Both);
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

/// The reading half: every whole frame of each read, opened, decoded and handed over
/// together. Returns why the link was ended on this side, if it was.
///
/// Two buffers: what has come and is not opened yet (`sealed`, at most one Noise message of
/// 64 KiB and room for one read, [`READ_BYTES`]), and what is opened and not yet a whole frame
/// (`buf`). A length prefix alone reserves nothing, so a frame announced and never sent costs
/// no memory; the buffers grow only as bytes arrive (by doubling, as `BytesMut` does), and one
/// grown past [`KEEP_BYTES`] by one large frame is given back once that frame is taken.
async fn read_frames(
    source: &mut OwnedReadHalf,
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
