//! The seam between protocol and world (PROTOCOL §1): inputs in, outputs out, time passed in.
//!
//! `seed::State` and `peer::State` implement [`Machine`]. A driver (the tokio runtime or the
//! simulator) authenticates links with [`crate::handshake`], feeds every link event, frame
//! and due timer in as an [`Input`], and carries out every [`Output`].

use std::net::{IpAddr, SocketAddr};

use crate::cert::Certificate;
use crate::event::Event;
use crate::id::PeerId;
pub use crate::link::{DialError, DialPool, DialToken, LinkId, LinkUse, Remote, Role};
use crate::time::Time;
use crate::wire::Msg;

/// Something that happened to a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A link finished its handshake. `dial` is set when this node dialled it.
    LinkUp {
        /// The new link.
        link: LinkId,
        /// Who is on the other end (boxed: every queued input would carry its size).
        remote: Box<Remote>,
        /// The dial this answers, if this node dialled.
        dial: Option<DialToken>,
    },
    /// A link closed, from either side.
    LinkDown {
        /// The link that closed.
        link: LinkId,
    },
    /// A dial failed (refused, timed out, or the handshake failed).
    DialFailed {
        /// The dial that failed.
        token: DialToken,
        /// Why.
        error: DialError,
    },
    /// A decoded frame arrived on a link.
    Frame {
        /// The link it came on.
        link: LinkId,
        /// The message.
        msg: Msg,
    },
    /// The time from [`Machine::poll_timeout`] has come.
    Timeout,
    /// A command typed by the node's operator (e.g. `peers`); answered with
    /// [`Output::Reply`].
    Command {
        /// The line typed.
        line: String,
    },
    /// The answer to [`Output::Echo`]: whether the host answered an ICMP echo; `None` when
    /// this system lets the node send none.
    Echo {
        /// The host.
        ip: IpAddr,
        /// Whether it answered.
        answered: Option<bool>,
    },
}

/// Something a node wants done.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send a message over a link.
    Send {
        /// The link.
        link: LinkId,
        /// The message.
        msg: Msg,
    },
    /// Open a link to an address; the answer is `LinkUp { dial: Some(token) }` or `DialFailed`.
    Dial {
        /// Names this dial in the answer.
        token: DialToken,
        /// Where to connect.
        addr: SocketAddr,
        /// Which pool of the driver's it takes a place in.
        pool: DialPool,
    },
    /// Close a link. No `LinkDown` follows for a link the node closed itself.
    Close {
        /// The link.
        link: LinkId,
    },
    /// Send one ICMP echo to a host (the system-level ping of SPEC §6 Liveness); the
    /// answer comes as [`Input::Echo`].
    Echo {
        /// The host.
        ip: IpAddr,
    },
    /// Keep this durably (a seed's certificates and learned seed keys, PROTOCOL §13). The
    /// runtime must have it on disk before it carries out any later `Send`: a seed
    /// acknowledges nothing it could lose in a crash.
    Persist(Record),
    /// Log an event (SPEC §7).
    Event(Event),
    /// The answer to [`Input::Command`], for the operator's terminal only (not logged).
    Reply(String),
    /// The node is done: `Err` carries the one sentence to print before exiting non-zero.
    Stop(Result<(), String>),
}

/// A sans-I/O protocol state machine.
pub trait Machine {
    /// Takes one input at time `now`.
    fn handle(&mut self, now: Time, input: Input);
    /// The next output, if any. Drain it after every `handle`, or after a turn of several
    /// (frames that arrived together): the outputs come in the order they were made, and a
    /// peer sends what it announced or requested in the turn to each neighbour in one frame
    /// (PROTOCOL §11.3). A machine ignores frames on a link it closed itself.
    fn poll_output(&mut self) -> Option<Output>;
    /// When the machine next wants [`Input::Timeout`].
    fn poll_timeout(&self) -> Option<Time>;
    /// What `link` is for now (PROTOCOL §3.1): read only, so a driver may ask at any moment
    /// without changing what the machine does. A link the machine does not know (closed, or
    /// never up) is a [`LinkUse::Stranger`].
    fn link_use(&self, link: LinkId) -> LinkUse;
}

/// A machine's outbox: its outputs in order, and the dials in flight with their purposes.
/// What a machine dials for, as far as the driver's dial pools care.
pub(crate) trait Purpose {
    /// The pool a dial for this takes a place in.
    fn pool(&self) -> DialPool;
}

#[derive(Debug)]
pub(crate) struct Outbox<D> {
    out: std::collections::VecDeque<Output>,
    /// Dials not answered yet, by token.
    pub(crate) dials: std::collections::BTreeMap<DialToken, D>,
    next_token: u64,
}

impl<D> Default for Outbox<D> {
    fn default() -> Self {
        Outbox {
            out: Default::default(),
            dials: Default::default(),
            next_token: 0,
        }
    }
}

impl<D> Outbox<D> {
    pub(crate) fn push(&mut self, o: Output) {
        self.out.push_back(o);
    }

    pub(crate) fn pop(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.push(Output::Event(e));
    }

    pub(crate) fn send(&mut self, link: LinkId, msg: Msg) {
        self.push(Output::Send { link, msg });
    }

    /// Dials `addr`; the answer will carry a token that [`Outbox::answered`] turns back into
    /// `purpose`, which also says the dial's pool.
    pub(crate) fn dial(&mut self, addr: SocketAddr, purpose: D)
    where
        D: Purpose,
    {
        let token = DialToken(self.next_token);
        self.next_token += 1;
        let pool = purpose.pool();
        self.dials.insert(token, purpose);
        self.push(Output::Dial { token, addr, pool });
    }

    /// The purpose of an answered dial (once).
    pub(crate) fn answered(&mut self, token: DialToken) -> Option<D> {
        self.dials.remove(&token)
    }
}

/// Durable state a seed hands its runtime (see [`Output::Persist`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A certificate this seed applied. Keep the newest per (peer, operation).
    Certificate(Certificate),
    /// The key of a configured seed, learned by a handshake at its address.
    SeedKey {
        /// The seed's configured address.
        addr: SocketAddr,
        /// Its key.
        id: PeerId,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_and_an_input_are_small_to_move() {
        // Every frame queued in a peer's outbox or in flight in the simulator has this size:
        // large payloads are boxed.
        let (msg, input) = (std::mem::size_of::<Msg>(), std::mem::size_of::<Input>());
        assert!(msg <= 40 && input <= 48, "Msg {msg} bytes, Input {input}");
    }
}
