//! A local network of real `seed` and `peer` processes on 127.0.0.1 for integration tests.
//! Every child is killed when the `Net` is dropped, pass or fail.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, Stdio};
use std::time::{Duration, Instant};

use hearsay_net::conn::Identity;
use hearsay_proto::config::Config;
use hearsay_proto::{peer, Input, Keypair, LinkId, LinkUse, Machine, Output, PeerId, Role, Time};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const SEED: &str = env!("CARGO_BIN_EXE_seed");
pub const PEER: &str = env!("CARGO_BIN_EXE_peer");
pub const HEARSAY: &str = env!("CARGO_BIN_EXE_hearsay");

/// Fast liveness: 200 ms rounds, suspicion after 3 misses, 2 s for verdicts.
pub const FAST: [&str; 6] = [
    "--ping-interval",
    "200ms",
    "--suspect-after",
    "3",
    "--verdict-timeout",
    "2s",
];

/// A port nobody listens on right now, and never one this test process was given before:
/// a port is free again once its probe closes, and the system may hand it out twice in a
/// row (a config of three seeds once listed one address twice, and `hearsay up` refused it).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        if GIVEN.lock().unwrap_or_else(|e| e.into_inner()).insert(port) {
            return port;
        }
    }
}

pub struct Net {
    pub dir: PathBuf,
    pub seeds: Vec<SocketAddr>,
    seed_procs: BTreeMap<usize, Child>,
    peers: Vec<(String, Child)>,
}

impl Net {
    /// A fresh run directory with a config of `n` seeds on free ports (none started).
    pub fn new(name: &str, n: usize) -> Net {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("run dir");
        let seeds: Vec<SocketAddr> = (0..n)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
            .collect();
        let text: String = seeds.iter().map(|s| format!("{s}\n")).collect();
        std::fs::write(dir.join("config.txt"), text).expect("config");
        Net {
            dir,
            seeds,
            seed_procs: BTreeMap::new(),
            peers: Vec::new(),
        }
    }

    fn common_args(&self, name: &str) -> Vec<String> {
        let d = self.dir.display();
        vec![
            "--config".into(),
            format!("{d}/config.txt"),
            "--out".into(),
            format!("{d}/outputfile.txt"),
            "--events".into(),
            format!("{d}/{name}.jsonl"),
            "--data-dir".into(),
            format!("{d}/data"),
            "--quiet".into(),
        ]
    }

    pub fn start_seed(&mut self, i: usize) {
        self.start_seed_with(i, &[]);
    }

    /// Starts seed `i` with extra flags.
    pub fn start_seed_with(&mut self, i: usize, extra: &[&str]) {
        let child = Command::new(SEED)
            .args(self.common_args(&format!("seed{i}")))
            .args(["--addr", &self.seeds[i].to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn seed");
        self.seed_procs.insert(i, child);
    }

    pub fn start_seeds(&mut self) {
        for i in 0..self.seeds.len() {
            self.start_seed(i);
        }
        let seeds = self.seeds.clone();
        wait_for("seeds listening", Duration::from_secs(10), || {
            for s in &seeds {
                std::net::TcpStream::connect(s).map_err(|e| format!("{s}: {e}"))?;
            }
            Ok(())
        });
    }

    /// Seed `i`'s process id.
    pub fn seed_pid(&self, i: usize) -> u32 {
        self.seed_procs[&i].id()
    }

    pub fn kill_seed(&mut self, i: usize) {
        if let Some(mut c) = self.seed_procs.remove(&i) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits until seed `i` listens.
    pub fn wait_seed_listening(&self, i: usize) {
        let s = self.seeds[i];
        wait_for("the seed listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(s).map_err(|e| format!("{s}: {e}"))?;
            Ok(())
        });
    }

    /// Waits for seed `i` to exit (within `limit`) and returns its output.
    pub fn wait_seed_exit(&mut self, i: usize, limit: Duration) -> process::Output {
        let child = self.seed_procs.remove(&i).expect("no such seed");
        wait_exit(child, &format!("seed{i}"), limit)
    }

    /// Seed `i`'s store file.
    pub fn seed_store(&self, i: usize) -> PathBuf {
        let s = self.seeds[i];
        self.dir
            .join("data")
            .join(format!("seed-{}-{}", s.ip(), s.port()))
            .join("store.redb")
    }

    /// Starts a peer named `name` (its events go to `<name>.jsonl`).
    pub fn start_peer(&mut self, name: &str, extra: &[&str]) {
        let child = Command::new(PEER)
            .args(self.common_args(name))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peer");
        self.peers.push((name.to_string(), child));
    }

    /// Takes peer `name`'s process out of the network's care.
    fn take_peer(&mut self, name: &str) -> Child {
        let i = self
            .peers
            .iter()
            .position(|(n, _)| n == name)
            .expect("no such peer");
        self.peers.remove(i).1
    }

    /// Peer `name`'s process id.
    pub fn pid_of(&self, name: &str) -> u32 {
        let (_, child) = self
            .peers
            .iter()
            .find(|(n, _)| n == name)
            .expect("no such peer");
        child.id()
    }

    /// Waits for peer `name` to exit (within `limit`) and returns its output.
    pub fn wait_peer(&mut self, name: &str, limit: Duration) -> process::Output {
        let child = self.take_peer(name);
        wait_exit(child, &format!("peer {name}"), limit)
    }

    /// SIGKILLs peer `name`.
    pub fn kill_peer(&mut self, name: &str) {
        let mut child = self.take_peer(name);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The events a node wrote so far.
    pub fn events(&self, name: &str) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{name}.jsonl"))).unwrap_or_default();
        text.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad event line {l:?}: {e}"))
            })
            .collect()
    }

    /// The events of one kind a node wrote so far.
    pub fn events_named(&self, name: &str, event: &str) -> Vec<Value> {
        self.events(name)
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }

    /// A node's id, from its `started` event.
    pub fn id_of(&self, name: &str) -> Option<String> {
        self.events_named(name, "started")
            .first()
            .and_then(|e| e["id"].as_str().map(str::to_string))
    }

    /// The human log shared by every node.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("outputfile.txt")).unwrap_or_default()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (_, c) in self.peers.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for c in self.seed_procs.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits for `child` to exit (within `limit`) and returns its output.
pub fn wait_exit(mut child: Child, what: &str, limit: Duration) -> process::Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Peer `id`'s Peer List entry in a seed's status: its id, address and incarnation.
pub fn member(st: &Value, id: &str) -> (PeerId, SocketAddr, u64) {
    let p = st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap();
    (
        PeerId::from_hex(id).unwrap(),
        p["addr"].as_str().unwrap().parse().unwrap(),
        p["incarnation"].as_u64().unwrap(),
    )
}

/// Waits until each of the `seeds` seeds (`seed0`…) has logged a false accusation of
/// `accused` by `reporter`.
pub fn wait_false_accusation(net: &Net, seeds: usize, reporter: PeerId, accused: PeerId) {
    let (reporter, accused) = (reporter.to_hex(), accused.to_hex());
    wait_for(
        "every seed logs the false accusation",
        Duration::from_secs(30),
        || {
            for s in 0..seeds {
                let found = (net
                    .events_named(&format!("seed{s}"), "false_accusation")
                    .iter())
                .any(|e| e["reporter"] == reporter.as_str() && e["peer"] == accused.as_str());
                if !found {
                    return Err(format!("seed{s} has not"));
                }
            }
            Ok(())
        },
    );
}

/// `hearsay status --json` of a seed.
pub fn status(seed: SocketAddr) -> Result<Value, String> {
    let out = Command::new(HEARSAY)
        .args([
            "status",
            "--seed",
            &seed.to_string(),
            "--json",
            "--timeout",
            "3s",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// The peer ids in a status.
pub fn peer_ids(status: &Value) -> BTreeSet<String> {
    status["peers"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` until it passes; panics with its last complaint after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if start.elapsed() > limit => panic!("{what}: not within {limit:?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Sends `signal` (e.g. "INT", "TERM") to `pid` with the shell's own `kill`, which every
/// system has (the `kill` program may not be installed).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {pid}")])
        .status()
        .expect("sh");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// The ids of `pid`'s child processes, read from /proc (no `ps` needed).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid …": the command may hold spaces, so read after the ')'.
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1));
        if ppid.and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// Whether the undirected graph on `nodes` with `edges` is connected.
pub fn connected(nodes: &BTreeSet<String>, edges: &[(String, String)]) -> bool {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        adj.entry(a).or_default().push(b);
        adj.entry(b).or_default().push(a);
    }
    let Some(first) = nodes.iter().next() else {
        return true;
    };
    let mut seen = BTreeSet::from([first.as_str()]);
    let mut todo = VecDeque::from([first.as_str()]);
    while let Some(n) = todo.pop_front() {
        for m in adj.get(n).into_iter().flatten() {
            if nodes.contains(*m) && seen.insert(m) {
                todo.push_back(m);
            }
        }
    }
    seen.len() == nodes.len()
}

/// A peer of the test's own, run by the real runtime around the real peer state machine,
/// whose outputs `rewrite` may change, drop or add to: a peer that misbehaves on purpose.
pub struct Rogue<F> {
    inner: peer::State,
    rewrite: F,
    queue: VecDeque<Output>,
}

impl<F: FnMut(Output) -> Vec<Output>> Machine for Rogue<F> {
    fn handle(&mut self, now: Time, input: Input) {
        self.inner.handle(now, input)
    }
    fn poll_output(&mut self) -> Option<Output> {
        while self.queue.is_empty() {
            let out = self.inner.poll_output()?;
            self.queue.extend((self.rewrite)(out));
        }
        self.queue.pop_front()
    }
    fn poll_timeout(&self) -> Option<Time> {
        self.inner.poll_timeout()
    }
    fn link_use(&self, link: LinkId) -> LinkUse {
        self.inner.link_use(link)
    }
}

/// Starts a rogue peer named `name` in this process (events in `<name>.jsonl`), with
/// `settings`; it stops when the returned token is cancelled.
pub fn start_rogue<F>(
    net: &Net,
    name: &str,
    key: Keypair,
    settings: peer::Settings,
    rewrite: F,
) -> CancellationToken
where
    F: FnMut(Output) -> Vec<Output> + Send + 'static,
{
    let text = std::fs::read_to_string(net.dir.join("config.txt")).expect("config");
    let config = Config::parse("config.txt", &text).expect("config parses");
    let cancel = CancellationToken::new();
    let (dir, name, stop) = (net.dir.clone(), name.to_string(), cancel.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let now = hearsay_net::now();
            let inner = peer::State::new(now, key.clone(), addr, 1, config, settings, 7);
            let out = hearsay_net::log::open_append(&dir.join("outputfile.txt")).expect("log");
            let events =
                hearsay_net::log::open_append(&dir.join(format!("{name}.jsonl"))).expect("events");
            let log =
                hearsay_net::Logger::new(addr.to_string(), "peer", false, Some(out), Some(events));
            let me = Identity::new(key, Role::Peer, addr);
            let rogue = Rogue {
                inner,
                rewrite,
                queue: VecDeque::new(),
            };
            let _ = hearsay_net::run(
                rogue,
                listener,
                me,
                // An attacker's own queue is as long as it likes (a flood of frames).
                hearsay_net::Options {
                    send_queue: 1 << 14,
                    ..hearsay_net::Options::default()
                },
                log,
                stop,
                None,
            )
            .await;
        });
    });
    cancel
}

/// Resident memory of process `pid`, in MiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_mib(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

/// A fresh directory with a config of 3 seeds on free local ports.
pub fn workdir(name: &str) -> std::path::PathBuf {
    let net = Net::new(name, 3);
    let dir = net.dir.clone();
    std::mem::forget(net); // nothing started: keep the directory, nothing to stop
    dir
}

/// Runs `hearsay up ARGS --json out.json --dir run` in `dir`; it must exit 0. Returns what it
/// printed and the summary it wrote.
pub fn run_up(dir: &Path, args: &[&str]) -> (String, Value) {
    let out = Command::new(HEARSAY)
        .current_dir(dir)
        .arg("up")
        .args(args)
        .args(["--json", "out.json", "--dir", "run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let summary = std::fs::read_to_string(dir.join("out.json")).unwrap();
    (stdout, serde_json::from_str(&summary).unwrap())
}

/// Starts `hearsay up ARGS --keep --json out.json --dir run` in `dir` and waits until it has
/// printed its summary and stays up (at most 180 s). Returns the process and everything it
/// printed (stderr goes to `up.err`).
pub fn up_kept(dir: &Path, args: &[&str]) -> (Child, String) {
    use std::io::BufRead;
    let mut up = Command::new(HEARSAY)
        .current_dir(dir)
        .arg("up")
        .args(args)
        .args(["--keep", "--json", "out.json", "--dir", "run"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("up.err")).unwrap())
        .spawn()
        .unwrap();
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (out, sink) = (up.stdout.take().unwrap(), said.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let start = Instant::now();
    while !said.lock().unwrap().contains("staying up") {
        if start.elapsed() > Duration::from_secs(180) || up.try_wait().unwrap().is_some() {
            let _ = up.kill();
            let err = std::fs::read_to_string(dir.join("up.err")).unwrap_or_default();
            panic!("no summary: {}\n{err}", said.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = said.lock().unwrap().clone();
    (up, text)
}

/// The address `hearsay up` printed after `prefix` (`"dashboard: http://"`).
pub fn printed_addr(text: &str, prefix: &str) -> SocketAddr {
    let line = text.lines().find_map(|l| l.strip_prefix(prefix));
    let addr = line.and_then(|r| r.split('/').next());
    addr.unwrap_or_else(|| panic!("no {prefix} in {text}"))
        .parse()
        .unwrap()
}
