//! A node's one timer: the moment its state machine next wants a [`Input::Timeout`].
//!
//! tokio's timers sit in a hierarchical wheel: one due more than 64 ms ahead is kept in a
//! coarser slot, and the runtime wakes at that slot's start, moves it to a finer one and
//! sleeps again, so a peer process at the task's timings woke twice for most of its timers
//! (a held announcement's tick, a ping round): about three wake-ups in ten did nothing. Where
//! the system has one, the timer is a `timerfd` in the runtime's poll instead, which wakes
//! the thread once, at the moment. It costs one descriptor, so nodes that share a process by
//! the hundred (`hearsay up --in-process`, whose threads are seldom idle) keep tokio's.
//!
//! [`Input::Timeout`]: hearsay_proto::node::Input::Timeout

use std::pin::Pin;
use std::time::Duration;

/// Fires once at the moment it was last [set](Timer::set) to; never fires unset.
pub struct Timer {
    inner: Inner,
    /// Set and not fired since.
    armed: bool,
}

enum Inner {
    #[cfg(target_os = "linux")]
    Fd(tokio::net::unix::pipe::Receiver),
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Timer {
    /// A timer in the runtime's poll (a `timerfd`) if `own` and the system has one, else a
    /// tokio timer. Must be called within a runtime.
    pub fn new(own: bool) -> Timer {
        #[cfg(target_os = "linux")]
        if own {
            if let Some(fd) = timerfd() {
                return Timer {
                    inner: Inner::Fd(fd),
                    armed: false,
                };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = own;
        Timer {
            inner: Inner::Tokio(Box::pin(tokio::time::sleep(Duration::ZERO))),
            armed: false,
        }
    }

    /// Whether this timer is a `timerfd`.
    pub fn is_own(&self) -> bool {
        !matches!(self.inner, Inner::Tokio(_))
    }

    /// Fires `after` from now (a zero `after` at once), and not at any earlier setting.
    pub fn set(&mut self, after: Duration) {
        self.armed = true;
        match &mut self.inner {
            #[cfg(target_os = "linux")]
            Inner::Fd(fd) => {
                use rustix::time::{timerfd_settime, Itimerspec, TimerfdTimerFlags, Timespec};
                // A zero time would disarm it: the soonest it can be is a nanosecond.
                let after = after.max(Duration::from_nanos(1));
                let spec = Itimerspec {
                    it_interval: Timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    },
                    it_value: Timespec {
                        tv_sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                        tv_nsec: i64::from(after.subsec_nanos()),
                    },
                };
                // Setting a timerfd of ours fails only for an invalid value, which this is not;
                // were it to, the timer would stay as it was and the deadline come late.
                if let Err(e) = timerfd_settime(&*fd, TimerfdTimerFlags::empty(), &spec) {
                    tracing::warn!(%e, "could not set the node's timer");
                }
            }
            Inner::Tokio(sleep) => sleep.as_mut().reset(tokio::time::Instant::now() + after),
        }
    }

    /// Waits until the timer fires. Cancel-safe: dropped before it fires, it loses nothing.
    pub async fn fired(&mut self) {
        if !self.armed {
            return std::future::pending().await;
        }
        match &mut self.inner {
            #[cfg(target_os = "linux")]
            Inner::Fd(fd) => loop {
                if fd.readable().await.is_err() {
                    // The reactor is gone (the runtime is shutting down): nothing will fire.
                    return std::future::pending().await;
                }
                // The count of expirations; none (a readiness left from before a new
                // setting) means wait on.
                if let Ok(8) = fd.try_read(&mut [0u8; 8]) {
                    break;
                }
            },
            Inner::Tokio(sleep) => sleep.as_mut().await,
        }
        self.armed = false;
    }
}

/// A non-blocking monotonic `timerfd` in the current runtime's poll, if the system gives one.
///
/// It is registered as a pipe's reading end: that is tokio's safe way to poll a descriptor
/// it did not open for reading (`AsyncFd`'s safe constructors are deprecated, tokio#8587, and
/// the workspace forbids unsafe code), and read readiness and a non-blocking `read` are all a
/// timerfd needs. The `_unchecked` is the file type's check, which a timerfd would fail.
#[cfg(target_os = "linux")]
fn timerfd() -> Option<tokio::net::unix::pipe::Receiver> {
    use rustix::time::{timerfd_create, TimerfdClockId, TimerfdFlags};
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )
    .ok()?;
    tokio::net::unix::pipe::Receiver::from_owned_fd_unchecked(fd).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Both kinds fire once at the moment last set, never before it, and not again until
    /// set again; setting it again moves the moment, earlier or later.
    #[tokio::test(flavor = "current_thread")]
    async fn a_timer_fires_once_at_the_moment_it_was_last_set_to() {
        for own in [true, false] {
            let mut timer = Timer::new(own);
            #[cfg(target_os = "linux")]
            assert_eq!(timer.is_own(), own);
            // Set far, then nearer: the nearer moment counts.
            let start = Instant::now();
            timer.set(Duration::from_secs(3600));
            timer.set(Duration::from_millis(30));
            timer.fired().await;
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(30),
                "{own}: fired early, {took:?}"
            );
            assert!(took < Duration::from_secs(3000), "{own}");
            // Fired, it waits for the next setting.
            let again = tokio::time::timeout(Duration::from_millis(80), timer.fired()).await;
            assert!(again.is_err(), "{own}: fired twice");
            // Set near, then later: only the later moment counts.
            let start = Instant::now();
            timer.set(Duration::from_millis(10));
            timer.set(Duration::from_millis(120));
            timer.fired().await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(120), "{own}: {took:?}");
            // Zero fires at once.
            timer.set(Duration::ZERO);
            tokio::time::timeout(Duration::from_secs(5), timer.fired())
                .await
                .unwrap_or_else(|_| panic!("{own}: a zero setting did not fire"));
        }
    }
}
