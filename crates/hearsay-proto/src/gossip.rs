//! Gossip messages and the Message List (SPEC §6 Gossip, PROTOCOL §11).
//!
//! A message's text is `<timestamp>:<IP>:<Msg#>`; its identity is a hash over its origin's id
//! and the text, so two peers on one IP never collide; the origin signs it. The Message List
//! remembers, per identity, when it was first seen and which links it crossed in either
//! direction, so that no message crosses a link twice. It is bounded in size and in age, and
//! messages older than its window are refused, so an expired entry cannot be replayed.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::cert::{Certificate, Op};
use crate::id::{Keypair, PeerId, Signature};
use crate::link::{LinkId, LinkMap};
use crate::sig::{signed, Checks, HashKeys, IdMap};
use crate::time::{millis, Time};

/// Longest gossip text accepted, in bytes.
pub const MAX_TEXT: usize = 128;

/// How far ahead of this peer's clock a message's timestamp may be (clock skew).
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// Most requests outstanding with one neighbour: one neighbour's announcements cannot take
/// the whole table.
pub const MAX_WANTS_PER_LINK: usize = 1024;

/// A gossip message as it travels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gossip {
    /// The peer that generated it.
    pub origin: PeerId,
    /// `<timestamp>:<IP>:<Msg#>`.
    pub text: String,
    /// The origin's signature over (origin, text).
    pub sig: Signature,
    /// Links crossed so far (not signed: a metric, not a claim).
    pub hops: u16,
    /// The peer whose tree this message travels along, if not its origin's (not signed: a
    /// route, not a claim): an origin's first message goes along a neighbour's tree, since
    /// its own has not grown yet (PROTOCOL §11.7, point 8). Boxed: most messages have none,
    /// and every Message List entry holds one (a whole id would make each 24 bytes bigger).
    pub via: Option<Box<PeerId>>,
    /// The origin's admission certificate (not signed by the origin: the seeds signed it),
    /// so that every relay can check that the origin was admitted at the text's IP before it
    /// counts the message against the origin's rate bound (PROTOCOL §11.5). Shared, not
    /// copied, by the copies a peer keeps and sends.
    pub cert: Arc<Certificate>,
}

/// A message's identity: blake3 over the origin's id and the text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId(pub [u8; 32]);

impl fmt::Debug for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsgId({})", hex::encode(&self.0[..4]))
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0[..4]))
    }
}

/// The text of the `seq`th message generated at `now` by a peer advertised on `ip`:
/// Unix seconds with a millisecond fraction, the IP, and the sequence number.
pub fn text(now: Time, ip: IpAddr, seq: u32) -> String {
    format!("{}.{:03}:{ip}:{seq}", now.0 / 1000, now.0 % 1000)
}

/// What a text says: `<timestamp>:<IP>:<Msg#>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    /// The timestamp.
    pub born: Time,
    /// The IP of the peer that generated it.
    pub ip: IpAddr,
    /// The sequence number.
    pub seq: u32,
}

/// Reads the timestamp, IP and sequence number back out of a text. The IP may hold colons
/// (IPv6), so the timestamp is before the first colon and the number after the last.
pub fn parse_text(text: &str) -> Option<Text> {
    let (ts, rest) = text.split_once(':')?;
    let (ip, seq) = rest.rsplit_once(':')?;
    let ip = ip.parse::<IpAddr>().ok()?;
    let (secs, millis) = ts.split_once('.')?;
    if millis.len() != 3 {
        return None;
    }
    let ms = secs
        .parse::<u64>()
        .ok()?
        .checked_mul(1000)?
        .checked_add(millis.parse::<u64>().ok()?)?;
    Some(Text {
        born: Time(ms),
        ip,
        seq: seq.parse().ok()?,
    })
}

impl Gossip {
    /// A message signed by its origin, carrying the origin's admission certificate.
    pub fn new(key: &Keypair, text: String, cert: Arc<Certificate>) -> Gossip {
        let origin = key.id();
        let sig = key.sign(&signed(b"hearsay-gossip-v1", &(origin, &text)));
        Gossip {
            origin,
            text,
            sig,
            hops: 0,
            via: None,
            cert,
        }
    }

    /// Its identity.
    pub fn id(&self) -> MsgId {
        let bytes = signed(b"hearsay-gossip-id-v1", &(self.origin, &self.text));
        MsgId(*blake3::hash(&bytes).as_bytes())
    }

    /// What the text says, if it is well-formed and within bounds and the origin's
    /// signature holds. `id` is its [`Gossip::id`], which the caller has computed.
    pub fn verify(&self, id: &MsgId, checks: &Checks) -> Option<Text> {
        debug_assert_eq!(*id, self.id());
        let text = (self.text.len() <= MAX_TEXT)
            .then(|| parse_text(&self.text))
            .flatten()?;
        let bytes = || signed(b"hearsay-gossip-v1", &(self.origin, &self.text));
        (checks.signature_named(&self.origin, &id.0, bytes, &self.sig)).then_some(text)
    }

    /// Whether the certificate it carries names, as its change, the admission of its origin
    /// at `ip` (the text's IP). The seeds' signatures are checked apart.
    pub fn claims_admission_at(&self, ip: IpAddr) -> bool {
        let c = &self.cert.change;
        c.op == Op::Add && c.peer == self.origin && c.addr.ip() == ip
    }
}

/// What the Message List knows of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When this peer first had it (or generated it).
    pub first_seen: Time,
    /// Its timestamp: the entry lives until `born + window`.
    pub born: Time,
    /// Each link it (or its announcement) crossed, in the order first crossed, with how.
    /// One small list: a peer holds thousands of entries, and a simulation millions. Two
    /// inline measured smallest at 10,000 peers (most entries spill either way; a bigger
    /// inline part makes every entry bigger).
    links: SmallVec<[Crossing; 2]>,
    /// The message, to answer requests with.
    pub body: Gossip,
}

/// A link an entry's message (or its announcement) crossed, and how: [`CAME_IN`],
/// [`WENT_OUT`], [`SENT`]. Packed: 9 bytes instead of 16, in every entry's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed)]
struct Crossing {
    link: LinkId,
    how: u8,
}

/// It, or its announcement, came in on the link.
const CAME_IN: u8 = 1;
/// It, or its announcement, went out on the link.
const WENT_OUT: u8 = 2;
/// The message itself went out on the link (at most once).
const SENT: u8 = 4;

impl Entry {
    fn has(&self, link: LinkId, how: u8) -> bool {
        (self.links.iter()).any(|c| { c.link } == link && c.how & how != 0)
    }

    fn mark(&mut self, link: LinkId, how: u8) {
        match self.links.iter_mut().find(|c| { c.link } == link) {
            Some(c) => c.how |= how,
            None => self.links.push(Crossing { link, how }),
        }
    }

    fn crossed(&self, link: LinkId) -> bool {
        self.has(link, CAME_IN | WENT_OUT)
    }

    fn marked(&self, how: u8) -> Vec<LinkId> {
        (self.links.iter())
            .filter(|c| c.how & how != 0)
            .map(|c| c.link)
            .collect()
    }

    /// Links it, or its announcement, came in on.
    pub fn came_in(&self) -> Vec<LinkId> {
        self.marked(CAME_IN)
    }

    /// Links it, or its announcement, went out on.
    pub fn went_out(&self) -> Vec<LinkId> {
        self.marked(WENT_OUT)
    }

    /// Links the message itself went out on.
    pub fn sent(&self) -> Vec<LinkId> {
        self.marked(SENT)
    }
}

/// First time, or seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not in the list: now recorded.
    New,
    /// Already in the list.
    Duplicate,
}

/// The Message List: message identity → [`Entry`], bounded by `cap` entries and by `window`
/// of age. It holds only messages whose signature was checked.
///
/// It keeps no index by age (at a simulation's millions of entries that index was a tenth
/// of the list): expired entries go in a sweep over the table, at most once per
/// 1/[`SWEEP_SLACK`] of the window, and a full list picks its oldest `cap / SWEEP_SLACK`
/// entries to evict in one scan.
#[derive(Debug)]
pub struct MessageList {
    /// Boxed: a table of ids and pointers grows (and is copied, and its fresh pages faulted
    /// in) far faster than one of whole entries, and its empty slots cost a pointer, not an
    /// entry. Peers in one process grow their lists in step, so a table of whole entries
    /// growing at 3,584 messages in 500 peers stalled them all for a third of a second.
    entries: IdMap<MsgId, Box<Entry>>,
    cap: usize,
    window: Duration,
    /// The timestamp of the newest message evicted early (for the cap): messages born then
    /// or before are refused too, since their entries may be gone.
    horizon: Time,
    /// No entry has expired before this: when the next sweep is due.
    sweep_at: Time,
    /// A full list's next entries to evict, the oldest last: picked by one scan.
    doomed: Vec<(Time, MsgId)>,
}

/// Entries outlive the window by at most this fraction of it (so a list whose entries expire
/// one by one is swept only now and then); a full list picks this fraction of `cap` to evict
/// at a time.
pub const SWEEP_SLACK: u32 = 16;

impl MessageList {
    /// A list of at most `cap` entries (must not be zero) that forgets entries older than
    /// `window`, its ids hashed under `keys`.
    pub fn new(cap: usize, window: Duration, keys: HashKeys) -> MessageList {
        MessageList {
            entries: IdMap::with_hasher(keys),
            cap: cap.max(1),
            window,
            horizon: Time(0),
            sweep_at: Time(u64::MAX),
            doomed: Vec::new(),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether it holds `id`.
    pub fn contains(&self, id: &MsgId) -> bool {
        self.entries.contains_key(id)
    }

    /// One entry.
    pub fn get(&self, id: &MsgId) -> Option<&Entry> {
        self.entries.get(id).map(|e| &**e)
    }

    /// Every entry, oldest message first.
    pub fn iter(&self) -> impl Iterator<Item = (&MsgId, &Entry)> {
        let mut all: Vec<(&MsgId, &Entry)> =
            self.entries.iter().map(|(id, e)| (id, &**e)).collect();
        all.sort_unstable_by_key(|(id, e)| (e.born, **id));
        all.into_iter()
    }

    /// Whether a message born at `born` cannot be taken at `now`: older than the window (its
    /// entry would have expired, so taking it could replay it), evicted early, or further
    /// ahead than [`MAX_SKEW`]. An entry lives exactly as long as its message is in the
    /// window, so a message is either listed or refused, never taken twice.
    pub fn outside_window(&self, now: Time, born: Time) -> bool {
        born + self.window < now || born > now + MAX_SKEW || born <= self.horizon
    }

    /// If `id` is listed, notes that it (or its announcement) also came in on `link`, and
    /// returns true.
    pub fn seen_again(&mut self, id: &MsgId, link: LinkId) -> bool {
        let Some(e) = self.entries.get_mut(id) else {
            return false;
        };
        e.mark(link, CAME_IN);
        true
    }

    /// Records a checked message born at `born` that arrived on `link` (`None`: generated
    /// here); `id` is its [`Gossip::id`], which the caller has already computed.
    pub fn record(
        &mut self,
        now: Time,
        born: Time,
        id: MsgId,
        body: Gossip,
        link: Option<LinkId>,
    ) -> Seen {
        debug_assert_eq!(id, body.id());
        let known = match link {
            Some(l) => self.seen_again(&id, l),
            None => self.entries.contains_key(&id),
        };
        if known {
            return Seen::Duplicate;
        }
        self.expire(now);
        while self.entries.len() >= self.cap {
            self.evict_one();
        }
        self.sweep_at = self.sweep_at.min(self.expiry(born));
        let entry = Entry {
            first_seen: now,
            born,
            links: (link.into_iter())
                .map(|link| Crossing { link, how: CAME_IN })
                .collect(),
            body,
        };
        self.entries.insert(id, Box::new(entry));
        Seen::New
    }

    /// When an entry for a message born at `born` has expired.
    fn expiry(&self, born: Time) -> Time {
        born + self.window + Duration::from_millis(1)
    }

    /// Evicts the oldest entry (of those picked at the last scan), for room.
    fn evict_one(&mut self) {
        while !self.entries.is_empty() {
            if self.doomed.is_empty() {
                self.doomed = self.oldest(self.cap / SWEEP_SLACK as usize);
            }
            let Some((born, id)) = self.doomed.pop() else {
                return;
            };
            // It may have expired since it was picked.
            if self.entries.remove(&id).is_some() {
                self.horizon = self.horizon.max(born);
                return;
            }
        }
    }

    /// The `k` (at least one) oldest entries, in one scan: the oldest last.
    fn oldest(&self, k: usize) -> Vec<(Time, MsgId)> {
        let mut all: Vec<(Time, MsgId)> =
            (self.entries.iter()).map(|(id, e)| (e.born, *id)).collect();
        let k = k.max(1);
        if k < all.len() {
            all.select_nth_unstable(k);
            all.truncate(k);
        }
        all.sort_unstable_by(|a, b| b.cmp(a));
        all
    }

    /// Of `links`, those `id` (or its announcement) has crossed in neither direction;
    /// marks them as crossed outward. For announcing.
    pub fn announce_to(
        &mut self,
        id: &MsgId,
        links: impl IntoIterator<Item = LinkId>,
    ) -> Vec<LinkId> {
        let Some(e) = self.entries.get_mut(id) else {
            return Vec::new();
        };
        let out: Vec<LinkId> = links.into_iter().filter(|l| !e.crossed(*l)).collect();
        for l in &out {
            e.mark(*l, WENT_OUT);
        }
        out
    }

    /// Whether an announcement of `id` made on `link` (by [`MessageList::announce_to`]) is
    /// still worth sending: not once the message, or its announcement, has come in on that
    /// link meanwhile (the neighbour has it), which takes the announcement back; nor once the
    /// message is no longer listed (it could not be served).
    pub fn still_news(&mut self, id: &MsgId, link: LinkId) -> bool {
        let Some(e) = self.entries.get_mut(id) else {
            return false;
        };
        match e.links.iter_mut().find(|c| { c.link } == link) {
            Some(c) if c.how & CAME_IN != 0 => {
                c.how &= !WENT_OUT;
                false
            }
            _ => true,
        }
    }

    /// Of `links`, those the message has crossed in neither direction; marks them as carrying
    /// the message. For a message's first hop, from its origin.
    pub fn push_to(&mut self, id: &MsgId, links: impl IntoIterator<Item = LinkId>) -> Vec<LinkId> {
        let out = self.announce_to(id, links);
        if let Some(e) = self.entries.get_mut(id) {
            for l in &out {
                e.mark(*l, SENT);
            }
        }
        out
    }

    /// The message, to send on `link` that asked for it, unless it already went there.
    pub fn serve(&mut self, id: &MsgId, link: LinkId) -> Option<Gossip> {
        let e = self.entries.get_mut(id)?;
        // Sent there before, or it came from there (so the asker has it): not again.
        if e.has(link, SENT | CAME_IN) {
            return None;
        }
        e.mark(link, SENT | WENT_OUT);
        Some(e.body.clone())
    }

    /// Forgets entries whose message is older than the window. An entry may outlive the
    /// window by up to 1/[`SWEEP_SLACK`] of it (until the next sweep), which only makes the
    /// list remember a message longer than it must.
    pub fn expire(&mut self, now: Time) {
        if now < self.sweep_at {
            return;
        }
        let window = self.window;
        let mut next = Time(u64::MAX);
        self.entries.retain(|_, e| {
            let keep = e.born + window >= now;
            if keep {
                next = next.min(e.born);
            }
            keep
        });
        self.sweep_at = (self.expiry(next)).max(now + window / SWEEP_SLACK);
        if self.entries.is_empty() {
            self.entries = IdMap::with_hasher(*self.entries.hasher());
            self.sweep_at = Time(u64::MAX);
        }
    }
}

/// Messages announced to this peer that it does not have yet, and whom it asked
/// (PROTOCOL §11.3). Bounded like the Message List.
#[derive(Debug)]
pub struct Wants {
    map: IdMap<MsgId, Want>,
    /// (when asked, id): the order in which requests run out of patience.
    deadlines: BTreeSet<(Time, MsgId)>,
    /// Requests outstanding per link asked.
    per_link: LinkMap<usize>,
    cap: usize,
    /// How long answered requests took.
    rtt: RoundTrip,
}

/// The smoothed round trip of requests and its variation, in ms (RFC 6298's estimator,
/// in integers so that a simulation stays exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundTrip {
    srtt: u64,
    rttvar: u64,
    sampled: bool,
}

impl RoundTrip {
    /// Most patience, in multiples of the least: a neighbour that stopped answering is given
    /// up on within this, however slow the answers were.
    pub const MAX_FACTOR: u32 = 10;

    /// One request answered after `ms`.
    pub fn sample(&mut self, ms: u64) {
        if !self.sampled {
            (self.srtt, self.rttvar, self.sampled) = (ms, ms / 2, true);
        } else {
            self.rttvar = (3 * self.rttvar + self.srtt.abs_diff(ms)) / 4;
            self.srtt = (7 * self.srtt + ms) / 8;
        }
    }

    /// How long to wait for an answer: the smoothed round trip plus four times its
    /// variation, at least `floor`, at most [`Self::MAX_FACTOR`] times `floor`.
    pub fn patience(&self, floor: Duration) -> Duration {
        let rto = Duration::from_millis(self.srtt + 4 * self.rttvar);
        rto.clamp(floor, floor * Self::MAX_FACTOR)
    }
}

#[derive(Debug)]
struct Want {
    /// When the link now asked was asked.
    at: Time,
    /// Every link that announced it, in the order they did: those before `asked` were
    /// asked and failed, the one at `asked` is asked now, the rest are asked next, in turn.
    links: SmallVec<[LinkId; 2]>,
    asked: u32,
}

impl Want {
    fn asked(&self) -> LinkId {
        self.links[self.asked as usize]
    }
}

/// What to do about an announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Ask this link for the message.
    Ask(LinkId),
    /// Already asked someone; this link is kept in case that fails.
    Wait,
}

impl Wants {
    /// At most `cap` outstanding requests (must not be zero), their ids hashed under `keys`.
    pub fn new(cap: usize, keys: HashKeys) -> Wants {
        Wants {
            map: IdMap::with_hasher(keys),
            deadlines: BTreeSet::new(),
            per_link: LinkMap::default(),
            cap: cap.max(1),
            rtt: RoundTrip::default(),
        }
    }

    /// Outstanding requests.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is outstanding.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// `link` announced `id`, which this peer lacks. `None` when the table is full.
    pub fn announced(&mut self, now: Time, id: MsgId, link: LinkId) -> Option<Ask> {
        if let Some(w) = self.map.get_mut(&id) {
            if !w.links.contains(&link) {
                w.links.push(link);
            }
            return Some(Ask::Wait);
        }
        let mine = self.per_link.get(&link).copied().unwrap_or(0);
        if self.map.len() >= self.cap || mine >= MAX_WANTS_PER_LINK {
            return None;
        }
        self.asking(link, 1);
        self.deadlines.insert((now, id));
        let want = Want {
            at: now,
            links: smallvec::smallvec![link],
            asked: 0,
        };
        self.map.insert(id, want);
        Some(Ask::Ask(link))
    }

    /// The message arrived on `from`: forgets the request and returns every link that
    /// announced it (they have it: nothing need go back to them). An answer from the link
    /// asked times the round trip; one from a link asked before is not (it may answer
    /// either request: Karn's rule).
    pub fn done(&mut self, now: Time, id: &MsgId, from: LinkId) -> SmallVec<[LinkId; 2]> {
        let Some(w) = self.forget(id) else {
            return SmallVec::new();
        };
        if w.asked() == from {
            self.rtt.sample(millis(now.since(w.at)));
        }
        w.links
    }

    /// How long a request waits before the next announcer is asked: the measured round trip
    /// of requests ([`RoundTrip::patience`]), at least `floor`.
    pub fn patience(&self, floor: Duration) -> Duration {
        self.rtt.patience(floor)
    }

    fn forget(&mut self, id: &MsgId) -> Option<Want> {
        let w = self.map.remove(id)?;
        if self.map.is_empty() {
            // A burst of announcements is over: give back the table it grew (a hash map
            // keeps its capacity), which across many peers is most of their idle memory.
            self.map = IdMap::with_hasher(*self.map.hasher());
        }
        self.deadlines.remove(&(w.at, *id));
        self.asking(w.asked(), -1);
        Some(w)
    }

    fn asking(&mut self, link: LinkId, change: isize) {
        let n = self.per_link.entry(link).or_insert(0);
        *n = n.saturating_add_signed(change);
        if *n == 0 {
            self.per_link.remove(&link);
        }
    }

    /// The link asked for `id` failed it (closed, or sent something bad): the next link to
    /// ask, if any announced it too.
    pub fn failed(&mut self, now: Time, id: &MsgId) -> Option<LinkId> {
        let w = self.map.get_mut(id)?;
        let (old, at) = (w.asked(), w.at);
        let Some(&next) = w.links.get(w.asked as usize + 1) else {
            self.forget(id);
            return None;
        };
        w.asked += 1;
        w.at = now;
        self.deadlines.remove(&(at, *id));
        self.deadlines.insert((now, *id));
        self.asking(old, -1);
        self.asking(next, 1);
        Some(next)
    }

    /// Requests older than their [`Wants::patience`] (at least `floor`): (id, next link to
    /// ask).
    pub fn overdue(&mut self, now: Time, floor: Duration) -> Vec<(MsgId, LinkId)> {
        let patience = self.patience(floor);
        let late: Vec<MsgId> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at + patience <= now)
            .map(|(_, id)| *id)
            .collect();
        late.into_iter()
            .filter_map(|id| self.failed(now, &id).map(|l| (id, l)))
            .collect()
    }

    /// Requests made on `link`, which closed: (id, next link to ask). The link is also
    /// struck from every list of links to ask next.
    pub fn link_closed(&mut self, now: Time, link: LinkId) -> Vec<(MsgId, LinkId)> {
        for w in self.map.values_mut() {
            // Struck from those to ask next (kept among those asked: they announced it).
            let mut i = 0;
            w.links.retain(|l| {
                i += 1;
                i <= w.asked as usize + 1 || *l != link
            });
        }
        self.retry(now, |w| w.asked() == link)
    }

    fn retry(&mut self, now: Time, due: impl Fn(&Want) -> bool) -> Vec<(MsgId, LinkId)> {
        let mut late: Vec<MsgId> = self
            .map
            .iter()
            .filter(|(_, w)| due(w))
            .map(|(id, _)| *id)
            .collect();
        // HashMap order is arbitrary; the requests go out in id order, deterministically.
        late.sort_unstable();
        late.into_iter()
            .filter_map(|id| self.failed(now, &id).map(|l| (id, l)))
            .collect()
    }

    /// When the oldest request runs out of patience (at least `floor`).
    pub fn next_deadline(&self, floor: Duration) -> Option<Time> {
        let patience = self.patience(floor);
        self.deadlines.first().map(|(at, _)| *at + patience)
    }

    /// The link `id` was asked of.
    pub fn asked(&self, id: &MsgId) -> Option<LinkId> {
        self.map.get(id).map(Want::asked)
    }
}

/// A peer's gossip counters (reported in `gossip_stats` events).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Messages this peer generated.
    pub generated: u64,
    /// Messages received for the first time.
    pub received: u64,
    /// Copies dropped as duplicates.
    pub duplicates: u64,
    /// Frames carrying a message sent (to the origin's neighbours, and on request).
    pub forwarded: u64,
    /// Announcements sent.
    pub announced: u64,
    /// Requests sent.
    pub requested: u64,
    /// Messages dropped as forged, malformed, outside the window, or from an origin whose
    /// admission does not hold.
    pub dropped: u64,
    /// Messages dropped for their origin's rate bound (PROTOCOL §11.5). Left out of the
    /// logs while zero, as it is in every honest run.
    #[serde(skip_serializing_if = "is_zero")]
    pub limited: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every peer keeps an entry for every message it has seen (ten million in all in the
    /// simulator's 100,000-peer run): a message's route, which few have, is boxed.
    #[test]
    fn a_message_list_entry_takes_no_more_than_192_bytes() {
        assert!(std::mem::size_of::<Gossip>() <= 144);
        assert!(std::mem::size_of::<Entry>() <= 192);
    }

    /// Records `g` under its own id.
    fn record(ml: &mut MessageList, now: Time, born: Time, g: Gossip, l: Option<LinkId>) -> Seen {
        ml.record(now, born, g.id(), g, l)
    }

    fn key(n: u8) -> Keypair {
        Keypair::from_secret([n; 32])
    }

    /// A stand-in admission of `key`'s peer on 127.0.0.1 (no seed signed it: the relay
    /// checks the signatures, the list does not).
    fn admission(key: &Keypair) -> Arc<Certificate> {
        let change = crate::cert::Change {
            op: Op::Add,
            peer: key.id(),
            addr: std::net::SocketAddr::new(LOCAL, 7000),
            incarnation: 1,
        };
        Arc::new(Certificate {
            change,
            sigs: Vec::new(),
        })
    }

    /// `text`, generated by `key`'s peer.
    fn by(key: &Keypair, text: String) -> Gossip {
        Gossip::new(key, text, admission(key))
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn the_text_is_timestamp_ip_and_number_and_parses_back() {
        let t = text(Time(1_700_000_000_042), LOCAL, 7);
        assert_eq!(t, "1700000000.042:127.0.0.1:7");
        let parsed = Text {
            born: Time(1_700_000_000_042),
            ip: LOCAL,
            seq: 7,
        };
        assert_eq!(parse_text(&t), Some(parsed));
        let v6 = text(Time(5_001), "::1".parse().unwrap(), 3);
        assert_eq!(v6, "5.001:::1:3");
        let (born, seq) = (Time(5_001), 3);
        let ip = "::1".parse().unwrap();
        assert_eq!(parse_text(&v6), Some(Text { born, ip, seq }));
        assert_eq!(parse_text("x:127.0.0.1:1"), None);
        assert_eq!(parse_text("1.5:127.0.0.1:1"), None);
    }

    #[test]
    fn same_text_from_two_origins_are_two_messages() {
        // SPEC §6: two peers on one IP generating at the same millisecond with the same Msg#.
        let t = text(Time(1_000), LOCAL, 1);
        let (a, b) = (by(&key(1), t.clone()), by(&key(2), t));
        assert_ne!(a.id(), b.id());
        assert!(
            a.verify(&a.id(), &Checks::default()).is_some()
                && b.verify(&b.id(), &Checks::default()).is_some()
        );
    }

    #[test]
    fn a_forged_or_altered_message_does_not_verify() {
        let real = by(&key(1), text(Time(1_000), LOCAL, 1));
        let mut altered = real.clone();
        altered.text = text(Time(1_000), LOCAL, 2);
        assert_eq!(altered.verify(&altered.id(), &Checks::default()), None);
        let mut forged = by(&key(9), real.text.clone());
        forged.origin = key(1).id(); // claims peer 1 as origin, signed by 9
        assert_eq!(forged.verify(&forged.id(), &Checks::default()), None);
        assert_eq!(
            forged.id(),
            real.id(),
            "a forgery shares the real message's id"
        );
        let mut hopped = real.clone();
        hopped.hops = 9;
        assert!(
            hopped.verify(&hopped.id(), &Checks::default()).is_some(),
            "hops are not signed"
        );
    }

    #[test]
    fn a_message_or_its_announcement_crosses_each_link_once() {
        let mut ml = MessageList::new(10, Duration::from_secs(60), HashKeys::from_seed(1));
        let g = by(&key(1), text(Time(0), LOCAL, 1));
        let id = g.id();
        let (l1, l2, l3, l4) = (LinkId(1), LinkId(2), LinkId(3), LinkId(4));
        assert_eq!(
            record(&mut ml, Time(0), Time(0), g.clone(), Some(l1)),
            Seen::New
        );
        assert!(ml.seen_again(&id, l2));
        // Came in on 1 and 2: announced on 3 and 4 only, and only once.
        assert_eq!(ml.announce_to(&id, [l1, l2, l3, l4]), vec![l3, l4]);
        assert_eq!(ml.announce_to(&id, [l1, l2, l3, l4]), Vec::<LinkId>::new());
        // Served once to whoever asks, never to where it came from.
        assert_eq!(ml.serve(&id, l3), Some(g.clone()));
        assert_eq!(ml.serve(&id, l3), None);
        assert_eq!(ml.serve(&id, l1), None);
        let e = ml.get(&id).unwrap();
        assert_eq!((e.came_in(), e.went_out()), (vec![l1, l2], vec![l3, l4]));
        assert_eq!(e.sent(), vec![l3]);
    }

    /// An announcement is news until the message or its announcement comes in on its link;
    /// then it is taken back (it never went). An unlisted message is news to no one.
    #[test]
    fn an_announcement_stops_being_news_once_the_neighbour_has_the_message() {
        let mut ml = MessageList::new(10, Duration::from_secs(60), HashKeys::from_seed(1));
        let g = by(&key(1), text(Time(0), LOCAL, 1));
        let id = g.id();
        let (l1, l2, l3) = (LinkId(1), LinkId(2), LinkId(3));
        record(&mut ml, Time(0), Time(0), g, Some(l1));
        assert_eq!(ml.announce_to(&id, [l1, l2, l3]), vec![l2, l3]);
        assert!(ml.seen_again(&id, l2));
        assert!(!ml.still_news(&id, l2));
        assert!(ml.still_news(&id, l3));
        let e = ml.get(&id).unwrap();
        assert_eq!((e.came_in(), e.went_out()), (vec![l1, l2], vec![l3]));
        assert!(!ml.still_news(&MsgId([9; 32]), l3));
    }

    #[test]
    fn an_origin_pushes_to_every_link_once() {
        let mut ml = MessageList::new(10, Duration::from_secs(60), HashKeys::from_seed(1));
        let g = by(&key(1), text(Time(0), LOCAL, 1));
        let id = g.id();
        assert_eq!(record(&mut ml, Time(0), Time(0), g, None), Seen::New);
        assert_eq!(
            ml.push_to(&id, [LinkId(1), LinkId(2)]),
            vec![LinkId(1), LinkId(2)]
        );
        assert_eq!(ml.push_to(&id, [LinkId(1)]), vec![]);
        assert_eq!(ml.serve(&id, LinkId(2)), None);
    }

    /// A stand-in message: the list does not check signatures, its caller does.
    fn unsigned(i: u32) -> Gossip {
        Gossip {
            origin: key(1).id(),
            text: text(Time(u64::from(i)), LOCAL, i),
            sig: Signature([0; 64]),
            hops: 0,
            via: None,
            cert: admission(&key(1)),
        }
    }

    #[test]
    fn the_message_list_stays_within_its_bound_under_a_stream_of_distinct_messages() {
        let mut ml = MessageList::new(1000, Duration::from_secs(3600), HashKeys::from_seed(1));
        for i in 0..50_000u32 {
            let at = Time(u64::from(i));
            assert_eq!(
                record(&mut ml, at, at, unsigned(i), Some(LinkId(1))),
                Seen::New
            );
            assert!(ml.len() <= 1000);
        }
        assert_eq!(ml.len(), 1000);
        // Evicted early, so messages born before the newest evicted entry are refused.
        assert!(ml.outside_window(Time(50_000), Time(48_000)));
        assert!(!ml.outside_window(Time(50_000), Time(49_500)));
    }

    #[test]
    fn a_full_list_evicts_its_oldest_messages_first_whatever_order_they_came_in() {
        let mut ml = MessageList::new(64, Duration::from_secs(3600), HashKeys::from_seed(1));
        // Born 0..64 ms, arriving in a scrambled order.
        let born = |i: u32| (i * 37) % 64;
        for i in 0..64 {
            let b = Time(u64::from(born(i)));
            record(&mut ml, Time(0), b, unsigned(born(i)), Some(LinkId(1)));
        }
        assert_eq!(ml.len(), 64);
        for j in 0..64u32 {
            let b = Time(100 + u64::from(j));
            record(&mut ml, Time(0), b, unsigned(100 + j), Some(LinkId(1)));
            assert_eq!(ml.len(), 64, "full, not over and not under");
            for i in 0..64 {
                let listed = ml.contains(&unsigned(i).id());
                assert_eq!(
                    listed,
                    i > j,
                    "message born at {i} ms after {} newer",
                    j + 1
                );
            }
            assert!(
                ml.outside_window(Time(0), Time(u64::from(j))),
                "evicted: refused"
            );
        }
    }

    #[test]
    fn entries_outlive_the_window_by_at_most_the_sweep_slack() {
        let window = Duration::from_secs(16);
        let slack = window / SWEEP_SLACK;
        let mut ml = MessageList::new(10_000, window, HashKeys::from_seed(1));
        for i in 0..400u32 {
            let now = Time(u64::from(i) * 100);
            record(&mut ml, now, now, unsigned(i), None);
            for k in 0..=i {
                let born = Time(u64::from(k) * 100);
                let listed = ml.contains(&unsigned(k).id());
                if born + window >= now {
                    assert!(
                        listed,
                        "born {born:?}, forgotten at {now:?} within the window"
                    );
                }
                if born + window + slack < now {
                    assert!(!listed, "born {born:?}, still listed at {now:?}");
                }
            }
        }
        assert_eq!(ml.iter().count(), ml.len());
        let borns: Vec<Time> = ml.iter().map(|(_, e)| e.born).collect();
        assert!(borns.windows(2).all(|w| w[0] < w[1]), "oldest first");
    }

    #[test]
    fn entries_expire_with_the_window_and_older_messages_are_refused() {
        let mut ml = MessageList::new(100, Duration::from_secs(10), HashKeys::from_seed(1));
        record(&mut ml, Time(0), Time(0), unsigned(1), None);
        ml.expire(Time(10_001));
        assert!(ml.is_empty());
        assert!(ml.outside_window(Time(10_001), Time(0)));
        assert!(!ml.outside_window(Time(10_000), Time(1)));
    }

    #[test]
    fn a_future_dated_message_lives_until_its_own_time_plus_the_window() {
        // A clock 50 s ahead: within the skew, taken, and listed for 10 s past its own time,
        // so it cannot come back as new once the list forgets it.
        let mut ml = MessageList::new(100, Duration::from_secs(10), HashKeys::from_seed(1));
        let ahead = Gossip {
            text: text(Time(50_000), LOCAL, 1),
            ..unsigned(1)
        };
        assert!(!ml.outside_window(Time(0), Time(50_000)));
        assert!(
            ml.outside_window(Time(0), Time(0) + MAX_SKEW + Duration::from_millis(1)),
            "too far ahead"
        );
        record(&mut ml, Time(0), Time(50_000), ahead, None);
        ml.expire(Time(59_000));
        assert_eq!(
            ml.len(),
            1,
            "still listed after the window measured from first sight"
        );
        ml.expire(Time(60_001));
        assert!(ml.is_empty());
        assert!(
            ml.outside_window(Time(60_001), Time(50_000)),
            "and from then on refused"
        );
    }

    #[test]
    fn requests_stay_within_their_bound_and_move_on_when_a_link_fails() {
        let mut w = Wants::new(2, HashKeys::from_seed(1));
        let id = |i: u32| unsigned(i).id();
        assert_eq!(
            w.announced(Time(0), id(1), LinkId(1)),
            Some(Ask::Ask(LinkId(1)))
        );
        assert_eq!(w.announced(Time(0), id(1), LinkId(2)), Some(Ask::Wait));
        assert_eq!(
            w.announced(Time(0), id(2), LinkId(1)),
            Some(Ask::Ask(LinkId(1)))
        );
        assert_eq!(w.announced(Time(0), id(3), LinkId(1)), None, "full");
        assert_eq!(w.link_closed(Time(5), LinkId(1)), vec![(id(1), LinkId(2))]);
        assert_eq!(w.len(), 1, "id 2 had nobody else to ask");
        assert_eq!(w.overdue(Time(6), Duration::from_secs(1)), vec![]);
        w.done(Time(6), &id(1), LinkId(1));
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(Duration::from_secs(1)), None);
    }

    /// Issue 13, PROTOCOL §11.3: under load answers come slowly, and asking the next
    /// announcer after a fixed second would fetch a second copy; the wait follows the
    /// measured round trip of requests (RFC 6298), between the floor and ten times it.
    #[test]
    fn the_wait_before_asking_the_next_announcer_follows_the_measured_round_trip() {
        let floor = Duration::from_secs(1);
        let mut w = Wants::new(10, HashKeys::from_seed(1));
        let id = |i: u32| unsigned(i).id();
        assert_eq!(w.patience(floor), floor, "nothing measured yet");
        // Answers within a few ms keep the floor.
        for i in 0..8 {
            w.announced(Time(i * 100), id(i as u32), LinkId(1));
            w.done(Time(i * 100 + 5), &id(i as u32), LinkId(1));
        }
        assert_eq!(w.patience(floor), floor);
        // Answers that take 2 s: srtt and rttvar follow them up.
        let mut t = 10_000;
        for i in 10..30 {
            w.announced(Time(t), id(i), LinkId(1));
            t += 2_000;
            w.done(Time(t), &id(i), LinkId(1));
        }
        let patience = w.patience(floor);
        assert!(
            patience > Duration::from_millis(2_000) && patience < Duration::from_millis(4_000),
            "{patience:?}"
        );
        // So a request now is not given up on after one second, but after that patience.
        w.announced(Time(t), id(40), LinkId(1));
        w.announced(Time(t), id(40), LinkId(2));
        assert_eq!(w.overdue(Time(t + 1_000), floor), vec![]);
        assert_eq!(w.next_deadline(floor), Some(Time(t) + patience));
        assert_eq!(
            w.overdue(Time(t) + patience, floor),
            vec![(id(40), LinkId(2))]
        );
        // An answer from the link asked before is not timed (it may answer either request).
        let before = w.rtt;
        w.done(Time(t + 9_000), &id(40), LinkId(1));
        assert_eq!(w.rtt, before);
        // However slow the answers, a silent neighbour is given up on within ten times the
        // floor.
        w.rtt.sample(60_000);
        assert_eq!(w.patience(floor), floor * RoundTrip::MAX_FACTOR);
    }

    #[test]
    fn a_closed_link_is_not_asked_next_but_every_announcer_is_told_when_the_message_comes() {
        let mut w = Wants::new(10, HashKeys::from_seed(1));
        let id = unsigned(1).id();
        let patience = Duration::from_secs(1);
        assert_eq!(
            w.announced(Time(0), id, LinkId(1)),
            Some(Ask::Ask(LinkId(1)))
        );
        for l in [2, 3, 4, 3] {
            assert_eq!(w.announced(Time(0), id, LinkId(l)), Some(Ask::Wait));
        }
        // Link 1 does not answer: link 2 is asked next.
        assert_eq!(w.overdue(Time(1000), patience), vec![(id, LinkId(2))]);
        // Link 3, still to be asked, closes: nothing to do now, and it is not asked later.
        assert_eq!(w.link_closed(Time(1500), LinkId(3)), vec![]);
        assert_eq!(w.overdue(Time(2000), patience), vec![(id, LinkId(4))]);
        assert_eq!(w.asked(&id), Some(LinkId(4)));
        // Those asked before it (1 and 2) announced it: they need not get it back.
        assert_eq!(
            w.done(Time(2500), &id, LinkId(4)).into_vec(),
            vec![LinkId(1), LinkId(2), LinkId(4)]
        );
        assert!(w.is_empty());
    }

    #[test]
    fn shared_checks_never_pass_a_forged_copy_of_a_checked_message() {
        let checks = Checks::shared(2, HashKeys::from_seed(1));
        let real = by(&key(1), text(Time(0), LOCAL, 1));
        let forged = Gossip {
            sig: by(&key(2), real.text.clone()).sig,
            ..real.clone()
        };
        assert!(real.verify(&real.id(), &checks).is_some());
        assert!(real.verify(&real.id(), &checks).is_some(), "remembered");
        assert_eq!(real.id(), forged.id());
        assert!(
            forged.verify(&forged.id(), &checks).is_none(),
            "same id, other signature: checked, and refused"
        );
    }

    #[test]
    fn one_neighbour_cannot_fill_the_request_table() {
        let mut w = Wants::new(10 * MAX_WANTS_PER_LINK, HashKeys::from_seed(1));
        for i in 0..(2 * MAX_WANTS_PER_LINK) as u32 {
            w.announced(Time(u64::from(i)), unsigned(i).id(), LinkId(1));
        }
        assert_eq!(w.len(), MAX_WANTS_PER_LINK);
        let other = unsigned(u32::MAX).id();
        assert_eq!(
            w.announced(Time(0), other, LinkId(2)),
            Some(Ask::Ask(LinkId(2)))
        );
        // The oldest request runs out of patience first.
        assert_eq!(
            w.next_deadline(Duration::from_secs(1)),
            Some(Time(0) + Duration::from_secs(1))
        );
    }
}
