//! The gossip half of a peer (SPEC §6 Gossip, PROTOCOL §11): generation, first receipt,
//! announcements and requests, so that each message crosses each link at most once.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use super::State;
use crate::event::Event;
use crate::gossip::{self, Ask, Counters, Gossip, MessageList, MsgId, Wants};
use crate::node::LinkId;
use crate::time::Time;
use crate::wire::Msg;

/// The gossip half of a peer (PROTOCOL §11).
pub(super) struct GossipState {
    pub(super) started: bool,
    pub(super) next: Option<Time>,
    pub(super) generated: u32,
    pub(super) ml: MessageList,
    pub(super) wants: Wants,
    pub(super) counters: Counters,
    pub(super) stats_due: Option<Time>,
    /// Forged messages already logged, so each is logged once (bounded).
    pub(super) logged_bad: VecDeque<MsgId>,
    /// Announcements (`Have`) not handed out yet, in order (see [`State::batched`]).
    pub(super) haves: Vec<(LinkId, MsgId)>,
    /// Requests (`Want`) answering announcements, not handed out yet.
    pub(super) wants_out: Vec<(LinkId, MsgId)>,
}

const LOGGED_BAD: usize = 1024;
const STATS_EVERY: Duration = Duration::from_secs(1);

impl State {
    /// Starts generating once the neighbours are connected: registered, at least one
    /// neighbour, and no neighbour still being dialled.
    pub(super) fn maybe_start_gossip(&mut self) {
        let settled = self.cert.is_some() && self.degree() > 0 && self.outbound_in_flight() == 0;
        if !self.gossip.started && settled && self.settings.gossip_count > 0 {
            self.gossip.started = true;
            self.gossip.next = Some(self.now + self.settings.gossip_delay);
        }
    }

    /// A new message goes straight to every neighbour: none of them can have it yet.
    pub(super) fn generate(&mut self) {
        let g = &mut self.gossip;
        g.generated += 1;
        let seq = g.generated;
        let msg = Gossip::new(&self.key, gossip::text(self.now, self.addr.ip(), seq));
        let id = msg.id();
        g.ml.record(self.now, self.now, id, msg.clone(), None);
        let targets = g.ml.push_to(&id, self.neighbors.keys().copied());
        g.counters.generated += 1;
        g.counters.forwarded += targets.len() as u64;
        let interval = self.settings.gossip_interval;
        g.next = (seq < self.settings.gossip_count).then(|| self.now + interval);
        self.io.event(Event::GossipGenerated {
            id: hex::encode(id.0),
            seq,
            text: msg.text.clone(),
            forwarded: targets.len(),
        });
        for l in targets {
            self.io.send(l, Msg::Gossip(Box::new(msg.clone())));
        }
        self.counters_changed();
    }

    /// A message arrived. First receipt: verify, record, log, and announce it to every
    /// neighbour it has not crossed; they ask for it if they lack it, so it crosses each
    /// link at most once (PROTOCOL §11.3). A duplicate is counted; a forged, malformed or
    /// stale message is dropped and counted, and the next announcer is asked instead.
    pub(super) fn on_gossip(&mut self, link: LinkId, from: SocketAddr, msg: Gossip) {
        let id = msg.id();
        // Only checked messages are listed, so a listed id needs no second check.
        if self.gossip.ml.seen_again(&id, link) {
            self.gossip.counters.duplicates += 1;
            self.io.event(Event::GossipDuplicate {
                id: hex::encode(id.0),
                from: from.to_string(),
            });
            return self.counters_changed();
        }
        // `verify` also checks that the text parses.
        let checked = msg.verify(&self.checks);
        let Some((born, seq)) = gossip::parse_text(&msg.text).filter(|_| checked) else {
            let reason = "a gossip message whose origin signature does not hold";
            return self.drop_bad(id, link, from, reason);
        };
        if self.gossip.ml.outside_window(self.now, born) {
            let reason = "a gossip message outside the time window (a replay?)";
            return self.drop_bad(id, link, from, reason);
        }
        let announcers = self.gossip.wants.done(self.now, &id, link);
        let msg = Gossip {
            hops: msg.hops.saturating_add(1),
            ..msg
        };
        self.gossip
            .ml
            .record(self.now, born, id, msg.clone(), Some(link));
        for l in announcers {
            self.gossip.ml.seen_again(&id, l);
        }
        let targets = self
            .gossip
            .ml
            .announce_to(&id, self.neighbors.keys().copied());
        self.gossip.counters.received += 1;
        self.gossip.counters.announced += targets.len() as u64;
        self.io.event(Event::GossipReceived {
            id: hex::encode(id.0),
            origin: msg.origin.to_hex(),
            seq,
            text: msg.text,
            from: from.to_string(),
            hops: msg.hops,
            latency_ms: self.now.since(born).as_millis() as u64,
            announced: targets.len(),
        });
        self.gossip
            .haves
            .extend(targets.into_iter().map(|l| (l, id)));
        self.counters_changed();
    }

    /// A neighbour has a message: ask for it, unless this peer has it or already asked.
    pub(super) fn on_have(&mut self, link: LinkId, id: MsgId) {
        if self.gossip.ml.seen_again(&id, link) {
            return;
        }
        if let Some(Ask::Ask(l)) = self.gossip.wants.announced(self.now, id, link) {
            self.gossip.counters.requested += 1;
            self.gossip.wants_out.push((l, id));
        }
    }

    /// Several announcements or requests in one frame (`Haves`, `Wants`): each as if it had
    /// come alone. More than [`crate::wire::MAX_IDS`] is a protocol error.
    pub(super) fn on_ids(
        &mut self,
        link: LinkId,
        ids: Vec<MsgId>,
        each: fn(&mut Self, LinkId, MsgId),
    ) {
        if ids.len() > crate::wire::MAX_IDS {
            let reason = format!(
                "{} ids in one frame (at most {})",
                ids.len(),
                crate::wire::MAX_IDS
            );
            return self.protocol_error(link, reason);
        }
        for id in ids {
            each(self, link, id);
        }
    }

    /// A neighbour asks for a message this peer announced.
    pub(super) fn on_want(&mut self, link: LinkId, id: MsgId) {
        if let Some(body) = self.gossip.ml.serve(&id, link) {
            self.gossip.counters.forwarded += 1;
            self.io.send(link, Msg::Gossip(Box::new(body)));
            self.counters_changed();
        }
    }

    /// Asks again at once (a retry after a timeout or a forged answer).
    pub(super) fn want(&mut self, link: LinkId, id: MsgId) {
        self.gossip.counters.requested += 1;
        self.io.send(link, Msg::Want(id));
    }

    /// Drops and counts a bad message and logs it once; if it answered a request, asks the
    /// next neighbour that announced the message.
    fn drop_bad(&mut self, id: MsgId, link: LinkId, from: SocketAddr, reason: &str) {
        self.gossip.counters.dropped += 1;
        self.counters_changed();
        if !self.gossip.logged_bad.contains(&id) {
            if self.gossip.logged_bad.len() == LOGGED_BAD {
                self.gossip.logged_bad.pop_front();
            }
            self.gossip.logged_bad.push_back(id);
            self.io.event(Event::ProtocolError {
                remote: from.to_string(),
                reason: format!("{reason}; dropped"),
            });
        }
        if self.gossip.wants.asked(&id) == Some(link) {
            if let Some(next) = self.gossip.wants.failed(self.now, &id) {
                self.want(next, id);
            }
        }
    }

    /// Hands out the announcements and requests made since the outputs were last drained:
    /// one frame per link and kind, in the order they were made (PROTOCOL §11.3). Drained
    /// after every input (as the simulator does), each goes alone, as `Have` or `Want`; a
    /// driver that handles every frame of a read before draining sends them together, as
    /// `Haves` or `Wants`. Returns whether it handed out anything.
    pub(super) fn batched(&mut self) -> bool {
        let haves = by_link(self.gossip.haves.drain(..));
        let wants = by_link(self.gossip.wants_out.drain(..));
        let any = !(haves.is_empty() && wants.is_empty());
        self.send_ids(haves, Msg::Have, Msg::Haves);
        self.send_ids(wants, Msg::Want, Msg::Wants);
        any
    }

    /// One frame per link: `one` for a single id, `many` for more (at most
    /// [`crate::wire::MAX_IDS`] a frame).
    fn send_ids(
        &mut self,
        by_link: Vec<(LinkId, Vec<MsgId>)>,
        one: fn(MsgId) -> Msg,
        many: fn(Vec<MsgId>) -> Msg,
    ) {
        for (link, ids) in by_link {
            for chunk in ids.chunks(crate::wire::MAX_IDS) {
                let msg = match chunk {
                    [id] => one(*id),
                    _ => many(chunk.to_vec()),
                };
                self.io.send(link, msg);
            }
        }
    }

    pub(super) fn counters_changed(&mut self) {
        if self.gossip.stats_due.is_none() {
            self.gossip.stats_due = Some(self.now + STATS_EVERY);
        }
    }
}

/// Ids grouped by link, links in order of their first id, ids in the order given.
fn by_link(items: impl IntoIterator<Item = (LinkId, MsgId)>) -> Vec<(LinkId, Vec<MsgId>)> {
    let mut out: Vec<(LinkId, Vec<MsgId>)> = Vec::new();
    let mut at: crate::sig::FixedMap<LinkId, usize> = crate::sig::FixedMap::default();
    for (link, id) in items {
        let i = *at.entry(link).or_insert_with(|| {
            out.push((link, Vec::new()));
            out.len() - 1
        });
        out[i].1.push(id);
    }
    out
}

#[cfg(test)]
mod tests;
