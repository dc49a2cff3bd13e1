//! A finished run or a simulator trace played back into a [`Board`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Board;
use crate::summary;

/// What `GET /api/replay` may change: play or pause, the speed, a position (0 to 1).
#[derive(Debug, Default, Deserialize)]
pub(super) struct ReplayQuery {
    pub(super) play: Option<bool>,
    pub(super) speed: Option<f64>,
    pub(super) seek: Option<f64>,
}

/// Where a replay stands, in its events' own time (Unix ms, or virtual ms in a trace).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayState {
    /// The first event's time.
    pub start: u64,
    /// The last event's time.
    pub end: u64,
    /// The replay's clock: every event up to it is on the board.
    pub at: u64,
    /// Whether the clock runs.
    pub playing: bool,
    /// Event time per wall time.
    pub speed: f64,
}

/// A finished run's events, or a simulator's trace, played back into a board: play, pause,
/// speed and seeking (back: the board is rebuilt from the start).
#[derive(Debug)]
pub struct Replay {
    /// Every event line with its time, in time order (lines of one time keep their order).
    lines: Vec<(u64, String)>,
    /// The next line to take.
    next: usize,
    at: u64,
    playing: bool,
    speed: f64,
}

#[derive(Deserialize)]
struct Stamp {
    ts: u64,
}

impl Replay {
    /// A replay of `lines` (those that are not event lines are dropped), paused at the
    /// start, at `speed`.
    pub fn new(lines: impl IntoIterator<Item = String>, speed: f64) -> Replay {
        let mut lines: Vec<(u64, String)> = (lines.into_iter())
            .filter_map(|l| Some((serde_json::from_str::<Stamp>(&l).ok()?.ts, l)))
            .collect();
        lines.sort_by_key(|(ts, _)| *ts);
        let at = lines.first().map_or(0, |(ts, _)| *ts);
        Replay {
            lines,
            next: 0,
            at,
            playing: false,
            speed,
        }
    }

    /// A replay of the events files of a run directory, or of one file (a trace).
    pub fn load(path: &std::path::Path, speed: f64) -> anyhow::Result<Replay> {
        use anyhow::Context;
        let mut lines = Vec::new();
        summary::Tail::default().read_files(&[path.to_path_buf()], |l| lines.push(l.to_string()));
        if lines.is_empty() {
            let what = match path.is_dir() {
                true => "holds no events files (*.jsonl)",
                false => "holds no event lines",
            };
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
            anyhow::bail!("{} {what}", path.display());
        }
        Ok(Replay::new(lines, speed))
    }

    /// Where it stands.
    pub fn state(&self) -> ReplayState {
        let start = self.lines.first().map_or(0, |(ts, _)| *ts);
        ReplayState {
            start,
            end: self.lines.last().map_or(start, |(ts, _)| *ts),
            at: self.at,
            playing: self.playing,
            speed: self.speed,
        }
    }

    /// Moves the clock to `to` and brings `board` there.
    pub fn seek_to(&mut self, board: &mut Board, to: u64) {
        let s = self.state();
        let to = to.clamp(s.start, s.end);
        if to < self.at {
            *board = Board::new();
            self.next = 0;
        }
        while let Some((_, line)) = self.lines.get(self.next).filter(|(ts, _)| *ts <= to) {
            board.event(line);
            self.next += 1;
        }
        board.settle();
        self.at = to;
        if to == s.end {
            self.playing = false;
        }
        board.replay = Some(self.state());
    }

    /// `wall` time passed: the clock moves on by `wall` × speed, if it runs.
    pub fn step(&mut self, board: &mut Board, wall: Duration) {
        if self.playing {
            let by = (wall.as_secs_f64() * 1000.0 * self.speed) as u64;
            self.seek_to(board, self.at.saturating_add(by.max(1)));
        } else {
            board.replay = Some(self.state());
        }
    }

    /// Applies what the page asked for.
    pub(super) fn control(&mut self, board: &mut Board, q: &ReplayQuery) {
        if let Some(speed) = q.speed.filter(|s| s.is_finite() && *s > 0.0) {
            self.speed = speed;
        }
        if let Some(f) = q.seek.filter(|f| f.is_finite()) {
            let s = self.state();
            let to = s.start + ((s.end - s.start) as f64 * f.clamp(0.0, 1.0)) as u64;
            self.seek_to(board, to);
        }
        if let Some(play) = q.play {
            self.playing = play && self.at < self.state().end;
        }
        board.replay = Some(self.state());
    }
}
