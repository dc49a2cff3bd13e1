//! `hearsay`: tools around a network (SPEC §1). `hearsay status --seed ADDR [--json]` asks
//! a seed for its Peer List, topology and recent decisions.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hearsay_cli::{duration, fail};
use hearsay_proto::wire::Status;
use serde_json::json;

/// Tools for a hearsay network.
#[derive(Parser, Debug)]
#[command(name = "hearsay", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Ask a seed for its Peer List, topology and recent decisions.
    Status {
        /// The seed's address.
        #[arg(long)]
        seed: SocketAddr,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Give up after this long.
        #[arg(long, default_value = "5s", value_parser = duration)]
        timeout: Duration,
    },
}

#[tokio::main]
async fn main() {
    match Args::parse().command {
        Command::Status {
            seed,
            json,
            timeout,
        } => match hearsay_net::fetch_status(seed, timeout).await {
            Ok(status) if json => say(&format!("{}\n", status_json(&status))),
            Ok(status) => say(&status_table(&status)),
            Err(e) => fail("hearsay status", &anyhow::anyhow!(e), 1),
        },
    }
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The JSON shape of SPEC §1, plus the seed's id, the seed count and recent decisions.
fn status_json(s: &Status) -> serde_json::Value {
    let peers: Vec<_> = s
        .peers
        .iter()
        .map(|p| {
            json!({
                "id": p.id.to_hex(),
                "addr": p.addr.to_string(),
                "incarnation": p.incarnation,
                "neighbors": p.neighbors.iter().map(|n| n.to_hex()).collect::<Vec<_>>(),
                "signers": p.signers.iter().map(|n| n.to_hex()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "seed": s.seed.to_string(),
        "id": s.id.to_hex(),
        "seeds": s.seeds,
        "quorum": s.quorum,
        "peers": peers,
        "recent": s.recent,
    })
}

fn status_table(s: &Status) -> String {
    let mut out = format!(
        "seed {} (id {})  quorum {} of {}  peers {}\n",
        s.seed, s.id, s.quorum, s.seeds, s.total
    );
    out += &format!(
        "{:<10} {:<22} {:>4} {:>6}  neighbours\n",
        "id", "addr", "inc", "degree"
    );
    for p in &s.peers {
        let ns: Vec<String> = p.neighbors.iter().map(|n| n.short()).collect();
        out += &format!(
            "{:<10} {:<22} {:>4} {:>6}  {}\n",
            p.id.short(),
            p.addr.to_string(),
            p.incarnation,
            p.neighbors.len(),
            ns.join(" ")
        );
    }
    if !s.recent.is_empty() {
        out += "recent decisions:\n";
        for r in &s.recent {
            out += &format!("  {r}\n");
        }
    }
    out
}
