use hearsay_proto::handshake::HandshakeError;
use hearsay_proto::LinkId;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::conn::{split, Ended, Inbox, Outbox, Read, Readiness, Unsent};
use hearsay_proto::gossip::MsgId;

const LIMIT: Duration = Duration::from_secs(5);

fn identity(seed: u8, role: Role) -> Identity {
    let addr = SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(seed)));
    Identity::new(Keypair::from_secret([seed; 32]), role, addr)
}

/// An identity whose connections use a static key of its own but present `hello`.
fn presenting(seed: u8, hello: &Hello) -> Identity {
    let me = identity(seed, Role::Peer);
    let pair = builder().generate_keypair().unwrap();
    Identity::with_hello(me.key, me.role, me.addr, pair.private, hello)
}

/// Accepts one connection on a fresh listener as `me`; the dialler connects to the address.
async fn listen(
    me: Identity,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<Result<(Channel, Remote), HandshakeFailed>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        accept(stream, &me, LIMIT).await
    });
    (addr, accepted)
}

async fn dial(addr: SocketAddr, me: &Identity) -> Result<(Channel, Remote), HandshakeFailed> {
    handshake(TcpStream::connect(addr).await.unwrap(), me, LIMIT).await
}

#[tokio::test]
async fn both_sides_learn_the_other_id_role_and_address_and_frames_pass() {
    let (seed, peer) = (identity(1, Role::Seed), identity(2, Role::Peer));
    let (addr, accepted) = listen(seed.clone()).await;
    let (mut dialled, theirs) = dial(addr, &peer).await.unwrap();
    let (mut accepted, mine) = accepted.await.unwrap().unwrap();
    assert_eq!(
        (theirs.id, theirs.role, theirs.addr),
        (seed.key.id(), Role::Seed, seed.addr)
    );
    assert_eq!(
        (mine.id, mine.role, mine.addr),
        (peer.key.id(), Role::Peer, peer.addr)
    );
    dialled.send(&Msg::Ping(7)).await.unwrap();
    accepted.send(&Msg::Pong(7)).await.unwrap();
    assert_eq!(accepted.recv().await.unwrap(), Some(Msg::Ping(7)));
    assert_eq!(dialled.recv().await.unwrap(), Some(Msg::Pong(7)));
}

/// Issue 16: a Hello lifted from another node's connection (signed by that node, over that
/// node's static key) does not pass with the lifter's own static key; nor does a Hello its
/// sender signed itself while claiming another id.
#[tokio::test]
async fn a_static_key_not_signed_by_the_claimed_identity_is_refused() {
    let seed = identity(1, Role::Seed);
    let honest = identity(3, Role::Peer);
    let lifted: Hello = wire::decode(&honest.noise.hello).unwrap();
    let mut claimed = Hello::new(
        &Keypair::from_secret([4; 32]),
        Role::Peer,
        honest.addr,
        &[0; 32],
    );
    claimed.id = honest.key.id();
    for (what, hello) in [("lifted", &lifted), ("claimed", &claimed)] {
        let (addr, accepted) = listen(seed.clone()).await;
        let mallory = presenting(4, hello);
        let _ = dial(addr, &mallory).await;
        match accepted.await.unwrap() {
            Err(HandshakeFailed::Refused(HandshakeError::BadProof(id))) => {
                assert_eq!(id, honest.key.id(), "{what}")
            }
            other => panic!("{what}: {:?}", other.map(|(_, r)| r)),
        }
    }
}

/// A relay between a dialler and a listening node that flips one bit of the first ciphertext
/// byte of the dialler's second Noise transport message; returns the relay's address.
async fn tampering_relay(target: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (inbound, _) = listener.accept().await.unwrap();
        let outbound = TcpStream::connect(target).await.unwrap();
        let (mut ri, mut wi) = inbound.into_split();
        let (mut ro, mut wo) = outbound.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut ro, &mut wi).await });
        // The dialler's bytes: the preamble, handshake messages 1 and 3, then transport
        // messages, each after its 2-byte length.
        let mut seen: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = match ri.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let from = seen.len();
            seen.extend_from_slice(&chunk[..n]);
            let mut at = PREAMBLE.len();
            for _ in 0..3 {
                let Some(len) = seen.get(at..at + 2) else {
                    break;
                };
                at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
            // The first byte of the second transport message's ciphertext.
            let target = at + 2;
            if (from..from + n).contains(&target) {
                chunk[target - from] ^= 0x01;
            }
            if wo.write_all(&chunk[..n]).await.is_err() {
                return;
            }
        }
    });
    addr
}

/// Issue 16: a byte flipped on the path after the handshake closes the link with an
/// authentication error; the frame before it arrives, nothing of or after it does.
#[tokio::test]
async fn a_byte_flipped_on_the_path_closes_the_link_and_nothing_forged_is_applied() {
    let (seed, peer) = (identity(1, Role::Seed), identity(2, Role::Peer));
    let (addr, accepted) = listen(seed).await;
    let relay = tampering_relay(addr).await;
    let (mut dialled, _) = dial(relay, &peer).await.unwrap();
    let (channel, _) = accepted.await.unwrap().unwrap();
    let ready = Arc::new(Readiness::default());
    let (mut inbox, out) = split(channel, LinkId(1), &ready, 16, LIMIT);
    // Three Noise messages: the second is the one tampered with.
    for offset in [1, 2, 3] {
        dialled.send(&Msg::StatusRequest { offset }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read = tokio::time::timeout(LIMIT, read_until_end(&mut inbox, &ready));
    let (got, ended) = read.await.unwrap();
    assert_eq!(got, vec![Msg::StatusRequest { offset: 1 }]);
    assert_eq!(ended, Ended::Bad(FORGED.to_string()));
    // The node drops the link: it is closed at the dialler's end too.
    drop((inbox, out));
    let closed = tokio::time::timeout(LIMIT, async {
        while let Ok(Some(_)) = dialled.recv().await {}
    });
    assert!(closed.await.is_ok());
}

/// Reads `inbox` as the node does, until its reading ends the link: the frames taken, and
/// why it ended.
async fn read_until_end(inbox: &mut Inbox, ready: &Readiness) -> (Vec<Msg>, Ended) {
    let (mut got, mut woken) = (Vec::new(), Vec::new());
    loop {
        match inbox.read(MAX_FRAME, usize::MAX, &mut |msg| got.push(msg)) {
            Ok(Read::More) => continue,
            Ok(Read::Waiting) => {}
            Err(ended) => return (got, ended),
        }
        ready.wait().await;
        ready.take(&mut woken);
    }
}

/// The node's cut (the link's token, and its two ends dropped) ends the connection at once,
/// even while a task still writes what a full socket did not take: the other side reads
/// what was on the way, then the end, not the rest of the queue.
#[tokio::test]
async fn a_cut_ends_a_link_at_once_even_with_frames_waiting() {
    let (inbox, mut out, mut dialled, _) = linked(1 << 20, LIMIT).await;
    let cancel = CancellationToken::new();
    assert_eq!(fill(&mut out, &cancel, 0, 400), 400);
    cancel.cancel();
    drop((inbox, out));
    let mut got = 0;
    let closed = tokio::time::timeout(LIMIT, async {
        while let Ok(Some(_)) = dialled.recv().await {
            got += 1;
        }
    });
    assert!(closed.await.is_ok());
    assert!(
        got < 400,
        "all {got} frames came: the cut waited for the queue"
    );
}

/// Two ends of one Noise session, made in memory.
fn session() -> (Seal, Open) {
    let (i, r) = (identity(1, Role::Peer), identity(2, Role::Peer));
    let mut a = builder()
        .local_private_key(&i.noise.private)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut b = builder()
        .local_private_key(&r.noise.private)
        .unwrap()
        .build_responder()
        .unwrap();
    let (mut m, mut p) = ([0u8; 1024], [0u8; 1024]);
    let n = a.write_message(&[], &mut m).unwrap();
    b.read_message(&m[..n], &mut p).unwrap();
    let n = b.write_message(&[], &mut m).unwrap();
    a.read_message(&m[..n], &mut p).unwrap();
    let n = a.write_message(&[], &mut m).unwrap();
    b.read_message(&m[..n], &mut p).unwrap();
    let a = Arc::new(a.into_stateless_transport_mode().unwrap());
    let b = Arc::new(b.into_stateless_transport_mode().unwrap());
    (
        Seal {
            cipher: a,
            nonce: 0,
        },
        Open {
            cipher: b,
            nonce: 0,
        },
    )
}

/// A frame stream longer than a Noise message goes in several, each at most 65,535 bytes,
/// and comes out whole, however the bytes are cut on the way.
#[test]
fn bytes_longer_than_a_noise_message_are_split_and_joined() {
    let (mut seal, mut open) = session();
    let plain: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut sealed = Vec::new();
    seal.seal(&plain, &mut sealed).unwrap();
    let mut lengths = Vec::new();
    let mut at = 0;
    while at < sealed.len() {
        let len = usize::from(u16::from_be_bytes([sealed[at], sealed[at + 1]]));
        lengths.push(len);
        at += 2 + len;
    }
    assert_eq!(
        lengths,
        vec![
            MAX_NOISE,
            MAX_NOISE,
            MAX_NOISE,
            200_000 - 3 * (MAX_NOISE - TAG) + TAG
        ]
    );
    // Arriving 1,000 bytes at a time.
    let (mut inbound, mut out) = (BytesMut::new(), BytesMut::new());
    for piece in sealed.chunks(1000) {
        inbound.extend_from_slice(piece);
        open.open(&mut inbound, &mut out).unwrap();
    }
    assert!(inbound.is_empty());
    assert_eq!(&out[..], &plain[..]);
    assert!(
        sealed.windows(8).all(|w| w != &plain[1000..1008]),
        "plaintext on the wire"
    );
}

/// A message replayed, or one shorter than its tag, does not open.
#[test]
fn a_replayed_or_truncated_message_does_not_open() {
    let (mut seal, mut open) = session();
    let mut sealed = Vec::new();
    seal.seal(b"one frame", &mut sealed).unwrap();
    let (mut inbound, mut out) = (BytesMut::from(&sealed[..]), BytesMut::new());
    open.open(&mut inbound, &mut out).unwrap();
    assert_eq!(&out[..], b"one frame");
    let mut again = BytesMut::from(&sealed[..]);
    assert!(matches!(
        open.open(&mut again, &mut out),
        Err(ChannelError::Forged)
    ));
    let mut short = BytesMut::from(&[0u8, 15, 1, 2][..]);
    assert!(matches!(
        open.open(&mut short, &mut out),
        Err(ChannelError::Forged)
    ));
    assert_eq!(&out[..], b"one frame");
}

/// A link's two ends after a handshake: the accepting end split as a node splits it (at most
/// `cap` frames waiting; a socket that takes nothing for `timeout` ends it), and the
/// dialler's end as a client.
async fn linked(cap: usize, timeout: Duration) -> (Inbox, Outbox, Channel, Arc<Readiness>) {
    let (seed, peer) = (identity(1, Role::Seed), identity(2, Role::Peer));
    let (addr, accepted) = listen(seed).await;
    let (dialled, _) = dial(addr, &peer).await.unwrap();
    let (channel, _) = accepted.await.unwrap().unwrap();
    let ready = Arc::new(Readiness::default());
    let (inbox, out) = split(channel, LinkId(1), &ready, cap, timeout);
    (inbox, out, dialled, ready)
}

/// Frame `i`: 1,000 ids (32 KiB), the first naming `i`.
fn bulky(i: u32) -> Msg {
    let mut first = [0; 32];
    first[..4].copy_from_slice(&i.to_be_bytes());
    let mut ids = vec![MsgId([7; 32]); 1000];
    ids[0] = MsgId(first);
    Msg::Haves(ids)
}

/// Pushes and flushes frames `from..` one a turn until the link refuses one as full, or
/// until `to`; returns the first frame not taken.
fn fill(out: &mut Outbox, cancel: &CancellationToken, from: u32, to: u32) -> u32 {
    for i in from..to {
        match out.push(&bulky(i)) {
            Ok(()) => out.flush(cancel).unwrap(),
            Err(Unsent::Full) => return i,
            Err(e) => panic!("frame {i}: {e:?}"),
        }
    }
    to
}

/// A side that stops reading gets at most the link's cap of frames queued behind what its
/// socket holds; then the link refuses more. Once the side reads again, every frame taken
/// arrives, in order, and the link takes frames again.
#[tokio::test]
async fn a_link_whose_reader_lags_queues_up_to_its_cap_then_catches_up_in_order() {
    let (_inbox, mut out, mut dialled, _) = linked(64, LIMIT).await;
    let cancel = CancellationToken::new();
    // 10,000 frames are 320 MiB: far more than the sockets' buffers hold.
    let taken = fill(&mut out, &cancel, 0, 10_000);
    assert!(taken < 10_000, "never full");
    assert!(
        taken > 64,
        "full after {taken} frames: the socket took none"
    );
    assert_eq!(out.push(&bulky(taken)), Err(Unsent::Full));
    for i in 0..taken {
        let got = tokio::time::timeout(LIMIT, dialled.recv()).await.unwrap();
        assert_eq!(got.unwrap(), Some(bulky(i)), "frame {i}");
    }
    assert!(!cancel.is_cancelled());
    assert_eq!(fill(&mut out, &cancel, taken, taken + 1), taken + 1);
    let got = tokio::time::timeout(LIMIT, dialled.recv()).await.unwrap();
    assert_eq!(got.unwrap(), Some(bulky(taken)));
}

/// A socket that takes nothing for the write timeout while frames wait ends the link: the
/// node is woken and finds it closed, and the other side, once it reads, finds the
/// connection closed.
#[tokio::test]
async fn a_link_whose_reader_stops_is_ended_after_the_write_timeout() {
    let timeout = Duration::from_millis(300);
    let (mut inbox, mut out, mut dialled, ready) = linked(1 << 20, timeout).await;
    let cancel = CancellationToken::new();
    let started = std::time::Instant::now();
    assert_eq!(fill(&mut out, &cancel, 0, 1000), 1000);
    let read = tokio::time::timeout(LIMIT, read_until_end(&mut inbox, &ready));
    let (got, ended) = read.await.unwrap();
    assert_eq!((got, ended), (vec![], Ended::Closed));
    assert!(cancel.is_cancelled());
    assert!(started.elapsed() >= timeout);
    drop((inbox, out));
    let closed = tokio::time::timeout(LIMIT, async {
        while let Ok(Some(_)) = dialled.recv().await {}
    });
    assert!(closed.await.is_ok());
}

/// A link closed while frames wait for its socket writes them all first, then ends: the
/// other side reads every frame, in order, then the end of the connection.
#[tokio::test]
async fn a_link_closed_with_frames_waiting_delivers_them_all_then_ends() {
    let (_inbox, mut out, mut dialled, _) = linked(1 << 20, LIMIT).await;
    let cancel = CancellationToken::new();
    assert_eq!(fill(&mut out, &cancel, 0, 400), 400);
    out.close(&cancel);
    // 400 frames are 12.5 MiB, more than the sockets hold: some still wait.
    assert!(!cancel.is_cancelled());
    for i in 0..400 {
        let got = tokio::time::timeout(LIMIT, dialled.recv()).await.unwrap();
        assert_eq!(got.unwrap(), Some(bulky(i)), "frame {i}");
    }
    let end = tokio::time::timeout(LIMIT, dialled.recv()).await.unwrap();
    assert_eq!(end.unwrap(), None);
    assert!(cancel.is_cancelled());
}
