//! The delivery worker: a thin loop around one step, [`Worker::deliver_batch`]: claim due
//! notices (leased), re-check each one's cause, render its layout (and the boleto PDF), send it
//! through its account's pooled transport, and record the attempt. Several sends run at once.
//! `regua worker` loops forever; `regua outbox drain` loops until nothing is due. The reasons
//! it records for skipped and abandoned notices are shown to finance staff, so they are in
//! Portuguese; server replies are kept as the server sent them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{FutureExt as _, StreamExt as _};

use super::fcm::{FcmClient, PushError};
use super::message::build_message;
use super::policy::{Failure, MAX_ATTEMPTS, backoff_ms};
use super::sms::{SmsPhone, send_sms, sms_text};
use super::transport::MailTransport;
use super::{AccountId, Channel, GatewayId, NoticeStatus, SmsGateway, SmtpAccount, SuspensionId};
use crate::domain::{
    BillingWallet, Clock, Contract, ContractId, Customer, CustomerId, Invoice, InvoiceId,
    InvoiceStatus, LayoutId, format_date,
};
use crate::layouts::{CompiledLayout, LayoutContext, layout_context};
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

/// The network timeout from [`NETWORK_TIMEOUT_ENV`], or [`DEFAULT_NETWORK_TIMEOUT`].
pub fn network_timeout_from_env() -> Duration {
    std::env::var(NETWORK_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
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

/// Everything a batch's notices need, read in a handful of queries when the batch starts (a
/// few milliseconds before sending) rather than several per notice: the accounts, layouts,
/// wallets and company profile, and the batch's customers, invoices, contracts and open
/// invoices. A payment or an address change recorded after that is seen by the next batch.
struct BatchCache {
    accounts: Vec<SmtpAccount>,
    layouts: Vec<crate::layouts::Layout>,
    wallets: Vec<BillingWallet>,
    company: crate::domain::CompanyProfile,
    customers: HashMap<CustomerId, Customer>,
    invoices: HashMap<InvoiceId, Invoice>,
    contracts: HashMap<ContractId, Contract>,
    open: HashMap<CustomerId, Vec<Invoice>>,
    /// The invoices of notices that carry several (the generation message).
    groups: HashMap<crate::delivery::NoticeId, Vec<InvoiceId>>,
    /// The portal access links' tokens still usable, by notice.
    access_tokens: HashMap<i64, String>,
    gateways: Vec<SmsGateway>,
    push: Option<store::channels::PushConfig>,
    /// The app devices of the push notices' customers, by document (digits).
    devices: HashMap<String, Vec<String>>,
    suspensions: HashMap<SuspensionId, store::channels::Suspension>,
}

impl BatchCache {
    async fn load(db: &Db, claims: &[&Claim], now_ms: i64) -> anyhow::Result<BatchCache> {
        let mut conn = db.pool.acquire().await?;
        let customer_ids: Vec<CustomerId> =
            claims.iter().filter_map(|c| c.notice.customer_id).collect();
        let notice_ids: Vec<_> = claims.iter().map(|c| c.notice.id).collect();
        let groups = store::dunning::notice_invoices(&mut conn, &notice_ids).await?;
        let mut invoice_ids: Vec<InvoiceId> =
            claims.iter().filter_map(|c| c.notice.invoice_id).collect();
        invoice_ids.extend(groups.values().flatten().copied());
        invoice_ids.sort();
        invoice_ids.dedup();
        let invoices = store::invoices::get_invoices(&mut conn, &invoice_ids).await?;
        let mut contract_ids: Vec<ContractId> = invoices.iter().map(|i| i.contract_id).collect();
        contract_ids.extend(claims.iter().filter_map(|c| c.notice.contract_id));
        contract_ids.sort();
        contract_ids.dedup();
        let customers: HashMap<CustomerId, Customer> =
            store::parties::get_customers(&mut conn, &customer_ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
        let mut devices = HashMap::new();
        for c in claims.iter().filter(|c| c.notice.channel == Channel::Push) {
            if let Some(customer) = c.notice.customer_id.and_then(|id| customers.get(&id)) {
                let doc = customer.document.digits().to_string();
                if let std::collections::hash_map::Entry::Vacant(e) = devices.entry(doc) {
                    let tokens = store::portal::devices_of(&mut conn, e.key()).await?;
                    e.insert(tokens);
                }
            }
        }
        let suspension_ids: Vec<SuspensionId> = claims
            .iter()
            .filter_map(|c| c.notice.suspension_id)
            .collect();
        let suspensions = store::channels::get_suspensions(&mut conn, &suspension_ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut open: HashMap<CustomerId, Vec<Invoice>> = HashMap::new();
        for inv in
            store::invoices::list_open_invoices_of_customers(&mut conn, &customer_ids).await?
        {
            open.entry(inv.customer_id).or_default().push(inv);
        }
        let access: Vec<i64> = claims
            .iter()
            .filter(|c| c.notice.purpose == crate::layouts::Purpose::PortalAccess)
            .map(|c| c.notice.id.0)
            .collect();
        let access_tokens = store::portal::access_tokens_of_notices(&mut conn, &access, now_ms)
            .await?
            .into_iter()
            .collect();
        Ok(BatchCache {
            access_tokens,
            accounts: store::accounts::list_smtp_accounts(&mut conn).await?,
            layouts: store::layouts::list_layouts(&mut conn).await?,
            wallets: store::parties::list_wallets(&mut conn).await?,
            company: store::parties::company_profile(&mut conn).await?,
            // Two reads the e-mail batches of a morning run do not need.
            gateways: if claims.iter().any(|c| c.notice.channel == Channel::Sms) {
                store::channels::list_sms_gateways(&mut conn).await?
            } else {
                Vec::new()
            },
            push: if claims.iter().any(|c| c.notice.channel == Channel::Push) {
                store::channels::push_config(&mut conn).await?
            } else {
                None
            },
            devices,
            suspensions,
            customers,
            contracts: store::parties::get_contracts(&mut conn, &contract_ids)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect(),
            invoices: invoices.into_iter().map(|i| (i.id, i)).collect(),
            open,
            groups,
        })
    }
}

/// The delivery worker.
pub struct Worker {
    db: Db,
    clock: Clock,
    options: WorkerOptions,
    key: Option<MasterKey>,
    transports: Mutex<HashMap<AccountId, MailTransport>>,
    layouts: Mutex<HashMap<(LayoutId, i64), Arc<CompiledLayout>>>,
    http: reqwest::Client,
    sms_secrets: Mutex<HashMap<GatewayId, Arc<super::GatewaySecrets>>>,
    fcm: Mutex<Option<Arc<FcmClient>>>,
    /// Lanes holding attempts they could not record yet. While any does, no lane claims: a
    /// notice whose result is unrecorded must not be claimed and sent again.
    unrecorded: std::sync::atomic::AtomicUsize,
    /// Per-sender budget of failure log lines.
    failure_log: Mutex<HashMap<String, FailureLogWindow>>,
}

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

/// Where a notice goes on its channel, as re-checked right before sending.
enum Target<'a> {
    Email(&'a SmtpAccount, String),
    Sms(&'a SmsGateway, SmsPhone),
    Push(&'a store::channels::PushConfig, &'a [String], String),
}

impl Target<'_> {
    /// The recipient as the log shows it: address, phone, or the customer's document.
    fn recipient(&self) -> String {
        match self {
            Target::Email(_, to) => to.clone(),
            Target::Sms(_, phone) => phone.e164.clone(),
            Target::Push(_, _, document) => document.clone(),
        }
    }
}

impl Worker {
    /// A worker on `db`; `key` opens the accounts' passwords.
    pub fn new(db: Db, clock: Clock, options: WorkerOptions, key: Option<MasterKey>) -> Worker {
        Worker {
            db,
            clock,
            key,
            transports: Mutex::new(HashMap::new()),
            layouts: Mutex::new(HashMap::new()),
            // No redirects: a gateway's headers carry its credentials, and a 3xx from an SMS
            // provider or Google is an answer to log, not a place to send them.
            http: reqwest::Client::builder()
                .user_agent(concat!("regua/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(options.timeout)
                .timeout(options.timeout)
                .build()
                .expect("an HTTP client with the built-in roots"),
            options,
            sms_secrets: Mutex::new(HashMap::new()),
            fcm: Mutex::new(None),
            unrecorded: std::sync::atomic::AtomicUsize::new(0),
            failure_log: Mutex::new(HashMap::new()),
        }
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
        let claims = store::outbox::claim_due_notices(
            &self.db,
            &self.options.name,
            self.clock.now_millis(),
            i64::try_from(self.options.lease.as_millis()).unwrap_or(i64::MAX),
            self.options.batch,
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
        }
    }

    /// One SMS through its gateway.
    async fn sms(
        &self,
        n: &super::Notice,
        gateway: &SmsGateway,
        phone: &SmsPhone,
        text: &str,
        version: Option<i64>,
    ) -> AttemptResult {
        let secrets = match self.gateway_secrets(gateway.id).await {
            Ok(h) => h,
            Err(e) => return self.failed(n, Failure::ours(&e), phone.e164.clone(), version),
        };
        let sms = sms_text(text);
        if sms.parts > 1 {
            tracing::warn!(
                notice = n.id.0,
                units = sms.units,
                parts = sms.parts,
                "sms text longer than 160 GSM-7 characters; sent as a concatenated message"
            );
        }
        match send_sms(&self.http, gateway, &secrets, phone, &sms.text).await {
            Ok(accepted) => {
                let parts = if sms.parts > 1 {
                    format!(" [{} partes SMS]", sms.parts)
                } else {
                    String::new()
                };
                self.sent(
                    phone.e164.clone(),
                    accepted.code,
                    format!("{}{parts}", accepted.text),
                    version,
                )
            }
            Err(failure) => self.failed(n, failure, phone.e164.clone(), version),
        }
    }

    async fn gateway_secrets(&self, id: GatewayId) -> anyhow::Result<Arc<super::GatewaySecrets>> {
        if let Some(h) = self.sms_secrets.lock().expect("poisoned").get(&id) {
            return Ok(h.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let h =
            Arc::new(store::channels::sms_gateway_secrets(&mut conn, id, self.key.as_ref()).await?);
        self.sms_secrets
            .lock()
            .expect("poisoned")
            .insert(id, h.clone());
        Ok(h)
    }

    async fn fcm(&self, config: &store::channels::PushConfig) -> anyhow::Result<Arc<FcmClient>> {
        if let Some(c) = &*self.fcm.lock().expect("poisoned")
            && c.config() == config
        {
            return Ok(c.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let key = store::channels::push_private_key(&mut conn, self.key.as_ref()).await?;
        let client = Arc::new(FcmClient::new(config.clone(), &key, self.http.clone())?);
        *self.fcm.lock().expect("poisoned") = Some(client.clone());
        Ok(client)
    }

    /// One push notification to each of the customer's devices that has not had it yet. A
    /// device FCM no longer knows is removed. When some device failed for a while (429/5xx),
    /// the notice is retried for those only — the devices it reached are recorded, so none
    /// gets it twice; otherwise it is sent once any device has it.
    async fn push(
        &self,
        n: &super::Notice,
        config: &store::channels::PushConfig,
        devices: &[String],
        document: String,
        rendered: &crate::layouts::RenderedMessage,
        version: Option<i64>,
    ) -> AttemptResult {
        let client = match self.fcm(config).await {
            Ok(c) => c,
            Err(e) => return self.failed(n, Failure::ours(&e), document, version),
        };
        let already = match async {
            let mut conn = self.db.pool.acquire().await?;
            store::portal::push_delivered(&mut conn, n.id).await
        }
        .await
        {
            Ok(a) => a,
            Err(e) => return self.failed(n, Failure::ours(&e), document, version),
        };
        let pending: Vec<&String> = devices.iter().filter(|d| !already.contains(*d)).collect();
        let body: String = rendered
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(1000)
            .collect();
        let data = serde_json::json!({"tipo": n.purpose.as_str(), "aviso": n.id.0.to_string()});
        let (mut sent, mut removed) = (Vec::new(), 0);
        let mut worst: Option<Failure> = None;
        for device in &pending {
            match client
                .send(
                    device,
                    &rendered.subject,
                    &body,
                    &data,
                    self.clock.now_millis(),
                )
                .await
            {
                Ok(accepted) => {
                    let recorded = async {
                        let mut conn = self.db.pool.acquire().await?;
                        store::portal::record_push_delivery(
                            &mut conn,
                            n.id,
                            device,
                            self.clock.now_millis(),
                        )
                        .await
                    };
                    if let Err(e) = recorded.await {
                        tracing::error!(
                            error = format!("{e:#}"),
                            notice = n.id.0,
                            "cannot record a push delivery"
                        );
                    }
                    sent.push(accepted)
                }
                Err(PushError::Unregistered(reply)) => {
                    removed += 1;
                    tracing::info!(notice = n.id.0, %reply, "device token unregistered; removed");
                    if let Ok(mut conn) = self.db.pool.acquire().await
                        && let Err(e) = store::portal::delete_device(&mut conn, device).await
                    {
                        tracing::error!(error = format!("{e:#}"), "cannot remove a device token");
                    }
                }
                Err(PushError::Failed(f)) => {
                    // A transient failure outweighs a permanent one: the notice is retried.
                    if !matches!(worst, Some(Failure::Transient { .. })) {
                        worst = Some(f);
                    }
                }
            }
        }
        let removed_note = if removed > 0 {
            format!("; {removed} dispositivo(s) não registrado(s) removido(s)")
        } else {
            String::new()
        };
        let earlier_note = if already.is_empty() {
            String::new()
        } else {
            format!(
                "; {} já o tinha(m) recebido antes",
                devices.len() - pending.len()
            )
        };
        let reached = format!(
            "enviado a {} de {} dispositivo(s){earlier_note}{removed_note}",
            sent.len(),
            pending.len()
        );
        let delivered = sent.len() + (devices.len() - pending.len());
        match worst {
            Some(Failure::Transient { code, text }) if n.attempts < MAX_ATTEMPTS => {
                let text = if delivered > 0 {
                    format!("{text}; {reached}; os demais numa nova tentativa")
                } else {
                    text
                };
                self.failed(n, Failure::Transient { code, text }, document, version)
            }
            worst if delivered > 0 => {
                let failed_note = match &worst {
                    Some(Failure::Transient { text, .. } | Failure::Permanent { text, .. }) => {
                        format!("; falhas: {text}")
                    }
                    None => String::new(),
                };
                let code = sent.first().map_or(200, |a| a.code);
                self.sent(document, code, format!("{reached}{failed_note}"), version)
            }
            Some(f) => self.failed(n, f, document, version),
            None => self.unreachable(
                n,
                format!("cliente sem o aplicativo (dispositivos não registrados{removed_note})"),
            ),
        }
    }

    async fn transport(&self, account: &SmtpAccount) -> anyhow::Result<MailTransport> {
        if let Some(t) = self.transports.lock().expect("poisoned").get(&account.id) {
            return Ok(t.clone());
        }
        let mut conn = self.db.pool.acquire().await?;
        let password =
            store::accounts::smtp_password(&mut conn, account.id, self.key.as_ref()).await?;
        let t = MailTransport::for_account(
            account,
            password,
            u32::try_from(self.options.concurrency).unwrap_or(8),
            self.options.timeout,
        )?;
        self.transports
            .lock()
            .expect("poisoned")
            .insert(account.id, t.clone());
        Ok(t)
    }

    fn compiled(&self, layout: &crate::layouts::Layout) -> Result<Arc<CompiledLayout>, String> {
        let key = (layout.id, layout.version);
        if let Some(c) = self.layouts.lock().expect("poisoned").get(&key) {
            return Ok(c.clone());
        }
        let c =
            Arc::new(layout.compile().map_err(|(part, e)| {
                format!("layout {} ({}): {e}", layout.name, part.label_pt())
            })?);
        self.layouts
            .lock()
            .expect("poisoned")
            .insert(key, c.clone());
        Ok(c)
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
        }
    }

    /// Where the notice can go now on its channel, or why it cannot (in Portuguese: the log
    /// shows it to finance staff).
    fn reach<'a>(
        &self,
        n: &super::Notice,
        customer: Option<&Customer>,
        cache: &'a BatchCache,
    ) -> anyhow::Result<Result<Target<'a>, String>> {
        Ok(match n.channel {
            Channel::Email => {
                let Some(account_id) = n.account_id else {
                    return Ok(Err("sem conta de e-mail para enviar".into()));
                };
                let account = cache
                    .accounts
                    .iter()
                    .find(|a| a.id == account_id)
                    .with_context(|| format!("smtp account {account_id}"))?;
                if !account.active {
                    return Ok(Err(format!(
                        "a conta de e-mail {} foi removida",
                        account.name
                    )));
                }
                match customer {
                    Some(c) => match &c.email {
                        Some(e) => Ok(Target::Email(account, e.as_str().to_string())),
                        None => Err("cliente sem e-mail cadastrado".into()),
                    },
                    None => Ok(Target::Email(account, n.recipient.clone())),
                }
            }
            Channel::Sms => {
                let Some(gateway_id) = n.gateway_id else {
                    return Ok(Err("nenhum gateway de SMS configurado".into()));
                };
                let gateway = cache
                    .gateways
                    .iter()
                    .find(|g| g.id == gateway_id)
                    .with_context(|| format!("sms gateway {gateway_id}"))?;
                if !gateway.active {
                    return Ok(Err(format!(
                        "o gateway de SMS {} foi removido",
                        gateway.name
                    )));
                }
                match customer {
                    Some(c) => match &c.mobile_phone {
                        Some(p) => Ok(Target::Sms(gateway, SmsPhone::of(p))),
                        None => Err("cliente sem celular cadastrado".into()),
                    },
                    None => SmsPhone::parse(&n.recipient)
                        .map(|p| Target::Sms(gateway, p))
                        .map_err(|e| format!("celular inválido: {e}")),
                }
            }
            Channel::Push => {
                let Some(config) = &cache.push else {
                    return Ok(Err(
                        "envio push não configurado (falta o arquivo de configuração do Firebase)"
                            .into(),
                    ));
                };
                let Some(c) = customer else {
                    return Ok(Err("aviso push sem cliente".into()));
                };
                let doc = c.document.digits().to_string();
                match cache.devices.get(&doc) {
                    Some(d) if !d.is_empty() => Ok(Target::Push(config, d, doc)),
                    _ => Err("cliente sem o aplicativo (nenhum dispositivo registrado)".into()),
                }
            }
        })
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
        let target = match self.reach(n, customer, cache)? {
            Ok(t) => t,
            Err(reason) => return Ok(self.unreachable(n, reason)),
        };
        let today = self.clock.today();
        let company = &cache.company;

        // Re-check the cause right before sending: still open, still an address on file.
        let recipient = target.recipient();
        let mut ctx = LayoutContext {
            today: format_date(today),
            ..LayoutContext::default()
        };
        let mut attachments: Vec<(String, Vec<u8>)> = Vec::new();
        let mut letter_name = None;
        if let Some(customer) = customer {
            if let Some(invoice_id) = n.invoice_id {
                // A generation message carries several invoices: the open ones go, one PDF.
                let carried: Vec<&Invoice> = match cache.groups.get(&n.id) {
                    Some(ids) => ids
                        .iter()
                        .map(|i| {
                            cache
                                .invoices
                                .get(i)
                                .with_context(|| format!("invoice {i}"))
                        })
                        .collect::<anyhow::Result<_>>()?,
                    None => vec![
                        cache
                            .invoices
                            .get(&invoice_id)
                            .with_context(|| format!("invoice {invoice_id}"))?,
                    ],
                };
                let still_open: Vec<&Invoice> = carried
                    .iter()
                    .copied()
                    .filter(|i| matches!(i.status, InvoiceStatus::Open))
                    .collect();
                let Some(invoice) = still_open.first().copied() else {
                    let reason = match &carried[..] {
                        [one] => match &one.status {
                            InvoiceStatus::Paid { paid_on, .. } => {
                                format!("fatura paga em {}", format_date(*paid_on))
                            }
                            _ => "fatura cancelada".into(),
                        },
                        _ => "faturas pagas ou canceladas".into(),
                    };
                    return Ok(self.skipped(reason, recipient));
                };
                let contract = cache
                    .contracts
                    .get(&invoice.contract_id)
                    .with_context(|| format!("contract {}", invoice.contract_id))?;
                let open = cache.open.get(&customer.id).map_or(&[][..], Vec::as_slice);
                let wallets = &cache.wallets;
                ctx = layout_context(invoice, customer, contract, open, wallets, company, today)?;
                if n.attach_boleto {
                    let inputs = still_open
                        .iter()
                        .map(|inv| {
                            let wallet = wallets
                                .iter()
                                .find(|w| w.id == inv.wallet_id)
                                .context("the invoice's wallet")?;
                            Ok(crate::payment::boleto_input(inv, customer, wallet, company))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    let pdf = match crate::payment::render_boletos(&inputs) {
                        Ok(pdf) => pdf,
                        // Retrying renders the same data: dead at once, with the reason.
                        Err(e) => {
                            return Ok(self.failed(
                                n,
                                Failure::Permanent {
                                    code: None,
                                    text: e.pt(),
                                },
                                recipient,
                                None,
                            ));
                        }
                    };
                    let name = if cache.groups.contains_key(&n.id) {
                        crate::payment::pdf_file_name("boletos", &contract.external_id)
                    } else {
                        crate::payment::pdf_file_name("boleto", &invoice.external_id)
                    };
                    attachments.push((name, pdf));
                }
                letter_name = n
                    .attach_letter
                    .then(|| crate::payment::pdf_file_name("carta-cobranca", &invoice.external_id));
            } else {
                ctx.customer.name = customer.name.clone();
                ctx.customer.document = customer.document.to_string();
                ctx.customer.email = customer.email_or_empty();
                if let Some(contract) = n.contract_id.and_then(|c| cache.contracts.get(&c)) {
                    ctx.contract.number = contract.external_id.clone();
                    ctx.contract.plan = contract.plan.clone();
                }
            }
        }
        if let Some(id) = n.suspension_id {
            let s = cache
                .suspensions
                .get(&id)
                .with_context(|| format!("suspension {id}"))?;
            // An ended-early suspension still tells of its end (or its withdrawal); the rest of
            // its notices are moot.
            if s.cancelled_at.is_some()
                && !matches!(
                    n.purpose,
                    crate::layouts::Purpose::SuspensionEnded
                        | crate::layouts::Purpose::SuspensionWithdrawn
                )
            {
                return Ok(self.skipped("suspensão cancelada".into(), recipient));
            }
            ctx.suspension.start = format_date(s.starts_on);
            ctx.suspension.end = format_date(s.ends_on);
            ctx.suspension.reason = s.reason.clone();
        }
        if n.purpose == crate::layouts::Purpose::PortalAccess {
            match cache.access_tokens.get(&n.id.0) {
                Some(token) => {
                    ctx.portal.access_link = format!(
                        "{}/central/senha/{token}",
                        company.portal_url.trim_end_matches('/')
                    );
                }
                None => {
                    return Ok(
                        self.skipped("link de acesso expirado ou já usado".into(), recipient)
                    );
                }
            }
        }
        ctx.company.name = company.name.clone();
        ctx.company.phone = company.phone.clone();
        ctx.company.email = company.email.clone();
        ctx.company.site = company.site.clone();

        let layout = cache
            .layouts
            .iter()
            .find(|l| l.id == n.layout_id)
            .with_context(|| format!("layout {}", n.layout_id))?;
        let version = Some(layout.version);
        let rendered = match self.compiled(layout).and_then(|c| {
            c.render(&ctx)
                .map_err(|(part, e)| format!("layout {} ({}): {e}", layout.name, part.label_pt()))
        }) {
            Ok(r) => r,
            Err(text) => {
                return Ok(self.failed(
                    n,
                    Failure::Permanent { code: None, text },
                    recipient,
                    version,
                ));
            }
        };
        if let Some(name) = letter_name {
            // The band's collection letter: the layout's text, on paper.
            attachments.push((
                name,
                boleto::pdf::render_text_pdf(&rendered.subject, &rendered.text),
            ));
        }
        let account = match target {
            Target::Email(account, _) => account,
            Target::Sms(gateway, phone) => {
                let line = super::sms::sms_line(&company.name, &rendered.subject);
                return Ok(self.sms(n, gateway, &phone, &line, version).await);
            }
            Target::Push(config, devices, document) => {
                return Ok(self
                    .push(n, config, devices, document, &rendered, version)
                    .await);
            }
        };
        let message =
            match build_message(account, &recipient, &n.message_id, &rendered, &attachments) {
                Ok(m) => m,
                Err(e) => {
                    return Ok(self.failed(
                        n,
                        Failure::Permanent {
                            code: None,
                            text: e.0,
                        },
                        recipient,
                        version,
                    ));
                }
            };
        let transport = match self.transport(account).await {
            Ok(t) => t,
            Err(e) => {
                return Ok(self.failed(n, Failure::ours(&e), recipient, version));
            }
        };
        Ok(match transport.send(&message).await {
            Ok(accepted) => AttemptResult {
                outcome: NoticeStatus::Sent,
                retry_at: None,
                reply_code: Some(accepted.code),
                reply_text: accepted.text,
                recipient,
                layout_version: version,
                duration_ms: 0,
                at_ms: 0,
                fallback: None,
            },
            Err(failure) => self.failed(n, failure, recipient, version),
        })
    }
}
