//! Issue 16's handshake benchmark: on loopback, from `connect` to the first frame answered
//! (connect, the handshake both ways, a `Ping` sent and its `Pong` read), one connection at a
//! time. `cargo bench -p hearsay-net --bench handshake`.

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use hearsay_net::conn::{accept, handshake, Identity};
use hearsay_proto::wire::Msg;
use hearsay_proto::{Keypair, Role};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(5);

fn identity(seed: u8, role: Role) -> Identity {
    let addr = SocketAddr::from(([127, 0, 0, 1], 7000 + u16::from(seed)));
    Identity::new(Keypair::from_secret([seed; 32]), role, addr)
}

fn connect_to_first_frame(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (seed, peer) = (identity(1, Role::Seed), identity(2, Role::Peer));
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The listening node: every connection handshaked, its first frame answered.
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seed = seed.clone();
            tokio::spawn(async move {
                let Ok((mut link, _)) = accept(stream, &seed, LIMIT).await else {
                    return;
                };
                if let Ok(Some(Msg::Ping(n))) = link.recv().await {
                    let _ = link.send(&Msg::Pong(n)).await;
                }
            });
        }
    });
    c.bench_function("connect, handshake, first frame answered", |b| {
        b.iter(|| {
            rt.block_on(async {
                let stream = TcpStream::connect(addr).await.expect("connect");
                let (mut link, _) = handshake(stream, &peer, LIMIT).await.expect("handshake");
                link.send(&Msg::Ping(7)).await.expect("send");
                assert_eq!(link.recv().await.expect("recv"), Some(Msg::Pong(7)));
            })
        })
    });
}

criterion_group!(benches, connect_to_first_frame);
criterion_main!(benches);
