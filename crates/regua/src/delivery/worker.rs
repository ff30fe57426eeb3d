//! The delivery worker: a thin loop around one step, [`Worker::deliver_batch`]: claim due
//! notices (leased), read what they need (`super::batch`), re-check each one's route and
//! cause and prepare its message (`super::prepare`), send it by its channel
//! (`super::channels`), and record the attempt. Several sends run at once.
//! `regua worker` loops forever; `regua outbox drain` loops until nothing is due. The reasons
//! it records for skipped and abandoned notices are shown to finance staff, so they are in
//! Portuguese; server replies are kept as the server sent them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{FutureExt as _, StreamExt as _};

use super::batch::BatchCache;
use super::channels::{Channels, Outcome};
use super::policy::{Failure, MAX_ATTEMPTS, backoff_ms};
use super::prepare::{Layouts, Prepared, prepare};
use super::{Channel, NoticeStatus};
use crate::domain::Clock;
use crate::secrets::MasterKey;
use crate::store::{self, Db, outbox::AttemptResult, outbox::Claim};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name in leases and the log (host:pid by default).
    pub name: String,
    /// How long a claim is leased; a crashed worker's notices are taken again after it.
    pub lease: Duration,
    /// Notices per claim.
    pub batch: i64,
    /// Sends in flight at once (also each SMTP account's connection pool size).
    pub concurrency: usize,
    /// The bound on each network step: TCP connect, SMTP greeting, each command, the message
    /// transaction, the TLS handshake, and every HTTP request to an SMS gateway or FCM. A step
    /// that takes longer fails the attempt as transient (retried later).
    pub timeout: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            name: default_worker_name(),
            lease: Duration::from_secs(300),
            batch: 64,
            concurrency: 8,
            timeout: network_timeout_from_env(),
        }
    }
}

/// The network timeout when nothing else is said: 30 s per step.
pub const DEFAULT_NETWORK_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable that sets the network timeout (whole seconds) of every process
/// that delivers: `regua worker`, `outbox drain`, `serve`, and the "send a test" commands and
/// buttons.
pub const NETWORK_TIMEOUT_ENV: &str = "REGUA_NETWORK_TIMEOUT_SECONDS";

/// The network timeout from [`NETWORK_TIMEOUT_ENV`], else the configuration file's
/// `network_timeout_seconds`, else [`DEFAULT_NETWORK_TIMEOUT`].
pub fn network_timeout_from_env() -> Duration {
    std::env::var(NETWORK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .or(crate::config::get()
            .network_timeout_seconds
            .filter(|s| *s > 0))
        .map_or(DEFAULT_NETWORK_TIMEOUT, Duration::from_secs)
}

/// How long a stopping worker lets the sends in flight finish before it cancels them; the
/// cancelled ones are recorded as interrupted and retried at once by the next worker.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The longest pause between two tries of a worker that meets database errors (claiming or
/// recording): 1 s, then 2, 4, … up to this.
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(30);

/// `hostname:pid`.
pub fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Notices claimed.
    pub claimed: usize,
    /// Accepted by the server.
    pub sent: usize,
    /// Will be tried again.
    pub retrying: usize,
    /// Given up.
    pub dead: usize,
    /// Not sent on purpose.
    pub skipped: usize,
}

impl BatchReport {
    fn add(&mut self, other: &BatchReport) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.skipped += other.skipped;
    }
}

/// The delivery worker.
pub struct Worker {
    db: Db,
    clock: Clock,
    options: WorkerOptions,
    channels: Channels,
    layouts: Layouts,
    /// Lanes holding attempts they could not record yet. While any does, no lane claims: a
    /// notice whose result is unrecorded must not be claimed and sent again.
    unrecorded: std::sync::atomic::AtomicUsize,
    /// Per-sender budget of failure log lines.
    failure_log: Mutex<HashMap<String, FailureLogWindow>>,
    /// The channels' sending windows and the holiday calendar, read at most once a minute.
    windows: Mutex<Option<(Instant, Windows)>>,
}

/// What the sending windows need: each channel's window and the calendar of holidays.
type Windows = (
    Vec<(Channel, crate::domain::window::SendingWindow)>,
    crate::domain::schedule::Calendar,
);

/// How long the worker keeps the windows it read: a changed window applies within this.
const WINDOWS_TTL: Duration = Duration::from_secs(60);

/// How many failure lines one account or gateway may log per minute; beyond that they are
/// counted and reported in one line when the minute is over, so an outage does not flood the
/// log with one line per notice.
const FAILURE_LINES_PER_MINUTE: u32 = 10;

#[derive(Debug)]
struct FailureLogWindow {
    started: Instant,
    logged: u32,
    suppressed: u32,
}

impl Worker {
    /// A worker on `db`; `key` opens the accounts' passwords.
    pub fn new(db: Db, clock: Clock, options: WorkerOptions, key: Option<MasterKey>) -> Worker {
        Worker {
            channels: Channels::new(
                &db,
                &clock,
                key.as_ref(),
                options.concurrency,
                options.timeout,
            ),
            layouts: Layouts::default(),
            db,
            clock,
            options,
            unrecorded: std::sync::atomic::AtomicUsize::new(0),
            failure_log: Mutex::new(HashMap::new()),
            windows: Mutex::new(None),
        }
    }

    /// The channels whose sending window is closed now (docs/delivery.md "Sending windows").
    async fn closed_channels(&self) -> anyhow::Result<crate::domain::window::ClosedChannels> {
        let cached = self
            .windows
            .lock()
            .expect("windows lock")
            .as_ref()
            .filter(|(at, _)| at.elapsed() < WINDOWS_TTL)
            .map(|(_, w)| w.clone());
        let (windows, calendar) = match cached {
            Some(w) => w,
            None => {
                let mut conn = self.db.pool.acquire().await?;
                let windows = store::settings::sending_windows(&mut conn).await?;
                let calendar = store::dunning::calendar(&mut conn).await?;
                let w = (windows, calendar);
                *self.windows.lock().expect("windows lock") = Some((Instant::now(), w.clone()));
                w
            }
        };
        Ok(crate::domain::window::ClosedChannels::at(
            &self.clock,
            &windows,
            &calendar,
        ))
    }

    /// Claims one batch of due notices, delivers it, and records every attempt in one
    /// transaction. The accounts, layouts, wallets and company profile are read once per batch.
    pub async fn deliver_batch(&self) -> anyhow::Result<BatchReport> {
        let (_never, stop) = tokio::sync::watch::channel(false);
        self.deliver_batch_until(stop).await
    }

    /// [`Worker::deliver_batch`], cut short by `stop`: once it turns true, the sends still in
    /// flight get [`SHUTDOWN_GRACE`], then are cancelled and recorded as interrupted (retried
    /// at once by the next worker). A batch whose attempts cannot be recorded (the database
    /// refuses writes) keeps them and tries again, 1 s, 2 s, … apart, claiming nothing new
    /// meanwhile: letting its leases lapse would send those messages again.
    async fn deliver_batch_until(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<BatchReport> {
        use std::sync::atomic::Ordering;
        if self.unrecorded.load(Ordering::SeqCst) > 0 {
            return Ok(BatchReport::default());
        }
        let closed = self.closed_channels().await?;
        let claims = store::outbox::claim_due_notices(
            &self.db,
            &self.options.name,
            self.clock.now_millis(),
            i64::try_from(self.options.lease.as_millis()).unwrap_or(i64::MAX),
            self.options.batch,
            &closed,
        )
        .await?;
        let mut report = BatchReport {
            claimed: claims.len(),
            ..BatchReport::default()
        };
        if claims.is_empty() {
            return Ok(report);
        }
        let cache = BatchCache::load(
            &self.db,
            &claims.iter().collect::<Vec<_>>(),
            self.clock.now_millis(),
        )
        .await?;
        let done = self.deliver_claims(&claims, &cache, stop.clone()).await;
        self.record(&done, stop).await?;
        for (_, r) in &done {
            match r.outcome {
                NoticeStatus::Sent => report.sent += 1,
                NoticeStatus::Retrying => report.retrying += 1,
                NoticeStatus::Dead => report.dead += 1,
                _ => report.skipped += 1,
            }
        }
        Ok(report)
    }

    /// Sends a batch's notices, several at once; on `stop`, waits [`SHUTDOWN_GRACE`] and then
    /// records what is still in flight as interrupted.
    async fn deliver_claims<'c>(
        &self,
        claims: &'c [Claim],
        cache: &BatchCache,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<(&'c Claim, AttemptResult)> {
        let mut results: Vec<Option<AttemptResult>> = vec![None; claims.len()];
        let mut sends = futures_util::stream::iter(claims.iter().enumerate())
            .map(|(i, c)| async move { (i, self.deliver(c, cache).await) })
            .buffer_unordered(self.options.concurrency.div_ceil(2).max(1));
        let cancelled = async {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    // No one can stop this batch any more.
                    std::future::pending::<()>().await;
                }
            }
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::pin!(cancelled);
        loop {
            tokio::select! {
                next = sends.next() => match next {
                    Some((i, r)) => results[i] = Some(r),
                    None => break,
                },
                () = &mut cancelled => break,
            }
        }
        drop(sends);
        let interrupted = results.iter().filter(|r| r.is_none()).count();
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "stopping: sends still in flight were cancelled; they will be retried"
            );
        }
        claims
            .iter()
            .zip(results)
            .map(|(c, r)| (c, r.unwrap_or_else(|| self.interrupted(&c.notice))))
            .collect()
    }

    /// An attempt cancelled by a stop: due again at once, for the next worker.
    fn interrupted(&self, n: &super::Notice) -> AttemptResult {
        let now = self.clock.now_millis();
        AttemptResult {
            outcome: NoticeStatus::Retrying,
            retry_at: Some(now),
            reply_code: None,
            reply_text: "envio interrompido: o processo foi encerrado durante o envio; nova tentativa em seguida".into(),
            recipient: n.recipient.clone(),
            layout_version: None,
            duration_ms: 0,
            at_ms: now,
            fallback: None,
            provider_id: None,
        }
    }

    /// Records a batch's attempts, trying again while the database refuses (see
    /// [`Worker::deliver_batch_until`]). After a stop it gives up within a few tries: those
    /// notices stay leased and are taken again when the lease lapses.
    async fn record(
        &self,
        done: &[(&Claim, AttemptResult)],
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let mut pause = Duration::from_secs(1);
        let mut held = false;
        let mut tries_after_stop = 0;
        let result = loop {
            match store::outbox::finish_attempts(
                &self.db,
                done,
                &self.options.name,
                self.clock.now_millis(),
            )
            .await
            {
                Ok(_) => break Ok(()),
                Err(e) => {
                    if *stop.borrow() {
                        tries_after_stop += 1;
                        if tries_after_stop > 3 {
                            break Err(e.context("stopping with attempts unrecorded"));
                        }
                        pause = Duration::from_secs(1);
                    }
                    if !held {
                        held = true;
                        self.unrecorded.fetch_add(1, Ordering::SeqCst);
                    }
                    tracing::error!(
                        error = format!("{e:#}"),
                        attempts = done.len(),
                        retry_in_s = pause.as_secs(),
                        "cannot record the attempts; keeping them and claiming nothing until they are recorded"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                    pause = (pause * 2).min(MAX_ERROR_PAUSE);
                }
            }
        };
        if held {
            self.unrecorded.fetch_sub(1, Ordering::SeqCst);
            if result.is_ok() {
                tracing::warn!(
                    attempts = done.len(),
                    "attempts recorded after the database came back"
                );
            }
        }
        result
    }

    /// Delivers one notice now, if it is due; returns its new status (`None` when it was not
    /// due or is leased elsewhere).
    pub async fn deliver_notice(
        &self,
        id: super::NoticeId,
    ) -> anyhow::Result<Option<NoticeStatus>> {
        let claim = store::outbox::claim_notice(
            &self.db,
            &self.options.name,
            self.clock.now_millis(),
            i64::try_from(self.options.lease.as_millis()).unwrap_or(i64::MAX),
            id,
        )
        .await?;
        let Some(claim) = claim else {
            return Ok(None);
        };
        let cache = BatchCache::load(&self.db, &[&claim], self.clock.now_millis()).await?;
        let result = self.deliver(&claim, &cache).await;
        let outcome = result.outcome;
        store::outbox::finish_attempts(
            &self.db,
            &[(&claim, result)],
            &self.options.name,
            self.clock.now_millis(),
        )
        .await?;
        Ok(Some(outcome))
    }

    /// Delivers one notice now (an operator's "send a test") and returns its new status with
    /// the answer its attempt logged, as `code text` (`---` without a code).
    pub async fn deliver_and_answer(
        &self,
        id: super::NoticeId,
    ) -> anyhow::Result<(Option<NoticeStatus>, String)> {
        let status = self.deliver_notice(id).await?;
        let mut conn = self.db.pool.acquire().await?;
        let answer = store::log::last_attempt_reply(&mut conn, id)
            .await?
            .map(|(code, text)| format!("{} {text}", code.map_or("---".into(), |c| c.to_string())))
            .unwrap_or_default();
        Ok((status, answer))
    }

    /// Delivers batches until nothing is due now; `progress` is told each batch's size.
    pub async fn drain(
        &self,
        mut progress: impl FnMut(&BatchReport),
    ) -> anyhow::Result<BatchReport> {
        // Two batches in flight: while one claims or records (database work, one writer on
        // SQLite), the other's messages are on the wire.
        let progress = std::sync::Mutex::new(&mut progress);
        let total = std::sync::Mutex::new(BatchReport::default());
        let lane = || async {
            loop {
                let r = self.deliver_batch().await?;
                if r.claimed == 0 {
                    return Ok::<_, anyhow::Error>(());
                }
                (progress.lock().expect("poisoned"))(&r);
                total.lock().expect("poisoned").add(&r);
            }
        };
        let (a, b) = tokio::join!(lane(), lane());
        a?;
        b?;
        Ok(total.into_inner().expect("poisoned"))
    }

    /// Delivers forever, in two lanes: a batch whenever something is due, otherwise sleeps until
    /// the next due time (at most `idle`, so newly enqueued notices are seen). Stops when
    /// `shutdown` resolves, after the batches in flight.
    pub async fn run(
        &self,
        idle: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let lane = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            // Consecutive failed batches (the database refusing): wait 1 s, 2 s, … 30 s before
            // the next, instead of failing in a tight loop.
            let mut pause = Duration::ZERO;
            while !*stopped.borrow() {
                let r = match self.deliver_batch_until(stopped.clone()).await {
                    Ok(r) => {
                        pause = Duration::ZERO;
                        r
                    }
                    Err(e) => {
                        pause = (pause * 2).clamp(Duration::from_secs(1), MAX_ERROR_PAUSE);
                        tracing::error!(
                            error = format!("{e:#}"),
                            retry_in_s = pause.as_secs(),
                            "delivery batch failed"
                        );
                        tokio::select! {
                            _ = stopped.changed() => {}
                            () = tokio::time::sleep(pause) => {}
                        }
                        continue;
                    }
                };
                if r.claimed > 0 {
                    tracing::info!(
                        claimed = r.claimed,
                        sent = r.sent,
                        retrying = r.retrying,
                        dead = r.dead,
                        skipped = r.skipped,
                        "batch delivered"
                    );
                    continue;
                }
                let wait = self.idle_wait(idle).await.unwrap_or(idle);
                tokio::select! {
                    _ = stopped.changed() => {}
                    () = tokio::time::sleep(wait.max(Duration::from_millis(20))) => {}
                }
            }
        };
        // Two lanes, as in `drain`; a stop gives the sends in flight a few seconds, then
        // cancels them (they are retried).
        tokio::join!(lane(stopped.clone()), lane(stopped), async {
            shutdown.await;
            let _ = stop.send(true);
        });
        Ok(())
    }

    /// How long to sleep when nothing is due: until the next notice is, at most `idle`.
    async fn idle_wait(&self, idle: Duration) -> anyhow::Result<Duration> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(match store::outbox::next_due_at(&mut conn).await? {
            Some(next) => {
                let ms = (next - self.clock.now_millis())
                    .clamp(0, i64::try_from(idle.as_millis()).unwrap_or(i64::MAX));
                Duration::from_millis(u64::try_from(ms).unwrap_or(0))
            }
            None => idle,
        })
    }

    fn sent(
        &self,
        recipient: String,
        code: u16,
        text: String,
        version: Option<i64>,
    ) -> AttemptResult {
        AttemptResult {
            outcome: NoticeStatus::Sent,
            retry_at: None,
            reply_code: Some(code),
            reply_text: text,
            recipient,
            layout_version: version,
            duration_ms: 0,
            at_ms: 0,
            fallback: None,
            provider_id: None,
        }
    }

    /// One notice, start to finish (recording aside).
    async fn deliver(&self, claim: &Claim, cache: &BatchCache) -> AttemptResult {
        let started = Instant::now();
        let n = &claim.notice;
        // A panic while preparing or sending one message (a library refusing a value we let
        // through) fails that message, dead with the reason, and never the process: a crash
        // would leave the whole batch leased, to be sent again after the lease.
        let attempt = std::panic::AssertUnwindSafe(self.attempt(claim, cache)).catch_unwind();
        let mut result = match attempt.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                // Our own failure (database, PDF): worth retrying like a transient one.
                tracing::error!(notice = n.id.0, error = format!("{e:#}"), "delivery failed");
                self.failed(n, Failure::ours(&e), n.recipient.clone(), None)
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                self.failed(
                    n,
                    Failure::Permanent {
                        code: None,
                        text: format!("erro interno ao preparar a mensagem: {what}"),
                    },
                    n.recipient.clone(),
                    None,
                )
            }
        };
        result.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        result.at_ms = self.clock.now_millis();
        self.log_attempt(n, &result);
        result
    }

    /// One line per attempt: sent and skipped at INFO, a failure to be retried at WARN, a
    /// notice given up at ERROR — failures at most [`FAILURE_LINES_PER_MINUTE`] a minute per
    /// account or gateway, the rest counted in one line when the minute is over.
    fn log_attempt(&self, n: &super::Notice, result: &AttemptResult) {
        let failed = matches!(result.outcome, NoticeStatus::Retrying | NoticeStatus::Dead);
        if !failed {
            tracing::info!(
                notice = n.id.0,
                key = %n.dedup_key,
                outcome = %result.outcome,
                code = result.reply_code,
                reply = %result.reply_text,
                "attempt"
            );
            return;
        }
        let sender = match (n.channel, n.account_id, n.gateway_id) {
            (Channel::Email, Some(a), _) => format!("smtp account {a}"),
            (Channel::Sms, _, Some(g)) => format!("sms gateway {g}"),
            (Channel::Whatsapp, _, _) => format!("whatsapp layout {}", n.layout_id),
            (channel, _, _) => channel.as_str().to_string(),
        };
        let suppressed_before = {
            let mut windows = self.failure_log.lock().expect("poisoned");
            let w = windows.entry(sender.clone()).or_insert(FailureLogWindow {
                started: Instant::now(),
                logged: 0,
                suppressed: 0,
            });
            let mut earlier = 0;
            if w.started.elapsed() >= Duration::from_secs(60) {
                earlier = w.suppressed;
                *w = FailureLogWindow {
                    started: Instant::now(),
                    logged: 0,
                    suppressed: 0,
                };
            }
            if w.logged >= FAILURE_LINES_PER_MINUTE {
                w.suppressed += 1;
                return;
            }
            w.logged += 1;
            earlier
        };
        if suppressed_before > 0 {
            tracing::warn!(
                sender = %sender,
                suppressed = suppressed_before,
                "more delivery failures in the last minute were not logged one by one"
            );
        }
        if result.outcome == NoticeStatus::Dead {
            tracing::error!(
                notice = n.id.0,
                key = %n.dedup_key,
                sender = %sender,
                attempt = n.attempts,
                code = result.reply_code,
                reply = %result.reply_text,
                "delivery failed for good; notice is dead"
            );
        } else {
            tracing::warn!(
                notice = n.id.0,
                key = %n.dedup_key,
                sender = %sender,
                attempt = n.attempts,
                code = result.reply_code,
                reply = %result.reply_text,
                "delivery failed; will retry"
            );
        }
    }

    fn failed(
        &self,
        n: &super::Notice,
        failure: Failure,
        recipient: String,
        layout_version: Option<i64>,
    ) -> AttemptResult {
        let (outcome, retry_at, code, text) = match failure {
            Failure::Permanent { code, text } => (NoticeStatus::Dead, None, code, text),
            Failure::Transient { code, text } if n.attempts >= MAX_ATTEMPTS => (
                NoticeStatus::Dead,
                None,
                code,
                format!("desistência após {} tentativas: {text}", n.attempts),
            ),
            Failure::Transient { code, text } => (
                NoticeStatus::Retrying,
                Some(self.clock.now_millis() + backoff_ms(n.attempts)),
                code,
                text,
            ),
        };
        AttemptResult {
            outcome,
            retry_at,
            reply_code: code,
            reply_text: text,
            recipient,
            layout_version,
            duration_ms: 0,
            at_ms: 0,
            fallback: None,
            provider_id: None,
        }
    }

    fn skipped(&self, reason: String, recipient: String) -> AttemptResult {
        AttemptResult {
            outcome: NoticeStatus::Skipped,
            retry_at: None,
            reply_code: None,
            reply_text: reason,
            recipient,
            layout_version: None,
            duration_ms: 0,
            at_ms: 0,
            fallback: None,
            provider_id: None,
        }
    }

    /// A notice its channel cannot deliver: on to the next fallback channel if it has one
    /// (the log row says so), otherwise skipped with the reason.
    fn unreachable(&self, n: &super::Notice, reason: String) -> AttemptResult {
        match n.fallback.first() {
            Some(next) => AttemptResult {
                fallback: Some(*next),
                ..self.skipped(
                    format!("{reason}; segue por {}", next.label_pt()),
                    n.recipient.clone(),
                )
            },
            None => self.skipped(reason, n.recipient.clone()),
        }
    }

    /// One attempt: the route re-checked, the message prepared, sent by its channel.
    async fn attempt(&self, claim: &Claim, cache: &BatchCache) -> anyhow::Result<AttemptResult> {
        let n = &claim.notice;
        let customer = match n.customer_id {
            Some(id) => Some(
                cache
                    .customers
                    .get(&id)
                    .with_context(|| format!("customer {id}"))?,
            ),
            None => None,
        };
        let route = match self.channels.route(n, customer, cache)? {
            Ok(r) => r,
            Err(reason) => return Ok(self.unreachable(n, reason)),
        };
        let recipient = route.recipient();
        let message = match prepare(n, customer, cache, &self.layouts, self.clock.today())? {
            Prepared::Ready(m) => m,
            Prepared::Skip(reason) => return Ok(self.skipped(reason, recipient)),
            Prepared::Fail(failure, version) => {
                return Ok(self.failed(n, failure, recipient, version));
            }
        };
        let version = message.version;
        Ok(
            match self
                .channels
                .send(n, route, &message, &cache.company.name)
                .await
            {
                Outcome::Sent {
                    recipient,
                    code,
                    text,
                    provider_id,
                } => AttemptResult {
                    provider_id,
                    ..self.sent(recipient, code, text, version)
                },
                Outcome::Failed { recipient, failure } => {
                    self.failed(n, failure, recipient, version)
                }
                Outcome::Unreachable(reason) => self.unreachable(n, reason),
            },
        )
    }
}
