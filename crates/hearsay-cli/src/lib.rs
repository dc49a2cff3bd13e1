//! What the `seed`, `peer` and `hearsay` programs share: common flags, config loading,
//! logs, signals and exit codes (SPEC §1).

pub mod dashboard;
pub mod fit;
pub mod os;
pub mod plots;
pub mod sim;
pub mod summary;
pub mod up;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use hearsay_net::metrics::Metrics;
use hearsay_net::Logger;
use hearsay_proto::config::Config;
use tokio_util::sync::CancellationToken;

/// Flags every node program takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// The seed list: one `IP:PORT` (or `IP,PORT`) per line.
    #[arg(long, default_value = "config.txt")]
    pub config: PathBuf,
    /// The address others should dial (default: the listen address).
    #[arg(long)]
    pub advertise: Option<SocketAddr>,
    /// The human log, shared by any number of nodes.
    #[arg(long, default_value = "outputfile.txt")]
    pub out: PathBuf,
    /// The same events as JSON lines.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Where keys and state live.
    #[arg(long, default_value = ".hearsay")]
    pub data_dir: PathBuf,
    /// Do not print the log on the console.
    #[arg(long)]
    pub quiet: bool,
    /// Serve Prometheus metrics of this process's nodes at http://ADDR/metrics (port 0: a
    /// free one; the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Stop, as on SIGTERM, when stdin reaches its end. `hearsay up` gives the nodes it
    /// starts a pipe on stdin, so that they stop with it however it ends (SIGKILL too).
    #[arg(long, hide = true)]
    pub stop_with_stdin: bool,
}

/// Parses durations such as `250ms`, `5s`, `1m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("'{text}' is not a duration ({e})"))
}

/// Reads and parses the config; errors name the file and line.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {}", path.display()))?;
    Config::parse(&path.display().to_string(), &text).map_err(|e| anyhow!("bad config: {e}"))
}

/// The data dir of the node advertised at `addr`, e.g. `.hearsay/seed-127.0.0.1-6000`.
pub fn node_dir(root: &Path, role: &str, addr: SocketAddr) -> PathBuf {
    let ip = addr.ip().to_string().replace(':', "_");
    root.join(format!("{role}-{ip}-{}", addr.port()))
}

/// The logger all of this process's nodes share (each with its own name).
pub fn logger(common: &Common, node: SocketAddr, role: &'static str) -> anyhow::Result<Logger> {
    let out = hearsay_net::log::open_append(&common.out)
        .with_context(|| format!("cannot open the log file {}", common.out.display()))?;
    let events = match &common.events {
        Some(p) => Some(
            hearsay_net::log::open_append(p)
                .with_context(|| format!("cannot open the events file {}", p.display()))?,
        ),
        None => None,
    };
    Ok(Logger::new(
        node.to_string(),
        role,
        !common.quiet,
        Some(out),
        events,
    ))
}

/// Serves this process's metrics at `--metrics` until `cancel`, and says where on stderr;
/// `None` without the flag.
pub async fn serve_metrics(
    common: &Common,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<Arc<Metrics>>> {
    let Some(addr) = common.metrics else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics at {addr}"))?;
    let bound = listener.local_addr()?;
    eprintln!("metrics: http://{bound}/metrics");
    let metrics = Metrics::new();
    tokio::spawn(hearsay_net::metrics::serve(
        listener,
        metrics.clone(),
        cancel.clone(),
    ));
    Ok(Some(metrics))
}

/// How long an ICMP answer is reused, for nodes pinging every `ping_interval`: just under
/// one round, so each host is echoed about once a round however many nodes ask.
pub fn echo_reuse(ping_interval: Duration) -> Duration {
    ping_interval.mul_f64(0.9)
}

/// A token cancelled on Ctrl+C or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        t.cancel();
    });
    token
}

/// With `--stop-with-stdin`: cancels `token` once stdin reaches its end, which is when the
/// process holding the pipe's other end has exited. The read blocks, so it has a thread.
pub fn stop_with_stdin(common: &Common, token: &CancellationToken) -> anyhow::Result<()> {
    if !common.stop_with_stdin {
        return Ok(());
    }
    let token = token.clone();
    std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0; 64];
            // Whatever arrives is not for us; only the end (or a broken stdin) counts.
            loop {
                match stdin.read(&mut buf) {
                    Ok(1..) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Ok(0) | Err(_) => break,
                }
            }
            token.cancel();
        })
        .context("cannot start the thread that watches stdin")?;
    Ok(())
}

/// Writes `text` to stdout. A reader that went away (`hearsay up | head`) is not an error of
/// ours: the rest is dropped, and the program goes on to its end.
pub fn say(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Developer diagnostics (`tracing`) on stderr, when `RUST_LOG` asks for them (for example
/// `RUST_LOG=hearsay_net=debug`: links up and down, dials, handshakes refused, store writes).
/// Without it nothing is set up and nothing is written: the event log is the product's
/// output, this is for whoever works on hearsay.
pub fn init_diagnostics() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Why a program stops with a non-zero status: what to say, and the exit code (SPEC §1: 2 for
/// a usage or config error, 1 for a failure while running).
#[derive(Debug)]
pub struct Failure {
    code: u8,
    err: anyhow::Error,
}

impl Failure {
    /// A usage or config error: exit code 2.
    pub fn usage(err: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 2,
            err: err.into(),
        }
    }

    /// A failure while running: exit code 1.
    pub fn run(err: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 1,
            err: err.into(),
        }
    }

    /// Writes out what the log holds, prints `program: error` (with its causes), and gives
    /// the exit code.
    pub fn report(self, program: &str) -> std::process::ExitCode {
        hearsay_net::log::flush(Duration::from_secs(2));
        eprintln!("{program}: {:#}", self.err);
        std::process::ExitCode::from(self.code)
    }
}

/// Runs a program's `main` future on `runtime` and turns its outcome into the exit status.
/// The runtime is shut down without waiting for blocking work (a console read on stdin would
/// otherwise hold the exit).
pub fn exit_status(
    program: &str,
    runtime: tokio::runtime::Runtime,
    main: impl std::future::Future<Output = Result<(), Failure>>,
) -> std::process::ExitCode {
    let result = runtime.block_on(main);
    runtime.shutdown_background();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(f) => f.report(program),
    }
}
