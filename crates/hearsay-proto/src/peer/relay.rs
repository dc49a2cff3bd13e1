//! The gossip relay of a peer (SPEC §6 Gossip, PROTOCOL §11): generation, first receipt,
//! announcements and requests, so that each message crosses each link at most once.
//!
//! [`Relay`] owns what gossip needs (the Message List, the requests in flight, the counters,
//! the announcements and requests not handed out yet). Its peer drives it with the moment,
//! the neighbour links and the outbox; it reaches into nothing else of the peer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use self::held::HeldHaves;
use self::origins::{Admit, Origins};
use self::tree::{Ctl, Tree};
use super::Settings;
use crate::cert::Certificate;
use crate::event::Event;
use crate::gossip::{self, Ask, Counters, Gossip, MessageList, MsgId, Wants};
use crate::id::{Keypair, PeerId};
use crate::link::LinkMap;
use crate::node::{LinkId, Outbox};
use crate::sig::{Checks, HashKeys, Recent};
use crate::time::{millis, Time};
use crate::wire::{Msg, MAX_IDS};

/// The gossip relay of one peer (PROTOCOL §11).
pub(super) struct Relay {
    /// This peer: a first message sent along its tree is pushed on from here to every
    /// neighbour, as one of its own.
    me: PeerId,
    gossip_delay: Duration,
    gossip_interval: Duration,
    gossip_count: u32,
    want_patience: Duration,
    announce_hold: Duration,
    started: bool,
    /// When the next message is generated.
    next: Option<Time>,
    generated: u32,
    ml: MessageList,
    wants: Wants,
    /// Who may originate, how fast (PROTOCOL §11.5).
    origins: Origins,
    /// This peer's admission, carried by every message it generates.
    cert: Option<Arc<Certificate>>,
    counters: Counters,
    /// The counters' report: from when it may ride on a turn of other work, and when it is
    /// due on its own (PROTOCOL §11.8).
    stats_due: Option<(Time, Time)>,
    /// Messages refused for their time window or their origin's admission, already logged,
    /// so each is logged once (bounded). A forged one is logged by the peer as it closes the
    /// sender's link ([`Relay::on_gossip`]'s `Err`).
    logged_bad: Recent<MsgId>,
    /// Announcements (`Have`) not handed out yet, in order (see [`Relay::drain`]).
    haves: Vec<(LinkId, MsgId)>,
    /// Announcements of messages that came along their origin's tree, held until their tick,
    /// or until other gossip goes to their link once they are ready; and when each neighbour
    /// link came up: announcements held for an old link wait longer.
    held_haves: HeldHaves,
    /// Links a message or a request went to since the outputs were last drained.
    turn: Vec<LinkId>,
    /// Requests (`Want`) answering announcements, not handed out yet.
    wants_out: Vec<(LinkId, MsgId)>,
    /// Whom each origin's messages are pushed to (PROTOCOL §11.7).
    tree: Tree,
    /// Tree control messages not handed out yet.
    ctl: Vec<(LinkId, Ctl)>,
    /// Messages whose origin's certificate needs a seed key being learned, by id (each
    /// once), with the link and address they came from: taken again once a key is learned.
    held: Vec<(MsgId, (LinkId, SocketAddr), Gossip)>,
}

const LOGGED_BAD: usize = 1024;
/// Most messages held for a seed key; more are dropped as unchecked.
pub(super) const MAX_HELD: usize = 64;
const STATS_EVERY: Duration = Duration::from_secs(1);

impl Relay {
    /// The relay of peer `me`, whose maps of ids hash under `keys`.
    pub(super) fn new(settings: &Settings, keys: HashKeys, me: PeerId) -> Relay {
        Relay {
            me,
            gossip_delay: settings.gossip_delay,
            gossip_interval: settings.gossip_interval,
            gossip_count: settings.gossip_count,
            want_patience: settings.want_patience,
            announce_hold: settings.announce_hold,
            started: false,
            next: None,
            generated: 0,
            ml: MessageList::new(settings.ml_cap, settings.ml_window, keys),
            wants: Wants::new(settings.ml_cap, keys),
            origins: Origins::new(settings.origin_burst, settings.origin_every, keys),
            cert: None,
            counters: Counters::default(),
            stats_due: None,
            logged_bad: Recent::new(LOGGED_BAD, keys),
            haves: Vec::new(),
            held_haves: HeldHaves::new(settings.announce_hold),
            turn: Vec::new(),
            wants_out: Vec::new(),
            tree: Tree::new(keys, settings.trees_from_first),
            ctl: Vec::new(),
            held: Vec::new(),
        }
    }

    /// The counters so far.
    pub(super) fn counters(&self) -> Counters {
        self.counters
    }

    /// The Message List.
    pub(super) fn message_list(&self) -> &MessageList {
        &self.ml
    }

    /// The certificate of this peer's latest admission, which its messages carry. A removal
    /// does not take it back: a peer cut off keeps generating, as before, and relays still
    /// see that the seeds admitted it.
    pub(super) fn admitted(&mut self, cert: Arc<Certificate>) {
        self.cert = Some(cert);
    }

    /// Starts generating, once: the peer's neighbours are connected.
    pub(super) fn start(&mut self, now: Time) {
        if !self.started && self.gossip_count > 0 {
            self.started = true;
            self.next = Some(now + self.gossip_delay);
        }
    }

    /// The earliest moment [`Relay::on_timeout`] has work.
    pub(super) fn deadline(&self) -> Option<Time> {
        [
            self.next,
            self.stats_due.map(|(_, due)| due),
            self.wants.next_deadline(self.want_patience),
        ]
        .into_iter()
        .chain([self.held_haves.deadline()])
        .flatten()
        .min()
    }

    /// Generates a message when one is due, asks the next announcer of each request that
    /// ran out of patience, and logs the counters when due.
    pub(super) fn on_timeout<D>(
        &mut self,
        now: Time,
        me: (&Keypair, IpAddr),
        neighbors: impl Iterator<Item = LinkId>,
        io: &mut Outbox<D>,
    ) {
        if self.next.is_some_and(|t| t <= now) {
            self.generate(now, me, neighbors, io);
        }
        let haves = &mut self.haves;
        (self.held_haves).take_due(now, |link, id| haves.push((link, id)));
        for (id, next) in self.wants.overdue(now, self.want_patience) {
            self.want(next, id, io);
        }
        if self.stats_due.is_some_and(|(_, due)| due <= now) {
            self.report(io);
        }
    }

    /// Logs the counters (PROTOCOL §11.8).
    fn report<D>(&mut self, io: &mut Outbox<D>) {
        self.stats_due = None;
        io.event(Event::GossipStats {
            counters: self.counters,
            ml_size: self.ml.len(),
        });
    }

    /// A message or a request goes to `link` in this turn.
    fn sent(&mut self, link: LinkId) {
        if self.turn.last() != Some(&link) {
            self.turn.push(link);
        }
    }

    /// Hands out the announcements and requests made since the outputs were last drained:
    /// one frame per link and kind, in the order they were made (PROTOCOL §11.3). Drained
    /// after every input (as the simulator does), each goes alone, as `Have` or `Want`; a
    /// driver that handles every frame of a read before draining sends them together, as
    /// `Haves` or `Wants`; then an announcement to a neighbour that sent the message, or
    /// announced it, in the same turn is not sent at all, nor a request for a message that
    /// came in the same turn. With them goes what is ready but not due, so that it costs no
    /// wake-up of its own, here or at the neighbour (PROTOCOL §11.7, point 5): the counters'
    /// report, and announcements held for a link that gossip goes to anyway in this turn (a
    /// message, an announcement, a request or a tree message).
    pub(super) fn drain<D>(&mut self, now: Time, io: &mut Outbox<D>) {
        if self.stats_due.is_some_and(|(ready, _)| ready <= now) {
            self.report(io);
        }
        self.take_back();
        self.ride(now);
        self.hand_out(io);
    }

    /// Moves the held announcements that ride on this turn to those handed out, less those
    /// that are no longer news. After [`Relay::take_back`].
    fn ride(&mut self, now: Time) {
        let mut going = std::mem::take(&mut self.turn);
        if !self.held_haves.any_ready(now) {
            self.turn = reuse(going);
            return;
        }
        let ctl = self.ctl.iter().map(|(l, _)| l);
        let asked = (self.haves.iter()).chain(&self.wants_out).map(|(l, _)| l);
        going.extend(ctl.chain(asked));
        going.sort_unstable();
        going.dedup();
        let (haves, ml, counters) = (&mut self.haves, &mut self.ml, &mut self.counters);
        self.held_haves.take_ready(now, &going, |link, id| {
            if ml.still_news(&id, link) {
                haves.push((link, id));
            } else {
                counters.announced -= 1;
            }
        });
        self.turn = reuse(going);
    }

    /// A new message goes straight to every neighbour: none of them can have it yet. But an
    /// origin's first message, where trees grow from it, goes along the tree of a neighbour
    /// whose messages came here (PROTOCOL §11.7, point 8): to that neighbour, which pushes it
    /// on as one of its own, and to the neighbours this peer pushes that neighbour's
    /// messages to; the others are told of it at a tick, as of a pushed message.
    fn generate<D>(
        &mut self,
        now: Time,
        (key, ip): (&Keypair, IpAddr),
        neighbors: impl Iterator<Item = LinkId>,
        io: &mut Outbox<D>,
    ) {
        let Some(cert) = self.cert.clone() else {
            // Started only once admitted: not reached.
            self.next = None;
            return;
        };
        self.generated += 1;
        let seq = self.generated;
        // A carrier whose message came here a hold ago or more: its tree has grown by now
        // (what a held announcement waits for), where a younger one may still be growing.
        let grown = now - self.announce_hold;
        let carrier = (seq == 1 && !self.announce_hold.is_zero())
            .then(|| self.tree.carrier(|p| self.origins.listed_by(p, grown)))
            .flatten();
        let msg = Gossip {
            via: carrier.map(|(_, via)| Box::new(via)),
            ..Gossip::new(key, gossip::text(now, ip, seq), cert)
        };
        let id = msg.id();
        // Listed with its route: a copy served on request goes along the tree too.
        self.ml.record(now, now, id, msg.clone(), None);
        let targets = match carrier {
            None => self.ml.push_to(&id, neighbors),
            Some((link, via)) => {
                let children = self.tree.along(via, link, Default::default()).0;
                let pushed = self.ml.push_to(&id, [link].into_iter().chain(children));
                let told = self.ml.announce_to(&id, neighbors);
                self.counters.announced += told.len() as u64;
                for l in told {
                    self.announce(now, l, id, 2);
                }
                pushed
            }
        };
        self.counters.generated += 1;
        self.counters.forwarded += targets.len() as u64;
        let interval = self.gossip_interval;
        self.next = (seq < self.gossip_count).then(|| now + interval);
        io.event(Event::GossipGenerated {
            id,
            seq,
            text: msg.text.clone(),
            forwarded: targets.len(),
        });
        for l in targets {
            self.sent(l);
            io.send(l, Msg::Gossip(Box::new(msg.clone())));
        }
        self.counters_changed(now);
    }

    /// A message arrived from the neighbour at `from`. First receipt: verify, record, log,
    /// and announce it to every neighbour it has not crossed; they ask for it if they lack
    /// it, so it crosses each link at most once (PROTOCOL §11.3). A duplicate is counted; a
    /// forged, malformed or stale message, or one whose origin's admission does not hold, is
    /// dropped and counted, and the next announcer is asked instead; one over its origin's
    /// rate bound is dropped and counted, and not asked for again (PROTOCOL §11.5).
    /// Err: the message is forged or malformed, which no honest relay sends (each checks
    /// before it forwards), so its link is to be closed (PROTOCOL §11.4).
    /// `seeds_signed` checks the seeds' signatures on an origin's certificate (`None`: not
    /// until a seed key being learned is known); a message it cannot tell about yet is held
    /// (at most [`MAX_HELD`]) for [`Relay::take_held`], and its request stays open.
    pub(super) fn on_gossip<D>(
        &mut self,
        now: Time,
        (link, from): (LinkId, SocketAddr),
        msg: Gossip,
        neighbors: impl Iterator<Item = LinkId>,
        (checks, seeds_signed): (&Checks, impl FnOnce(&Certificate) -> Option<bool>),
        io: &mut Outbox<D>,
    ) -> Result<(), String> {
        let id = msg.id();
        // Only checked messages are listed, so a listed id needs no second check.
        if self.ml.seen_again(&id, link) {
            // The id covers the origin, so a listed id names the listed message's origin.
            let prune = self.tree.duplicate(msg.origin, link);
            self.ctl.extend(prune.map(|c| (link, c)));
            self.counters.duplicates += 1;
            io.event(Event::GossipDuplicate { id, from });
            self.counters_changed(now);
            return Ok(());
        }
        // `verify` also checks that the text parses.
        let Some(gossip::Text { born, ip, seq }) = msg.verify(&id, checks) else {
            self.dropped(now, id, link, io);
            return Err(
                "a gossip message whose origin signature does not hold (forged or \
                        altered): dropped, and its sender is no longer a neighbour"
                    .into(),
            );
        };
        if self.ml.outside_window(now, born) {
            let reason = "a gossip message outside the time window (a replay?)";
            self.drop_bad(now, id, (link, from), reason, io);
            return Ok(());
        }
        let mut msg = msg;
        // Looked at before `admit` lists the origin: whether it was relayed here before.
        let grow = self.tree.grows(|| self.origins.listed(&msg.origin));
        match self.origins.admit(now, (id, &mut msg), ip, seeds_signed) {
            Admit::Pass => {}
            Admit::Unadmitted => {
                let reason = "a gossip message whose origin is not shown admitted at its IP";
                self.drop_bad(now, id, (link, from), reason, io);
                return Ok(());
            }
            Admit::Limited { first } => {
                self.drop_limited(now, (id, msg.origin), (link, from), first, io);
                return Ok(());
            }
            Admit::KeyMissing if self.held.iter().any(|(held, _, _)| *held == id) => return Ok(()),
            Admit::KeyMissing if self.held.len() < MAX_HELD => {
                self.held.push((id, (link, from), msg));
                return Ok(());
            }
            Admit::KeyMissing => {
                let reason = "a gossip message whose origin's admission needs a seed key not \
                              known yet, with too many such messages held";
                self.drop_bad(now, id, (link, from), reason, io);
                return Ok(());
            }
        }
        let pulled = self.wants.asked(&id) == Some(link);
        let announcers = self.wants.done(now, &id, link);
        let msg = Gossip {
            hops: msg.hops.saturating_add(1),
            ..msg
        };
        self.ml.record(now, born, id, msg.clone(), Some(link));
        for l in announcers {
            self.ml.seen_again(&id, l);
        }
        let receipt = (self.tree).first_receipt(msg.origin, link, pulled, grow);
        self.ctl.extend(receipt.graft.map(|c| (link, c)));
        let (mut children, mut along_tree) = (receipt.children, receipt.along_tree);
        // A first message travels along its carrier's tree (PROTOCOL §11.7, point 8).
        let route = msg.via.as_deref().copied().unwrap_or(msg.origin);
        if route == self.me {
            children = self.tree.carried(msg.origin);
            along_tree = true;
        } else if route != msg.origin {
            (children, along_tree) = self.tree.along(route, link, children);
        }
        let pushed = self.ml.push_to(&id, children);
        for &l in &pushed {
            self.sent(l);
            io.send(l, Msg::Gossip(Box::new(msg.clone())));
        }
        let targets = self.ml.announce_to(&id, neighbors);
        self.counters.received += 1;
        self.counters.forwarded += pushed.len() as u64;
        self.counters.announced += targets.len() as u64;
        io.event(Event::GossipReceived {
            id,
            origin: msg.origin,
            seq,
            text: msg.text,
            from,
            hops: msg.hops,
            latency: now.since(born),
            announced: targets.len(),
        });
        let routes = (msg.origin, route);
        for (l, holds) in (self.tree).announcing(routes, targets, (along_tree, grow)) {
            self.announce(now, l, id, holds);
        }
        self.counters_changed(now);
        Ok(())
    }

    /// Neighbours have messages (`Have`, or `Haves` of at most [`MAX_IDS`]): ask for each,
    /// unless this peer has it or already asked. Err: more ids than a frame may carry.
    pub(super) fn on_haves(
        &mut self,
        now: Time,
        link: LinkId,
        ids: &[MsgId],
    ) -> Result<(), String> {
        within_bound(ids)?;
        for &id in ids {
            if self.ml.seen_again(&id, link) || self.origins.refused(&id) {
                continue;
            }
            if let Some(Ask::Ask(l)) = self.wants.announced(now, id, link) {
                self.counters.requested += 1;
                self.wants_out.push((l, id));
            }
        }
        Ok(())
    }

    /// A neighbour asks for messages this peer announced (`Want`, or `Wants` of at most
    /// [`MAX_IDS`]). Err: more ids than a frame may carry.
    pub(super) fn on_wants<D>(
        &mut self,
        now: Time,
        link: LinkId,
        ids: &[MsgId],
        io: &mut Outbox<D>,
    ) -> Result<(), String> {
        within_bound(ids)?;
        for id in ids {
            if let Some(body) = self.ml.serve(id, link) {
                self.counters.forwarded += 1;
                self.sent(link);
                io.send(link, Msg::Gossip(Box::new(body)));
                self.counters_changed(now);
            }
        }
        Ok(())
    }

    /// A neighbour asks for origins' messages to be pushed to it, handing over this link's
    /// token for those marked `true` (`Graft`, at most [`MAX_IDS`] origins). Err: more
    /// origins than a frame may carry.
    pub(super) fn on_graft(
        &mut self,
        link: LinkId,
        origins: &[(PeerId, bool)],
    ) -> Result<(), String> {
        within_bound(origins)?;
        for &(origin, token) in origins {
            let listed = self.origins.listed(&origin);
            self.tree.on_graft(link, origin, token, listed);
        }
        Ok(())
    }

    /// A neighbour asks that origins' messages no longer be pushed to it (`Prune`, at most
    /// [`MAX_IDS`] origins). Err: more origins than a frame may carry.
    pub(super) fn on_prune(&mut self, link: LinkId, origins: &[PeerId]) -> Result<(), String> {
        within_bound(origins)?;
        for &origin in origins {
            self.tree.on_prune(link, origin);
        }
        Ok(())
    }

    /// Origins with tree state (for tests of its bound).
    #[cfg(test)]
    pub(super) fn tree_origins(&self) -> usize {
        self.tree.origins()
    }

    /// A neighbour link is up at `now`: `peer` at the other end, `dialled` if this peer
    /// opened it.
    pub(super) fn link_up(&mut self, now: Time, link: LinkId, peer: PeerId, dialled: bool) {
        self.tree.link_up(link, peer, dialled);
        self.held_haves.link_up(now, link);
    }

    /// The messages held for a seed key, to be taken again now that one is learned.
    pub(super) fn take_held(&mut self) -> Vec<(MsgId, (LinkId, SocketAddr), Gossip)> {
        std::mem::take(&mut self.held)
    }

    /// A link closed: what was asked of it goes to the next announcer, and what was held
    /// for it is dropped.
    pub(super) fn link_closed<D>(&mut self, now: Time, link: LinkId, io: &mut Outbox<D>) {
        self.tree.link_closed(link);
        self.counters.announced -= self.held_haves.link_closed(link) as u64;
        for (id, next) in self.wants.link_closed(now, link) {
            self.want(next, id, io);
        }
    }

    /// Asks again at once (a retry after a timeout or a forged answer).
    fn want<D>(&mut self, link: LinkId, id: MsgId, io: &mut Outbox<D>) {
        self.counters.requested += 1;
        self.sent(link);
        io.send(link, Msg::Want(id));
    }

    /// Drops and counts a bad message and logs it once; if it answered a request, asks the
    /// next neighbour that announced the message.
    fn drop_bad<D>(
        &mut self,
        now: Time,
        id: MsgId,
        (link, from): (LinkId, SocketAddr),
        reason: &str,
        io: &mut Outbox<D>,
    ) {
        if self.logged_bad.insert(id) {
            io.event(Event::ProtocolError {
                remote: from.to_string(),
                reason: format!("{reason}; dropped"),
            });
        }
        self.dropped(now, id, link, io);
    }

    /// Counts a dropped message; if it answered a request, asks the next neighbour that
    /// announced the message.
    fn dropped<D>(&mut self, now: Time, id: MsgId, link: LinkId, io: &mut Outbox<D>) {
        self.counters.dropped += 1;
        self.counters_changed(now);
        if self.wants.asked(&id) == Some(link) {
            if let Some(next) = self.wants.failed(now, &id) {
                self.want(next, id, io);
            }
        }
    }

    /// Drops and counts a message over its origin's rate bound, and logs the first of a
    /// stretch. Its request is done: other announcers have the same message, over the same
    /// bound.
    fn drop_limited<D>(
        &mut self,
        now: Time,
        (id, origin): (MsgId, crate::id::PeerId),
        (link, from): (LinkId, SocketAddr),
        first: bool,
        io: &mut Outbox<D>,
    ) {
        self.counters.limited += 1;
        self.counters_changed(now);
        self.wants.done(now, &id, link);
        if first {
            let (burst, every) = self.origins.bound();
            io.event(Event::OriginLimited {
                origin,
                from,
                burst,
                every,
            });
        }
    }

    /// [`Relay::drain`] with nothing ready to ride: the turn's own announcements, requests
    /// and tree messages.
    #[cfg(test)]
    pub(super) fn batched<D>(&mut self, io: &mut Outbox<D>) -> bool {
        self.take_back();
        self.hand_out(io)
    }

    /// Sends the announcements, requests and tree messages made, one frame per link and kind.
    fn hand_out<D>(&mut self, io: &mut Outbox<D>) -> bool {
        let haves = by_link(self.haves.drain(..));
        let wants = by_link(self.wants_out.drain(..));
        let (grafts, prunes) = split_ctl(self.ctl.drain(..));
        let any = !(haves.is_empty() && wants.is_empty() && grafts.is_empty() && prunes.is_empty());
        send_ids(haves, Msg::Have, Msg::Haves, io);
        send_ids(wants, Msg::Want, Msg::Wants, io);
        send_ids(grafts, |g| Msg::Graft(vec![g]), Msg::Graft, io);
        send_ids(prunes, |p| Msg::Prune(vec![p]), Msg::Prune, io);
        any
    }

    /// Takes back the announcements not handed out yet that are no longer news, and the
    /// requests for messages listed meanwhile (each counted back).
    fn take_back(&mut self) {
        let (ml, counters) = (&mut self.ml, &mut self.counters);
        self.haves.retain(|(link, id)| {
            let news = ml.still_news(id, *link);
            counters.announced -= u64::from(!news);
            news
        });
        self.wants_out.retain(|(_, id)| {
            let listed = ml.contains(id);
            counters.requested -= u64::from(listed);
            !listed
        });
    }

    /// Announces `id` on `link` at the next drain, or after `holds` (1 or 2) holds, at a tick
    /// of `announce_hold` (PROTOCOL §11.7, point 5; see [`HeldHaves::hold`]).
    fn announce(&mut self, now: Time, link: LinkId, id: MsgId, holds: u32) {
        if holds == 0 || self.announce_hold.is_zero() {
            self.haves.push((link, id));
        } else {
            self.held_haves.hold(now, link, id, holds);
        }
    }

    /// The counters are reported at most once a second while they change: with the first
    /// turn of other work a second after the change, or at the first tick of
    /// `announce_hold` after that, when held announcements wake the peer anyway; never at a
    /// moment of their own.
    fn counters_changed(&mut self, now: Time) {
        if self.stats_due.is_none() {
            let ready = now + STATS_EVERY;
            self.stats_due = Some((ready, on_tick(ready, self.announce_hold)));
        }
    }
}

/// `v` emptied, its allocation kept.
fn reuse<T>(mut v: Vec<T>) -> Vec<T> {
    v.clear();
    v
}

/// The first multiple of `tick` at or after `at`: held announcements and the counters'
/// report become due together, so that a peer wakes once a tick for all of them.
fn on_tick(at: Time, tick: Duration) -> Time {
    let tick = millis(tick).max(1);
    Time(at.0.div_ceil(tick) * tick)
}

/// Err if a frame carries more ids (or origins) than [`MAX_IDS`].
fn within_bound<T>(ids: &[T]) -> Result<(), String> {
    if ids.len() > MAX_IDS {
        return Err(format!(
            "{} ids in one frame (at most {MAX_IDS})",
            ids.len()
        ));
    }
    Ok(())
}

/// Grafts and prunes, each grouped by link.
type ByLink<T> = Vec<(LinkId, Vec<T>)>;

/// Tree control messages as grafts and prunes, each grouped by link.
fn split_ctl(ctl: impl Iterator<Item = (LinkId, Ctl)>) -> (ByLink<(PeerId, bool)>, ByLink<PeerId>) {
    let (mut grafts, mut prunes) = (Vec::new(), Vec::new());
    for (link, c) in ctl {
        match c {
            Ctl::Graft { origin, token } => grafts.push((link, (origin, token))),
            Ctl::Prune { origin } => prunes.push((link, origin)),
        }
    }
    (by_link(grafts), by_link(prunes))
}

/// One frame per link: `one` for a single id, `many` for more (at most [`MAX_IDS`] a frame).
fn send_ids<D, T: Copy>(
    by_link: ByLink<T>,
    one: fn(T) -> Msg,
    many: fn(Vec<T>) -> Msg,
    io: &mut Outbox<D>,
) {
    for (link, ids) in by_link {
        for chunk in ids.chunks(MAX_IDS) {
            let msg = match chunk {
                [id] => one(*id),
                _ => many(chunk.to_vec()),
            };
            io.send(link, msg);
        }
    }
}

/// Ids grouped by link, links in order of their first id, ids in the order given.
fn by_link<T>(items: impl IntoIterator<Item = (LinkId, T)>) -> ByLink<T> {
    let mut out: ByLink<T> = Vec::new();
    let mut at: LinkMap<usize> = LinkMap::default();
    for (link, id) in items {
        let i = *at.entry(link).or_insert_with(|| {
            out.push((link, Vec::new()));
            out.len() - 1
        });
        out[i].1.push(id);
    }
    out
}

mod held;
mod origins;
mod tree;

#[cfg(test)]
mod tests;
