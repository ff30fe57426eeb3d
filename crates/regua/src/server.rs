//! `regua serve`: the long-running process. It serves HTTP (for now `/health`; the admin UI, the
//! REST API and the subscriber portal mount on this router as they land), runs the delivery
//! worker and the routine scheduler, and stops all three together on SIGTERM or Ctrl-C, after
//! the batches in flight.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::delivery::{Worker, WorkerOptions};
use crate::domain::Clock;
use crate::dunning::Scheduler;
use crate::secrets::MasterKey;
use crate::store::Db;

/// What `regua serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where HTTP listens (`127.0.0.1:8080`; port 0 picks a free one).
    pub bind: SocketAddr,
    /// Run the delivery worker in this process.
    pub worker: Option<WorkerOptions>,
    /// Run the scheduler, ticking this often.
    pub scheduler_tick: Option<Duration>,
    /// Mark cookies `Secure` (when a TLS proxy fronts the server).
    pub secure_cookies: bool,
    /// Who may read `/metrics`.
    pub metrics: crate::web::MetricsAccess,
    /// Read the bounce mailboxes this often (needs the master key).
    pub bounce_poll: Option<Duration>,
    /// Accept bounces by SMTP on this address (the ISP points an MX at it).
    pub bounce_smtp: Option<SocketAddr>,
}

/// The HTTP routes: `/health` and the admin UI.
pub fn router(db: Db, clock: Clock, key: Option<MasterKey>, options: &ServeOptions) -> Router {
    let web = crate::web::router(std::sync::Arc::new(crate::web::AppState::new(
        db.clone(),
        clock,
        key,
        options.secure_cookies,
        options.metrics.clone(),
    )));
    Router::new()
        .route("/health", get(health))
        .with_state(db)
        .merge(web)
}

/// `GET /health`: 200 `{"status":"ok","database":"sqlite"}` when the database answers and
/// takes a write (a one-row upsert); 503 with `"status":"not_writable"` when it answers reads
/// but refuses writes (a full disk, a read-only file system), `"unavailable"` when it does not
/// answer at all. No detail of the failure leaves the process (it is logged).
async fn health(State(db): State<Db>) -> impl IntoResponse {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let status = match sqlx::query("SELECT 1").execute(&db.pool).await {
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            "unavailable"
        }
        Ok(_) => match db.check_writable(now_ms).await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "health check: database not writable"
                );
                "not_writable"
            }
        },
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({"status": status, "database": db.backend})),
    )
}

/// Serves until `shutdown` resolves. `on_listen` gets the bound address (the port when 0 was
/// asked for) before the first request is accepted.
pub async fn serve(
    db: Db,
    clock: Clock,
    key: Option<MasterKey>,
    options: ServeOptions,
    on_listen: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", options.bind))?;
    on_listen(listener.local_addr()?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        while !*rx.borrow() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    };
    let app = router(db.clone(), clock.clone(), key.clone(), &options);
    let http = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(wait(stopped.clone()));
    let worker = async {
        if let Some(opts) = options.worker.clone() {
            let worker = Worker::new(db.clone(), clock.clone(), opts, key.clone());
            worker
                .run(Duration::from_secs(1), wait(stopped.clone()))
                .await
        } else {
            Ok(())
        }
    };
    let scheduler = async {
        if let Some(every) = options.scheduler_tick {
            Scheduler::new(db.clone(), clock.clone())
                .run(every, wait(stopped.clone()))
                .await;
        }
    };
    let bounces = async {
        if let (Some(every), Some(key)) = (options.bounce_poll, key.clone()) {
            poll_bounces(&db, &clock, &key, every, wait(stopped.clone())).await;
        }
    };
    // Outbound webhooks are posted where notices are: by a server that runs the worker.
    let webhooks = async {
        if options.worker.is_some() {
            crate::webhooks::run(
                &db,
                &clock,
                key.clone(),
                Duration::from_secs(2),
                wait(stopped.clone()),
            )
            .await;
        }
    };
    let listener = async {
        if let Some(addr) = options.bounce_smtp {
            let Some(key) = key.clone() else {
                anyhow::bail!(
                    "--bounce-smtp needs REGUA_SECRET_KEY: return paths are verified with it"
                );
            };
            crate::bounce::listener::serve(
                db.clone(),
                clock.clone(),
                key,
                addr,
                wait(stopped.clone()),
            )
            .await?;
        }
        Ok(())
    };
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    };
    // Requests still running a few seconds after the stop (a page waiting on a slow SMTP
    // server's test) are cut off rather than keep the process alive.
    let http = async {
        let grace = async {
            wait(stopped.clone()).await;
            tokio::time::sleep(crate::delivery::SHUTDOWN_GRACE + Duration::from_secs(2)).await;
        };
        tokio::select! {
            r = http.into_future() => r,
            () = grace => {
                tracing::warn!("stopping: requests still in flight were cut off");
                Ok(())
            }
        }
    };
    let (http, worker, (), (), (), listener, ()) =
        tokio::join!(http, worker, scheduler, signal, bounces, listener, webhooks);
    http?;
    worker?;
    listener?;
    Ok(())
}

/// Reads every bounce mailbox each `every` until `stop`; a failure is logged and stored on the
/// mailbox (its page shows it), and the next pass tries again.
async fn poll_bounces(
    db: &Db,
    clock: &Clock,
    key: &MasterKey,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let pass = async {
        loop {
            let mailboxes = match db.pool.acquire().await {
                Ok(mut conn) => crate::store::bounces::list_mailboxes(&mut conn).await,
                Err(e) => Err(e.into()),
            };
            match mailboxes {
                Ok(all) => {
                    for m in &all {
                        match crate::actions::bounces::poll_mailbox(
                            db,
                            m,
                            key,
                            clock,
                            crate::delivery::network_timeout_from_env(),
                        )
                        .await
                        {
                            Ok(r) if r.read > 0 => tracing::info!(mailbox = %m.name, "{r}"),
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(mailbox = %m.name, error = format!("{e:#}"), "bounce mailbox not read")
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = format!("{e:#}"), "bounce mailboxes not listed"),
            }
            tokio::time::sleep(every).await;
        }
    };
    tokio::select! {
        () = pass => {}
        () = stop => {}
    }
}
