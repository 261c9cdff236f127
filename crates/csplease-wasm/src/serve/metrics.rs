//! The webhook's Prometheus metrics (OpenMetrics text at `/metrics`).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use csplease_admission::Response;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: u16,
}

/// The counters and the latency histogram, registered once.
pub(super) struct Metrics {
    registry: Registry,
    reviews: Family<Outcome, Counter>,
    denials: Family<Reason, Counter>,
    lookups: Family<Result, Counter>,
    refused: Family<Code, Counter>,
    latency: Histogram,
}

impl Metrics {
    pub(super) fn new() -> Metrics {
        let mut registry = Registry::default();
        let reviews = Family::<Outcome, Counter>::default();
        let denials = Family::<Reason, Counter>::default();
        let lookups = Family::<Result, Counter>::default();
        let refused = Family::<Code, Counter>::default();
        // 50 µs to about 0.8 s.
        let latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 15));
        registry.register(
            "csplease_webhook_reviews",
            "AdmissionReviews answered, by the lease module's outcome (allowed, denied, invalid)",
            reviews.clone(),
        );
        registry.register(
            "csplease_webhook_denials",
            "Writes denied, by reason: holder_live, protocol, invalid_request, undecided",
            denials.clone(),
        );
        registry.register(
            "csplease_webhook_pod_lookups",
            "Holder pod lookups, by result: found, not_found, failed (failed counts as live)",
            lookups.clone(),
        );
        registry.register(
            "csplease_webhook_refused_requests",
            "Requests answered with an HTTP error instead of an AdmissionReview, by status code",
            refused.clone(),
        );
        registry.register(
            "csplease_webhook_review_duration_seconds",
            "Time to answer one AdmissionReview, from its body read to its answer, pod lookup included",
            latency.clone(),
        );
        Metrics { registry, reviews, denials, lookups, refused, latency }
    }

    pub(super) fn reviewed(&self, response: &Response, took: Duration) {
        self.reviews.get_or_create(&Outcome { outcome: response.outcome.clone() }).inc();
        if let Some(denial) = response.denial {
            self.denials.get_or_create(&Reason { reason: denial.as_str() }).inc();
        }
        self.latency.observe(took.as_secs_f64());
    }

    pub(super) fn looked_up(&self, result: &'static str) {
        self.lookups.get_or_create(&Result { result }).inc();
    }

    pub(super) fn refused(&self, code: u16) {
        self.refused.get_or_create(&Code { code }).inc();
    }

    pub(super) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
