//! Malicious nodes (issue 6): the real state machines, wrapped to lie.
//!
//! - A **forger** is a real peer whose every outgoing gossip message has its text altered
//!   after signing, so no copy it sends verifies.
//! - A **lying seed** is a real seed that votes yes to everything and, every second, sends
//!   the other seeds a certificate for a peer that does not exist, signed by the lying seeds
//!   alone.
//! - **Liars** are real peers that collude: the simulator has one of them report a live peer
//!   dead, with dead verdicts signed by all of them ([`false_report`]).
//!
//! `hearsay up --forgers K --lying-seeds K --liars K` runs the same adversaries over real TCP,
//! so that what the simulator checks in virtual time can be shown on a real network.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use hearsay_proto::cert::{Certificate, Change, Op, Vote};
use hearsay_proto::suspicion::{dead_line, DeadReport, Verdict};
use hearsay_proto::wire::Msg;
use hearsay_proto::{peer, seed, Input, Keypair, LinkId, LinkUse, Machine, Output, Role, Time};

/// A node the simulator can look into.
pub(crate) trait SimMachine: Machine {
    fn seed(&self) -> Option<&seed::State> {
        None
    }
    fn peer(&self) -> Option<&peer::State> {
        None
    }
}

impl SimMachine for seed::State {
    fn seed(&self) -> Option<&seed::State> {
        Some(self)
    }
}

impl SimMachine for peer::State {
    fn peer(&self) -> Option<&peer::State> {
        Some(self)
    }
}

/// A peer whose gossip never verifies.
pub struct Forger(pub peer::State);

impl Machine for Forger {
    fn handle(&mut self, now: Time, input: Input) {
        self.0.handle(now, input);
    }
    fn poll_output(&mut self) -> Option<Output> {
        match self.0.poll_output()? {
            Output::Send {
                link,
                msg: Msg::Gossip(mut g),
            } => {
                g.text.push('!');
                Some(Output::Send {
                    link,
                    msg: Msg::Gossip(g),
                })
            }
            other => Some(other),
        }
    }
    fn poll_timeout(&self) -> Option<Time> {
        self.0.poll_timeout()
    }
    fn link_use(&self, link: LinkId) -> LinkUse {
        self.0.link_use(link)
    }
}

impl SimMachine for Forger {
    fn peer(&self) -> Option<&peer::State> {
        Some(&self.0)
    }
}

/// How often a lying seed sends a forged certificate.
pub const FORGE_EVERY: Duration = Duration::from_secs(1);

/// A seed that votes yes to everything and forges certificates.
pub struct LyingSeed {
    /// The real seed it wraps: its Peer List holds only what verified.
    pub inner: seed::State,
    key: Keypair,
    /// The lying seeds' keys: the only signatures a forged certificate can carry.
    accomplices: Vec<Keypair>,
    seed_links: BTreeSet<LinkId>,
    next_forge: Time,
    extra: Vec<Output>,
    forged: u32,
}

impl LyingSeed {
    /// `inner` run with `key`, forging certificates signed by `accomplices` (the lying
    /// seeds' keys, its own included) from one [`FORGE_EVERY`] after `now`.
    pub fn new(inner: seed::State, key: Keypair, accomplices: Vec<Keypair>, now: Time) -> Self {
        LyingSeed {
            inner,
            key,
            accomplices,
            seed_links: BTreeSet::new(),
            next_forge: now + FORGE_EVERY,
            extra: Vec::new(),
            forged: 0,
        }
    }

    fn forge(&mut self) {
        self.forged += 1;
        let n = self.forged;
        let fake = Keypair::from_secret(*blake3::hash(&n.to_be_bytes()).as_bytes());
        let change = Change {
            op: Op::Add,
            peer: fake.id(),
            addr: SocketAddr::from(([10, 9, (n >> 8) as u8, n as u8], 7000)),
            incarnation: 1,
        };
        let votes: Vec<Vote> = (self.accomplices.iter())
            .map(|k| Vote::new(k, change, true, ""))
            .collect();
        let cert = Certificate::from_votes(change, &votes);
        for &link in &self.seed_links {
            self.extra.push(Output::Send {
                link,
                msg: Msg::Commit(Box::new(cert.clone())),
            });
        }
    }
}

impl Machine for LyingSeed {
    fn handle(&mut self, now: Time, input: Input) {
        match &input {
            Input::LinkUp { link, remote, .. } if remote.role == Role::Seed => {
                self.seed_links.insert(*link);
            }
            Input::LinkDown { link } => {
                self.seed_links.remove(link);
            }
            Input::Timeout if now >= self.next_forge => {
                self.next_forge = now + FORGE_EVERY;
                self.forge();
            }
            _ => {}
        }
        self.inner.handle(now, input);
    }

    fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.extra.pop() {
            return Some(o);
        }
        match self.inner.poll_output()? {
            Output::Send {
                link,
                msg: Msg::Vote(v),
            } if !v.yes => Some(Output::Send {
                link,
                msg: Msg::Vote(Box::new(Vote::new(&self.key, v.change, true, ""))),
            }),
            Output::Close { link } if self.seed_links.contains(&link) => {
                // It keeps its links to the other seeds, whatever they said.
                self.poll_output()
            }
            other => Some(other),
        }
    }

    fn poll_timeout(&self) -> Option<Time> {
        Some(
            self.inner
                .poll_timeout()
                .map_or(self.next_forge, |t| t.min(self.next_forge)),
        )
    }

    fn link_use(&self, link: LinkId) -> LinkUse {
        self.inner.link_use(link)
    }
}

impl SimMachine for LyingSeed {
    fn seed(&self) -> Option<&seed::State> {
        Some(&self.inner)
    }
}

/// A report by `liars[0]` that `suspect` is dead, with dead verdicts signed by every liar.
pub fn false_report(
    liars: &[(&Keypair, SocketAddr)],
    suspect: (hearsay_proto::PeerId, SocketAddr, u64),
    now: Time,
) -> DeadReport {
    let verdicts: Vec<Verdict> = (liars.iter())
        .map(|(k, _)| Verdict::new(k, suspect, false, now))
        .collect();
    let (key, me) = liars[0];
    DeadReport::new(key, dead_line(suspect.1, now, me), suspect, verdicts)
}
