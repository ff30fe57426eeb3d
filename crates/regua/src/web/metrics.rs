//! `GET /metrics`: the OpenMetrics text format (Prometheus reads it), written by the
//! `prometheus-client` crate, series named `regua_*` — notices by status, the
//! queue depth per account, the send latency histogram and the last routine run. Counts only,
//! nothing personal but the accounts' names. Closed unless configured: with
//! `REGUA_METRICS_TOKEN` scrapes must send `Authorization: Bearer <token>`; `--metrics-open`
//! serves them to anyone (a scraper on a private network); with neither, every scrape gets 401.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet as NoLabels};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::AppState;
use crate::delivery::NoticeStatus;
use crate::store;

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Scrapes send `Authorization: Bearer <token>`.
    Token(String),
    /// Anyone (explicitly asked for with `--metrics-open`).
    Open,
    /// No one: nothing was configured.
    Closed,
}

impl MetricsAccess {
    /// From the options: a token wins; otherwise open only when asked for.
    pub fn from_options(token: Option<String>, open: bool) -> MetricsAccess {
        match token.filter(|t| !t.is_empty()) {
            Some(t) => MetricsAccess::Token(t),
            None if open => MetricsAccess::Open,
            None => MetricsAccess::Closed,
        }
    }
}

/// The latency histogram's bucket bounds, in milliseconds.
pub const BOUNDS_MS: [i64; 9] = [5, 10, 25, 50, 100, 250, 500, 1000, 5000];

/// How long after its start an attempt's log row is taken to be written: the worker records a
/// batch's attempts when the batch ends, and sends time out in 30 s. Attempts newer than this
/// are counted afresh at every scrape.
const SETTLE_MS: i64 = 15 * 60 * 1000;

/// The histogram of the delivery log up to an attempt id, kept between scrapes: a log of
/// millions of attempts is read once, then only what is new.
#[derive(Debug, Default)]
pub struct HistogramCache(tokio::sync::Mutex<(i64, store::log::DurationHistogram)>);

impl HistogramCache {
    /// The whole log's histogram: the cached part, advanced over what settled since, plus the
    /// attempts after it.
    pub async fn read(
        &self,
        conn: &mut sqlx::AnyConnection,
        now_ms: i64,
    ) -> anyhow::Result<store::log::DurationHistogram> {
        let mut cached = self.0.lock().await;
        let (up_to, hist) = &mut *cached;
        if let Some(settled) =
            store::log::settled_attempt_id(conn, *up_to, now_ms - SETTLE_MS).await?
        {
            hist.add(
                &store::log::send_duration_histogram(conn, &BOUNDS_MS, *up_to, Some(settled))
                    .await?,
            );
            *up_to = settled;
        }
        let mut total = hist.clone();
        total.add(&store::log::send_duration_histogram(conn, &BOUNDS_MS, *up_to, None).await?);
        Ok(total)
    }

    /// The attempt id the cached part reaches (0 before the first scrape settles anything).
    pub async fn settled_up_to(&self) -> i64 {
        self.0.lock().await.0
    }
}

/// What one scrape shows, read from the database, encoded by `prometheus_client` (the
/// OpenMetrics text format) as a collector of constant metrics.
#[derive(Debug)]
struct Scrape {
    notices: Vec<(&'static str, i64)>,
    queue_depth: Vec<(String, i64)>,
    histogram: store::log::DurationHistogram,
    last_run: Option<(String, i64)>,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "regua_notices",
            "Notices in the outbox by status.",
            None,
            MetricType::Gauge,
        )?;
        for (status, n) in &self.notices {
            let labels = [("status", *status)];
            ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "regua_queue_depth",
            "Notices waiting to be sent, per account.",
            None,
            MetricType::Gauge,
        )?;
        for (account, n) in &self.queue_depth {
            let labels = [("account", account.as_str())];
            ConstGauge::new(*n).encode(family.encode_family(&labels)?)?;
        }
        let h = &self.histogram;
        // The encoder takes each bucket's own count and adds them up; the store's are
        // cumulative (`le`), as the exposition shows them.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = BOUNDS_MS
            .iter()
            .map(|b| *b as f64 / 1000.0)
            .chain([f64::INFINITY])
            .zip(h.buckets.iter().copied().chain([h.count]))
            .map(|(le, cumulative)| {
                let own = u64::try_from(cumulative - below).unwrap_or(0);
                below = cumulative;
                (le, own)
            })
            .collect();
        encoder
            .encode_descriptor(
                "regua_send_duration_seconds",
                "Time to hand a message to the server.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabels>(
                h.sum_ms as f64 / 1000.0,
                u64::try_from(h.count).unwrap_or(0),
                &buckets,
                None,
            )?;
        if let Some((status, at)) = &self.last_run {
            let mut family = encoder.encode_descriptor(
                "regua_routine_last_run_timestamp_seconds",
                "When the last routine run finished.",
                None,
                MetricType::Gauge,
            )?;
            let labels = [("status", status.as_str())];
            ConstGauge::new(*at).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The `/metrics` handler.
pub(super) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match &state.metrics {
        MetricsAccess::Open => {}
        MetricsAccess::Closed => {
            return (
                StatusCode::UNAUTHORIZED,
                "metrics are closed: set REGUA_METRICS_TOKEN (or start with --metrics-open)",
            )
                .into_response();
        }
        MetricsAccess::Token(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if !super::auth::same_secret(given, token) {
                return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
            }
        }
    }
    let result: anyhow::Result<String> = async {
        let mut conn = state.db.pool.acquire().await?;
        let counts = store::outbox::count_notices_by_status(&mut conn).await?;
        let scrape = Scrape {
            notices: NoticeStatus::ALL
                .iter()
                .map(|s| (s.as_str(), counts.get(s.as_str()).copied().unwrap_or(0)))
                .collect(),
            queue_depth: store::log::queue_depth_by_account(&mut conn).await?,
            histogram: state
                .send_histogram
                .read(&mut conn, state.clock.now_millis())
                .await?,
            last_run: store::dunning::list_runs(&mut conn, 1)
                .await?
                .first()
                .map(|run| {
                    (
                        run.status.clone(),
                        run.finished_at.unwrap_or(run.started_at) / 1000,
                    )
                }),
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
    .await;
    match result {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "metrics failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response()
        }
    }
}
