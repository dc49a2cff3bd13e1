//! Announcements held for their link (PROTOCOL §11.7, point 5), kept by link as well as by
//! when they are due, so that a turn's gossip to a few links looks at their announcements
//! only, however many are held for the others.

use std::collections::VecDeque;

use crate::gossip::MsgId;
use crate::node::LinkId;
use crate::sig::FixedMap;
use crate::time::Time;

/// Kinds of held announcement: by the link's age, then held once or twice (see
/// `Relay::announce`). Each kind's announcements fall due in the order they were held.
pub(super) const KINDS: usize = 6;

/// Held once or twice: of a link's announcements, those held alike are ready in the order
/// they were held.
const HOLDS: usize = 2;

/// An announcement held for a link: handed out at `due`, a tick of the link's age, or
/// earlier with other gossip to the link, once `ready` (the hold a young link's
/// announcement waits, so that the message's tree has delivered it first).
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) kind: usize,
    pub(super) due: Time,
    pub(super) ready: Time,
    pub(super) link: LinkId,
    pub(super) id: MsgId,
}

/// One held announcement in its link's queue: `seq` orders all of them as they were held.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    seq: u64,
    kind: u8,
    ready: Time,
    id: MsgId,
}

/// The held announcements: by link and holds, each in the order held, and by kind, each in
/// the order held (so in the order due). A link's age only grows, so of its announcements
/// held alike a later one is of the same kind or a later one, ready and due no earlier: each
/// link queue loses its announcements from the front, whether they go with other gossip
/// once ready or at their kind's turn once due. So an entry of `by_kind` is still held
/// exactly when its link queue's first is no later; one that went with other gossip is
/// skipped when reached, and each kind's first entry is always one still held, so that
/// [`HeldHaves::deadline`] is exact.
#[derive(Debug, Default)]
pub(super) struct HeldHaves {
    by_link: FixedMap<LinkId, [VecDeque<Waiting>; HOLDS]>,
    by_kind: [VecDeque<(Time, u64, LinkId)>; KINDS],
    next_seq: u64,
}

impl HeldHaves {
    /// Whether none is held.
    pub(super) fn is_empty(&self) -> bool {
        self.by_kind.iter().all(VecDeque::is_empty)
    }

    /// Holds `h`, after every announcement held before it.
    pub(super) fn hold(&mut self, h: Held) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let kind = h.kind as u8;
        let w = Waiting {
            seq,
            kind,
            ready: h.ready,
            id: h.id,
        };
        let q = &mut self.by_link.entry(h.link).or_default()[holds_of(h.kind)];
        debug_assert!(q
            .back()
            .is_none_or(|b| b.kind <= kind && b.ready <= w.ready));
        q.push_back(w);
        self.by_kind[h.kind].push_back((h.due, seq, h.link));
    }

    /// When the first held announcement is due.
    pub(super) fn deadline(&self) -> Option<Time> {
        self.by_kind
            .iter()
            .filter_map(|k| k.front())
            .map(|f| f.0)
            .min()
    }

    /// Takes every announcement due by `now`: kind by kind, each kind in the order held.
    pub(super) fn take_due(&mut self, now: Time, mut f: impl FnMut(LinkId, MsgId)) {
        for kind in 0..KINDS {
            while let Some(&(due, seq, link)) = self.by_kind[kind].front() {
                if due > now {
                    break;
                }
                self.by_kind[kind].pop_front();
                if let Some(id) = self.take(link, holds_of(kind), seq) {
                    f(link, id);
                }
            }
        }
        self.skip_gone();
    }

    /// Takes every announcement ready by `now` for the links in `going` (sorted): kind by
    /// kind, each kind in the order held, as [`HeldHaves::take_due`] would have.
    pub(super) fn take_ready(
        &mut self,
        now: Time,
        going: &[LinkId],
        mut f: impl FnMut(LinkId, MsgId),
    ) {
        let mut taken = Vec::new();
        for &link in going {
            let Some(queues) = self.by_link.get_mut(&link) else {
                continue;
            };
            for q in queues {
                while let Some(&w) = q.front().filter(|w| w.ready <= now) {
                    q.pop_front();
                    taken.push((w.kind, w.seq, link, w.id));
                }
            }
        }
        if taken.is_empty() {
            return;
        }
        taken.sort_unstable_by_key(|&(kind, seq, _, _)| (kind, seq));
        for (_, _, link, id) in taken {
            f(link, id);
        }
        self.skip_gone();
    }

    /// Drops what is held for `link`; returns how many.
    pub(super) fn link_closed(&mut self, link: LinkId) -> usize {
        let dropped = (self.by_link.remove(&link)).map_or(0, |q| q.iter().map(VecDeque::len).sum());
        self.skip_gone();
        dropped
    }

    /// The announcement held `seq`-th, `holds` times, for `link`, taken out; None if it has
    /// gone already.
    fn take(&mut self, link: LinkId, holds: usize, seq: u64) -> Option<MsgId> {
        let q = &mut self.by_link.get_mut(&link)?[holds];
        // Taken from the front, or gone already (see the type).
        let first = q.front().filter(|first| first.seq == seq)?.id;
        q.pop_front();
        Some(first)
    }

    /// Drops each kind's first entries while their announcement has gone.
    fn skip_gone(&mut self) {
        for (kind, entries) in self.by_kind.iter_mut().enumerate() {
            while let Some(&(_, seq, link)) = entries.front() {
                // A link's announcements held alike go in the order held (see the type).
                let held = (self.by_link.get(&link))
                    .and_then(|q| q[holds_of(kind)].front())
                    .is_some_and(|first| first.seq <= seq);
                if held {
                    break;
                }
                entries.pop_front();
            }
        }
    }
}

/// Which of a link's queues holds announcements of `kind`.
fn holds_of(kind: usize) -> usize {
    kind % HOLDS
}

#[cfg(test)]
mod tests;
