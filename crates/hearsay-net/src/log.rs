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
//! on every way out. A seed's logger is [`Logger::direct`]: it writes each line itself.
//! Even a regular file can make a write wait: processes appending to one file (every node's
//! `--out`) take turns at its lock, and on a machine short of CPU a write has waited 37 s for
//! its turn (issue 13, twenty-ninth session), so a peer's lines always go to the writer.

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
    /// Sends `lines` where they go (or writes them, if direct) and empties them.
    fn send(&self, lines: &mut Lines) {
        let count = std::mem::take(&mut lines.count);
        let mut parts = Vec::new();
        if !lines.human.is_empty() {
            let human = std::mem::take(&mut lines.human).into_bytes();
            match (&self.out, self.console) {
                (Some(f), true) => {
                    parts.push((Target::Stdout, human.clone()));
                    parts.push((Target::File(f.clone()), human));
                }
                (Some(f), false) => parts.push((Target::File(f.clone()), human)),
                (None, true) => parts.push((Target::Stdout, human)),
                (None, false) => {}
            }
        }
        if let (false, Some(f)) = (lines.json.is_empty(), &self.events) {
            parts.push((Target::File(f.clone()), std::mem::take(&mut lines.json)));
        }
        let len: usize = parts.iter().map(|(_, bytes)| bytes.len()).sum();
        match self.direct {
            true => parts.iter().for_each(|(t, bytes)| write_now(t, bytes)),
            false => enqueue(parts, len, count),
        }
    }
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

    /// Writes `chunks` (whole lines each) in order: to a file with as few `writev` calls as
    /// the system's limit on slices allows.
    fn write_chunks(&self, chunks: &[Vec<u8>]) -> std::io::Result<()> {
        let Target::File(f) = self else {
            return chunks.iter().try_for_each(|c| self.write(c));
        };
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

enum Job {
    /// Whole lines for each target, one or more each: one hand-over.
    Lines(Vec<(Target, Vec<u8>)>),
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
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next {
            match job {
                Job::Lines(parts) => {
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
fn enqueue(parts: Vec<(Target, Vec<u8>)>, len: usize, count: usize) {
    if parts.is_empty() {
        return;
    }
    let w = writer();
    if w.queued.fetch_add(len, Ordering::Relaxed) + len > MAX_QUEUED {
        w.queued.fetch_sub(len, Ordering::Relaxed);
        w.dropped.fetch_add(count as u64, Ordering::Relaxed);
        return;
    }
    if w.queue.send(Job::Lines(parts)).is_err() {
        w.queued.fetch_sub(len, Ordering::Relaxed);
    }
}

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
            let (human, json) = (lines.human.len(), lines.json.len());
            b.targets.send(&mut lines);
            // The next turn's lines are likely as many: room for them at once, rather than
            // by growing the buffers again, copy after copy.
            lines.human.reserve(human);
            lines.json.reserve(json);
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
        let dir = std::env::temp_dir().join(format!("hearsay-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = open_append(&dir.join("out.txt")).unwrap();
        let events = open_append(&dir.join("events.jsonl")).unwrap();
        let log = Logger::new("n".into(), "peer", false, Some(out), Some(events)).batched();
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
