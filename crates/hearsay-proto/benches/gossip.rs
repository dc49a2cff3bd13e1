//! The gossip receive path of a peer state machine (issue 3): messages per second per core
//! for a first receipt (verify → record → announce), the same bookkeeping without the
//! signature check, the check alone, and the duplicate path; and one signature made and
//! checked (the floor of a simulated peer's cost).
//!
//! `cargo bench -p hearsay-proto --bench gossip`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hearsay_proto::cert::{Certificate, Change, Op, Vote};
use hearsay_proto::config::Config;
use hearsay_proto::gossip::{self, Gossip, MessageList};
use hearsay_proto::node::DialToken;
use hearsay_proto::sig::Checks;
use hearsay_proto::sig::HashKeys;
use hearsay_proto::wire::Msg;
use hearsay_proto::{peer, Input, Keypair, LinkId, Machine, Output, Remote, Role, Time};

const NOW: Time = Time(1_700_000_000_000);

fn seed_key(i: u8) -> Keypair {
    Keypair::from_secret([i + 1; 32])
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// An admission certificate signed by seeds 0 and 1.
fn admitted(key: &Keypair, at: SocketAddr) -> Certificate {
    let change = Change {
        op: Op::Add,
        peer: key.id(),
        addr: at,
        incarnation: 1,
    };
    let votes: Vec<Vote> = (0..2)
        .map(|i| Vote::new(&seed_key(i), change, true, ""))
        .collect();
    Certificate::from_votes(change, &votes)
}

fn drain(p: &mut peer::State) -> usize {
    std::iter::from_fn(|| p.poll_output()).count()
}

/// A registered peer with three neighbours on links 100, 101 and 102.
fn peer_with_neighbours() -> peer::State {
    let text: String = (0..3)
        .map(|i| format!("{} {}\n", addr(6000 + i), seed_key(i as u8).id().to_hex()))
        .collect();
    let config = Config::parse("bench", &text).expect("config");
    let key = Keypair::from_secret([50; 32]);
    let me = addr(7000);
    let mut p = peer::State::new(
        NOW,
        key.clone(),
        me,
        1,
        config,
        peer::Settings::default(),
        1,
    );
    let dials: Vec<(DialToken, SocketAddr)> = std::iter::from_fn(|| p.poll_output())
        .filter_map(|o| match o {
            Output::Dial { token, addr, .. } => Some((token, addr)),
            _ => None,
        })
        .collect();
    for (n, (token, at)) in dials.into_iter().enumerate() {
        let i = (at.port() - 6000) as u8;
        let remote = Box::new(Remote {
            id: seed_key(i).id(),
            role: Role::Seed,
            addr: at,
            source: at,
        });
        p.handle(
            NOW,
            Input::LinkUp {
                link: LinkId(n as u64),
                remote,
                dial: Some(token),
            },
        );
    }
    p.handle(
        NOW,
        Input::Frame {
            link: LinkId(0),
            msg: Msg::Admitted(Box::new(admitted(&key, me))),
        },
    );
    for n in 0..3u8 {
        let k = Keypair::from_secret([60 + n; 32]);
        let at = addr(7100 + u16::from(n));
        let link = LinkId(100 + u64::from(n));
        let remote = Box::new(Remote {
            id: k.id(),
            role: Role::Peer,
            addr: at,
            source: at,
        });
        p.handle(
            NOW,
            Input::LinkUp {
                link,
                remote,
                dial: None,
            },
        );
        p.handle(
            NOW,
            Input::Frame {
                link,
                msg: Msg::Link(Box::new(admitted(&k, at))),
            },
        );
    }
    assert_eq!(p.neighbors().len(), 3, "bench setup");
    drain(&mut p);
    p
}

/// `n` messages, ten from each origin as in the task (so the receiver checks one admission
/// certificate per ten messages, and no origin reaches its rate bound).
fn messages(n: u32) -> Vec<Gossip> {
    (0..n.div_ceil(10))
        .flat_map(|o| {
            let mut secret = [99; 32];
            secret[..4].copy_from_slice(&o.to_le_bytes());
            let origin = Keypair::from_secret(secret);
            let at = addr(10_000 + o as u16);
            let cert = Arc::new(admitted(&origin, at));
            (1..=10).map(move |i| {
                let text = gossip::text(NOW, at.ip(), i);
                Gossip::new(&origin, text, Arc::clone(&cert))
            })
        })
        .take(n as usize)
        .collect()
}

const POOL: u64 = 20_000;

/// Adds the time `step` takes to `total`.
// A benchmark's own stopwatch: proto's rule against clocks is for the protocol code.
#[allow(clippy::disallowed_methods)]
fn lap(total: &mut Duration, step: impl FnOnce()) {
    let start = Instant::now();
    step();
    *total += start.elapsed();
}

fn receive(c: &mut Criterion) {
    let pool = messages(POOL as u32);
    let mut g = c.benchmark_group("gossip_receive");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));

    // Every message must be new to the peer: a fresh peer (or list) each time the pool
    // wraps, outside the timed part.
    g.bench_function("first_receipt_verify_record_announce", |b| {
        b.iter_custom(|iters| {
            let (mut p, mut total) = (peer_with_neighbours(), Duration::ZERO);
            for i in 0..iters {
                if i > 0 && i % POOL == 0 {
                    p = peer_with_neighbours();
                }
                let msg = Msg::Gossip(Box::new(pool[(i % POOL) as usize].clone()));
                lap(&mut total, || {
                    p.handle(
                        NOW,
                        Input::Frame {
                            link: LinkId(100),
                            msg,
                        },
                    );
                    drain(&mut p);
                });
            }
            total
        })
    });

    // A message of an origin whose key this peer has checked with before (the checks keep it).
    g.bench_function("verify_only", |b| {
        let (m, id, checks) = (&pool[0], pool[0].id(), Checks::default());
        b.iter(|| m.verify(&id, &checks))
    });

    let links = [LinkId(100), LinkId(101), LinkId(102)];
    g.bench_function("first_receipt_without_verify", |b| {
        b.iter_custom(|iters| {
            let fresh =
                || MessageList::new(100_000, Duration::from_secs(600), HashKeys::from_seed(1));
            let (mut ml, mut total) = (fresh(), Duration::ZERO);
            for i in 0..iters {
                if i > 0 && i % POOL == 0 {
                    ml = fresh();
                }
                let m = pool[(i % POOL) as usize].clone();
                lap(&mut total, || {
                    let id = m.id();
                    if !ml.seen_again(&id, links[0]) {
                        ml.record(NOW, NOW, id, m, Some(links[0]));
                        ml.announce_to(&id, links);
                    }
                });
            }
            total
        })
    });

    let mut p = peer_with_neighbours();
    let known = pool[0].clone();
    p.handle(
        NOW,
        Input::Frame {
            link: LinkId(100),
            msg: Msg::Gossip(Box::new(known.clone())),
        },
    );
    drain(&mut p);
    g.bench_function("duplicate", |b| {
        b.iter_batched(
            || known.clone(),
            |m| {
                p.handle(
                    NOW,
                    Input::Frame {
                        link: LinkId(101),
                        msg: Msg::Gossip(Box::new(m)),
                    },
                );
                drain(&mut p)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// One signature made and one checked: the floor of a simulated peer's cost, since each
/// admission and each neighbour report is signed once and checked once even with every
/// repeated check memoized (issue 6).
fn signatures(c: &mut Criterion) {
    let mut g = c.benchmark_group("signatures");
    g.throughput(Throughput::Elements(1));
    let key = seed_key(9);
    let neighbours: Vec<_> = (1..=6).map(|i| seed_key(i).id()).collect();
    g.bench_function("sign_neighbour_report", |b| {
        b.iter(|| hearsay_proto::cert::NeighborReport::new(&key, 1, neighbours.clone()))
    });
    let report = hearsay_proto::cert::NeighborReport::new(&key, 1, neighbours.clone());
    g.bench_function("verify_neighbour_report", |b| {
        b.iter(|| report.verify(&Checks::default()))
    });
    g.finish();
}

criterion_group!(benches, receive, signatures);
criterion_main!(benches);
