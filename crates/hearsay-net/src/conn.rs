//! One TCP connection after its handshake ([`crate::secure`]): frames in both directions
//! (SPEC §4), sealed in Noise transport messages.
//!
//! The node task reads its links' frames ([`Inbox`], when [`Readiness`] says a socket has
//! bytes) and writes them ([`Outbox`]); no task or channel stands between. Bad bytes end
//! this connection and no other.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hearsay_proto::node::DialToken;
use hearsay_proto::wire::{self, Msg, MAX_FRAME};
use hearsay_proto::{LinkId, Remote};
use tokio::io::Interest;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use crate::secure::{Open, Seal, FORGED};

pub use crate::secure::{accept, handshake, Channel, HandshakeFailed, Identity};

/// A link whose handshake finished, for the node task.
#[derive(Debug)]
pub struct LinkUp {
    /// The link's number.
    pub link: LinkId,
    /// The other side.
    pub remote: Remote,
    /// Set if this node dialled.
    pub dial: Option<DialToken>,
    /// The link's reading end.
    pub inbox: Inbox,
    /// The link's sending end.
    pub out: Outbox,
    /// Stops the task writing what a full socket did not take, if there is one.
    pub cancel: CancellationToken,
}

/// What the node's other tasks (accepting, dialling, handshakes, stdin, ICMP) tell it.
#[derive(Debug)]
pub enum NetEvent {
    /// A handshake finished.
    Up(Box<LinkUp>),
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

/// A link's two halves once its handshake is done, both the node task's: it reads through
/// the [`Inbox`] when `ready` says the socket has bytes, and writes through the [`Outbox`].
pub fn split(
    channel: Channel,
    link: LinkId,
    ready: &Arc<Readiness>,
    cap: usize,
    write_timeout: Duration,
) -> (Inbox, Outbox) {
    let Channel {
        stream,
        seal,
        open,
        sealed,
        plain,
    } = channel;
    let (reader, writer) = stream.into_split();
    let waker = Waker::from(Arc::new(LinkWaker {
        link,
        ready: ready.clone(),
    }));
    let outbox = Outbox {
        half: Arc::new(writer),
        seal,
        plain: Vec::new(),
        frames: 0,
        waiting: 0,
        cap,
        write_timeout,
        backlog: Arc::new(Mutex::new(Backlog::default())),
        waker: waker.clone(),
    };
    let inbox = Inbox {
        reader,
        open,
        sealed,
        plain,
        partial: None,
        waker,
    };
    (inbox, outbox)
}

/// The links whose sockets may have bytes to read, for the node task: each link's waker puts
/// its id here and wakes the node.
#[derive(Debug, Default)]
pub struct Readiness {
    ids: Mutex<Vec<LinkId>>,
    notify: tokio::sync::Notify,
}

impl Readiness {
    /// Waits until a link may have bytes (or was woken to be looked at).
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Moves the links to read now into `into`.
    pub fn take(&self, into: &mut Vec<LinkId>) {
        into.append(&mut lock(&self.ids));
    }

    /// Queues `link` to be read, and wakes the node.
    pub fn push(&self, link: LinkId) {
        lock(&self.ids).push(link);
        self.notify.notify_one();
    }
}

/// Wakes the node for one link: its socket is ready, or its writing failed.
struct LinkWaker {
    link: LinkId,
    ready: Arc<Readiness>,
}

impl Wake for LinkWaker {
    fn wake(self: Arc<Self>) {
        self.ready.push(self.link);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.push(self.link);
    }
}

/// The reading half of a link, read by the node task when its socket has bytes.
///
/// Two buffers: what has come and is not opened yet (`sealed`, at most one Noise message of
/// 64 KiB and room for one read, [`READ_BYTES`]), and what is opened and not yet a whole frame
/// (`plain`). A length prefix alone reserves nothing, so a frame announced and never sent
/// costs no memory; the buffers grow only as bytes arrive (by doubling, as `BytesMut` does),
/// and one grown past [`KEEP_BYTES`] by one large frame is given back once that frame is
/// taken.
pub struct Inbox {
    reader: OwnedReadHalf,
    open: Open,
    sealed: BytesMut,
    plain: BytesMut,
    /// Since when part of a frame has waited.
    partial: Option<Instant>,
    waker: Waker,
}

/// Why a link's reading ended it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The other side closed it, or the connection failed (or its writing did).
    Closed,
    /// Bytes that are not the protocol.
    Bad(String),
    /// One of the budget's bounds: a stranger's frame over [`STRANGER_FRAME`], a frame not
    /// whole within [`FRAME_DEADLINE`]. Counted into one log line per interval rather than
    /// logged one per link.
    CutOff(String),
}

/// Whether a link has more to read.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// It read all there was: its waker says when more comes.
    Waiting,
    /// It read its share of this turn: read it again next turn.
    More,
}

/// Reads of one link in one turn, at most: one busy link does not hold up the others.
const READS_PER_TURN: usize = 4;

impl Inbox {
    /// Reads what the socket holds (at most [`READS_PER_TURN`] reads), and gives its whole
    /// frames to `take`, in order, at most `room` of them (the rest wait for the next call);
    /// a frame larger than `limit` ends the link.
    pub fn read(
        &mut self,
        limit: usize,
        room: usize,
        take: &mut impl FnMut(Msg),
    ) -> Result<Read, Ended> {
        let mut room = room.max(1);
        // Frames left from the last read (or bytes the handshake read past its end).
        self.frames(limit, &mut room, take)?;
        if room == 0 {
            return Ok(Read::More);
        }
        let waker = self.waker.clone();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..READS_PER_TURN {
            match self.reader.as_ref().poll_read_ready(&mut cx) {
                Poll::Pending => return Ok(Read::Waiting),
                Poll::Ready(Err(_)) => return Err(Ended::Closed),
                Poll::Ready(Ok(())) => {}
            }
            if self.sealed.capacity() - self.sealed.len() < READ_BYTES / 2 {
                self.sealed.reserve(READ_BYTES);
            }
            match read_once(&self.reader, &mut self.sealed) {
                Ok(0) => return Err(Ended::Closed),
                Ok(_) => {
                    self.frames(limit, &mut room, take)?;
                    if room == 0 {
                        return Ok(Read::More);
                    }
                }
                // Readiness was stale; it is cleared, and the next poll arms the waker.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(Ended::Closed),
            }
        }
        Ok(Read::More)
    }

    /// Queues the link to be read. The node does so once it holds the link: bytes the
    /// handshake read past its end are taken then, and that first read arms the waker.
    pub fn wake(&self) {
        self.waker.wake_by_ref();
    }

    /// Whether part of a frame waits.
    pub fn partial(&self) -> bool {
        self.partial.is_some()
    }

    /// Whether part of a frame has waited longer than [`FRAME_DEADLINE`] at `now`.
    pub fn overdue(&self, now: Instant) -> bool {
        self.partial
            .is_some_and(|since| now.duration_since(since) >= FRAME_DEADLINE)
    }

    /// Opens what has come and takes every whole frame.
    fn frames(
        &mut self,
        limit: usize,
        room: &mut usize,
        take: &mut impl FnMut(Msg),
    ) -> Result<(), Ended> {
        // What opened before a message that does not is taken; nothing of it or after it.
        let opened = self.open.open(&mut self.sealed, &mut self.plain);
        let mut took = false;
        loop {
            if *room == 0 {
                break;
            }
            match wire::next_frame(&self.plain, limit) {
                Ok(Some((start, end))) => {
                    match wire::decode_msg(&self.plain[start..end]) {
                        Ok(msg) => take(msg),
                        Err(e) => return Err(Ended::Bad(e.to_string())),
                    }
                    self.plain.advance(end);
                    took = true;
                    *room -= 1;
                }
                Ok(None) => {
                    if opened.is_err() {
                        return Err(Ended::Bad(FORGED.to_string()));
                    }
                    break;
                }
                Err(e) if limit < MAX_FRAME => {
                    let why = format!("a stranger's frame: {e} (a stranger's limit)");
                    return Err(Ended::CutOff(why));
                }
                Err(e) => return Err(Ended::Bad(format!("bad frame: {e}"))),
            }
        }
        if self.plain.capacity() > KEEP_BYTES && self.plain.is_empty() {
            self.plain = BytesMut::new();
        }
        if self.sealed.capacity() > KEEP_BYTES && self.sealed.is_empty() {
            self.sealed = BytesMut::new();
        }
        if self.plain.is_empty() && self.sealed.is_empty() {
            self.partial = None;
        } else if self.partial.is_none() || took {
            self.partial = Some(Instant::now());
        }
        Ok(())
    }
}

/// Reads once into `sealed`'s spare room. On Unix (edge-triggered epoll or kqueue) a read
/// that leaves room took everything the socket held, so its readiness is cleared there and
/// then, as tokio's own `poll_read` does: the next poll arms the waker, instead of a second
/// read finding nothing (`EAGAIN`). The clearing is safe against bytes arriving meanwhile:
/// tokio clears only if no readiness event came after the one the read started from. A read
/// that fills the room leaves readiness set: more may wait.
fn read_once(reader: &OwnedReadHalf, sealed: &mut BytesMut) -> std::io::Result<usize> {
    use std::io::ErrorKind::WouldBlock;
    let room = sealed.capacity() - sealed.len();
    let mut got = 0;
    let read = reader.as_ref().try_io(Interest::READABLE, || {
        got = reader.try_read_buf(sealed)?;
        match cfg!(unix) && got > 0 && got < room {
            true => Err(WouldBlock.into()),
            false => Ok(got),
        }
    });
    match read {
        Err(e) if e.kind() == WouldBlock && got > 0 => Ok(got),
        read => read,
    }
}

/// Why a link is cut whose frame was not whole in time.
pub fn overdue_reason() -> String {
    let within = humantime::format_duration(FRAME_DEADLINE);
    format!("a frame not whole within {within}")
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
    /// The link's waker: a failed write wakes the node to find the link closed.
    waker: Waker,
}

/// Sealed bytes the socket has not taken yet, shared with the task that writes them.
#[derive(Default)]
struct Backlog {
    bytes: Vec<u8>,
    /// How much of `bytes` is written: the rest waits. (Kept as an offset, so that a long
    /// backlog written a little at a time is not moved down at each write.)
    written: usize,
    /// Where each flush's frames end in `bytes`, and how many they are: the flushes not yet
    /// wholly written.
    batches: VecDeque<(usize, usize)>,
    /// The frames of those flushes.
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
        wire::put_msg(msg, &mut self.plain).map_err(|_| Unsent::TooLarge)?;
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
        backlog.compact();
        let sealed = self.seal.seal(&self.plain, &mut backlog.bytes);
        sealed.map_err(|e| std::io::Error::other(e.to_string()))?;
        backlog.sealed(std::mem::take(&mut self.frames));
        self.plain.clear();
        if self.plain.capacity() > KEEP_BYTES {
            self.plain = Vec::new();
        }
        if !backlog.writing {
            write_some(&self.half, backlog)?;
            if !backlog.bytes.is_empty() {
                backlog.writing = true;
                let (half, shared) = (self.half.clone(), self.backlog.clone());
                let waking = (cancel.clone(), self.waker.clone());
                tokio::spawn(write_backlog(half, shared, waking, self.write_timeout));
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

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (f.debug_struct("Inbox"))
            .field("sealed", &self.sealed.len())
            .field("plain", &self.plain.len())
            .finish_non_exhaustive()
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Backlog {
    /// Notes that `frames` frames were just sealed onto the end of `bytes`.
    fn sealed(&mut self, frames: usize) {
        self.batches.push_back((self.bytes.len(), frames));
        self.frames += frames;
    }

    /// Notes that `n` more bytes were written: the flushes now wholly written are done.
    fn wrote(&mut self, n: usize) {
        self.written += n;
        while let Some(&(end, frames)) = self.batches.front() {
            if end > self.written {
                break;
            }
            self.batches.pop_front();
            self.frames -= frames;
        }
        if self.written == self.bytes.len() {
            self.bytes.clear();
            self.written = 0;
            if self.bytes.capacity() > KEEP_BYTES {
                self.bytes = Vec::new();
            }
        }
    }

    /// Drops the bytes written, once they are over half (so a long backlog written a little
    /// at a time is not moved down at each write).
    fn compact(&mut self) {
        if self.written > self.bytes.len() / 2 {
            self.bytes.drain(..self.written);
            self.batches
                .iter_mut()
                .for_each(|(end, _)| *end -= self.written);
            self.written = 0;
        }
    }
}

/// Writes as much of the backlog as the socket takes now.
fn write_some(half: &OwnedWriteHalf, backlog: &mut Backlog) -> Result<(), std::io::Error> {
    while backlog.written < backlog.bytes.len() {
        match half.try_write(&backlog.bytes[backlog.written..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => backlog.wrote(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes the backlog as the socket drains. The link ends when the socket takes nothing
/// for `timeout` (the other side stopped reading), when a write fails, or once all is
/// written after the node closed it.
async fn write_backlog(
    half: Arc<OwnedWriteHalf>,
    shared: Arc<Mutex<Backlog>>,
    (cancel, waker): (CancellationToken, Waker),
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
    // The connection ends in both directions, and the node, woken, finds it closed.
    cancel.cancel();
    let _ = socket2::SockRef::from(half.as_ref().as_ref()).shutdown(std::net::Shutdown::Both);
    waker.wake();
}

/// Room made for each read.
const READ_BYTES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::{read_once, Backlog};
    use bytes::BytesMut;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use tokio::io::AsyncWriteExt;

    /// Counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A read that leaves room in the buffer took all the socket held: the link waits for the
    /// next bytes at once (no second read to find nothing), and those bytes still wake it.
    #[tokio::test]
    async fn a_read_that_drains_the_socket_waits_for_the_next_bytes_without_a_second_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut tx = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (rx, _) = listener.accept().await.unwrap();
        let (reader, _writer) = rx.into_split();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut buf = BytesMut::with_capacity(4096);

        tx.write_all(b"first").await.unwrap();
        reader.as_ref().readable().await.unwrap();
        assert_eq!(read_once(&reader, &mut buf).unwrap(), 5);
        // Without the clearing, readiness would still say "ready", for an `EAGAIN` read.
        let poll = reader.as_ref().poll_read_ready(&mut cx);
        assert!(
            poll.is_pending(),
            "readiness still set after a draining read"
        );

        tx.write_all(b"second").await.unwrap();
        let waited = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while count.0.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        });
        assert!(waited.await.is_ok(), "the next bytes did not wake the link");
        assert!(matches!(
            reader.as_ref().poll_read_ready(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(read_once(&reader, &mut buf).unwrap(), 6);
        assert_eq!(&buf[..], b"firstsecond");

        // A read that fills the buffer may have left bytes behind: readiness stays set.
        tx.write_all(b"0123456789").await.unwrap();
        reader.as_ref().readable().await.unwrap();
        let mut small = BytesMut::with_capacity(4);
        assert_eq!(read_once(&reader, &mut small).unwrap(), 4);
        let poll = reader.as_ref().poll_read_ready(&mut cx);
        assert!(matches!(poll, Poll::Ready(Ok(()))), "bytes left unread");
        let mut rest = BytesMut::with_capacity(64);
        assert_eq!(read_once(&reader, &mut rest).unwrap(), 6);
        assert_eq!((&small[..], &rest[..]), (&b"0123"[..], &b"456789"[..]));
    }

    /// The frames counted against a link's cap are those of flushes not yet wholly written,
    /// not every frame since the backlog was last empty: a link kept busy but keeping up is
    /// not dropped as too slow.
    #[test]
    fn a_backlog_counts_the_frames_of_flushes_not_yet_written() {
        let mut b = Backlog::default();
        for frames in [5, 6, 7] {
            b.bytes.extend_from_slice(&[0; 100]);
            b.sealed(frames);
        }
        assert_eq!(b.frames, 18);
        b.wrote(160);
        assert_eq!(b.frames, 13);
        b.compact();
        assert_eq!((b.bytes.len(), b.written), (140, 0));
        b.bytes.extend_from_slice(&[0; 100]);
        b.sealed(8);
        assert_eq!(b.frames, 21);
        b.wrote(50);
        assert_eq!(b.frames, 15);
        b.wrote(190);
        assert_eq!((b.frames, b.bytes.len(), b.written), (0, 0, 0));
    }
}
