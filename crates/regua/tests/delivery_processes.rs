//! Real `regua worker` processes against mailsink: a worker killed with SIGKILL mid-batch
//! loses nothing, and three workers on PostgreSQL share one outbox without duplicates and
//! within the account's limits.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use mailsink::{Sink, SinkConfig};
use regua::delivery::NoticeStatus;
use regua::store;

fn spawn_worker(url: &str, today: Option<&str>, name: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_regua"));
    cmd.args([
        "worker",
        "--lease-seconds",
        "2",
        "--concurrency",
        "8",
        "--batch",
        "32",
        "--name",
        name,
    ])
    .env("REGUA_DATABASE_URL", url)
    .env_remove("REGUA_TODAY")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(d) = today {
        cmd.env("REGUA_TODAY", d);
    }
    cmd.spawn().unwrap()
}

async fn queue_many(
    db: &store::Db,
    account: &regua::delivery::SmtpAccount,
    invoice: &regua::domain::Invoice,
    n: usize,
    now_ms: i64,
) {
    let mut tx = db.begin().await.unwrap();
    for i in 0..n {
        regua::delivery::enqueue_invoice_email(
            &mut tx,
            invoice.id,
            account,
            regua::layouts::Purpose::ReminderBeforeDue,
            None,
            regua::delivery::NoticeKey::Manual {
                invoice: invoice.id,
                at_ms: i as i64,
                nonce: None,
            },
            "test",
            now_ms,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

fn distinct_ids(sink: &Sink) -> (usize, usize) {
    let got = sink.message_ids();
    let ids: HashSet<&String> = got.iter().flatten().collect();
    (got.len(), ids.len())
}

async fn wait_distinct(sink: &Sink, n: usize, timeout: Duration) -> usize {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (_, distinct) = distinct_ids(sink);
        if distinct >= n || tokio::time::Instant::now() >= deadline {
            return distinct;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the outbox records `n` notices as sent (the last ones are recorded just after
/// the sink accepts them).
async fn wait_all_sent(db: &store::Db, n: usize, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut conn = db.pool.acquire().await.unwrap();
        let sent = store::outbox::count_notices_by_status(&mut conn)
            .await
            .unwrap()
            .get("sent")
            .copied()
            .unwrap_or(0);
        if sent as usize >= n || tokio::time::Instant::now() >= deadline {
            return;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing_and_repeats_only_in_flight_notices() {
    const N: usize = 2000;
    let t = sqlite().await;
    let sink = Sink::start(SinkConfig {
        data_delay: Some(Duration::from_millis(2)),
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let account = sink_account(&t.db, "Principal", sink.port(), AccountSetup::default()).await;
    let invoices = open_invoices(&t.db, 1).await;
    queue_many(&t.db, &account, &invoices[0], N, 0).await;

    let mut first = spawn_worker(&t.url, None, "w1");
    let reached = sink.wait_for(N / 3, Duration::from_secs(120)).await;
    assert!(reached >= N / 3, "the worker delivered only {reached}");
    first.kill().unwrap(); // SIGKILL: no chance to finish or release anything
    first.wait().unwrap();
    let at_kill = sink.count();

    let mut second = spawn_worker(&t.url, None, "w2");
    let distinct = wait_distinct(&sink, N, Duration::from_secs(180)).await;
    wait_all_sent(&t.db, N, Duration::from_secs(30)).await;
    second.kill().unwrap();
    second.wait().unwrap();

    let (total, distinct_after) = distinct_ids(&sink);
    let duplicates = total - distinct_after;
    println!(
        "crash test: killed at {at_kill} of {N}; sink received {total} messages, {distinct_after} distinct, {duplicates} twice"
    );
    assert_eq!(distinct, N, "every notice delivered after the restart");
    // The worker keeps two batches of 32 in flight.
    assert!(
        duplicates <= 64,
        "only the killed worker's leased batches may repeat ({duplicates})"
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    let counts = store::outbox::count_notices_by_status(&mut conn)
        .await
        .unwrap();
    assert_eq!(counts.get("sent"), Some(&(N as i64)), "{counts:?}");
}

#[tokio::test]
async fn three_workers_on_postgres_share_the_outbox_without_duplicates_and_within_limits() {
    const N: usize = 5000;
    const HOURLY: u32 = 4000;
    let t = postgres().await;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    let account = sink_account(
        &t.db,
        "Principal",
        sink.port(),
        AccountSetup {
            hourly_limit: Some(HOURLY),
            ..AccountSetup::default()
        },
    )
    .await;
    let invoices = open_invoices(&t.db, 1).await;
    let day1 = clock_on("2026-01-05");
    queue_many(&t.db, &account, &invoices[0], N, day1.now_millis()).await;

    // Day 1, one frozen instant: the three workers together may send exactly the hourly limit.
    let mut workers: Vec<Child> = (1..=3)
        .map(|i| spawn_worker(&t.url, Some("2026-01-05"), &format!("w{i}")))
        .collect();
    sink.wait_for(HOURLY as usize, Duration::from_secs(180))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // give any excess a chance to show
    let (total, distinct) = distinct_ids(&sink);
    assert_eq!(
        total, HOURLY as usize,
        "the hourly limit holds across three workers"
    );
    assert_eq!(distinct, total);
    let mut conn = t.db.pool.acquire().await.unwrap();
    let waiting = store::outbox::list_notices(&mut conn, Some(NoticeStatus::Queued), 10_000)
        .await
        .unwrap();
    assert_eq!(waiting.len(), N - HOURLY as usize);
    assert!(
        waiting
            .iter()
            .all(|n| n.next_attempt_at > day1.now_millis() + 3_500_000)
    );
    drop(conn);
    for w in &mut workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }

    // The next day the window is open again: the rest goes out, still once each.
    let mut workers: Vec<Child> = (4..=6)
        .map(|i| spawn_worker(&t.url, Some("2026-01-06"), &format!("w{i}")))
        .collect();
    let reached = wait_distinct(&sink, N, Duration::from_secs(180)).await;
    wait_all_sent(&t.db, N, Duration::from_secs(30)).await;
    for w in &mut workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    let (total, distinct) = distinct_ids(&sink);
    println!("scale-out test: {total} messages at the sink, {distinct} distinct");
    assert_eq!(reached, N);
    assert_eq!(total, N, "no duplicates");
    let mut conn = t.db.pool.acquire().await.unwrap();
    let log = store::log::list_attempts(
        &mut conn,
        &store::log::LogFilter {
            limit: 100_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let workers_used: HashSet<_> = log.iter().map(|a| a.recipient.clone()).collect();
    assert_eq!(workers_used.len(), 1);
    let counts = store::outbox::count_notices_by_status(&mut conn)
        .await
        .unwrap();
    assert_eq!(counts.get("sent"), Some(&(N as i64)), "{counts:?}");
}
