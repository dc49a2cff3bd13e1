//! Who may originate gossip, and how fast (PROTOCOL §11.5): only a peer the seeds admitted,
//! at the IP its text names, and each origin at most `burst` messages at once, then one per
//! `every`. Excess messages are dropped, counted, and not fetched again.
//!
//! The bound is a generic cell rate algorithm: per origin one moment, the time at which its
//! bucket would be full again (`tat`); a message passes when it leaves that moment at most
//! `burst × every` ahead. An origin is listed once its certificate has been checked, so the
//! seeds' signatures are checked once per origin, not per message.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cert::Certificate;
use crate::gossip::{Gossip, MsgId};
use crate::id::PeerId;
use crate::sig::{HashKeys, IdMap, Recent};
use crate::time::Time;

/// Most origins listed. Each is an admitted peer, so an attacker needs that many admissions
/// to fill the list; when it is full, origins whose bucket is full again are forgotten, and
/// if none is, the list starts over (everyone's bucket full).
pub(super) const MAX_ORIGINS: usize = 65_536;

/// Most ids of dropped messages remembered, so that their announcements are not answered
/// with a request.
pub(super) const MAX_REFUSED: usize = 4_096;

/// The per-origin bound of one peer's relay.
#[derive(Debug)]
pub(super) struct Origins {
    burst: u32,
    every: Duration,
    listed: IdMap<PeerId, Origin>,
    refused: Recent<MsgId>,
}

/// What a relay knows of one admitted origin.
#[derive(Clone, Debug)]
struct Origin {
    /// The certificate it was admitted with, at its IP (the one IP its messages may name):
    /// every later message carrying the same one shares it, so the Message List holds one
    /// copy per origin, not one per message.
    cert: Arc<Certificate>,
    /// When its bucket is full again.
    tat: Time,
    /// When its first message passed here (its tree has grown since: PROTOCOL §11.7, point 8).
    since: Time,
    /// Whether its last message was dropped (a stretch of drops is logged once).
    limited: bool,
}

/// What becomes of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Relay it.
    Pass,
    /// Its origin is not shown to be admitted at the text's IP: a bad message.
    Unadmitted,
    /// Its certificate cannot be checked yet: it needs a seed's key this peer is learning.
    KeyMissing,
    /// Over its origin's bound: dropped. `first` for the first drop of a stretch.
    Limited {
        /// The first drop since the origin's last message passed.
        first: bool,
    },
}

impl Origins {
    /// A bound of `burst` messages, then one per `every`; ids hashed under `keys`.
    pub(super) fn new(burst: u32, every: Duration, keys: HashKeys) -> Origins {
        Origins {
            burst: burst.max(1),
            every: every.max(Duration::from_millis(1)),
            listed: IdMap::with_hasher(keys),
            refused: Recent::new(MAX_REFUSED, keys),
        }
    }

    /// Messages an origin may have relayed at once, and then one per how long.
    pub(super) fn bound(&self) -> (u32, Duration) {
        (self.burst, self.every)
    }

    /// Whether `origin` is listed: a message of its passed here.
    pub(super) fn listed(&self, origin: &PeerId) -> bool {
        self.listed.contains_key(origin)
    }

    /// Whether `origin` is listed and its first message passed here at or before `at`.
    pub(super) fn listed_by(&self, origin: &PeerId, at: Time) -> bool {
        self.listed.get(origin).is_some_and(|o| o.since <= at)
    }

    /// Whether message `id` was dropped for its origin's bound (and is still remembered).
    pub(super) fn refused(&self, id: &MsgId) -> bool {
        self.refused.contains(id)
    }

    /// Decides on message `id`, `msg` (signature and text already checked; the text names
    /// `ip`), which arrived `now`. `seeds_signed` checks the seeds' signatures on a
    /// certificate (`None`: it cannot tell until it knows a seed's key); it is called only
    /// for an origin not listed yet at `ip`. A listed origin costs one lookup.
    ///
    /// A message that passes and carries its origin's listed certificate is given the
    /// listed copy (the same bytes, one allocation for all of that origin's messages).
    pub(super) fn admit(
        &mut self,
        now: Time,
        (id, msg): (MsgId, &mut Gossip),
        ip: IpAddr,
        seeds_signed: impl FnOnce(&Certificate) -> Option<bool>,
    ) -> Admit {
        let verdict = match self.listed.get_mut(&msg.origin) {
            Some(o) if o.cert.change.addr.ip() == ip => {
                if *o.cert == *msg.cert {
                    msg.cert = o.cert.clone();
                }
                o.charge(now, self.every, self.burst)
            }
            _ if !msg.claims_admission_at(ip) => return Admit::Unadmitted,
            _ => {
                match seeds_signed(&msg.cert) {
                    Some(true) => {}
                    Some(false) => return Admit::Unadmitted,
                    None => return Admit::KeyMissing,
                }
                self.make_room(now);
                // Admitted again at another IP: the same bucket.
                let fresh = Origin {
                    cert: msg.cert.clone(),
                    tat: now,
                    since: now,
                    limited: false,
                };
                let o = self.listed.entry(msg.origin).or_insert(fresh);
                (o.cert, o.limited) = (msg.cert.clone(), false);
                o.charge(now, self.every, self.burst)
            }
        };
        if let Admit::Limited { .. } = verdict {
            self.refused.insert(id);
        }
        verdict
    }

    /// Before an origin is listed: at [`MAX_ORIGINS`], forgets those whose bucket is full
    /// again, or all of them if none is.
    fn make_room(&mut self, now: Time) {
        if self.listed.len() < MAX_ORIGINS {
            return;
        }
        self.listed.retain(|_, o| o.tat > now);
        if self.listed.len() >= MAX_ORIGINS {
            self.listed.clear();
        }
    }
}

impl Origin {
    /// Counts one message against the bucket at `now`: passes while the bucket would be full
    /// again within `burst` × `every`.
    fn charge(&mut self, now: Time, every: Duration, burst: u32) -> Admit {
        let tat = self.tat.max(now) + every;
        if tat.since(now) > every * burst {
            let first = !self.limited;
            self.limited = true;
            Admit::Limited { first }
        } else {
            self.tat = tat;
            self.limited = false;
            Admit::Pass
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{Change, Op};
    use crate::id::Signature;

    /// A message of origin `n` (its signature is not looked at here), admitted at 127.0.0.1.
    fn of(n: u32) -> Gossip {
        let mut id = [0; 32];
        id[..4].copy_from_slice(&n.to_le_bytes());
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 7000));
        let change = Change {
            op: Op::Add,
            peer: PeerId(id),
            addr,
            incarnation: 1,
        };
        Gossip {
            origin: PeerId(id),
            text: crate::gossip::text(Time(0), addr.ip(), 1),
            sig: Signature([0; 64]),
            hops: 0,
            via: None,
            cert: Arc::new(Certificate {
                change,
                sigs: Vec::new(),
            }),
        }
    }

    /// A message with its id, as the relay hands it over.
    fn with_id(g: &mut Gossip) -> (MsgId, &mut Gossip) {
        (g.id(), g)
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// The seeds' signatures are checked once per origin, not per message.
    #[test]
    fn an_origins_certificate_is_checked_once() {
        let mut o = Origins::new(20, Duration::from_secs(1), HashKeys::from_seed(1));
        let mut checked = 0;
        for _ in 0..3 {
            let verdict = o.admit(Time(0), with_id(&mut of(1)), LOCAL, |_| {
                checked += 1;
                Some(true)
            });
            assert_eq!(verdict, Admit::Pass);
        }
        assert_eq!(checked, 1);
        assert_eq!(
            o.admit(Time(0), with_id(&mut of(2)), LOCAL, |_| Some(false)),
            Admit::Unadmitted
        );
        let elsewhere = "10.0.0.1".parse().unwrap();
        assert_eq!(
            o.admit(Time(0), with_id(&mut of(1)), elsewhere, |_| Some(true)),
            Admit::Unadmitted
        );
    }

    /// A peer lists every origin it relays (100 in the simulator's 100,000-peer run: 10
    /// million entries in all), so an entry holds nothing it can work out: the IP an origin
    /// was admitted at is its certificate's.
    #[test]
    fn a_listed_origin_takes_no_more_than_32_bytes() {
        assert!(std::mem::size_of::<Origin>() <= 32);
    }

    /// Every message of a listed origin that carries the certificate it was listed with
    /// shares one copy of it; one carrying another certificate keeps its own.
    #[test]
    fn an_origins_messages_share_its_certificate() {
        let mut o = Origins::new(20, Duration::from_secs(1), HashKeys::from_seed(1));
        let (mut first, mut second) = (of(1), of(1));
        second.text = crate::gossip::text(Time(0), LOCAL, 2);
        assert!(!Arc::ptr_eq(&first.cert, &second.cert), "decoded apart");
        assert_eq!(
            o.admit(Time(0), with_id(&mut first), LOCAL, |_| Some(true)),
            Admit::Pass
        );
        assert_eq!(
            o.admit(Time(0), with_id(&mut second), LOCAL, |_| Some(true)),
            Admit::Pass
        );
        assert!(Arc::ptr_eq(&first.cert, &second.cert));
        let mut other = of(1);
        Arc::make_mut(&mut other.cert).change.incarnation = 2;
        let theirs = other.cert.clone();
        assert_eq!(
            o.admit(Time(0), with_id(&mut other), LOCAL, |_| Some(true)),
            Admit::Pass
        );
        assert!(
            Arc::ptr_eq(&other.cert, &theirs),
            "another certificate is kept"
        );
    }

    /// The list of origins is bounded: at [`MAX_ORIGINS`], those whose bucket is full again
    /// are forgotten; if none is, the list starts over.
    #[test]
    fn the_origins_listed_are_bounded() {
        let every = Duration::from_secs(1);
        let mut o = Origins::new(20, every, HashKeys::from_seed(1));
        let n = MAX_ORIGINS as u32;
        for i in 0..n {
            assert_eq!(
                o.admit(Time(0), with_id(&mut of(i)), LOCAL, |_| Some(true)),
                Admit::Pass
            );
        }
        assert_eq!(o.listed.len(), MAX_ORIGINS);
        // All of them sent within the last second: the list starts over.
        assert_eq!(
            o.admit(Time(0), with_id(&mut of(n)), LOCAL, |_| Some(true)),
            Admit::Pass
        );
        assert_eq!(o.listed.len(), 1);
        // Half sent again later: the other half are full again, and forgotten.
        for i in 0..n - 1 {
            let at = if i % 2 == 0 { Time(0) } else { Time(5_000) };
            o.admit(at, with_id(&mut of(i)), LOCAL, |_| Some(true));
        }
        assert_eq!(o.listed.len(), MAX_ORIGINS);
        o.admit(Time(5_500), with_id(&mut of(n + 1)), LOCAL, |_| Some(true));
        // The 32,767 that sent at 5 s, and the newcomer.
        assert_eq!(o.listed.len(), MAX_ORIGINS / 2);
    }

    /// The ids of dropped messages are remembered, boundedly.
    #[test]
    fn the_refused_ids_are_bounded() {
        let mut o = Origins::new(1, Duration::from_secs(1), HashKeys::from_seed(1));
        o.admit(Time(0), with_id(&mut of(1)), LOCAL, |_| Some(true));
        let mut first = None;
        for seq in 0..(MAX_REFUSED + 10) as u32 {
            let mut g = Gossip {
                text: crate::gossip::text(Time(0), LOCAL, seq),
                ..of(1)
            };
            assert!(matches!(
                o.admit(Time(0), with_id(&mut g), LOCAL, |_| Some(true)),
                Admit::Limited { .. }
            ));
            first.get_or_insert(g.id());
            assert!(o.refused(&g.id()));
        }
        assert_eq!(o.refused.len(), MAX_REFUSED);
        assert!(!o.refused(&first.unwrap()), "the oldest forgotten");
    }
}
