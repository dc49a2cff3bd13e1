//! Logs (SPEC §7): a human line on the console and in the `--out` file, and a JSON line in
//! the `--events` file.
//!
//! Lines are formatted on the node's task and handed to one writer thread per process, so
//! a node never waits on a disk or a terminal. The writer takes everything queued, then
//! writes it with one `write` per file (under load, at most every [`GATHER`]): whole lines
//! only, to files opened for appending, so several processes can share one file without
//! interleaving their lines. Under overload the log falls behind (up to [`MAX_QUEUED`]
//! bytes, then lines are dropped and counted), the node does not. [`flush`] waits until
//! everything logged so far is written; the runtime calls it on every way out. A seed's
//! logger is [`Logger::direct`]: it writes each line itself.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
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
    role: &'static str,
    console: bool,
    out: Option<Arc<File>>,
    events: Option<Arc<File>>,
    /// Written by the caller, not the writer thread (see [`Logger::direct`]).
    direct: bool,
    /// Counts every event logged (`--metrics`).
    metrics: Option<Arc<Metrics>>,
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
}

enum Job {
    Line(Target, String),
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
    // One buffer per target, kept from one write to the next: a buffer grown anew for every
    // write costs more in fresh pages than the writing.
    let mut batch: Vec<(Target, Vec<u8>)> = Vec::new();
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next {
            match job {
                Job::Line(target, line) => {
                    taken += line.len();
                    match batch.iter_mut().find(|(t, _)| t.same(&target)) {
                        Some((_, buf)) => buf.extend_from_slice(line.as_bytes()),
                        None => batch.push((target, line.into_bytes())),
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
        batch.retain(|(_, buf)| !buf.is_empty());
        for (target, buf) in &mut batch {
            write_now(target, buf);
            buf.clear();
            buf.shrink_to(2 * MAX_BATCH);
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

fn enqueue(target: Target, line: String) {
    let w = writer();
    if w.queued.fetch_add(line.len(), Ordering::Relaxed) + line.len() > MAX_QUEUED {
        w.queued.fetch_sub(line.len(), Ordering::Relaxed);
        w.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let len = line.len();
    if w.queue.send(Job::Line(target, line)).is_err() {
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
            node,
            role,
            console,
            out,
            events,
            direct: false,
            metrics: None,
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
    pub fn direct(self) -> Logger {
        Logger {
            direct: true,
            ..self
        }
    }

    /// The same files for another node.
    pub fn for_node(&self, node: String, role: &'static str) -> Logger {
        Logger {
            node,
            role,
            ..self.clone()
        }
    }

    /// The human line for an event. Text from the network may hold anything: control
    /// characters are escaped, so an event is always exactly one line.
    pub fn line(&self, now: Time, e: &Event) -> String {
        use std::fmt::Write as _;
        let t = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(now.0));
        let text = crate::text::text(e);
        let mut line = String::with_capacity(text.len() + self.node.len() + 48);
        let _ = write!(line, "{t} {} {} | ", self.role, self.node);
        if text.chars().any(char::is_control) {
            for c in text.chars() {
                match c.is_control() {
                    true => line.extend(c.escape_default()),
                    false => line.push(c),
                }
            }
        } else {
            line.push_str(&text);
        }
        line.push('\n');
        line
    }

    /// The JSON line for an event.
    pub fn json(&self, now: Time, e: &Event) -> String {
        e.json(now, &self.node, self.role)
    }

    /// Logs an event everywhere it should go: through the writer thread, without waiting
    /// for any of it to be written, or itself if [`Logger::direct`].
    pub fn log(&self, now: Time, e: &Event) {
        if let Some(m) = &self.metrics {
            m.observe(&self.node, e);
        }
        let put = |target: Target, line: String| match self.direct {
            true => write_now(&target, line.as_bytes()),
            false => enqueue(target, line),
        };
        if self.console || self.out.is_some() {
            let line = self.line(now, e);
            match &self.out {
                Some(f) => {
                    if self.console {
                        put(Target::Stdout, line.clone());
                    }
                    put(Target::File(f.clone()), line);
                }
                None => put(Target::Stdout, line),
            }
        }
        if let Some(f) = &self.events {
            put(Target::File(f.clone()), self.json(now, e));
        }
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
        let ts: Vec<u64> = events
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["ts"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ts, (0..20_000).collect::<Vec<u64>>());
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
