//! hearsay's tokio runtime: TCP, framing, timers and logs around the `hearsay-proto` state
//! machines (ENGINEERING.md "The seam").
//!
//! One task owns each node's state machine and reads and writes its links' frames itself;
//! other tasks only dial, accept and run handshakes, and write what a full socket did not
//! take. This crate is the only one that reads the clock or the OS's randomness.

pub mod budget;
pub mod conn;
pub mod echo;
pub mod identity;
pub mod log;
pub mod metrics;
pub mod node;
pub mod secure;
pub mod status;
pub mod store;
pub mod text;
pub mod timer;

pub use identity::{load_or_create_key, next_incarnation};
pub use log::Logger;
pub use node::{now, run, Options};
pub use status::fetch_status;

/// A seed for a state machine's RNG, from the OS (only the runtime may ask the OS).
pub fn random() -> u64 {
    rand::random()
}
