//! The seed configuration file, `config.txt` or `config.csv` (SPEC §2).
//!
//! One seed per line: `IP:PORT` or `IP,PORT` (spaces around the comma allowed), optionally
//! followed, after whitespace or a comma, by the seed's public key as 64 hex digits (SPEC §3).
//! IPv6 is written `[addr]:port`, or `addr,port` / `[addr],port` in the comma form. `#` starts
//! a comment, blank lines are ignored, and surrounding whitespace, Windows line ends and a
//! leading byte-order mark are tolerated. A bad line is an error naming the file, the line
//! and what is wrong; nothing starts on a bad config. Parsing is pure: the caller reads the
//! file.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::id::PeerId;

/// One configured seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedEntry {
    /// Where the seed listens. Never an unspecified address (`0.0.0.0`, `::`), never port 0.
    pub addr: SocketAddr,
    /// The seed's public key if the config pins it; otherwise it is learned on first contact
    /// (SPEC §3).
    pub key: Option<PeerId>,
}

/// A parsed seed configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The seeds in file order. Never empty; no address appears twice, and no pinned key
    /// belongs to two seeds.
    pub seeds: Vec<SeedEntry>,
}

/// A config file that cannot be used: the file, the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {what}")]
pub struct ConfigError {
    /// The file name as given to [`Config::parse`].
    pub file: String,
    /// The 1-based line number; 0 for an error about the whole file.
    pub line: usize,
    /// What is wrong, in one sentence quoting the offending text.
    pub what: String,
}

impl Config {
    /// Parses the text of a config file.
    ///
    /// `file` is only used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let error = |line: usize, what: String| ConfigError {
            file: file.to_string(),
            line,
            what,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut seeds = Vec::new();
        let mut addr_lines: BTreeMap<SocketAddr, usize> = BTreeMap::new();
        let mut key_lines: BTreeMap<PeerId, usize> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = match raw.split_once('#') {
                Some((before, _comment)) => before,
                None => raw,
            }
            .trim();
            if content.is_empty() {
                continue;
            }
            plain(content).map_err(|what| error(line, what))?;
            let entry = parse_line(content).map_err(|what| error(line, what))?;
            if let Some(&first) = addr_lines.get(&entry.addr) {
                return Err(error(
                    line,
                    format!(
                        "seed address {} is listed twice: it is already on line {first}",
                        entry.addr
                    ),
                ));
            }
            if let Some(key) = entry.key {
                if let Some(&first) = key_lines.get(&key) {
                    return Err(error(
                        line,
                        format!(
                            "key \"{}\" is pinned twice: the seed on line {first} already has it",
                            key.to_hex()
                        ),
                    ));
                }
                key_lines.insert(key, line);
            }
            addr_lines.insert(entry.addr, line);
            seeds.push(entry);
        }
        if seeds.is_empty() {
            return Err(error(
                0,
                "no seeds: the file lists no seed address".to_string(),
            ));
        }
        Ok(Config { seeds })
    }

    /// The number of seeds whose votes make a decision: ⌊n/2⌋+1 of the n seeds (SPEC §2).
    pub fn quorum(&self) -> usize {
        crate::quorum::quorum(self.seeds.len())
    }

    /// The index in [`Config::seeds`] of the seed at `addr`, if it is configured.
    pub fn position(&self, addr: SocketAddr) -> Option<usize> {
        self.seeds.iter().position(|seed| seed.addr == addr)
    }
}

/// Longest seed line (its comment aside): an IPv6 address with its port and a key take
/// about 120 bytes.
const MAX_LINE: usize = 256;

/// What of a bad line an error quotes: its start, control characters escaped.
const QUOTED: usize = 40;

/// Refuses a line that is too long or holds control characters, before any error quotes it:
/// an error never echoes raw bytes (a NUL, a terminal escape) or a whole long line.
fn plain(content: &str) -> Result<(), String> {
    let control = content
        .char_indices()
        .find(|(_, c)| c.is_control() && *c != '\t');
    let start: String = content.chars().take(QUOTED).collect();
    let quoted = format!(
        "\"{}{}\"",
        start.escape_debug(),
        if start.len() < content.len() {
            "…"
        } else {
            ""
        }
    );
    if let Some((at, c)) = control {
        return Err(format!(
            "control character {} at byte {} of {quoted}: a seed line is plain text",
            c.escape_debug(),
            at + 1
        ));
    }
    if content.len() > MAX_LINE {
        return Err(format!(
            "line of {} bytes ({quoted}): a seed line is at most {MAX_LINE}",
            content.len()
        ));
    }
    Ok(())
}

/// One field of a line, and whether a comma separated it from the field before.
struct Field<'a> {
    text: &'a str,
    after_comma: bool,
}

/// Splits a trimmed, non-empty line at commas and whitespace.
fn fields(content: &str) -> Result<Vec<Field<'_>>, String> {
    let mut out = Vec::new();
    for (part_index, part) in content.split(',').enumerate() {
        let mut words = part.split_whitespace();
        let Some(first) = words.next() else {
            return Err(format!(
                "empty field in \"{content}\": a comma with nothing between it and the next one \
                 or the line's end"
            ));
        };
        out.push(Field {
            text: first,
            after_comma: part_index > 0,
        });
        out.extend(words.map(|text| Field {
            text,
            after_comma: false,
        }));
    }
    Ok(out)
}

/// Parses one line with its comment removed, trimmed and not empty.
fn parse_line(content: &str) -> Result<SeedEntry, String> {
    let fields = fields(content)?;
    let Some(first) = fields.first() else {
        return Err(format!("empty line \"{content}\""));
    };
    let (addr, rest) = match split_host_port(first.text)? {
        Some((host, port)) => (
            SocketAddr::new(host, parse_port(first.text, port)?),
            &fields[1..],
        ),
        None => {
            let ip = parse_ip(first.text)?;
            match fields.get(1) {
                Some(port) if port.after_comma => (
                    SocketAddr::new(
                        ip,
                        parse_port(&format!("{},{}", first.text, port.text), port.text)?,
                    ),
                    &fields[2..],
                ),
                _ => {
                    return Err(format!(
                        "missing port after \"{}\": write IP:PORT or IP,PORT",
                        first.text
                    ))
                }
            }
        }
    };
    if addr.ip().is_unspecified() {
        return Err(format!(
            "\"{}\" is the unspecified address: a seed needs an address others can dial",
            addr.ip()
        ));
    }
    let key = match rest.first() {
        None => None,
        Some(field) => Some(PeerId::from_hex(field.text).ok_or_else(|| {
            format!(
                "bad key \"{}\": a seed's public key is 64 hex digits",
                field.text
            )
        })?),
    };
    if let Some(extra) = rest.get(1) {
        return Err(format!(
            "extra field \"{}\": a line is one seed address, optionally followed by its key",
            extra.text
        ));
    }
    Ok(SeedEntry { addr, key })
}

/// Splits `IP:PORT` or `[IPv6]:PORT` into its IP and its port text. Returns `None` for the
/// comma form's lone IP (`1.2.3.4`, `::1` or `[::1]`).
fn split_host_port(text: &str) -> Result<Option<(IpAddr, &str)>, String> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err(format!(
                "bad IP address \"{text}\": a \"[\" without its closing \"]\""
            ));
        };
        let ip = inside.parse::<Ipv6Addr>().map_err(|_| {
            format!("bad IP address \"{inside}\": expected an IPv6 address inside [ ]")
        })?;
        return match after.strip_prefix(':') {
            Some(port) => Ok(Some((IpAddr::V6(ip), port))),
            None if after.is_empty() => Ok(None),
            None => Err(format!(
                "bad address \"{text}\": expected [IPv6]:PORT, found \"{after}\" after the \"]\""
            )),
        };
    }
    // A bare IPv6 address has at least two colons; IPv4 with a port has exactly one.
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok(Some((parse_ip(host)?, port))),
        _ => Ok(None),
    }
}

/// Parses the IP of the comma form, bracketed or not, or the host of `IP:PORT`.
fn parse_ip(text: &str) -> Result<IpAddr, String> {
    let inside = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inside.parse::<IpAddr>().map_err(|_| {
        format!(
            "bad IP address \"{text}\": expected an IPv4 address like 127.0.0.1 or an IPv6 \
             address like [::1]"
        )
    })
}

/// Parses the port `text` of the address `addr`.
fn parse_port(addr: &str, text: &str) -> Result<u16, String> {
    if text.is_empty() {
        return Err(format!(
            "missing port after \"{addr}\": write IP:PORT or IP,PORT"
        ));
    }
    // `u16::from_str` also takes a leading `+`; a port is digits only.
    let port = match text.bytes().all(|b| b.is_ascii_digit()) {
        true => text.parse::<u16>().ok(),
        false => None,
    };
    match port {
        None => Err(format!(
            "bad port \"{text}\": a port is a number from 1 to 65535"
        )),
        Some(0) => Err(format!(
            "port 0 in \"{addr}\": a seed needs a fixed port from 1 to 65535"
        )),
        Some(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Keypair;

    fn key(n: u8) -> PeerId {
        Keypair::from_secret([n; 32]).id()
    }

    fn sock(addr: &str) -> SocketAddr {
        addr.parse().expect("a test address")
    }

    fn seed(addr: &str, key: Option<PeerId>) -> SeedEntry {
        SeedEntry {
            addr: sock(addr),
            key,
        }
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse("config.txt", text)
    }

    #[test]
    fn control_characters_and_long_lines_are_refused_without_being_echoed() {
        let table = [
            (
                "127.0.0.1:6000\0".to_string(),
                "config.txt:1: control character \\0 at byte 15 of \"127.0.0.1:6000\\0\": a seed line is plain text",
            ),
            (
                "\u{1b}[2J127.0.0.1:6000".to_string(),
                "config.txt:1: control character \\u{1b} at byte 1 of \"\\u{1b}[2J127.0.0.1:6000\": a seed line is plain text",
            ),
            (
                format!("127.0.0.1:6000 {}", "a".repeat(100_000)),
                "config.txt:1: line of 100015 bytes (\"127.0.0.1:6000 aaaaaaaaaaaaaaaaaaaaaaaaa…\"): a seed line is at most 256",
            ),
        ];
        for (text, want) in table {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        // A long comment, or a control character in one, is a comment.
        let fine = format!("127.0.0.1:6000 # {}\u{1b}", "a".repeat(100_000));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn every_accepted_seed_line_form_parses_to_its_address_and_key() {
        // SPEC §2: IP:PORT or IP,PORT, optionally followed by the seed's key.
        let k = key(1);
        let hex = k.to_hex();
        let table = [
            ("127.0.0.1:6000".to_string(), seed("127.0.0.1:6000", None)),
            ("127.0.0.1,6000".to_string(), seed("127.0.0.1:6000", None)),
            ("127.0.0.1 , 6000".to_string(), seed("127.0.0.1:6000", None)),
            ("  10.0.0.2:7000  ".to_string(), seed("10.0.0.2:7000", None)),
            ("127.0.0.1:6000\r".to_string(), seed("127.0.0.1:6000", None)),
            (
                "127.0.0.1:6000 # first".to_string(),
                seed("127.0.0.1:6000", None),
            ),
            (
                "127.0.0.1:6000#first".to_string(),
                seed("127.0.0.1:6000", None),
            ),
            ("[::1]:6000".to_string(), seed("[::1]:6000", None)),
            ("::1,6000".to_string(), seed("[::1]:6000", None)),
            ("[::1], 6000".to_string(), seed("[::1]:6000", None)),
            (
                "fe80::1:2 ,6000".to_string(),
                seed("[fe80::1:2]:6000", None),
            ),
            (
                format!("127.0.0.1:6000 {hex}"),
                seed("127.0.0.1:6000", Some(k)),
            ),
            (
                format!("127.0.0.1:6000,{hex}"),
                seed("127.0.0.1:6000", Some(k)),
            ),
            (
                format!("127.0.0.1, 6000, {hex}"),
                seed("127.0.0.1:6000", Some(k)),
            ),
            (
                format!("127.0.0.1,6000\t{hex}"),
                seed("127.0.0.1:6000", Some(k)),
            ),
            (
                format!("[::1]:6000 {} # pinned", hex.to_uppercase()),
                seed("[::1]:6000", Some(k)),
            ),
        ];
        for (line, expected) in table {
            let config = parse(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(config.seeds, [expected], "{line:?}");
        }
    }

    #[test]
    fn comments_blank_lines_and_windows_line_ends_are_ignored() {
        let text = "\u{feff}# seeds of the test network\r\n\r\n   \r\n127.0.0.1:6000\r\n  # \
                    spare\r\n127.0.0.1,6001\r\n\r\n";
        let config = parse(text).expect("a valid config");
        assert_eq!(
            config.seeds,
            [seed("127.0.0.1:6000", None), seed("127.0.0.1:6001", None)]
        );
    }

    #[test]
    fn a_bad_line_names_the_line_number_and_what_is_wrong() {
        // SPEC §2: a bad line is an error naming the file, the line number and what is wrong.
        let k = key(1).to_hex();
        let table: Vec<(String, usize, String)> =
            vec![
            (
                "127.0.0.1:6000\nlocalhost:6001".into(),
                2,
                "bad IP address \"localhost\": expected an IPv4 address like 127.0.0.1 or an \
                 IPv6 address like [::1]"
                    .into(),
            ),
            (
                "# seeds\n\n300.1.2.3,6000".into(),
                3,
                "bad IP address \"300.1.2.3\": expected an IPv4 address like 127.0.0.1 or an \
                 IPv6 address like [::1]"
                    .into(),
            ),
            (
                "[1.2.3.4]:6000".into(),
                1,
                "bad IP address \"1.2.3.4\": expected an IPv6 address inside [ ]".into(),
            ),
            (
                "[::1:6000".into(),
                1,
                "bad IP address \"[::1:6000\": a \"[\" without its closing \"]\"".into(),
            ),
            (
                "[::1]x:6000".into(),
                1,
                "bad address \"[::1]x:6000\": expected [IPv6]:PORT, found \"x:6000\" after \
                 the \"]\""
                    .into(),
            ),
            (
                "0.0.0.0:6000".into(),
                1,
                "\"0.0.0.0\" is the unspecified address: a seed needs an address others can dial"
                    .into(),
            ),
            (
                "127.0.0.1:6000\n127.0.0.1".into(),
                2,
                "missing port after \"127.0.0.1\": write IP:PORT or IP,PORT".into(),
            ),
            (
                "127.0.0.1:".into(),
                1,
                "missing port after \"127.0.0.1:\": write IP:PORT or IP,PORT".into(),
            ),
            (
                "127.0.0.1 6000".into(),
                1,
                "missing port after \"127.0.0.1\": write IP:PORT or IP,PORT".into(),
            ),
            (
                "127.0.0.1:65536".into(),
                1,
                "bad port \"65536\": a port is a number from 1 to 65535".into(),
            ),
            (
                "127.0.0.1,60x0".into(),
                1,
                "bad port \"60x0\": a port is a number from 1 to 65535".into(),
            ),
            (
                "127.0.0.1:+6000".into(),
                1,
                "bad port \"+6000\": a port is a number from 1 to 65535".into(),
            ),
            (
                "\n\n\n127.0.0.1:0".into(),
                4,
                "port 0 in \"127.0.0.1:0\": a seed needs a fixed port from 1 to 65535".into(),
            ),
            (
                "::1, 0".into(),
                1,
                "port 0 in \"::1,0\": a seed needs a fixed port from 1 to 65535".into(),
            ),
            (
                "127.0.0.1:6000 abcd".into(),
                1,
                "bad key \"abcd\": a seed's public key is 64 hex digits".into(),
            ),
            (
                format!("127.0.0.1:6000\n127.0.0.1:6001 {}", &k[..63]),
                2,
                format!("bad key \"{}\": a seed's public key is 64 hex digits", &k[..63]),
            ),
            (
                format!("127.0.0.1:6000 {}zz", &k[..62]),
                1,
                format!("bad key \"{}zz\": a seed's public key is 64 hex digits", &k[..62]),
            ),
            (
                format!("127.0.0.1:6000 {k} extra"),
                1,
                "extra field \"extra\": a line is one seed address, optionally followed by its \
                 key"
                .into(),
            ),
            (
                format!("127.0.0.1,6000,{k},"),
                1,
                format!(
                    "empty field in \"127.0.0.1,6000,{k},\": a comma with nothing between it \
                     and the next one or the line's end"
                ),
            ),
            (
                "127.0.0.1,,6000".into(),
                1,
                "empty field in \"127.0.0.1,,6000\": a comma with nothing between it and the \
                 next one or the line's end"
                    .into(),
            ),
            (
                "127.0.0.1:6000\n127.0.0.1:6001\n127.0.0.1,6000".into(),
                3,
                "seed address 127.0.0.1:6000 is listed twice: it is already on line 1".into(),
            ),
            (
                "[::1]:6000\n# spare\n::1,6000".into(),
                3,
                "seed address [::1]:6000 is listed twice: it is already on line 1".into(),
            ),
            (
                format!("127.0.0.1:6000\n127.0.0.1:6001 {k}\n127.0.0.1:6002 {k}"),
                3,
                format!("key \"{k}\" is pinned twice: the seed on line 2 already has it"),
            ),
        ];
        for (text, line, what) in table {
            let err = parse(&text).expect_err(&text);
            assert_eq!(
                (err.line, err.what.as_str()),
                (line, what.as_str()),
                "{text:?}"
            );
            assert_eq!(err.file, "config.txt");
        }
    }

    #[test]
    fn a_file_without_seeds_is_an_error_about_the_whole_file() {
        for text in ["", "\n\n", "# only a comment\n   # and another\n", "\r\n"] {
            let err = parse(text).expect_err(text);
            assert_eq!(err.line, 0, "{text:?}");
            assert_eq!(err.what, "no seeds: the file lists no seed address");
        }
    }

    #[test]
    fn the_error_message_reads_file_colon_line_colon_what() {
        let err = Config::parse("seeds.csv", "127.0.0.1:6000\n127.0.0.1:0").expect_err("port 0");
        assert_eq!(
            err.to_string(),
            "seeds.csv:2: port 0 in \"127.0.0.1:0\": a seed needs a fixed port from 1 to 65535"
        );
    }

    #[test]
    fn quorum_is_a_majority_of_the_configured_seeds() {
        // SPEC §2: q = ⌊n/2⌋+1.
        for (n, q) in [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)] {
            let text: String = (0..n)
                .map(|i| format!("127.0.0.1:{}\n", 6000 + i))
                .collect();
            assert_eq!(
                parse(&text).expect("a valid config").quorum(),
                q,
                "{n} seeds"
            );
        }
    }

    #[test]
    fn position_finds_a_seed_by_its_address() {
        let config = parse("127.0.0.1:6000\n127.0.0.1:6001\n[::1]:6000").expect("a valid config");
        assert_eq!(config.position(sock("127.0.0.1:6001")), Some(1));
        assert_eq!(config.position(sock("[::1]:6000")), Some(2));
        assert_eq!(config.position(sock("127.0.0.1:6002")), None);
    }
}
