//! The node task: owns one state machine, feeds it link events, frames and timers, and
//! carries out its outputs (ENGINEERING.md "The seam").

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearsay_proto::event::Event;
use hearsay_proto::node::Record;
use hearsay_proto::node::{DialError, DialPool, DialToken};
use hearsay_proto::wire::Msg;
use hearsay_proto::{Input, LinkId, Machine, Output, Time};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::budget::{Handshakes, Start};
use crate::conn::WRITE_TIMEOUT;
use crate::conn::{accept, handshake, split, Channel, Identity, LinkUp, NetEvent, Readiness};
use crate::log::Logger;
use crate::store::{Store, StoreError};
use crate::timer::Timer;

/// The wall clock as the protocol sees it.
pub fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Time(ms)
}

/// Runtime limits (SPEC §4 bounds).
#[derive(Clone, Debug)]
pub struct Options {
    /// A handshake must finish within this.
    pub handshake_timeout: Duration,
    /// A dial (connect and handshake) must finish within this.
    pub dial_timeout: Duration,
    /// Frames queued per link before the link is dropped as too slow.
    pub send_queue: usize,
    /// The inbound budget (PROTOCOL §3.1): most inbound links held after their handshake.
    /// When it is full, a newcomer takes the slot of the least useful stranger's link (the
    /// source IP with most of them, then the one quiet longest); links the machine protects
    /// are never evicted, and a protected newcomer (a configured seed) always gets in.
    /// Accepting never waits for a slot. Must not be zero.
    pub max_connections: usize,
    /// Most inbound handshakes under way at once; a connection beyond is dropped at once.
    pub max_handshakes: usize,
    /// Most inbound handshakes under way from one source IP.
    pub max_handshakes_per_ip: usize,
    /// An inbound link the machine does not protect that sends no frame for this long is
    /// closed.
    pub idle_timeout: Duration,
    /// Most outbound connections at once to seeds and neighbours ([`DialPool::Trusted`]),
    /// apart from the inbound ones, so that a flood of inbound connections cannot stop seed
    /// links (a dial beyond fails as [`DialError::Busy`]).
    pub max_dials: usize,
    /// Most dials at once to addresses a stranger may have named ([`DialPool::Probe`]:
    /// dial-backs, probes, witnesses), apart from the others, so that registrations whose
    /// dial-back hangs cannot hold up seed and neighbour links.
    pub max_probe_dials: usize,
    /// Fault injection for tests and figures: the share of this node's liveness pings
    /// (`Ping`) dropped on purpose. 0 in any real use.
    pub drop_pings: f64,
    /// An ICMP answer younger than this is given again instead of a new echo to the same
    /// host, to every node of the process (set it just under the ping interval: at most about
    /// one echo per host per round, however many nodes share the process).
    pub echo_reuse: Duration,
    /// Read commands from stdin, one a line, and print the answers (for a peer run by hand
    /// in a terminal).
    pub commands: bool,
    /// The node's timer is a descriptor of its own in the runtime's poll, which wakes the
    /// thread once at the moment, rather than one of tokio's, which wakes it twice for most
    /// moments ([`crate::timer`]). Off for nodes that share a process by the hundred.
    pub own_timer: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            handshake_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(3),
            send_queue: 1024,
            max_connections: 1024,
            max_handshakes: 512,
            max_handshakes_per_ip: 128,
            idle_timeout: Duration::from_secs(10),
            max_dials: 512,
            max_probe_dials: 256,
            drop_pings: 0.0,
            echo_reuse: Duration::ZERO,
            commands: false,
            own_timer: true,
        }
    }
}

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

fn next_link() -> LinkId {
    LinkId(NEXT_LINK.fetch_add(1, Ordering::Relaxed))
}

/// Inputs taken at most while records wait to be written: a bound on how long a steady
/// stream of inputs can put off the write (and the timers).
const MAX_ABSORBED: usize = 256;

/// What waits to be made durable, and the events that wait for it: the log never shows a
/// decision the store could still lose.
struct Durable {
    store: Option<Arc<Store>>,
    unwritten: Vec<Record>,
    deferred: Vec<Event>,
    /// Inputs taken since the first unwritten record.
    absorbed: usize,
}

impl Durable {
    fn pending(&self) -> bool {
        !self.unwritten.is_empty()
    }

    fn event(&mut self, log: &Logger, e: Event) {
        if self.pending() {
            self.deferred.push(e);
        } else {
            log.log(now(), &e);
        }
    }

    /// Writes what is pending in one transaction, off the runtime's threads, then logs the
    /// events that waited for it.
    async fn flush(&mut self, log: &Logger) -> Result<(), RunError> {
        let records = std::mem::take(&mut self.unwritten);
        self.absorbed = 0;
        if let (Some(store), false) = (&self.store, records.is_empty()) {
            log.hand_over();
            let (store, count, start) = (store.clone(), records.len(), std::time::Instant::now());
            tokio::task::spawn_blocking(move || store.write(&records))
                .await
                .map_err(RunError::StoreTask)??;
            let took = start.elapsed();
            tracing::debug!(records = count, ?took, "store written");
        }
        for e in self.deferred.drain(..) {
            log.log(now(), &e);
        }
        Ok(())
    }
}

/// Why a node stopped other than by being asked to.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The machine stopped with this sentence (e.g. a peer that could not register).
    #[error("{0}")]
    Stopped(String),
    /// The store could not be written: nothing more may be sent.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task writing the store failed.
    #[error("the store writer failed: {0}")]
    StoreTask(tokio::task::JoinError),
}

/// Runs `machine` on `listener` until it stops or `cancel` fires. `Err` says why it stopped:
/// the sentence the machine stopped with, or a store that could not be written. What the machine asks to persist goes to `store`
/// (a seed's), durably, before any later frame is sent: inputs that arrive together are
/// written in one transaction.
pub async fn run<M: Machine>(
    machine: M,
    listener: TcpListener,
    me: Identity,
    opts: Options,
    log: Logger,
    cancel: CancellationToken,
    store: Option<Store>,
) -> Result<(), RunError> {
    // A turn's lines go to the writer together, handed over before the node waits.
    let log = log.batched();
    let result = drive(machine, listener, me, opts, &log, &cancel, store).await;
    if cancel.is_cancelled() {
        let reason = "asked to stop (Ctrl+C, SIGTERM or its launcher)".into();
        log.log(now(), &Event::Stopped { reason });
    }
    log.hand_over();
    // Every line logged reaches its file before the process may exit.
    let _ = tokio::task::spawn_blocking(|| crate::log::flush(LOG_FLUSH)).await;
    result
}

/// How long a stopping node waits for its log to be written.
const LOG_FLUSH: Duration = Duration::from_secs(5);

async fn drive<M: Machine>(
    mut machine: M,
    listener: TcpListener,
    me: Identity,
    opts: Options,
    log: &Logger,
    cancel: &CancellationToken,
    store: Option<Store>,
) -> Result<(), RunError> {
    let mut durable = Durable {
        store: store.map(Arc::new),
        unwritten: Vec::new(),
        deferred: Vec::new(),
        absorbed: 0,
    };
    let me = Arc::new(me);
    let (tx, mut rx) = mpsc::channel::<NetEvent>(4096);
    let trusted_slots = Arc::new(Semaphore::new(opts.max_dials));
    let probe_slots = Arc::new(Semaphore::new(opts.max_probe_dials));
    let stop = cancel.child_token();
    let _guard = stop.clone().drop_guard();
    let mut links = Links::new(&opts);
    // Which links' sockets have bytes: the node reads them itself.
    let ready = Arc::new(Readiness::default());
    tokio::spawn(accept_loop(
        listener,
        me.clone(),
        opts.clone(),
        tx.clone(),
        (links.dropped(), ready.clone()),
        stop.clone(),
    ));
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backlog = Backlog::new();
    // One cancellation wait and one timer for the node's whole life, not one per input.
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    let mut timer = Timer::new(opts.own_timer);
    let mut armed: Option<Time> = None;
    // The timer fired; the timeout waits for the turn of what had arrived by then.
    let mut timeout_due = false;
    if opts.commands {
        tokio::spawn(read_commands(tx.clone(), stop.clone()));
    }
    loop {
        while let Some(out) = machine.poll_output() {
            match out {
                Output::Persist(r) => durable.unwritten.push(r),
                Output::Send { link, msg } => {
                    if durable.pending() {
                        durable.flush(log).await?;
                    }
                    if matches!(msg, Msg::Ping(_)) && rand::random::<f64>() < opts.drop_pings {
                        continue;
                    }
                    links.send(&mut machine, link, &msg, log);
                }
                Output::Dial { token, addr, pool } => {
                    let slots = match pool {
                        DialPool::Trusted => trusted_slots.clone(),
                        DialPool::Probe => probe_slots.clone(),
                    };
                    let ctx = (me.clone(), opts.clone(), tx.clone(), slots, stop.clone());
                    tokio::spawn(dial(token, addr, ctx, ready.clone()));
                }
                // What is queued goes first, then the link closes.
                Output::Close { link } => links.close(link),
                Output::Echo { ip } => {
                    let (tx, reuse) = (tx.clone(), opts.echo_reuse);
                    tokio::spawn(async move {
                        let answered = crate::echo::echo(ip, reuse).await;
                        let _ = tx.send(NetEvent::Echo { ip, answered }).await;
                    });
                }
                Output::Event(e) => durable.event(log, e),
                Output::Reply(text) => {
                    use std::io::Write;
                    let _ = std::io::stdout().lock().write_all(text.as_bytes());
                }
                Output::Stop(result) => {
                    durable.flush(log).await?;
                    links.flush(&mut machine);
                    return result.map_err(RunError::Stopped);
                }
            }
        }
        // The turn's frames go out: one write per link.
        links.flush(&mut machine);
        // Links whose last frames came with their end go down once those are handled and
        // answered.
        if backlog.is_empty() && links.ending() {
            links.end(&mut machine, log);
            continue;
        }
        if !backlog.is_empty() {
            // A turn: every frame that arrived together, then whatever else is waiting
            // already, before the outputs are carried out, so that what goes to one link in
            // the turn goes together (PROTOCOL §11.3). A machine ignores frames on a link it
            // has closed meanwhile.
            let mut taken = 0;
            while let Some((link, msg)) = backlog.pop_front() {
                if links.holds(link) {
                    machine.handle(now(), Input::Frame { link, msg });
                    // Once per run of one link's frames (they come batched), not per frame.
                    if backlog.front().is_none_or(|(next, _)| *next != link) {
                        links.set_limit(&machine, link);
                    }
                }
                taken += 1;
                if backlog.is_empty() && taken < MAX_TURN {
                    match rx.try_recv() {
                        Ok(ev) => on_net_event(&mut machine, &mut links, log, ev),
                        Err(_) => links.read(&mut machine, &ready, &mut backlog, log),
                    }
                }
            }
            continue;
        }
        if timeout_due {
            timeout_due = false;
            machine.handle(now(), Input::Timeout);
            continue;
        }
        if durable.pending() {
            // Take whatever else has arrived before paying for one durable write.
            if durable.absorbed < MAX_ABSORBED {
                if let Ok(ev) = rx.try_recv() {
                    durable.absorbed += 1;
                    on_net_event(&mut machine, &mut links, log, ev);
                    continue;
                }
            }
            durable.flush(log).await?;
        }
        // The timer is set again only when the machine's deadline moves.
        let due = machine.poll_timeout();
        if due != armed {
            if let Some(t) = due {
                timer.set(t.since(now()));
            }
            armed = due;
        }
        log.hand_over();
        tokio::select! {
            _ = &mut cancelled => return durable.flush(log).await,
            ev = rx.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                on_net_event(&mut machine, &mut links, log, ev);
            }
            _ = ready.wait() => {
                // Reading counts against the task's budget, as a channel's receive does, and
                // a read that fills a turn gives way at once: a node that always finds bytes
                // does not hold up the other tasks of its thread (its handshakes, other nodes).
                tokio::task::coop::consume_budget().await;
                links.read(&mut machine, &ready, &mut backlog, log);
                if backlog.len() >= MAX_TURN {
                    tokio::task::yield_now().await;
                }
            }
            _ = timer.fired(), if armed.is_some() => {
                armed = None;
                // What has arrived came before this moment, so it goes first: a pong that
                // came while the process was busy answers its ping before the round that
                // would count it missed. One yield lets the runtime read the sockets that
                // are ready (a timer can be found due before they are polled); then what
                // the links have read is taken, at most a turn of it, and the timeout
                // follows that turn.
                tokio::task::yield_now().await;
                timeout_due = true;
                links.read(&mut machine, &ready, &mut backlog, log);
                while backlog.len() < MAX_TURN {
                    let Ok(ev) = rx.try_recv() else { break };
                    on_net_event(&mut machine, &mut links, log, ev);
                }
            }
            _ = sweep.tick(), if links.sweep_wanted() => {
                links.sweep(&mut machine, opts.idle_timeout, log)
            }
        }
    }
}

fn on_net_event<M: Machine>(machine: &mut M, links: &mut Links, log: &Logger, ev: NetEvent) {
    match ev {
        NetEvent::Up(up) => links.up(machine, *up),
        NetEvent::DialFailed { token, error } => {
            tracing::debug!(token = token.0, %error, "dial failed");
            machine.handle(now(), Input::DialFailed { token, error });
        }
        NetEvent::Echo { ip, answered } => machine.handle(now(), Input::Echo { ip, answered }),
        NetEvent::Command(line) => machine.handle(now(), Input::Command { line }),
        NetEvent::Refused { from, reason } => {
            tracing::debug!(%from, %reason, "connection refused in its handshake");
            if links.refused() {
                let remote = from.to_string();
                log.log(now(), &Event::ProtocolError { remote, reason });
            }
        }
    }
}

/// Lines typed on stdin, as commands for the node.
async fn read_commands(tx: mpsc::Sender<NetEvent>, stop: CancellationToken) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = tokio::select! {
            _ = stop.cancelled() => return,
            line = lines.next_line() => line,
        };
        match line {
            Ok(Some(line)) => {
                if tx.send(NetEvent::Command(line)).await.is_err() {
                    return;
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// The handshakes under way, and how to drop each one (its task ends at once).
struct Pool {
    places: Handshakes,
    stops: HashMap<u64, CancellationToken>,
}

/// A place in the handshake pool, given back when dropped.
struct Place {
    pool: Arc<Mutex<Pool>>,
    id: u64,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        pool.places.finish(self.id);
        pool.stops.remove(&self.id);
    }
}

/// Accepts every connection at once (established links never hold it up), and runs its
/// handshake if its source IP may start one more: when the pool is full the oldest
/// handshake is dropped for it. A connection refused, or a handshake dropped, is counted in
/// `dropped` (PROTOCOL §3.1).
async fn accept_loop(
    listener: TcpListener,
    me: Arc<Identity>,
    opts: Options,
    tx: mpsc::Sender<NetEvent>,
    (dropped, ready): (Arc<AtomicU64>, Arc<Readiness>),
    stop: CancellationToken,
) {
    let pool = Arc::new(Mutex::new(Pool {
        places: Handshakes::new(opts.max_handshakes, opts.max_handshakes_per_ip),
        stops: HashMap::new(),
    }));
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, from) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed; backing off 50 ms");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let quit = stop.child_token();
        let id = {
            let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
            let id = match pool.places.start(from.ip()) {
                Start::In(id) => Some(id),
                Start::Evict { id, evict } => {
                    if let Some(old) = pool.stops.remove(&evict) {
                        old.cancel();
                    }
                    dropped.fetch_add(1, Ordering::Relaxed);
                    Some(id)
                }
                Start::Refuse => None,
            };
            if let Some(id) = id {
                pool.stops.insert(id, quit.clone());
            }
            id
        };
        let Some(id) = id else {
            dropped.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let place = Place {
            pool: pool.clone(),
            id,
        };
        let (me, opts, tx, stop) = (me.clone(), opts.clone(), tx.clone(), stop.clone());
        let ready = ready.clone();
        tokio::spawn(async move {
            let done = tokio::select! {
                _ = quit.cancelled() => return,
                done = accept(stream, &me, opts.handshake_timeout) => done,
            };
            drop(place);
            match done {
                Ok((channel, remote)) => {
                    let link = (channel, remote, None);
                    start_link(link, &opts, tx, &ready, stop).await;
                }
                Err(e) => {
                    let reason = e.to_string();
                    let _ = tx.send(NetEvent::Refused { from, reason }).await;
                }
            }
        });
    }
}

type DialCtx = (
    Arc<Identity>,
    Options,
    mpsc::Sender<NetEvent>,
    Arc<Semaphore>,
    CancellationToken,
);

async fn dial(
    token: DialToken,
    addr: SocketAddr,
    (me, opts, tx, slots, stop): DialCtx,
    ready: Arc<Readiness>,
) {
    let Ok(permit) = slots.try_acquire_owned() else {
        let error = DialError::Busy;
        let _ = tx.send(NetEvent::DialFailed { token, error }).await;
        return;
    };
    let attempt = async {
        let stream = TcpStream::connect(addr).await.map_err(connect_error)?;
        handshake(stream, &me, opts.dial_timeout)
            .await
            .map_err(|e| DialError::Failed(e.to_string()))
    };
    let error = match tokio::time::timeout(opts.dial_timeout, attempt).await {
        Ok(Ok((channel, remote))) => {
            let _permit = permit;
            let link = (channel, remote, Some(token));
            return start_link(link, &opts, tx, &ready, stop).await;
        }
        Ok(Err(error)) => error,
        Err(_) => DialError::TimedOut,
    };
    let _ = tx.send(NetEvent::DialFailed { token, error }).await;
}

/// What a failed connect says of the other side (PROTOCOL §12.3).
fn connect_error(e: std::io::Error) -> DialError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => DialError::Refused,
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            DialError::Unreachable(e.to_string())
        }
        ErrorKind::TimedOut => DialError::TimedOut,
        _ => DialError::Failed(e.to_string()),
    }
}

async fn start_link(
    (channel, remote, dial): (Channel, hearsay_proto::Remote, Option<DialToken>),
    opts: &Options,
    tx: mpsc::Sender<NetEvent>,
    ready: &Arc<Readiness>,
    stop: CancellationToken,
) {
    let link = next_link();
    let (inbox, out) = split(channel, link, ready, opts.send_queue, WRITE_TIMEOUT);
    let cancel = stop.child_token();
    let up = NetEvent::Up(Box::new(LinkUp {
        link,
        remote,
        dial,
        inbox,
        out,
        cancel,
    }));
    let _ = tx.send(up).await;
}

mod links;

use links::{Backlog, Links, MAX_TURN, SWEEP_EVERY};

#[cfg(test)]
mod tests;
