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
