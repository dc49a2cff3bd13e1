//! What hearsay asks of the operating system about its own processes: the CPU they used
//! (for the summary's CPU row) and the limit on open files (`hearsay up` works out what a
//! network needs before it starts one).

/// Clock ticks per second in `/proc/<pid>/stat` (Linux's `USER_HZ`, 100 on every
/// architecture it runs on).
const USER_HZ: f64 = 100.0;

/// The cores this process may run on (1 where the system cannot say).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU seconds (user + system, every thread) that process `pid` has used so far; 0 where
/// `/proc` cannot tell.
pub fn cpu_of(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| cpu_in_stat(&stat))
        .unwrap_or(0.0)
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds.
fn cpu_in_stat(stat: &str) -> Option<f64> {
    // "pid (comm) state ppid …": the name may hold spaces and parentheses, so fields are
    // counted after the last ')'. utime and stime are fields 14 and 15 (proc(5)).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// Raises this process's soft limit on open files as far as its hard limit allows, and
/// returns the soft limit now in force (what this process and its children may open).
pub fn raise_open_files() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::Resource::NOFILE.get_soft())
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_read_after_the_name_whatever_the_name_holds() {
        let stat = "4242 (peer (x) y) S 1 4242 4242 0 -1 4194560 1630 0 0 0 1234 567 0 0 20 0 3 0 \
                    100 12345678 900 18446744073709551615";
        assert_eq!(cpu_in_stat(stat), Some(18.01));
        assert_eq!(cpu_in_stat("4242 (peer) S 1"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu_and_may_open_files() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(50) {}
        assert!(cpu_of(std::process::id()) > 0.0);
        assert!(raise_open_files() >= 64);
    }
}
