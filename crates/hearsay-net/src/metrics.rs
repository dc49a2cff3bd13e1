//! Prometheus metrics of the nodes of one process (issue 17), counted from the events they log
//! and served as text at `GET /metrics` (`seed --metrics ADDR`, `peer --metrics ADDR`).
//!
//! Every family has a `node` label (a seed process may run several seeds). The counters are
//! the node's events counted as they are logged, so they equal what its `--events` file holds.

use std::sync::Arc;

use hearsay_proto::event::Event;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;

/// A gauge a driver sets itself ([`Metrics::peer_list_size`]).
pub use prometheus_client::metrics::gauge::Gauge;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Node {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Named {
    node: String,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    node: String,
    outcome: String,
}

type Latency = Family<Node, Histogram, fn() -> Histogram>;

/// One process's metrics.
pub struct Metrics {
    registry: Registry,
    events: Family<Named, Counter>,
    generated: Family<Node, Counter>,
    received: Family<Node, Counter>,
    duplicates: Family<Node, Counter>,
    latency: Latency,
    registrations: Family<Outcome, Counter>,
    removals: Family<Outcome, Counter>,
    suspicions: Family<Outcome, Counter>,
    false_accusations: Family<Node, Counter>,
    protocol_errors: Family<Node, Counter>,
    neighbors: Family<Node, Gauge>,
    peer_list: Family<Node, Gauge>,
}

fn latency_buckets() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    /// Empty metrics, every family registered.
    pub fn new() -> Arc<Metrics> {
        let mut m = Metrics {
            registry: Registry::with_prefix("hearsay"),
            events: Family::default(),
            generated: Family::default(),
            received: Family::default(),
            duplicates: Family::default(),
            latency: Family::new_with_constructor(latency_buckets),
            registrations: Family::default(),
            removals: Family::default(),
            suspicions: Family::default(),
            false_accusations: Family::default(),
            protocol_errors: Family::default(),
            neighbors: Family::default(),
            peer_list: Family::default(),
        };
        let r = &mut m.registry;
        r.register("events", "Events logged, by name", m.events.clone());
        r.register(
            "gossip_generated",
            "Gossip messages generated",
            m.generated.clone(),
        );
        let first = "Gossip messages received for the first time";
        r.register("gossip_received", first, m.received.clone());
        let again = "Gossip messages received again (duplicates)";
        r.register("gossip_duplicates", again, m.duplicates.clone());
        let latency = "From a message's generation to its first receipt here";
        r.register_with_unit(
            "delivery_latency",
            latency,
            Unit::Seconds,
            m.latency.clone(),
        );
        let registrations = "Registrations a seed decided, by outcome (committed, aborted)";
        r.register("registrations", registrations, m.registrations.clone());
        let removals = "Removals a seed decided, by outcome (committed, aborted)";
        r.register("removals", removals, m.removals.clone());
        let suspicions = "Suspicions of a neighbour, by outcome (started, confirmed, cleared)";
        r.register("suspicions", suspicions, m.suspicions.clone());
        let false_accusations = "Dead-node reports a seed found false";
        r.register(
            "false_accusations",
            false_accusations,
            m.false_accusations.clone(),
        );
        let errors = "Protocol errors logged (bad bytes, refused handshakes)";
        r.register("protocol_errors", errors, m.protocol_errors.clone());
        r.register("neighbors", "Gossip neighbours now", m.neighbors.clone());
        let list = "Peers in a seed's Peer List now";
        r.register("peer_list_size", list, m.peer_list.clone());
        Arc::new(m)
    }

    /// Counts one event of the node `node`.
    pub fn observe(&self, node: &str, e: &Event) {
        let named = Named {
            node: node.to_string(),
            event: e.name().to_string(),
        };
        self.events.get_or_create(&named).inc();
        let this = Node {
            node: node.to_string(),
        };
        let (per_node, by_outcome) = match e {
            Event::GossipGenerated { .. } => (Some(&self.generated), None),
            Event::GossipReceived { latency, .. } => {
                let seconds = latency.as_secs_f64();
                self.latency.get_or_create(&this).observe(seconds);
                (Some(&self.received), None)
            }
            Event::GossipDuplicate { .. } => (Some(&self.duplicates), None),
            Event::FalseAccusation { .. } => (Some(&self.false_accusations), None),
            Event::ProtocolError { .. } => (Some(&self.protocol_errors), None),
            Event::RegistrationCommitted { .. } => (None, Some((&self.registrations, "committed"))),
            Event::RegistrationAborted { .. } => (None, Some((&self.registrations, "aborted"))),
            Event::RemovalCommitted { .. } => (None, Some((&self.removals, "committed"))),
            Event::RemovalAborted { .. } => (None, Some((&self.removals, "aborted"))),
            Event::SuspicionStarted { .. } => (None, Some((&self.suspicions, "started"))),
            Event::SuspicionConfirmed { .. } => (None, Some((&self.suspicions, "confirmed"))),
            Event::SuspicionCleared { .. } => (None, Some((&self.suspicions, "cleared"))),
            Event::NeighborAdded { .. } => {
                self.neighbors.get_or_create(&this).inc();
                (None, None)
            }
            Event::NeighborRemoved { .. } => {
                self.neighbors.get_or_create(&this).dec();
                (None, None)
            }
            _ => (None, None),
        };
        if let Some(family) = per_node {
            family.get_or_create(&this).inc();
        }
        if let Some((family, outcome)) = by_outcome {
            let labels = Outcome {
                node: this.node,
                outcome: outcome.to_string(),
            };
            family.get_or_create(&labels).inc();
        }
    }

    /// The gauge of the seed `node`'s Peer List size, for its driver to set after every
    /// input: events alone cannot say it (a restored Peer List names nobody).
    pub fn peer_list_size(&self, node: &str) -> Gauge {
        let this = Node {
            node: node.to_string(),
        };
        self.peer_list.get_or_create(&this).clone()
    }

    /// The Prometheus text exposition (OpenMetrics) of everything counted so far.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Several processes' expositions as one (`hearsay up --metrics`): each family once, with
/// every process's samples under it, in the order families first appear, and one `# EOF`.
/// The samples do not collide: each names its node.
pub fn merge(expositions: &[String]) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut families: std::collections::BTreeMap<String, (Vec<String>, Vec<String>)> =
        std::collections::BTreeMap::new();
    for text in expositions {
        let mut current = String::new();
        for line in text.lines().filter(|l| !l.is_empty() && *l != "# EOF") {
            let meta = line.strip_prefix("# ").and_then(|rest| {
                let (_, rest) = rest.split_once(' ')?;
                Some(rest.split_once(' ').map_or(rest, |(name, _)| name))
            });
            if let Some(name) = meta {
                if name != current {
                    current = name.to_string();
                    if !families.contains_key(&current) {
                        order.push(current.clone());
                    }
                }
                let (metas, _) = families.entry(current.clone()).or_default();
                if !metas.iter().any(|m| m == line) {
                    metas.push(line.to_string());
                }
            } else {
                families
                    .entry(current.clone())
                    .or_default()
                    .1
                    .push(line.to_string());
            }
        }
    }
    let mut out = String::new();
    for name in &order {
        let (metas, samples) = &families[name];
        for line in metas.iter().chain(samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `GET /metrics` on `listener` until `stop`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let page = move || {
        let metrics = metrics.clone();
        async move {
            let kind = [(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)];
            (kind, metrics.encode())
        }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(page));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_expositions_name_each_family_once_with_every_processs_samples() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.peer_list_size("127.0.0.1:6000").set(3);
        b.peer_list_size("127.0.0.1:6001").set(5);
        b.peer_list_size("127.0.0.1:6002").set(4);
        let merged = merge(&[a.encode(), b.encode()]);
        let lines: Vec<&str> = merged.lines().collect();
        let mut family: Vec<&str> = (lines.iter().copied())
            .filter(|l| l.contains("peer_list_size"))
            .collect();
        // Within one process a family's samples come in no set order (a hash map): its
        // header first, then the samples, whichever way round.
        family[2..].sort_unstable();
        assert_eq!(
            family,
            [
                "# HELP hearsay_peer_list_size Peers in a seed's Peer List now.",
                "# TYPE hearsay_peer_list_size gauge",
                "hearsay_peer_list_size{node=\"127.0.0.1:6000\"} 3",
                "hearsay_peer_list_size{node=\"127.0.0.1:6001\"} 5",
                "hearsay_peer_list_size{node=\"127.0.0.1:6002\"} 4",
            ]
        );
        let types = lines.iter().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!(
            types,
            a.encode().matches("# TYPE").count(),
            "each family once"
        );
        assert_eq!(lines.last(), Some(&"# EOF"));
        assert_eq!(merged.matches("# EOF").count(), 1);
    }
}
