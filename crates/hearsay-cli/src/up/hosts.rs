//! `hearsay up --hosts` (issue 18): every seed and every peer on a host of its own, a Linux
//! network namespace with its own network stack and address, all joined by one bridge, as
//! Mininet and CORE build theirs. A crashed process and a lost machine then differ (a lost
//! host answers neither TCP nor ICMP), and a link between hosts can be cut.
//!
//! The hosts of one run are named after this process: namespaces `hearsay-<pid>-<n>`, the
//! bridge `hsb<pid in hex>`, the host ends of the links `hs<pid in hex>-<n in hex>`. They are
//! removed when [`Hosts`] is dropped (after the summary, on Ctrl+C, on an error); those of a
//! run that was killed are found by their dead pid at the next start and removed.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// Names of this program's namespaces start with it.
const PREFIX: &str = "hearsay-";

/// The hosts of one run.
#[derive(Debug)]
pub struct Hosts {
    pid: u32,
    /// The second octet of the run's 10.x.0.0/16.
    net: u8,
    /// Namespaces made, in order: host `n` is `names[n]`.
    names: Vec<String>,
    bridge: String,
    /// A second bridge, for hosts cut off from the others (made at the first partition).
    apart: Option<String>,
}

/// Why `--hosts` cannot run here, in one sentence; `None` when it can.
pub fn unavailable() -> Option<String> {
    if !is_root() {
        return Some(
            "--hosts makes network namespaces, which needs root: run it as root (sudo), or leave out --hosts".into(),
        );
    }
    if ip(&["-V"]).is_err() {
        return Some(
            "--hosts needs the `ip` program of iproute2 (apt install iproute2), which is not here"
                .into(),
        );
    }
    // Named apart from any other probe of this process (tests ask from several threads).
    static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("{PREFIX}{}-probe{k}", std::process::id());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("--hosts cannot make a network namespace here: {e}"));
    }
    let _ = ip(&["netns", "del", &probe]);
    None
}

/// Whether this process runs as root (effective uid 0).
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"));
    uid.and_then(|u| u.split_whitespace().nth(1)) == Some("0")
}

/// Runs `ip ARGS`; Err carries its error output.
fn ip(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip`")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("ip {}: {}", args.join(" "), err.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes what runs of this program left behind whose process is gone; returns what it
/// removed, for the narration.
pub fn remove_stale() -> Vec<String> {
    let alive = |pid: &str| Path::new(&format!("/proc/{pid}")).exists();
    let mut removed = Vec::new();
    let list = ip(&["netns", "list"]).unwrap_or_default();
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else {
            continue;
        };
        if !alive(pid) && ip(&["netns", "del", name]).is_ok() {
            removed.push(format!("namespace {name}"));
        }
    }
    let links = ip(&["-o", "link", "show", "type", "bridge"]).unwrap_or_default();
    for line in links.lines() {
        // "7: hsb1a2b: <BROADCAST,…"
        let Some(name) = line.split(':').nth(1).map(str::trim) else {
            continue;
        };
        let ours = name
            .strip_prefix("hsb")
            .or_else(|| name.strip_prefix("hsp"));
        let Some(pid) = ours.and_then(|h| u32::from_str_radix(h, 16).ok()) else {
            continue;
        };
        if !alive(&pid.to_string()) && ip(&["link", "del", name]).is_ok() {
            removed.push(format!("bridge {name}"));
        }
    }
    removed
}

impl Hosts {
    /// The bridge, on a 10.x.0.0/16 that no address or route of this machine uses, with
    /// this machine at 10.x.0.1 (so that this process reaches every host).
    pub fn new() -> anyhow::Result<Hosts> {
        let pid = std::process::id();
        let used = format!(
            "{}{}",
            ip(&["-o", "-4", "addr", "show"]).unwrap_or_default(),
            ip(&["-4", "route", "show", "table", "all"]).unwrap_or_default()
        );
        let net = (200..=254u8)
            .find(|x| !used.contains(&format!("10.{x}.")))
            .context("no free 10.x.0.0/16 for the hosts (10.200 to 10.254 are all in use)")?;
        let hosts = Hosts {
            pid,
            net,
            names: Vec::new(),
            bridge: format!("hsb{pid:x}"),
            apart: None,
        };
        let gateway = format!("{}/16", hosts.address(None));
        ip(&["link", "add", &hosts.bridge, "type", "bridge"])?;
        ip(&["addr", "add", &gateway, "dev", &hosts.bridge])?;
        ip(&["link", "set", &hosts.bridge, "up"])?;
        Ok(hosts)
    }

    /// Host `n`'s address.
    pub fn address_of(&self, n: usize) -> IpAddr {
        self.address(Some(n))
    }

    /// Host `n`'s address (`None`: this machine's, on the bridge): 10.x.0.2 to 10.x.0.251,
    /// then 10.x.1.2 and on, none ending in 0, 1 or 255.
    fn address(&self, n: Option<usize>) -> IpAddr {
        let (third, fourth) = n.map_or((0, 1), |n| (n / 250, n % 250 + 2));
        IpAddr::V4(Ipv4Addr::new(10, self.net, third as u8, fourth as u8))
    }

    /// A new host: a namespace with its loopback up and one link to the bridge, `eth0`, at
    /// the next address. Returns its number and address.
    pub fn add(&mut self) -> anyhow::Result<(usize, IpAddr)> {
        let n = self.names.len();
        if n >= 250 * 256 {
            bail!("at most 64,000 hosts");
        }
        let name = format!("{PREFIX}{}-{n}", self.pid);
        let outside = self.outside(n);
        ip(&["netns", "add", &name])?;
        self.names.push(name.clone());
        ip(&[
            "link", "add", &outside, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ])?;
        ip(&["link", "set", &outside, "master", &self.bridge, "up"])?;
        let addr = self.address(Some(n));
        let cidr = format!("{addr}/16");
        ip(&["-n", &name, "addr", "add", &cidr, "dev", "eth0"])?;
        ip(&["-n", &name, "link", "set", "eth0", "up"])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok((n, addr))
    }

    /// The name of host `n`'s link on this machine's side.
    fn outside(&self, n: usize) -> String {
        format!("hs{:x}-{n:x}", self.pid)
    }

    /// Cuts the hosts of `group` off from every other host (they still reach each other):
    /// their links move to a bridge of their own.
    pub fn partition(&mut self, group: &[usize]) -> anyhow::Result<()> {
        let apart = match &self.apart {
            Some(a) => a.clone(),
            None => {
                let a = format!("hsp{:x}", self.pid);
                ip(&["link", "add", &a, "type", "bridge"])?;
                self.apart = Some(a.clone());
                ip(&["link", "set", &a, "up"])?;
                a
            }
        };
        for &n in group {
            ip(&["link", "set", &self.outside(n), "master", &apart])?;
        }
        Ok(())
    }

    /// Joins the hosts of `group` to the others again.
    pub fn heal(&self, group: &[usize]) -> anyhow::Result<()> {
        for &n in group {
            ip(&["link", "set", &self.outside(n), "master", &self.bridge])?;
        }
        Ok(())
    }

    /// A command that runs `program` on host `n`.
    pub fn command(&self, n: usize, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.names[n]]).arg(program);
        c
    }

    /// Takes host `n` off the network, as a machine that lost power or its cable: its link
    /// goes down, and it answers neither TCP nor ICMP.
    pub fn cut(&self, n: usize) -> anyhow::Result<()> {
        ip(&["-n", &self.names[n], "link", "set", "eth0", "down"]).map(|_| ())
    }

    /// The namespaces of this run that still exist.
    pub fn left(&self) -> Vec<String> {
        let list = ip(&["netns", "list"]).unwrap_or_default();
        (self.names.iter())
            .filter(|n| {
                list.lines()
                    .any(|l| l.split_whitespace().next() == Some(n.as_str()))
            })
            .cloned()
            .collect()
    }
}

impl Drop for Hosts {
    /// Removes every namespace (their links go with them) and the bridge.
    fn drop(&mut self) {
        for name in &self.names {
            let _ = ip(&["netns", "del", name]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
        if let Some(a) = &self.apart {
            let _ = ip(&["link", "del", a]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Addresses count up from 10.x.0.2, this machine at 10.x.0.1, across the third octet.
    #[test]
    fn hosts_are_numbered_from_two_in_their_sixteen_bit_network() {
        let h = Hosts {
            pid: 1,
            net: 201,
            names: Vec::new(),
            bridge: String::new(),
            apart: None,
        };
        let at = |n| h.address(n).to_string();
        assert_eq!(at(None), "10.201.0.1");
        assert_eq!(at(Some(0)), "10.201.0.2");
        assert_eq!(at(Some(249)), "10.201.0.251");
        assert_eq!(at(Some(250)), "10.201.1.2");
        std::mem::forget(h);
    }
}
