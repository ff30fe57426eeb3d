//! The SQLite file on a disk that fills up during a run, then frees: `regua serve` keeps
//! running, `/health` says the database is not writable meanwhile, writes are accepted again
//! without a restart, and no message goes out more often than once plus the batches in flight
//! at the fault. Before the fix a pooled connection stayed inside its failed transaction, every
//! later write failed until a restart, and the worker re-sent each lease period.
//!
//! It needs a small file system to fill: `scripts/test` mounts a tmpfs when it runs as root and
//! names it in `REGUA_TEST_TMPFS`; without one the test says so and checks nothing.

mod common;

use std::collections::HashSet;
use std::io::Write as _;
use std::time::{Duration, Instant};

use common::*;
use mailsink::{Sink, SinkConfig};
use regua::store::{self, Db};

const NOTICES: usize = 600;
const BATCH: usize = 16;

/// Fills the file system under `dir` with one file until it refuses another byte.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

async fn health(addr: std::net::SocketAddr) -> (u16, String) {
    let r = common::http::http(addr, "GET", "/health", "", "").await;
    (r.status, r.body)
}

/// Polls `/health` until it answers `status` (or the time is up); the last answer.
async fn wait_health(addr: std::net::SocketAddr, status: u16, limit: Duration) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        let r = health(addr).await;
        if r.0 == status || Instant::now() >= deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_a_run_costs_no_duplicate_beyond_the_batches_in_flight() {
    let Some(tmpfs) = std::env::var_os("REGUA_TEST_TMPFS") else {
        println!(
            "skipped: REGUA_TEST_TMPFS is not set (scripts/test mounts a small tmpfs there when it runs as root)"
        );
        return;
    };
    let dir = tempfile::tempdir_in(&tmpfs).unwrap();
    let url = format!("sqlite://{}", dir.path().join("regua.db").display());
    let sink = Sink::start(SinkConfig {
        data_delay: Some(Duration::from_millis(25)),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    {
        let db = Db::connect_and_migrate(&url).await.unwrap();
        let account = sink_account(&db, "Principal", sink.port(), AccountSetup::default()).await;
        let invoices = open_invoices(&db, 1).await;
        let now = clock_on("2026-01-05").now_millis();
        for i in 0..NOTICES {
            queue_invoice_email(&db, &invoices[0], &account, &format!("disk:{i}"), now).await;
        }
        // The last connection out checkpoints the WAL: the server starts with an empty one
        // that must grow, so a full disk fails its writes.
        db.pool.close().await;
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-scheduler",
            "--concurrency",
            "4",
            "--batch",
            &BATCH.to_string(),
            "--lease-seconds",
            "300",
        ])
        .env("REGUA_DATABASE_URL", &url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("REGUA_TODAY", "2026-01-05")
        .stdout(std::process::Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let child = child.0.as_mut().unwrap();
    let addr: std::net::SocketAddr = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(log.path()).unwrap();
            if let Some(a) = text
                .split("http://")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
            {
                break a.parse().unwrap();
            }
            assert!(Instant::now() < deadline, "serve did not start: {text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(health(addr).await.0, 200);
    assert!(
        sink.wait_for(40, Duration::from_secs(30)).await >= 40,
        "delivery started"
    );

    // The disk fills during the run.
    let filler = fill(dir.path());
    let during = wait_health(addr, 503, Duration::from_secs(15)).await;
    assert_eq!(
        during.0, 503,
        "/health while the disk is full: {}",
        during.1
    );
    assert!(during.1.contains("not_writable"), "{}", during.1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent_while_full = sink.count();

    // Space comes back: writes are accepted again by the same process.
    std::fs::remove_file(&filler).unwrap();
    let after = wait_health(addr, 200, Duration::from_secs(30)).await;
    assert_eq!(after.0, 200, "/health after space is back: {}", after.1);
    let deadline = Instant::now() + Duration::from_secs(120);
    let distinct = loop {
        let ids: HashSet<Option<String>> = sink.message_ids().into_iter().collect();
        if ids.len() >= NOTICES || Instant::now() >= deadline {
            break ids.len();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(child.try_wait().unwrap().is_none(), "serve kept running");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let total = sink.count();
    let text = std::fs::read_to_string(log.path()).unwrap();
    println!(
        "full disk: {total} deliveries for {distinct} notices ({} twice); {sent_while_full} sent before space came back",
        total - distinct
    );
    assert_eq!(distinct, NOTICES, "every notice delivered: {text}");
    // At most the two lanes' batches in flight when the disk filled go twice.
    assert!(
        total - distinct <= 2 * BATCH,
        "{total} deliveries for {distinct}: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let db = Db::connect(&url).await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    let counts = store::outbox::count_notices_by_status(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        counts.get("sent").copied(),
        Some(NOTICES as i64),
        "{counts:?}"
    );
}

/// A child process stopped when the test ends, failed or not.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
