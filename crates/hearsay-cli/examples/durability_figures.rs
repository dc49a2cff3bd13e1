//! Figures for issue 7 (seeds that lose nothing): store bytes per certificate, restart to
//! serving, and catch-up of an empty seed, with N certificates (default 10,000).
//!
//! `cargo build --release && cargo run --release --example durability_figures -- [N]`
//!
//! It writes the stores of seeds 0 and 1 of a fresh 3-seed network directly (N admissions,
//! each signed by both), starts the release `seed` programs beside it, and times them
//! through `hearsay status`'s client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearsay_net::store::Store;
use hearsay_proto::cert::{Certificate, Change, Op, Vote};
use hearsay_proto::node::Record;
use hearsay_proto::Keypair;

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

fn seed_dir(root: &Path, addr: SocketAddr) -> PathBuf {
    root.join(".hearsay")
        .join(format!("seed-{}-{}", addr.ip(), addr.port()))
}

fn start(root: &Path, addr: SocketAddr) -> Child {
    let exe = std::env::current_exe().expect("exe");
    let seed = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("seed");
    Command::new(seed)
        .current_dir(root)
        .args(["--addr", &addr.to_string(), "--quiet"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the release seed (cargo build --release first)")
}

/// Polls the seed until it says it holds `n` certificates; the time since `from`.
async fn until_holds(addr: SocketAddr, n: u32, from: Instant) -> Duration {
    loop {
        assert!(
            from.elapsed() < Duration::from_secs(120),
            "{addr} does not hold {n} certificates after 2 minutes"
        );
        if let Ok(s) = hearsay_net::fetch_status(addr, Duration::from_secs(5)).await {
            if s.certificates >= n {
                return from.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: u32 = std::env::args().nth(1).map_or(Ok(10_000), |a| a.parse())?;
    let root = std::env::temp_dir().join(format!("hearsay-durability-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let seeds: Vec<SocketAddr> = (0..3).map(|_| free_addr()).collect();
    let config: String = seeds.iter().map(|s| format!("{s}\n")).collect();
    std::fs::write(root.join("config.txt"), config)?;
    let keys: Vec<Keypair> = (seeds.iter())
        .map(|s| hearsay_net::load_or_create_key(&seed_dir(&root, *s)))
        .collect::<Result<_, _>>()?;

    let made = Instant::now();
    let certs: Vec<Certificate> = (0..n)
        .map(|i| {
            let mut secret = [7u8; 32];
            secret[..4].copy_from_slice(&i.to_be_bytes());
            let change = Change {
                op: Op::Add,
                peer: Keypair::from_secret(secret).id(),
                addr: SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7000)),
                incarnation: 1,
            };
            let votes: Vec<Vote> = (keys[..2].iter())
                .map(|k| Vote::new(k, change, true, ""))
                .collect();
            Certificate::from_votes(change, &votes)
        })
        .collect();
    let mut records: Vec<Record> = certs.into_iter().map(Record::Certificate).collect();
    records.extend((seeds.iter().zip(&keys)).map(|(addr, k)| Record::SeedKey {
        addr: *addr,
        id: k.id(),
    }));
    for s in &seeds[..2] {
        let (store, _) = Store::open(&seed_dir(&root, *s))?;
        let t = Instant::now();
        store.write(&records)?;
        let written = t.elapsed();
        let bytes = std::fs::metadata(store.path())?.len();
        println!(
            "store of {s}: {n} certificates written in {written:.2?} (one transaction), {bytes} bytes, {:.0} bytes per certificate",
            bytes as f64 / f64::from(n)
        );
    }
    println!("({n} certificates made in {:.2?})", made.elapsed());

    let mut children = Vec::new();
    for s in &seeds[..2] {
        let t = Instant::now();
        children.push(start(&root, *s));
        let took = until_holds(*s, n, t).await;
        println!("restart to serving {n} certificates ({s}): {took:.2?}");
    }
    let t = Instant::now();
    children.push(start(&root, seeds[2]));
    let took = until_holds(seeds[2], n, t).await;
    println!("an empty seed caught up on {n} certificates: {took:.2?} from its start");
    let mut last = children.pop().expect("seed 2");
    let _ = last.kill();
    let _ = last.wait();
    let t = Instant::now();
    children.push(start(&root, seeds[2]));
    let took = until_holds(seeds[2], n, t).await;
    println!("the caught-up seed restarted to serving {n} certificates: {took:.2?}");
    let bytes = std::fs::metadata(seed_dir(&root, seeds[2]).join(hearsay_net::store::FILE))?.len();
    println!(
        "its store, written by catch-up batches: {bytes} bytes, {:.0} per certificate",
        bytes as f64 / f64::from(n)
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
