//! The commands a peer's operator can type (issue 5, as the task's write-ups describe):
//! `peers` (or `1`) lists the neighbours and their liveness, `messages` (or `2`) the Message
//! List, `help` the commands.

use std::fmt::Write;

use super::State;

/// Entries of the Message List shown, newest last.
const SHOWN: usize = 20;

impl State {
    /// The answer to one typed line.
    pub(super) fn answer(&self, line: &str) -> String {
        match line.trim() {
            "peers" | "1" => self.show_peers(),
            "messages" | "2" => self.show_messages(),
            "help" | "?" | "" => HELP.to_string(),
            other => format!("unknown command {other:?}; type help\n"),
        }
    }

    fn show_peers(&self) -> String {
        let mut s = format!(
            "{} neighbours (incarnation {}, {}registered):\n",
            self.neighbors.len(),
            self.incarnation,
            if self.cert.is_some() { "" } else { "not yet " }
        );
        for n in self.neighbors.values() {
            let liveness = match n.misses {
                0 => "alive".to_string(),
                m => format!("{m} rounds missed"),
            };
            let how = if n.outbound { "chosen" } else { "chose us" };
            let _ = writeln!(
                s,
                "  {}  {:<22} {how:<9} {liveness}",
                n.id,
                n.addr.to_string()
            );
        }
        for (id, l) in &self.live.lost {
            let _ = writeln!(
                s,
                "  {id}  {:<22} link lost, redialling",
                l.addr().to_string()
            );
        }
        s
    }

    fn show_messages(&self) -> String {
        let ml = self.relay.message_list();
        let c = self.relay.counters();
        let mut s = format!(
            "Message List: {} entries (generated {}, received {}, duplicates {}, dropped {}); the last {}:\n",
            ml.len(),
            c.generated,
            c.received,
            c.duplicates,
            c.dropped,
            SHOWN.min(ml.len())
        );
        let skip = ml.len().saturating_sub(SHOWN);
        for (id, e) in ml.iter().skip(skip) {
            let from = e
                .came_in()
                .first()
                .and_then(|l| self.links.get(l))
                .map_or_else(
                    || "generated here".to_string(),
                    |r| format!("from {}", r.addr),
                );
            let _ = writeln!(
                s,
                "  {id}  {:<32} {from}; announced on {} links, sent on {}",
                e.body.text,
                e.went_out().len() - e.sent().len(),
                e.sent().len()
            );
        }
        s
    }
}

const HELP: &str = "commands:
  peers, 1      neighbours and their liveness
  messages, 2   the Message List (the latest messages)
  help          this list
";

#[cfg(test)]
mod tests;
