//! Logs (SPEC §7): a human line on the console and in the `--out` file, and a JSON line in
//! the `--events` file.
//!
//! Files are opened for appending and each line goes out in one `write`, so several
//! processes can share one file without interleaving their lines.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use hearsay_proto::event::Event;
use hearsay_proto::Time;

/// Where one node's events go. Cheap to clone; clones share the files.
#[derive(Clone)]
pub struct Logger {
    node: String,
    role: &'static str,
    console: bool,
    out: Option<Arc<File>>,
    events: Option<Arc<File>>,
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
        let t = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(now.0));
        let text: String = e
            .text()
            .chars()
            .flat_map(|c| {
                let escaped = c.is_control().then(|| c.escape_default());
                escaped
                    .into_iter()
                    .flatten()
                    .chain((!c.is_control()).then_some(c))
            })
            .collect();
        format!("{t} {} {} | {text}\n", self.role, self.node)
    }

    /// The JSON line for an event.
    pub fn json(&self, now: Time, e: &Event) -> String {
        e.json(now, &self.node, self.role)
    }

    /// Logs an event everywhere it should go. A failed write is reported on stderr once per
    /// event; the node carries on.
    pub fn log(&self, now: Time, e: &Event) {
        let line = self.line(now, e);
        if self.console {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        if let Some(f) = &self.out {
            if let Err(err) = (&**f).write_all(line.as_bytes()) {
                eprintln!("hearsay: could not write the log file: {err}");
            }
        }
        if let Some(f) = &self.events {
            if let Err(err) = (&**f).write_all(self.json(now, e).as_bytes()) {
                eprintln!("hearsay: could not write the events file: {err}");
            }
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
            addr: "127.0.0.1:6001".into(),
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
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2000);
        for line in text.lines() {
            assert!(
                line.ends_with(&"x".repeat(300)) && line.matches('|').count() == 1,
                "{line}"
            );
        }
    }
}
