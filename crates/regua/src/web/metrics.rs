//! `GET /metrics`: Prometheus text format, series named `regua_*` — notices by status, the
//! queue depth per account, the send latency histogram and the last routine run. Counts only,
//! nothing personal but the accounts' names. Closed unless configured: with
//! `REGUA_METRICS_TOKEN` scrapes must send `Authorization: Bearer <token>`; `--metrics-open`
//! serves them to anyone (a scraper on a private network); with neither, every scrape gets 401.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
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

/// A Prometheus label value, escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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
        let mut out = String::new();
        writeln!(out, "# HELP regua_notices Notices in the outbox by status.")?;
        writeln!(out, "# TYPE regua_notices gauge")?;
        let counts = store::outbox::count_notices_by_status(&mut conn).await?;
        for status in ["queued", "sending", "sent", "retrying", "dead", "skipped"] {
            let n = counts.get(status).copied().unwrap_or(0);
            writeln!(out, "regua_notices{{status=\"{status}\"}} {n}")?;
        }
        writeln!(out, "# HELP regua_queue_depth Notices waiting to be sent, per account.")?;
        writeln!(out, "# TYPE regua_queue_depth gauge")?;
        for (account, n) in store::log::queue_depth_by_account(&mut conn).await? {
            writeln!(out, "regua_queue_depth{{account=\"{}\"}} {n}", label(&account))?;
        }
        let store::log::DurationHistogram {
            buckets,
            count,
            sum_ms,
        } = state
            .send_histogram
            .read(&mut conn, state.clock.now_millis())
            .await?;
        writeln!(out, "# HELP regua_send_duration_seconds Time to hand a message to the server.")?;
        writeln!(out, "# TYPE regua_send_duration_seconds histogram")?;
        for (b, n) in BOUNDS_MS.iter().zip(&buckets) {
            writeln!(
                out,
                "regua_send_duration_seconds_bucket{{le=\"{}\"}} {n}",
                *b as f64 / 1000.0
            )?;
        }
        writeln!(out, "regua_send_duration_seconds_bucket{{le=\"+Inf\"}} {count}")?;
        writeln!(out, "regua_send_duration_seconds_sum {}", sum_ms as f64 / 1000.0)?;
        writeln!(out, "regua_send_duration_seconds_count {count}")?;
        if let Some(run) = store::dunning::list_runs(&mut conn, 1).await?.first() {
            writeln!(out, "# HELP regua_routine_last_run_timestamp_seconds When the last routine run finished.")?;
            writeln!(out, "# TYPE regua_routine_last_run_timestamp_seconds gauge")?;
            writeln!(
                out,
                "regua_routine_last_run_timestamp_seconds{{status=\"{}\"}} {}",
                label(&run.status),
                run.finished_at.unwrap_or(run.started_at) / 1000
            )?;
        }
        Ok(out)
    }
    .await;
    match result {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
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
