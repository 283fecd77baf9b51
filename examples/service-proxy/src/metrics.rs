//! Prometheus metrics (served on `/metrics`).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Every metric the proxy keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Seconds per sync pass (translate + IPVS + node side).
    pub sync_duration: Histogram,
    /// Sync passes.
    pub syncs: Counter,
    /// Kubernetes Services programmed.
    pub services: Gauge,
    /// IPVS services programmed.
    pub ipvs_services: Gauge,
    /// Destinations programmed.
    pub endpoints: Gauge,
    /// IPVS operations sent.
    pub ipvs_writes: Counter,
    /// Source events (adds, updates, deletes, re-lists) received.
    pub events: Counter,
    /// Failed syncs or failed IPVS changes, node-side failures.
    pub errors: Counter,
    /// Objects or parts skipped as invalid (counted once per new problem).
    pub bad_objects: Counter,
    /// Unix time of the last successful sync.
    pub last_sync: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics, registered under the `lvs_proxy_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lvs_proxy");
        let m = Metrics {
            registry: Registry::default(),
            sync_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            syncs: Counter::default(),
            services: Gauge::default(),
            ipvs_services: Gauge::default(),
            endpoints: Gauge::default(),
            ipvs_writes: Counter::default(),
            events: Counter::default(),
            errors: Counter::default(),
            bad_objects: Counter::default(),
            last_sync: Gauge::default(),
        };
        registry.register(
            "sync_proxy_rules_duration_seconds",
            "Time of one sync pass",
            m.sync_duration.clone(),
        );
        registry.register("syncs", "Sync passes", m.syncs.clone());
        registry.register(
            "services",
            "Kubernetes Services programmed",
            m.services.clone(),
        );
        registry.register(
            "ipvs_services",
            "IPVS services programmed",
            m.ipvs_services.clone(),
        );
        registry.register(
            "endpoints",
            "IPVS destinations programmed",
            m.endpoints.clone(),
        );
        registry.register("ipvs_writes", "IPVS operations sent", m.ipvs_writes.clone());
        registry.register("events", "Cluster events received", m.events.clone());
        registry.register(
            "sync_errors",
            "Failed syncs and failed changes",
            m.errors.clone(),
        );
        registry.register(
            "invalid_objects",
            "Objects or parts skipped as invalid",
            m.bad_objects.clone(),
        );
        registry.register(
            "last_sync_timestamp_seconds",
            "Unix time of the last successful sync",
            m.last_sync.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}
