use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearsay_proto::wire::Msg;
use hearsay_proto::{Input, Keypair, LinkId, LinkUse, Machine, Output, Role, Time};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{run, Options};
use crate::conn::{handshake, Identity};
use crate::log::Logger;

/// A machine that, when its link comes up, wants a timeout soon, and that keeps its thread
/// busy with the first frame (a busy process) until a second has been sent and the timeout
/// is past; it writes down what it is given and stops after the timeout.
struct Busy {
    seen: Arc<Mutex<Vec<&'static str>>>,
    /// Told when the machine is busy; answers when the second frame is sent.
    busy: Sender<()>,
    sent: Receiver<()>,
    due: Option<Time>,
    timed_out: bool,
    stopped: bool,
}

impl Machine for Busy {
    fn handle(&mut self, now: Time, input: Input) {
        let what = match input {
            Input::LinkUp { .. } => {
                self.due = Some(Time(now.0 + 30));
                "link up"
            }
            Input::Frame {
                msg: Msg::Ping(_), ..
            } => {
                self.busy.send(()).unwrap();
                self.sent.recv_timeout(Duration::from_secs(10)).unwrap();
                let due = self.due.unwrap();
                std::thread::sleep(Duration::from_millis(due.0.saturating_sub(now.0) + 10));
                "ping"
            }
            Input::Frame { .. } => "pong",
            Input::Timeout => {
                self.timed_out = true;
                "timeout"
            }
            _ => "other",
        };
        self.seen.lock().unwrap().push(what);
    }

    fn poll_output(&mut self) -> Option<Output> {
        if self.timed_out && !self.stopped {
            self.stopped = true;
            return Some(Output::Stop(Ok(())));
        }
        None
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.due.filter(|_| !self.timed_out)
    }

    fn link_use(&self, _link: LinkId) -> LinkUse {
        LinkUse::Protected
    }
}

/// A busy process reaches a node late: its timer is due and a neighbour's pong has arrived.
/// The pong came first, so it is handled first, or a liveness round would count a live
/// neighbour's ping as missed. The node's wait picks at random among what is ready, so the
/// order must not depend on that pick: the same every time. (The neighbour's ping keeps the
/// node busy; its pong arrives meanwhile, and the timer expires.) Fails with the timeout
/// handled as soon as it is found due, or without the yield before it.
#[test]
fn a_frame_that_arrived_before_a_late_timer_is_handled_before_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for round in 0..16 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ((busy_tx, busy_rx), (sent_tx, sent_rx)) = (channel(), channel());
        let busy = Busy {
            seen: seen.clone(),
            busy: busy_tx,
            sent: sent_rx,
            due: None,
            timed_out: false,
            stopped: false,
        };
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        // The neighbour, on a thread of its own: it sends its pong while the node is busy.
        let neighbour = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let me = Identity::new(Keypair::from_secret([2; 32]), Role::Peer, addr);
                let stream = TcpStream::connect(addr).await.unwrap();
                let limit = Duration::from_secs(5);
                let (mut channel, _) = handshake(stream, &me, limit).await.unwrap();
                channel.send(&Msg::Ping(6)).await.unwrap();
                busy_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                // Sent: on loopback, in the node's socket.
                channel.send(&Msg::Pong(7)).await.unwrap();
                sent_tx.send(()).unwrap();
                // Open until the node has read it.
                tokio::time::sleep(Duration::from_millis(100)).await;
            })
        });
        let me = Identity::new(Keypair::from_secret([1; 32]), Role::Peer, addr);
        let log = Logger::new("test".into(), "peer", false, None, None);
        let (opts, cancel) = (Options::default(), CancellationToken::new());
        rt.block_on(run(busy, listener, me, opts, log, cancel, None))
            .unwrap();
        neighbour.join().unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            ["link up", "ping", "pong", "timeout"],
            "round {round}"
        );
    }
}

/// A machine that writes down the links coming up and going down and the pings it is given
/// (pongs it only counts, each holding its thread for `pong_cost`); it holds its thread at
/// its first link until `hold` says so, and stops when it sees `stop_at`.
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    pongs: u64,
    pong_cost: Duration,
    hold: Option<Receiver<()>>,
    stop_at: &'static str,
    stopped: bool,
    stop: bool,
}

impl Recorder {
    fn new(
        seen: Arc<Mutex<Vec<String>>>,
        hold: Option<Receiver<()>>,
        stop_at: &'static str,
    ) -> Self {
        let (pongs, pong_cost, stopped, stop) = (0, Duration::ZERO, false, false);
        Recorder {
            seen,
            pongs,
            pong_cost,
            hold,
            stop_at,
            stopped,
            stop,
        }
    }
}

impl Machine for Recorder {
    fn handle(&mut self, _now: Time, input: Input) {
        let what = match input {
            Input::LinkUp { .. } => {
                if let Some(hold) = self.hold.take() {
                    hold.recv_timeout(Duration::from_secs(10)).unwrap();
                }
                "link up".to_string()
            }
            Input::Frame {
                msg: Msg::Ping(n), ..
            } => format!("ping {n}"),
            Input::Frame { .. } => {
                self.pongs += 1;
                std::thread::sleep(self.pong_cost);
                return;
            }
            Input::LinkDown { .. } => "link down".to_string(),
            _ => return,
        };
        self.stop |= what == self.stop_at;
        self.seen.lock().unwrap().push(what);
    }

    fn poll_output(&mut self) -> Option<Output> {
        if self.stop && !self.stopped {
            self.stopped = true;
            return Some(Output::Stop(Ok(())));
        }
        None
    }

    fn poll_timeout(&self) -> Option<Time> {
        None
    }

    fn link_use(&self, _link: LinkId) -> LinkUse {
        LinkUse::Protected
    }
}

/// Runs `machine` as a node on a fresh listener, `client` on a thread of its own with the
/// node's address; returns when the machine stops (or after 20 s).
fn run_with(machine: Recorder, client: impl FnOnce(std::net::SocketAddr) + Send + 'static) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || client(addr));
    let me = Identity::new(Keypair::from_secret([1; 32]), Role::Peer, addr);
    let log = Logger::new("test".into(), "peer", false, None, None);
    let (opts, cancel) = (Options::default(), CancellationToken::new());
    let node = run(machine, listener, me, opts, log, cancel, None);
    let done = rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), node).await });
    done.expect("the machine did not stop within 20 s").unwrap();
    client.join().unwrap();
}

/// A client's link to the node, after its handshake, as identity `seed`.
async fn client_link(addr: std::net::SocketAddr, seed: u8) -> crate::conn::Channel {
    let me = Identity::new(Keypair::from_secret([seed; 32]), Role::Peer, addr);
    let stream = TcpStream::connect(addr).await.unwrap();
    let (channel, _) = handshake(stream, &me, Duration::from_secs(5))
        .await
        .unwrap();
    channel
}

fn client_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Frames that arrive together with the end of their connection (a neighbour that sends
/// `LinkRefused` and closes) are all handled, then the link goes down: one read brings both,
/// and the end must not overtake the frames.
#[test]
fn frames_that_come_with_the_end_of_a_link_are_handled_before_it_goes_down() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (closed_tx, closed_rx) = channel();
    let machine = Recorder::new(seen.clone(), Some(closed_rx), "link down");
    run_with(machine, move |addr| {
        client_rt().block_on(async {
            let mut link = client_link(addr, 2).await;
            for n in 1..=3 {
                link.send(&Msg::Ping(n)).await.unwrap();
            }
            drop(link);
            // Sent and closed while the node is busy with the link's coming up.
            tokio::time::sleep(Duration::from_millis(50)).await;
            closed_tx.send(()).unwrap();
        })
    });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, ["link up", "ping 1", "ping 2", "ping 3", "link down"]);
}

/// A neighbour that floods frames the node ignores does not keep it from reading another
/// link: each round reads the links that wait before the ones that had more.
#[test]
fn a_flooding_link_does_not_keep_another_link_from_being_read() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut machine = Recorder::new(seen.clone(), None, "ping 9");
    // The node takes the flood more slowly than it comes: the flooding link always has more.
    machine.pong_cost = Duration::from_micros(20);
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = flooding.clone();
    run_with(machine, move |addr| {
        let flooder = std::thread::spawn(move || {
            client_rt().block_on(async {
                let mut link = client_link(addr, 2).await;
                let mut frames = Vec::new();
                for n in 0..4096 {
                    hearsay_proto::wire::put_frame(&Msg::Pong(n), &mut frames).unwrap();
                }
                while flood.load(std::sync::atomic::Ordering::Relaxed) {
                    if link.send_plain(&frames).await.is_err() {
                        return;
                    }
                }
            })
        });
        client_rt().block_on(async {
            // The flood fills the node's socket first.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut link = client_link(addr, 3).await;
            link.send(&Msg::Ping(9)).await.unwrap();
            // Open until the node has read it (it stops then, and closes it).
            while let Ok(Some(_)) = link.recv().await {}
        });
        flooding.store(false, std::sync::atomic::Ordering::Relaxed);
        flooder.join().unwrap();
    });
    assert!(seen.lock().unwrap().contains(&"ping 9".to_string()));
}

/// A neighbour (a link the machine protects, so neither the stranger's frame limit nor the
/// idle timeout applies) that sends part of a frame and no more is cut off once the frame is
/// not whole within `FRAME_DEADLINE`: the budget's sweep finds it while any link holds part
/// of a frame.
#[test]
fn a_protected_link_holding_half_a_frame_is_cut_off_after_the_frame_deadline() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let machine = Recorder::new(seen.clone(), None, "link down");
    let started = std::time::Instant::now();
    run_with(machine, move |addr| {
        client_rt().block_on(async {
            let mut link = client_link(addr, 2).await;
            let mut frame = Vec::new();
            hearsay_proto::wire::put_frame(&Msg::Ping(5), &mut frame).unwrap();
            link.send_plain(&frame[..frame.len() - 1]).await.unwrap();
            // Open, and silent, until the node closes it.
            while let Ok(Some(_)) = link.recv().await {}
        })
    });
    assert!(started.elapsed() >= crate::conn::FRAME_DEADLINE);
    assert_eq!(*seen.lock().unwrap(), ["link up", "link down"]);
}
