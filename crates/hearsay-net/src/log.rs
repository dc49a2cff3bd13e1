//! Logs (SPEC §7): a human line on the console and in the `--out` file, and a JSON line in
//! the `--events` file.
//!
//! Lines are formatted on the node's task and handed to one writer thread per process, so
//! a node never waits on a disk or a terminal. A node task's logger is batched: it gathers a
//! turn's lines in one buffer per file and hands them over before the node waits again. The
//! writer takes everything queued, then writes it with one `writev` per file (under load, at
//! most every [`GATHER`]): whole lines only, to files opened for appending, so several
//! processes can share one file without interleaving their lines. Under overload the log
//! falls behind (up to [`MAX_QUEUED`] bytes, then lines are dropped and counted), the node
//! does not. [`flush`] waits until everything logged so far is written; the runtime calls it
//! on every way out. A seed's logger is [`Logger::direct`]: it writes each line itself. A
//! peer process's is [`Logger::inline`]: it writes a turn's few lines itself while the writer
//! is idle, no target can make it wait, and no other writer is at the file.
//!
//! Processes appending to one file (every node's `--out`) take turns at its lock in the
//! kernel, and on a machine short of CPU a write has waited 37 s for its turn there (issue 13,
//! twenty-ninth session): a live peer stuck in `write` looks dead. So the writer thread holds
//! the file's advisory lock ([`Turn`], `flock`) while it writes, waiting for it, and an inline
//! peer writes only if it gets the lock at once, else hands its lines to the writer.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use hearsay_proto::event::Event;
use hearsay_proto::Time;

use crate::metrics::Metrics;

/// Most bytes waiting for the writer; lines beyond are dropped (and counted), never waited for.
pub const MAX_QUEUED: usize = 64 << 20;

/// Where one node's events go. Cheap to clone; clones share the files.
#[derive(Clone)]
pub struct Logger {
    node: String,
    /// The node's part of each line, written once: ` role node | ` (human) and
    /// `,"node":…,"role":…` (JSON).
    who: Arc<Who>,
    targets: Targets,
    /// Counts every event logged (`--metrics`).
    metrics: Option<Arc<Metrics>>,
    /// Set for [`Logger::batched`]: lines wait here for [`Logger::hand_over`].
    batch: Option<Arc<Batch>>,
}

/// A node's part of each of its lines.
struct Who {
    human: String,
    json: Vec<u8>,
}

impl Who {
    fn new(node: &str, role: &str) -> Arc<Who> {
        Arc::new(Who {
            human: format!(" {role} {node} | "),
            json: hearsay_proto::event::json_who(node, role),
        })
    }
}

/// The files (and console) a logger writes to.
#[derive(Clone)]
struct Targets {
    console: bool,
    out: Option<Arc<File>>,
    events: Option<Arc<File>>,
    /// Written by the caller, not the writer thread (see [`Logger::direct`]).
    direct: bool,
    /// Set for [`Logger::inline`]: the bytes of these targets' lines handed to the writer and
    /// not written yet. A small hand-over is written by the caller while there are none.
    inline: Pending,
}

/// Lines formatted and not handed over yet: the human lines (console and `--out`) and the
/// JSON lines (`--events`), each whole.
#[derive(Default)]
struct Lines {
    human: String,
    json: Vec<u8>,
    /// Lines in `human` (as many are in `json` when events are written).
    count: usize,
}

/// A batched logger's lines, handed over together, and the rest when its last clone goes.
struct Batch {
    targets: Targets,
    lines: Mutex<Lines>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        let lines = self.lines.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.targets.send(lines);
    }
}

impl Targets {
    /// Sends `lines` where they go (or writes them, if direct) and empties them. The
    /// writer thread gets copies of what it is to write, each its exact size: `lines` keep
    /// their buffers, so a batched logger's buffers grow to a turn's lines once, not again
    /// every turn, line after line (up to [`KEPT`]).
    fn send(&self, lines: &mut Lines) {
        let count = std::mem::take(&mut lines.count);
        let mut parts: Vec<(Target, &[u8])> = Vec::new();
        let human = lines.human.as_bytes();
        if !human.is_empty() {
            if self.console {
                parts.push((Target::Stdout, human));
            }
            if let Some(f) = &self.out {
                parts.push((Target::File(f.clone()), human));
            }
        }
        if let (false, Some(f)) = (lines.json.is_empty(), &self.events) {
            parts.push((Target::File(f.clone()), &lines.json));
        }
        if self.direct {
            parts.iter().for_each(|(t, bytes)| write_now(t, bytes));
        } else {
            let size =
                |parts: &[(Target, &[u8])]| -> usize { parts.iter().map(|p| p.1.len()).sum() };
            // Acquire: the writer's writes of what was pending are done (see `write_lines`).
            let idle = |p: &AtomicUsize| p.load(Ordering::Acquire) == 0;
            if (self.inline.as_deref()).is_some_and(|p| size(&parts) <= INLINE_MAX && idle(p)) {
                // What a writer thread is at goes to ours, which waits its turn.
                parts.retain(|(t, bytes)| !t.write_if_free(bytes));
            }
            let len = size(&parts);
            let parts = parts.into_iter().map(|(t, bytes)| (t, bytes.to_vec()));
            enqueue(parts.collect(), len, count, self.inline.clone());
        }
        lines.human.clear();
        lines.json.clear();
        // A burst's room is let go again: a batch holds a turn's lines, mostly a few.
        lines.human.shrink_to(KEPT);
        lines.json.shrink_to(KEPT);
    }

    /// Whether no target can make a write wait: the console and the files are regular files
    /// (a write is a copy into the page cache) or `/dev/null`, not a terminal, a pipe or a
    /// socket, whose reader may not keep up.
    fn never_wait(&self) -> bool {
        let files = [&self.out, &self.events].into_iter().flatten();
        files.into_iter().all(|f| never_waits(f)) && (!self.console || stdout_never_waits())
    }
}

/// Bytes of one hand-over that an inline logger writes itself; more go to the writer.
const INLINE_MAX: usize = 16 * 1024;

/// Bytes of room a batched logger keeps for each of its kinds of line between turns.
const KEPT: usize = 16 * 1024;

/// Whether writing to `f` is a copy into the page cache (a regular file) or nothing
/// (`/dev/null`).
#[cfg(target_os = "linux")]
fn never_waits(f: &File) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(m) = f.metadata() else {
        return false;
    };
    let null = || std::fs::metadata("/dev/null").is_ok_and(|n| n.rdev() == m.rdev());
    m.is_file() || (m.file_type().is_char_device() && null())
}

#[cfg(not(target_os = "linux"))]
fn never_waits(_: &File) -> bool {
    false
}

/// [`never_waits`] for standard output.
fn stdout_never_waits() -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let dup = std::io::stdout().as_fd().try_clone_to_owned();
        dup.is_ok_and(|fd| never_waits(&File::from(fd)))
    }
    #[cfg(not(unix))]
    false
}

/// Opens a file for appending, creating it and its folder.
pub fn open_append(path: &Path) -> std::io::Result<Arc<File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    Ok(Arc::new(
        OpenOptions::new().create(true).append(true).open(path)?,
    ))
}

/// Where a line is written: the console, or a shared file.
enum Target {
    Stdout,
    File(Arc<File>),
}

impl Target {
    fn same(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Stdout, Target::Stdout) => true,
            (Target::File(a), Target::File(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Target::Stdout => std::io::stdout().lock().write_all(bytes),
            Target::File(f) => (&**f).write_all(bytes),
        }
    }

    /// [`write_now`] unless another writer is at the file: whether it did.
    fn write_if_free(&self, bytes: &[u8]) -> bool {
        let _turn = match self {
            Target::Stdout => None,
            Target::File(f) => match Turn::take(f) {
                None => return false,
                turn => turn,
            },
        };
        write_now(self, bytes);
        true
    }

    /// Writes `chunks` (whole lines each) in order: to a file with as few `writev` calls as
    /// the system's limit on slices allows, in one turn.
    fn write_chunks(&self, chunks: &[Vec<u8>]) -> std::io::Result<()> {
        let Target::File(f) = self else {
            return chunks.iter().try_for_each(|c| self.write(c));
        };
        let _turn = Turn::wait(f);
        for group in chunks.chunks(IOV_MAX) {
            let mut slices: Vec<IoSlice> = group.iter().map(|c| IoSlice::new(c)).collect();
            let mut rest = &mut slices[..];
            while !rest.is_empty() {
                match (&**f).write_vectored(rest) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(n) => IoSlice::advance_slices(&mut rest, n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// A writer's turn at a file: its advisory lock (`flock`), held until dropped. The writer
/// thread waits for it and an inline peer takes it only if free, so an inline write meets no
/// writer thread's in the kernel. Advisory: where the system has no such lock, or it fails,
/// writers go ahead without. Whoever holds it for good (a process stopped in its turn, or
/// anyone able to open the file) holds up only writer threads, whose lines then queue (up to
/// [`MAX_QUEUED`], then are dropped and counted); a seed writes without a turn, as before
/// turns, and no node ever waits for one.
struct Turn<'a>(#[cfg_attr(not(target_os = "linux"), allow(dead_code))] &'a File);

impl<'a> Turn<'a> {
    /// Waits for the turn (a failing lock is gone ahead without).
    fn wait(f: &'a File) -> Turn<'a> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{flock, FlockOperation};
            while flock(f, FlockOperation::LockExclusive) == Err(rustix::io::Errno::INTR) {}
        }
        Turn(f)
    }

    /// The turn if no other writer has it; `None` if it is taken or cannot be had.
    fn take(f: &'a File) -> Option<Turn<'a>> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{flock, FlockOperation};
            flock(f, FlockOperation::NonBlockingLockExclusive).ok()?;
        }
        Some(Turn(f))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        let _ = rustix::fs::flock(self.0, rustix::fs::FlockOperation::Unlock);
    }
}

enum Job {
    /// Whole lines for each target, one or more each: one hand-over, and an inline logger's
    /// count of pending bytes with this job's share of them, taken off once written.
    Lines(Vec<(Target, Vec<u8>)>, Option<(Arc<AtomicUsize>, usize)>),
    Flush(mpsc::Sender<()>),
}

/// The process's log writer: a queue and the thread that empties it.
struct Writer {
    queue: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    /// The writer thread, woken early from its gathering by a flush.
    thread: Option<std::thread::Thread>,
}

fn writer() -> &'static Writer {
    static WRITER: OnceLock<Writer> = OnceLock::new();
    WRITER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (q, d) = (queued.clone(), dropped.clone());
        let spawned = std::thread::Builder::new()
            .name("hearsay-log".into())
            .spawn(move || write_lines(rx, &q, &d));
        let thread = match spawned {
            Ok(handle) => Some(handle.thread().clone()),
            Err(e) => {
                eprintln!("hearsay: cannot start the log writer: {e}");
                None
            }
        };
        Writer {
            queue: tx,
            queued,
            dropped,
            thread,
        }
    })
}

/// The writer thread: everything queued, grouped by target, one write per target.
fn write_lines(rx: mpsc::Receiver<Job>, queued: &AtomicUsize, dropped: &AtomicU64) {
    // Each target's chunks, in order, written together (a file's with one `writev`): no
    // copying them into one buffer.
    let mut batch: Vec<(Target, Vec<Vec<u8>>)> = Vec::new();
    let mut acks = Vec::new();
    let mut written = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next {
            match job {
                Job::Lines(parts, pending) => {
                    written.extend(pending);
                    for (target, lines) in parts {
                        taken += lines.len();
                        match batch.iter_mut().find(|(t, _)| t.same(&target)) {
                            Some((_, chunks)) => chunks.push(lines),
                            None => batch.push((target, vec![lines])),
                        }
                    }
                }
                Job::Flush(ack) => acks.push(ack),
            }
            // Write at least every MiB, so a flood is not held in two places at once.
            next = if taken < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let more = taken >= MAX_BATCH;
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            eprintln!("hearsay: the log fell behind: {lost} lines were dropped");
        }
        // A target with nothing this time is let go (its file may be closed by now).
        batch.retain(|(_, chunks)| !chunks.is_empty());
        for (target, chunks) in &mut batch {
            if let Err(err) = target.write_chunks(chunks) {
                eprintln!("hearsay: could not write the log: {err}");
            }
            chunks.clear();
        }
        queued.fetch_sub(taken, Ordering::Relaxed);
        // Release: an inline logger that sees none of its lines pending writes after them.
        for (pending, len) in written.drain(..) {
            pending.fetch_sub(len, Ordering::Release);
        }
        let flushed = !acks.is_empty();
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
        // Under load (a large batch, and no more waiting yet), let lines gather for a
        // moment: a writer woken for every few lines costs more than the writing. A quiet
        // node's lines are written as soon as they come, and a flush cuts the wait short.
        if !flushed && !more && taken >= GATHER_FROM {
            std::thread::park_timeout(GATHER);
        }
    }
}

/// Most slices one `writev` takes (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Bytes of lines the writer takes before it writes.
const MAX_BATCH: usize = 1 << 20;

/// How long the writer lets lines gather after a large write: under load each line reaches
/// its file within about this long.
const GATHER: Duration = Duration::from_millis(20);

/// A write of this many bytes or more means load: the writer lets the next lines gather.
const GATHER_FROM: usize = 16 * 1024;

/// Waits (at most `limit`) until every line logged so far in this process is written.
/// Returns whether it was.
pub fn flush(limit: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    let w = writer();
    let sent = w.queue.send(Job::Flush(tx)).is_ok();
    // A writer letting lines gather writes them now.
    if let Some(t) = &w.thread {
        t.unpark();
    }
    sent && rx.recv_timeout(limit).is_ok()
}

/// Writes at once; a failure is reported on stderr and the node carries on.
fn write_now(target: &Target, bytes: &[u8]) {
    if let Err(err) = target.write(bytes) {
        eprintln!("hearsay: could not write the log: {err}");
    }
}

/// Queues `count` whole lines (in every target's form) for the writer, in one job, or drops
/// (and counts) them if the writer is [`MAX_QUEUED`] behind.
fn enqueue(parts: Vec<(Target, Vec<u8>)>, len: usize, count: usize, pending: Pending) {
    if parts.is_empty() {
        return;
    }
    let w = writer();
    if w.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED {
        w.queued.fetch_sub(len, Ordering::Relaxed);
        w.dropped.fetch_add(count as u64, Ordering::Relaxed);
        return;
    }
    if let Some(p) = &pending {
        p.fetch_add(len, Ordering::Relaxed);
    }
    let job = Job::Lines(parts, pending.map(|p| (p, len)));
    if let Err(mpsc::SendError(job)) = w.queue.send(job) {
        w.queued.fetch_sub(len, Ordering::Relaxed);
        if let Job::Lines(_, Some((p, _))) = job {
            p.fetch_sub(len, Ordering::Relaxed);
        }
    }
}

/// An inline logger's bytes handed to the writer and not written yet.
type Pending = Option<Arc<AtomicUsize>>;

impl Logger {
    /// A logger for the node at `node` in role `role`.
    pub fn new(
        node: String,
        role: &'static str,
        console: bool,
        out: Option<Arc<File>>,
        events: Option<Arc<File>>,
    ) -> Logger {
        Logger {
            who: Who::new(&node, role),
            node,
            targets: Targets {
                console,
                out,
                events,
                direct: false,
                inline: None,
            },
            metrics: None,
            batch: None,
        }
    }

    /// This logger, also counting every event into `metrics` (if any).
    pub fn with_metrics(self, metrics: Option<Arc<Metrics>>) -> Logger {
        Logger { metrics, ..self }
    }

    /// The same logger, writing each line itself as it is logged: slower, but a line is in
    /// its file before the caller does anything next. Seeds log this way (few lines, and
    /// nobody may hear of a decision their log does not show yet); peers, whose gossip makes
    /// most lines, through the writer thread.
    pub fn direct(mut self) -> Logger {
        self.targets.direct = true;
        self.batch = None;
        self
    }

    /// The same logger, writing a small hand-over ([`Logger::batched`]) itself while the
    /// writer thread has nothing waiting, where no target can make a write wait (regular
    /// files, `/dev/null`: see [`Targets::never_wait`]) and no other writer is at the file
    /// ([`Turn`]); otherwise, or for a large one, through the writer as before. A peer process
    /// hands over a few lines a turn, a few turns a second: handing them to the writer would
    /// wake its thread each time, for more than the writing costs. Lines stay in order: the
    /// writer being idle, whatever this node handed it before is written.
    pub fn inline(mut self) -> Logger {
        let never_wait = self.targets.never_wait();
        self.targets.inline = never_wait.then(Arc::default);
        self
    }

    /// The same logger, holding its lines until [`Logger::hand_over`] (or until its last
    /// clone goes): a node task logs a whole turn's events and hands them to the writer at
    /// once, one queued buffer per file instead of one per line. A direct logger stays
    /// direct.
    pub fn batched(&self) -> Logger {
        let batch = (!self.targets.direct).then(|| {
            Arc::new(Batch {
                targets: self.targets.clone(),
                lines: Mutex::default(),
            })
        });
        Logger {
            batch,
            ..self.clone()
        }
    }

    /// Hands what a batched logger holds to the writer thread (nothing to do otherwise).
    pub fn hand_over(&self) {
        if let Some(b) = &self.batch {
            let mut lines = b.lines.lock().unwrap_or_else(PoisonError::into_inner);
            b.targets.send(&mut lines);
        }
    }

    /// The same files for another node.
    pub fn for_node(&self, node: String, role: &'static str) -> Logger {
        Logger {
            who: Who::new(&node, role),
            node,
            ..self.clone()
        }
    }

    /// The human line for an event. Text from the network may hold anything: control
    /// characters are escaped, so an event is always exactly one line.
    pub fn line(&self, now: Time, e: &Event) -> String {
        let mut line = String::new();
        self.put_line(now, e, &mut line);
        line
    }

    /// [`Logger::line`], appended to `line`.
    fn put_line(&self, now: Time, e: &Event, line: &mut String) {
        use std::fmt::Write as _;
        let t = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(now.0));
        let _ = write!(line, "{t}");
        line.push_str(&self.who.human);
        let start = line.len();
        crate::text::write(e, line);
        // Control characters are rare (only text from the network has them): check the
        // bytes that can start one (C0, DEL, and the lead byte of C1), then escape by char.
        let suspect = |b: &u8| *b < 0x20 || *b == 0x7f || *b == 0xc2;
        if line.as_bytes()[start..].iter().any(suspect)
            && line[start..].chars().any(char::is_control)
        {
            let text = line.split_off(start);
            for c in text.chars() {
                match c.is_control() {
                    true => line.extend(c.escape_default()),
                    false => line.push(c),
                }
            }
        }
        line.push('\n');
    }

    /// The JSON line for an event.
    pub fn json(&self, now: Time, e: &Event) -> String {
        let mut line = Vec::new();
        e.write_json_as(now, &self.who.json, &mut line);
        String::from_utf8(line).unwrap_or_default()
    }

    /// Logs an event everywhere it should go: through the writer thread, without waiting
    /// for any of it to be written, or itself if [`Logger::direct`]; a batched logger holds
    /// it until [`Logger::hand_over`].
    pub fn log(&self, now: Time, e: &Event) {
        if let Some(m) = &self.metrics {
            m.observe(&self.node, e);
        }
        match &self.batch {
            Some(b) => {
                let mut lines = b.lines.lock().unwrap_or_else(PoisonError::into_inner);
                self.put(now, e, &mut lines);
            }
            None => {
                let mut lines = Lines::default();
                self.put(now, e, &mut lines);
                self.targets.send(&mut lines);
            }
        }
    }

    /// Formats `e`'s lines into `lines`, for the targets this logger has.
    fn put(&self, now: Time, e: &Event, lines: &mut Lines) {
        let t = &self.targets;
        if t.console || t.out.is_some() {
            self.put_line(now, e, &mut lines.human);
        }
        if t.events.is_some() {
            e.write_json_as(now, &self.who.json, &mut lines.json);
        }
        lines.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_line_carries_ts_node_role_and_the_event_fields() {
        let log = Logger::new("127.0.0.1:6000".into(), "seed", false, None, None);
        let e = Event::SeedDisconnected {
            addr: "127.0.0.1:6001".parse().unwrap(),
        };
        let v: serde_json::Value =
            serde_json::from_str(&log.json(Time(1_700_000_000_123), &e)).unwrap();
        assert_eq!(v["ts"], 1_700_000_000_123u64);
        assert_eq!(v["node"], "127.0.0.1:6000");
        assert_eq!(v["role"], "seed");
        assert_eq!(v["event"], "seed_disconnected");
        assert_eq!(v["addr"], "127.0.0.1:6001");
        let line = log.line(Time(1_700_000_000_123), &e);
        assert_eq!(
            line,
            "2023-11-14T22:13:20.123Z seed 127.0.0.1:6000 | lost the link to seed 127.0.0.1:6001\n"
        );
        // Another node's logger on the same files writes its own name in both forms.
        let peer = log.for_node("127.0.0.1:7000".into(), "peer");
        let v: serde_json::Value = serde_json::from_str(&peer.json(Time(1), &e)).unwrap();
        assert_eq!(
            (&v["node"], &v["role"]),
            (&"127.0.0.1:7000".into(), &"peer".into())
        );
        assert!(peer.line(Time(1), &e).contains(" peer 127.0.0.1:7000 | "));
    }

    #[test]
    fn text_from_the_network_cannot_break_a_line() {
        let log = Logger::new("n".into(), "peer", false, None, None);
        let e = Event::Notice {
            text: "refused\n2026-01-01T00:00:00.000Z seed x | forged\r\u{1b}[31m".into(),
        };
        let line = log.line(Time(0), &e);
        assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        assert!(
            line.ends_with("refused\\n2026-01-01T00:00:00.000Z seed x | forged\\r\\u{1b}[31m\n"),
            "{line:?}"
        );
        // C1 controls too (two bytes in UTF-8), and DEL; other text is kept as it is.
        let e = Event::Notice {
            text: "a\u{85}b\u{7f}c é ✓".into(),
        };
        let line = log.line(Time(0), &e);
        assert!(line.ends_with("| a\\u{85}b\\u{7f}c é ✓\n"), "{line:?}");
    }

    #[test]
    fn lines_from_many_writers_never_interleave() {
        let path = std::env::temp_dir().join(format!("hearsay-log-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let f = open_append(&path).unwrap();
                let log = Logger::new(format!("node{i}"), "peer", false, Some(f), None);
                std::thread::spawn(move || {
                    let e = Event::Notice {
                        text: "x".repeat(300),
                    };
                    for _ in 0..500 {
                        log.log(Time(0), &e);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(
            flush(Duration::from_secs(10)),
            "the writer did not catch up"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2000);
        for line in text.lines() {
            assert!(
                line.ends_with(&"x".repeat(300)) && line.matches('|').count() == 1,
                "{line}"
            );
        }
    }

    #[test]
    fn every_line_logged_is_written_in_order_once_flush_returns() {
        let dir = std::env::temp_dir().join(format!("hearsay-flush-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = open_append(&dir.join("out.txt")).unwrap();
        let events = open_append(&dir.join("events.jsonl")).unwrap();
        let log = Logger::new("n".into(), "peer", false, Some(out), Some(events));
        for i in 0..20_000 {
            log.log(
                Time(i),
                &Event::Notice {
                    text: i.to_string(),
                },
            );
        }
        assert!(
            flush(Duration::from_secs(10)),
            "the writer did not catch up"
        );
        let out = std::fs::read_to_string(dir.join("out.txt")).unwrap();
        let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
        let texts: Vec<&str> = out
            .lines()
            .map(|l| l.rsplit("| ").next().unwrap())
            .collect();
        let expected: Vec<String> = (0..20_000).map(|i: u64| i.to_string()).collect();
        assert_eq!(texts, expected);
        assert_eq!(timestamps(&events), (0..20_000).collect::<Vec<u64>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The `ts` of each JSON line of an events file, in order.
    fn timestamps(events: &str) -> Vec<u64> {
        (events.lines())
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["ts"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_batched_logger_holds_a_turns_lines_until_it_hands_them_over_or_goes() {
        let (dir, log) = batched_logger("batch");
        let notice = |i: u64| Event::Notice {
            text: format!("line {i}"),
        };
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        for i in 0..3 {
            log.log(Time(i), &notice(i));
        }
        assert!(flush(Duration::from_secs(10)));
        assert_eq!(
            (read("out.txt"), read("events.jsonl")),
            (String::new(), String::new())
        );
        log.hand_over();
        assert!(flush(Duration::from_secs(10)));
        let texts = |s: String| -> Vec<String> {
            s.lines()
                .map(|l| l.rsplit("| ").next().unwrap().to_string())
                .collect()
        };
        assert_eq!(texts(read("out.txt")), ["line 0", "line 1", "line 2"]);
        assert_eq!(read("events.jsonl").lines().count(), 3);
        // The last clone going hands over what is left.
        let other = log.for_node("m".into(), "peer");
        other.log(Time(3), &notice(3));
        drop(log);
        assert!(flush(Duration::from_secs(10)));
        assert_eq!(read("out.txt").lines().count(), 3);
        drop(other);
        assert!(flush(Duration::from_secs(10)));
        let out = read("out.txt");
        assert_eq!(texts(out.clone()), ["line 0", "line 1", "line 2", "line 3"]);
        assert!(out.lines().last().unwrap().contains(" peer m | "), "{out}");
        assert_eq!(timestamps(&read("events.jsonl")), [0, 1, 2, 3]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A node's logger on `out.txt` and `events.jsonl` in a fresh folder named after `name`.
    fn file_logger(name: &str) -> (std::path::PathBuf, Logger) {
        let dir = std::env::temp_dir().join(format!("hearsay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = open_append(&dir.join("out.txt")).unwrap();
        let events = open_append(&dir.join("events.jsonl")).unwrap();
        let log = Logger::new("n".into(), "peer", false, Some(out), Some(events));
        (dir, log)
    }

    /// [`file_logger`], batched (an in-process node's).
    fn batched_logger(name: &str) -> (std::path::PathBuf, Logger) {
        let (dir, log) = file_logger(name);
        (dir, log.batched())
    }

    /// A batched logger keeps the room its turns' lines took (so the next turn writes them
    /// without growing its buffers again), and lets a burst's room go.
    #[test]
    fn a_batched_logger_keeps_a_turns_room_and_lets_a_bursts_go() {
        let (dir, log) = batched_logger("room");
        let room = |log: &Logger| {
            let lines = log.batch.as_ref().unwrap().lines.lock().unwrap();
            (
                lines.human.len(),
                lines.human.capacity(),
                lines.json.capacity(),
            )
        };
        let turn = |lines: u64, text: &str| {
            for i in 0..lines {
                log.log(Time(i), &Event::Notice { text: text.into() });
            }
            let (len, _, _) = room(&log);
            log.hand_over();
            len
        };
        let len = turn(4, "a few words");
        let (left, human, json) = room(&log);
        assert_eq!(left, 0);
        assert!(human >= len && json >= len, "{human} {json} < {len}");
        let burst = turn(100, &"x".repeat(1000));
        assert!(burst > 2 * KEPT);
        let (_, human, json) = room(&log);
        assert!(human <= KEPT && json <= KEPT, "{human} {json}");
        assert!(flush(Duration::from_secs(10)));
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(read("out.txt").lines().count(), 104);
        assert_eq!(read("events.jsonl").lines().count(), 104);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A peer process's logger (inline, batched) on `out.txt` and `events.jsonl` in a fresh
    /// folder named after `name`.
    #[cfg(target_os = "linux")]
    fn inline_logger(name: &str) -> (std::path::PathBuf, Logger) {
        let (dir, log) = file_logger(name);
        (dir, log.inline().batched())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_inline_logger_has_written_a_small_hand_over_when_it_returns_and_keeps_order() {
        let (dir, log) = inline_logger("inline");
        let notice = |text: String| Event::Notice { text };
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        for i in 0..100 {
            log.log(Time(i), &notice(i.to_string()));
            log.hand_over();
            // No flush: the caller wrote them itself.
            let (out, events) = (read("out.txt"), read("events.jsonl"));
            assert_eq!(out.lines().count(), i as usize + 1);
            assert!(out.ends_with(&format!("| {i}\n")), "{out}");
            assert_eq!(events.lines().count(), i as usize + 1);
        }
        // A large hand-over goes to the writer; what follows it waits behind it, in order.
        let big = "x".repeat(INLINE_MAX);
        log.log(Time(100), &notice(big));
        log.hand_over();
        for i in 101..200 {
            log.log(Time(i), &notice(i.to_string()));
            log.hand_over();
        }
        assert!(flush(Duration::from_secs(10)));
        let ts = timestamps(&read("events.jsonl"));
        assert_eq!(ts, (0..200).collect::<Vec<u64>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_regular_files_and_dev_null_are_written_inline() {
        let path = std::env::temp_dir().join(format!("hearsay-never-{}.txt", std::process::id()));
        let file = open_append(&path).unwrap();
        let null = Arc::new(OpenOptions::new().append(true).open("/dev/null").unwrap());
        let (socket, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        let socket = Arc::new(File::from(std::os::fd::OwnedFd::from(socket)));
        let inline = |out: &Arc<File>| {
            let log = Logger::new("n".into(), "peer", false, Some(out.clone()), None);
            log.inline().targets.inline.is_some()
        };
        assert!(inline(&file));
        assert!(inline(&null));
        // A socket (as a pipe or a terminal) can make a write wait on its reader.
        assert!(!inline(&socket));
        let both = Logger::new("n".into(), "peer", false, Some(file), Some(socket));
        assert!(both.inline().targets.inline.is_none());
        let _ = std::fs::remove_file(&path);
    }

    /// Another process's writer thread at the same file, in its turn (its own opening of the
    /// file), until the sender returned is dropped.
    #[cfg(target_os = "linux")]
    fn another_writer_at(path: &Path) -> mpsc::Sender<()> {
        let other = open_append(path).unwrap();
        let (taken, done) = (mpsc::channel(), mpsc::channel::<()>());
        std::thread::spawn(move || {
            let _turn = Turn::wait(&other);
            taken.0.send(()).unwrap();
            let _ = done.1.recv();
        });
        taken.1.recv().unwrap();
        done.0
    }

    /// The shared `--out` file of 600 peer processes once held node threads 37 s in `write`:
    /// an inline logger that finds another writer at a file hands those lines to the writer
    /// thread and returns, and the writer thread waits for its turn.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_inline_logger_never_waits_for_a_file_another_writer_is_at() {
        let (dir, log) = inline_logger("turn");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let release = another_writer_at(&dir.join("out.txt"));
        let (returned, handed) = mpsc::channel();
        let node = log.clone();
        std::thread::spawn(move || {
            for i in 0..3 {
                node.log(
                    Time(i),
                    &Event::Notice {
                        text: i.to_string(),
                    },
                );
                node.hand_over();
            }
            returned.send(()).unwrap();
        });
        handed
            .recv_timeout(Duration::from_secs(5))
            .expect("an inline hand-over waited for a file another writer is at");
        // The writer thread waits its turn at out.txt; the first hand-over's events line went
        // in at once (that file was free), and the next ones queue behind what is pending.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(read("out.txt"), "");
        assert_eq!(timestamps(&read("events.jsonl")), vec![0]);
        drop(release);
        assert!(flush(Duration::from_secs(10)));
        let out = read("out.txt");
        let texts: Vec<&str> = out.lines().filter_map(|l| l.rsplit("| ").next()).collect();
        assert_eq!(texts, ["0", "1", "2"]);
        assert_eq!(timestamps(&read("events.jsonl")), vec![0, 1, 2]);
        // The writer idle and the file free again, a hand-over is written when it returns.
        log.log(Time(3), &Event::Notice { text: "3".into() });
        log.hand_over();
        assert!(read("out.txt").ends_with("| 3\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A seed writes its own lines at once: no turn held by anyone holds it up.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_direct_logger_never_waits_for_a_turn() {
        let path = std::env::temp_dir().join(format!("hearsay-seedturn-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let out = open_append(&path).unwrap();
        let release = another_writer_at(&path);
        let (wrote, written) = mpsc::channel();
        std::thread::spawn(move || {
            let log = Logger::new("s".into(), "seed", false, Some(out), None).direct();
            log.log(Time(0), &Event::Notice { text: "x".into() });
            wrote.send(()).unwrap();
        });
        written
            .recv_timeout(Duration::from_secs(5))
            .expect("a seed waited for a turn at its log file");
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("| x\n"));
        drop(release);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_direct_logger_has_written_each_line_when_log_returns() {
        let path = std::env::temp_dir().join(format!("hearsay-direct-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let log = Logger::new(
            "s".into(),
            "seed",
            false,
            Some(open_append(&path).unwrap()),
            None,
        )
        .direct();
        for i in 0..100 {
            log.log(
                Time(0),
                &Event::Notice {
                    text: i.to_string(),
                },
            );
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), i + 1);
            assert!(text.ends_with(&format!("| {i}\n")));
        }
        let _ = std::fs::remove_file(&path);
    }
}
