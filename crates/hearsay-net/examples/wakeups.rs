//! What this machine charges a process for a wake-up: the floor under benchmark 2 of issue 13
//! (docs/PERFORMANCE.md, its twenty-second session).
//!
//! Two threads of one process bounce 60 bytes over a loopback TCP connection: back to back
//! (the receiver is woken while the cores are busy), then with the sender sleeping between
//! rounds, as a peer sleeps between the messages it is sent (about 260 ms at 20 peers and the
//! task's timings). Each line is the process's CPU (both threads, from the kernel's
//! `schedstat`) per round trip: two sends, two receives and two wake-ups (three after a
//! sleep: the sleeper's own).
//!
//! `cargo run --release -p hearsay-net --example wakeups`, and again under `taskset -c 0`
//! (both threads on one core) to see what waking another core costs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf)? {
                0 => return Ok(()),
                n => s.write_all(&buf[..n])?,
            }
        }
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; 60];
    println!("gap between rounds | rounds | wall per round trip | CPU per round trip");
    for (gap, rounds) in [(0, 20_000), (2, 500), (20, 200), (260, 40)] {
        let gap = Duration::from_millis(gap);
        let (cpu, start) = (cpu_ns(), Instant::now());
        let mut slept = Duration::ZERO;
        for _ in 0..rounds {
            if !gap.is_zero() {
                let t = Instant::now();
                std::thread::sleep(gap);
                slept += t.elapsed();
            }
            s.write_all(&buf)?;
            s.read_exact(&mut buf)?;
        }
        let wall = (start.elapsed() - slept).as_secs_f64() * 1e6 / rounds as f64;
        let cpu = cpu_ns().saturating_sub(cpu) as f64 / 1e3 / rounds as f64;
        println!("{gap:>18?} | {rounds:>6} | {wall:>16.1} µs | {cpu:>15.1} µs");
    }
    drop(s);
    echo.join().expect("the echo thread")
}

/// The CPU every thread of this process has used, in ns (0 where `schedstat` is missing).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}
