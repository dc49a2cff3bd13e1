//! The node's links: reading and writing them, and the connection budget (PROTOCOL §3.1).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hearsay_proto::event::Event;
use hearsay_proto::link::LinkMap;
use hearsay_proto::wire::{Msg, MAX_FRAME};
use hearsay_proto::{Input, LinkId, LinkUse, Machine};
use tokio_util::sync::CancellationToken;

use super::{now, Options};
use crate::budget::{Admit, Inbound};
use crate::conn::STRANGER_FRAME;
use crate::conn::{overdue_reason, Ended, Inbox, LinkUp, Outbox, Read, Readiness, Unsent};
use crate::log::Logger;

/// The node's end of a link.
struct Link {
    inbox: Inbox,
    out: Outbox,
    /// Stops the task writing what a full socket did not take.
    cancel: CancellationToken,
    /// The largest frame it may send ([`STRANGER_FRAME`] or [`MAX_FRAME`]).
    limit: usize,
    /// The round of reading it was last read in.
    round: u64,
}

/// How often idle strangers are looked for and frame limits brought up to date.
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How often the budget says what it did, in one line (never one per link: an attacker
/// holding a thousand links would write a thousand lines).
const BUDGET_LOG_EVERY: Duration = Duration::from_secs(10);

/// Failed handshakes logged one by one in each [`BUDGET_LOG_EVERY`]; the rest are counted
/// into the budget's line (a port scanner, or a flood of bad handshakes, writes a few lines,
/// not one per connection).
const LOGGED_FAILURES: u64 = 10;

/// The largest frame a link may send, by what it is for (PROTOCOL §3.1).
fn frame_limit(use_of: LinkUse) -> usize {
    match use_of {
        LinkUse::Protected => MAX_FRAME,
        LinkUse::Stranger => STRANGER_FRAME,
    }
}

/// What the budget did since its last log line.
#[derive(Debug, Default)]
struct Counts {
    evicted: u64,
    refused: u64,
    idle: u64,
    cut_off: u64,
    /// Inbound handshakes that failed (bad bytes, a wrong version, a bad proof, too slow).
    failed: u64,
}

impl Counts {
    fn any(&self) -> bool {
        self.evicted + self.refused + self.idle + self.cut_off + self.failed > 0
    }
}

/// The node's links and its connection budget (PROTOCOL §3.1).
pub(super) struct Links {
    map: LinkMap<Link>,
    /// Links with frames to write at the end of the turn.
    dirty: Vec<LinkId>,
    /// Links to read, taken from the node's [`Readiness`].
    to_read: Vec<LinkId>,
    /// Links holding part of a frame: while there are any, the sweep looks for overdue ones.
    partials: usize,
    /// Rounds of reading so far.
    round: u64,
    /// Links whose reading ended them, to go down once the frames read with the end are
    /// handled.
    ending: Vec<(LinkId, Ended)>,
    /// The inbound links, within the budget.
    inbound: Inbound,
    counts: Counts,
    /// Handshakes the accept loop dropped: one source IP over its share, or the oldest of a
    /// full pool.
    dropped: Arc<AtomicU64>,
    log_at: Instant,
    /// Inbound links held with a stranger's frame limit. While there are none and nothing
    /// waits to be logged, the sweep sleeps: a settled node (every inbound link a neighbour's
    /// or an admitted peer's) is not woken every second for nothing.
    strangers: usize,
    /// Most frames waiting to be written on one link (`Options::send_queue`).
    send_queue: usize,
}

impl Links {
    pub(super) fn new(opts: &Options) -> Links {
        Links {
            map: LinkMap::default(),
            dirty: Vec::new(),
            to_read: Vec::new(),
            partials: 0,
            round: 0,
            ending: Vec::new(),
            inbound: Inbound::new(opts.max_connections),
            counts: Counts::default(),
            dropped: Arc::new(AtomicU64::new(0)),
            log_at: Instant::now() + BUDGET_LOG_EVERY,
            strangers: 0,
            send_queue: opts.send_queue,
        }
    }

    /// Whether `link` is up.
    pub(super) fn holds(&self, link: LinkId) -> bool {
        self.map.contains_key(&link)
    }

    /// Whether links wait to go down once the frames read with their end are handled.
    pub(super) fn ending(&self) -> bool {
        !self.ending.is_empty()
    }

    /// The count of handshakes the accept loop dropped, shared with it.
    pub(super) fn dropped(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    /// A link that is up: it is read from now on, and the machine hears of it. An inbound
    /// link takes a slot of the budget (this node chose its dials) and starts as a
    /// stranger's, with a stranger's frame limit, until the machine says what it is for.
    pub(super) fn up<M: Machine>(&mut self, machine: &mut M, up: LinkUp) {
        let LinkUp {
            link,
            remote,
            dial,
            inbox,
            out,
            cancel,
        } = up;
        let limit = match dial {
            Some(_) => MAX_FRAME,
            None => STRANGER_FRAME,
        };
        let l = Link {
            inbox,
            out,
            cancel,
            limit,
            round: 0,
        };
        l.inbox.wake();
        self.map.insert(link, l);
        let how = if dial.is_some() {
            "dialled"
        } else {
            "accepted"
        };
        tracing::debug!(
            link = link.0,
            role = remote.role.name(),
            id = %remote.id,
            addr = %remote.addr,
            source = %remote.source,
            "link up ({how})"
        );
        let ip = remote.source.ip();
        let remote = Box::new(remote);
        machine.handle(now(), Input::LinkUp { link, remote, dial });
        if dial.is_none() {
            self.admit(machine, link, ip);
        }
    }

    /// Counts an inbound handshake that failed; whether it is one of the first
    /// [`LOGGED_FAILURES`] of this [`BUDGET_LOG_EVERY`], to be logged on its own.
    pub(super) fn refused(&mut self) -> bool {
        self.counts.failed += 1;
        self.counts.failed <= LOGGED_FAILURES
    }

    /// Whether the sweep has anything to look at: strangers' links, or counts to log.
    pub(super) fn sweep_wanted(&self) -> bool {
        self.strangers > 0
            || self.partials > 0
            || self.counts.any()
            || self.dropped.load(Ordering::Relaxed) > 0
    }

    /// Queues `msg` on `link` (if it is still up), to be written at the end of the turn. A
    /// frame too large, or a link too slow to take its queue, cuts the link.
    pub(super) fn send<M: Machine>(
        &mut self,
        machine: &mut M,
        link: LinkId,
        msg: &Msg,
        log: &Logger,
    ) {
        let Some(l) = self.map.get_mut(&link) else {
            return;
        };
        let first = l.out.is_empty();
        match l.out.push(msg) {
            Ok(()) if first => self.dirty.push(link),
            Ok(()) => {}
            Err(Unsent::TooLarge) => self.cut(machine, link),
            Err(Unsent::Full) => {
                self.cut(machine, link);
                let reason = format!(
                    "send queue full ({} frames): the other side is too slow",
                    self.send_queue
                );
                let remote = format!("link {}", link.0);
                log.log(now(), &Event::ProtocolError { remote, reason });
            }
        }
    }

    /// Closes `link` as the machine asked: what is queued goes first, then the link closes.
    pub(super) fn close(&mut self, link: LinkId) {
        if let Some(l) = self.forget(link) {
            l.out.close(&l.cancel);
        }
    }

    /// Writes every link's frames of the turn. A link whose connection failed is cut.
    pub(super) fn flush<M: Machine>(&mut self, machine: &mut M) {
        let mut failed = Vec::new();
        for link in self.dirty.drain(..) {
            if let Some(l) = self.map.get_mut(&link) {
                if l.out.flush(&l.cancel).is_err() {
                    failed.push(link);
                }
            }
        }
        for link in failed {
            self.cut(machine, link);
        }
    }

    /// Reads every link whose socket has bytes, each frame onto `backlog`; a link whose
    /// reading ends it goes down.
    pub(super) fn read<M: Machine>(
        &mut self,
        machine: &mut M,
        ready: &Readiness,
        backlog: &mut Backlog,
        log: &Logger,
    ) {
        let mut ids = std::mem::take(&mut self.to_read);
        ready.take(&mut ids);
        self.round += 1;
        // Links with more to read, read again after those that wait now.
        let mut more = Vec::new();
        for (i, &link) in ids.iter().enumerate() {
            // A turn's worth is read: the rest wait for the next turn, in their order.
            if backlog.len() >= MAX_TURN {
                ids[i..].iter().for_each(|link| ready.push(*link));
                break;
            }
            let Some(l) = self.map.get_mut(&link) else {
                continue;
            };
            // A link woken twice is read once a round.
            if std::mem::replace(&mut l.round, self.round) == self.round {
                continue;
            }
            let (before, was_partial) = (backlog.len(), l.inbox.partial());
            let read = match l.cancel.is_cancelled() {
                true => Err(Ended::Closed),
                false => {
                    let room = MAX_TURN - backlog.len();
                    (l.inbox).read(l.limit, room, &mut |msg| backlog.push_back((link, msg)))
                }
            };
            match (was_partial, l.inbox.partial()) {
                (false, true) => self.partials += 1,
                (true, false) => self.partials -= 1,
                _ => {}
            }
            let took = backlog.len() > before;
            if took {
                self.inbound.heard(link, Instant::now());
            }
            match read {
                Ok(Read::Waiting) => {}
                Ok(Read::More) => more.push(link),
                // Its last frames are handled first, then it goes down.
                Err(ended) if took => self.ending.push((link, ended)),
                Err(ended) => self.down(machine, link, ended, log),
            }
        }
        more.into_iter().for_each(|link| ready.push(link));
        ids.clear();
        self.to_read = ids;
    }

    /// Takes down the links whose reading ended them after their last frames, once those
    /// are handled and answered.
    pub(super) fn end<M: Machine>(&mut self, machine: &mut M, log: &Logger) {
        for (link, ended) in std::mem::take(&mut self.ending) {
            self.down(machine, link, ended, log);
        }
    }

    /// Forgets a link whose reading ended it, logs why if that is worth a line, and tells
    /// the machine.
    fn down<M: Machine>(&mut self, machine: &mut M, link: LinkId, ended: Ended, log: &Logger) {
        let Some(l) = self.forget(link) else { return };
        l.cancel.cancel();
        tracing::debug!(link = link.0, ?ended, "link down");
        match ended {
            Ended::Closed => {}
            Ended::CutOff(_) => self.counts.cut_off += 1,
            Ended::Bad(reason) => {
                let remote = format!("link {}", link.0);
                log.log(now(), &Event::ProtocolError { remote, reason });
            }
        }
        machine.handle(now(), Input::LinkDown { link });
    }

    /// Forgets `link` (an inbound link gives its slot back).
    fn forget(&mut self, link: LinkId) -> Option<Link> {
        let l = self.map.remove(&link);
        let stranger = l.as_ref().map(|l| l.limit) == Some(STRANGER_FRAME);
        if self.inbound.remove(link) && stranger {
            self.strangers -= 1;
        }
        if l.as_ref().is_some_and(|l| l.inbox.partial()) {
            self.partials -= 1;
        }
        l
    }

    /// Closes `link` on this side, at once, queued frames or not, and tells the machine.
    fn cut<M: Machine>(&mut self, machine: &mut M, link: LinkId) {
        if let Some(l) = self.forget(link) {
            l.cancel.cancel();
        }
        machine.handle(now(), Input::LinkDown { link });
    }

    /// Brings an inbound link's frame limit in line with what the machine says it is for:
    /// after each run of its frames (a registration or a link request changes it at once) and
    /// at every sweep (a certificate or a seed key learned elsewhere changes it too).
    pub(super) fn set_limit<M: Machine>(&mut self, machine: &M, link: LinkId) {
        if let (true, Some(l)) = (self.inbound.holds(link), self.map.get_mut(&link)) {
            let limit = frame_limit(machine.link_use(link));
            let was = std::mem::replace(&mut l.limit, limit);
            match (was == STRANGER_FRAME, limit == STRANGER_FRAME) {
                (true, false) => self.strangers -= 1,
                (false, true) => self.strangers += 1,
                _ => {}
            }
        }
    }

    /// A new inbound link takes a slot, or makes room by evicting a stranger's, or goes.
    fn admit<M: Machine>(&mut self, machine: &mut M, link: LinkId, ip: IpAddr) {
        match (self.inbound).admit(link, ip, Instant::now(), |l| machine.link_use(l)) {
            Admit::In => {}
            Admit::Evict(victim) => {
                self.counts.evicted += 1;
                tracing::debug!(link = victim.0, "evicted for link {}", link.0);
                self.cut(machine, victim);
            }
            Admit::Refuse => {
                self.counts.refused += 1;
                return self.cut(machine, link);
            }
        }
        // It came in with a stranger's limit; the machine may know better already.
        self.strangers += 1;
        self.set_limit(machine, link);
    }

    /// Closes the strangers' links idle past `idle_timeout`, brings frame limits up to date,
    /// and, once per [`BUDGET_LOG_EVERY`], logs what the budget did if it did anything.
    pub(super) fn sweep<M: Machine>(
        &mut self,
        machine: &mut M,
        idle_timeout: Duration,
        log: &Logger,
    ) {
        let at = Instant::now();
        if self.partials > 0 {
            let overdue: Vec<LinkId> = (self.map.iter())
                .filter(|(_, l)| l.inbox.overdue(at))
                .map(|(link, _)| *link)
                .collect();
            for link in overdue {
                self.down(machine, link, Ended::CutOff(overdue_reason()), log);
            }
        }
        for link in (self.inbound).idle(at, idle_timeout, |l| machine.link_use(l)) {
            self.counts.idle += 1;
            self.cut(machine, link);
        }
        for link in self.inbound.links() {
            self.set_limit(machine, link);
        }
        if at < self.log_at {
            return;
        }
        self.log_at = at + BUDGET_LOG_EVERY;
        let c = std::mem::take(&mut self.counts);
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        let parts: Vec<String> = [
            (c.evicted, "evicted to make room"),
            (c.refused, "refused with no room"),
            (c.idle, "closed idle"),
            (c.cut_off, "cut off for a frame too large or too slow"),
            (
                c.failed,
                "handshakes failed (the first 10 logged one by one)",
            ),
            (
                dropped,
                "handshakes dropped (a full pool's oldest, or over one IP's share)",
            ),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !parts.is_empty() {
            let text = format!(
                "connection budget, last {}: {} ({} inbound links held)",
                humantime::format_duration(BUDGET_LOG_EVERY),
                parts.join(", "),
                self.inbound.len()
            );
            log.log(now(), &Event::Notice { text });
        }
    }
}

/// Frames that arrived and wait for their turn.
pub(super) type Backlog = VecDeque<(LinkId, Msg)>;

/// Most frames handled in one turn, before the outputs are carried out.
pub(super) const MAX_TURN: usize = 256;
