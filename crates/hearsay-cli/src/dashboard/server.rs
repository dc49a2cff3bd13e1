//! The dashboard's web server (axum: the page, JSON, a WebSocket), what feeds a live board,
//! and `hearsay dashboard`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::replay::ReplayQuery;
use super::{Board, Replay, ReplayState, Shared};
use crate::summary;

/// Pages open at once: each costs a board snapshot twice a second, so a stranger who can
/// reach the address cannot make the process spend without bound.
pub const MAX_PAGES: usize = 16;

/// Feeds `board` until `cancel`: the whole lines added to `files` (a directory: its events
/// files), and every second each seed's status (the first seed that answers gives the Peer
/// List and links).
pub async fn follow(
    board: Shared,
    files: Vec<PathBuf>,
    seeds: Vec<SocketAddr>,
    cancel: CancellationToken,
) {
    let mut tail = summary::Tail::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut n = 0u64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        {
            let mut b = lock(&board);
            tail.read_files(&files, |line| b.event(line));
            b.settle();
        }
        n += 1;
        if n % 4 != 1 {
            continue;
        }
        let mut primary = true;
        for s in &seeds {
            let Ok(status) = hearsay_net::fetch_status(*s, Duration::from_secs(1)).await else {
                continue;
            };
            let status = summary::status_json(&status);
            lock(&board).status(&status, primary);
            primary = false;
        }
    }
}

/// `hearsay dashboard`: replay a finished run or a simulator trace, or attach to a network
/// started by hand.
#[derive(clap::Args, Clone, Debug)]
pub struct DashboardArgs {
    /// A finished run's directory (`hearsay up`'s runs/<time>/) to replay.
    pub run: Option<PathBuf>,
    /// A simulator trace (`hearsay sim --trace FILE`) to replay.
    #[arg(long, conflicts_with = "run")]
    pub trace: Option<PathBuf>,
    /// Attach to the network of this config: its seeds' Peer Lists, topology and decisions.
    #[arg(long, default_value = "config.txt", conflicts_with_all = ["run", "trace"])]
    pub config: PathBuf,
    /// Attach to these seeds instead of the config's.
    #[arg(long, conflicts_with_all = ["run", "trace"])]
    pub seed: Vec<SocketAddr>,
    /// Attached: also follow these events files (`--events` of the nodes; a directory
    /// stands for its *.jsonl files).
    #[arg(long, num_args = 1.., conflicts_with_all = ["run", "trace"])]
    pub events: Vec<PathBuf>,
    /// Where to serve the page (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Replay: event time per wall time (20: twenty seconds of the run a second).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
}

/// Runs `hearsay dashboard` until `cancel`.
pub async fn run(args: DashboardArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    use anyhow::Context;
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed must be more than 0");
    }
    let mut app = App::new(Shared::default(), None);
    let replayed = args.run.as_ref().or(args.trace.as_ref());
    let what = match replayed {
        Some(path) => {
            let mut replay = Replay::load(path, args.speed)?;
            replay.control(
                &mut lock(&app.board),
                &ReplayQuery {
                    play: Some(true),
                    ..Default::default()
                },
            );
            let replay = Arc::new(Mutex::new(replay));
            app.replay = Some(replay.clone());
            tokio::spawn(play(replay, app.board.clone(), cancel.clone()));
            format!("replaying {}", path.display())
        }
        None => {
            let seeds = match args.seed.is_empty() {
                true => crate::load_config(&args.config)?
                    .seeds
                    .iter()
                    .map(|s| s.addr)
                    .collect(),
                false => args.seed.clone(),
            };
            let feed = follow(
                app.board.clone(),
                args.events.clone(),
                seeds.clone(),
                cancel.clone(),
            );
            tokio::spawn(feed);
            let seeds: Vec<String> = seeds.iter().map(SocketAddr::to_string).collect();
            format!("following the seeds {}", seeds.join(", "))
        }
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot serve the dashboard at {}", args.addr))?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, app, cancel.clone()));
    crate::say(&format!(
        "dashboard: http://{bound}/ ({what}; Ctrl+C to stop)\n"
    ));
    cancel.cancelled().await;
    Ok(())
}

/// Moves `replay`'s clock ten times a second until `cancel`.
async fn play(replay: Arc<Mutex<Replay>>, board: Shared, cancel: CancellationToken) {
    let every = Duration::from_millis(100);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut r = replay.lock().unwrap_or_else(|e| e.into_inner());
        r.step(&mut lock(&board), every);
    }
}

pub(super) const PAGE: &str = include_str!("page.html");
const APP: &str = include_str!("app.js");
const D3: [&str; 4] = [
    include_str!("vendor/d3-dispatch.min.js"),
    include_str!("vendor/d3-quadtree.min.js"),
    include_str!("vendor/d3-timer.min.js"),
    include_str!("vendor/d3-force.min.js"),
];

fn javascript(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json(value: &impl Serialize) -> Response {
    let body = serde_json::to_string(value).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[derive(Deserialize)]
struct WaveQuery {
    id: String,
}

/// What the server serves: the board, and the replay feeding it, if one does.
#[derive(Clone)]
pub struct App {
    /// The board.
    pub board: Shared,
    /// The replay, when the board shows a finished run or a trace.
    pub replay: Option<Arc<Mutex<Replay>>>,
    /// Room for pages (WebSockets) open at once.
    pages: Arc<tokio::sync::Semaphore>,
}

impl App {
    /// Serves `board`, fed by `replay` if one.
    pub fn new(board: Shared, replay: Option<Arc<Mutex<Replay>>>) -> App {
        let pages = Arc::new(tokio::sync::Semaphore::new(MAX_PAGES));
        App {
            board,
            replay,
            pages,
        }
    }
}

/// Serves the dashboard of `app` on `listener` until `cancel`.
pub async fn serve(listener: tokio::net::TcpListener, app: App, cancel: CancellationToken) {
    let routes = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/app.js", get(|| async { javascript(APP.to_string()) }))
        .route("/vendor/d3.js", get(|| async { javascript(D3.join("\n")) }))
        .route(
            "/api/state",
            get(|State(a): State<App>| async move { json(&lock(&a.board).state()) }),
        )
        .route(
            "/api/wave",
            get(
                |State(a): State<App>, Query(q): Query<WaveQuery>| async move {
                    json(&lock(&a.board).wave(&q.id).cloned())
                },
            ),
        )
        .route(
            "/api/replay",
            get(
                |State(a): State<App>, Query(q): Query<ReplayQuery>| async move {
                    let Some(replay) = &a.replay else {
                        return json(&None::<ReplayState>);
                    };
                    let mut r = replay.lock().unwrap_or_else(|e| e.into_inner());
                    let mut b = lock(&a.board);
                    r.control(&mut b, &q);
                    json(&Some(r.state()))
                },
            ),
        )
        .route(
            "/ws",
            get(|State(a): State<App>, ws: WebSocketUpgrade| async move {
                let Ok(room) = a.pages.clone().try_acquire_owned() else {
                    let full = format!("{MAX_PAGES} pages are open already");
                    return (StatusCode::SERVICE_UNAVAILABLE, full).into_response();
                };
                ws.on_upgrade(move |socket| async move {
                    push(socket, a.board).await;
                    drop(room);
                })
            }),
        )
        .with_state(app);
    let stop = async move { cancel.cancelled().await };
    if let Err(e) = axum::serve(listener, routes)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!("dashboard server: {e}");
    }
}

/// The board, whether or not a holder panicked (it holds counts, not invariants).
pub fn lock(board: &Shared) -> std::sync::MutexGuard<'_, Board> {
    board.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pushes the board to one page twice a second until it goes.
async fn push(mut socket: WebSocket, board: Shared) {
    let (mut version, mut seq) = (u64::MAX, 0u64);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let text = {
            let b = lock(&board);
            // An unchanged topology is not sent: the page keeps what it drew.
            let state = b.snapshot(b.topology_version != version, seq);
            version = b.topology_version;
            seq = state.feed.last().map_or(seq, |(s, _)| *s);
            serde_json::to_string(&state).unwrap_or_default()
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}
