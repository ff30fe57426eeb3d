//! The régua end to end: bands, routines, pauses, holidays, letters, send on generation and the
//! routine run, on both engines, through the real SMTP sink and the CLI.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use jiff::civil::{Date, date};
use mailsink::{Sink, SinkConfig};
use regua::domain::{Clock, InvoiceId, Money};
use regua::dunning::{self, Due, RuleKind, RunRequest, Trigger};
use regua::store::{self, Db, dunning::PauseTarget, parties::ConfigError};

fn cpf(base: u32) -> String {
    boleto::Cpf::from_base(&format!("{base:09}"))
        .unwrap()
        .digits()
        .to_string()
}

/// The BB wallet and method, and four customers: C1 (e-mail, due 10), C2 (e-mail, due 20),
/// C3 (printed, due 10), C4 (no e-mail, due 10); two months of invoices from 05/01/2026.
async fn isp(db: &Db, send_on_generate: bool) {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut w = regua::demo::banco_do_brasil_wallet("BB");
    w.send_on_generate = send_on_generate;
    store::parties::insert_wallet(&mut conn, &w, 0)
        .await
        .unwrap();
    store::parties::insert_billing_method(&mut conn, "Boleto BB", "BB", 0)
        .await
        .unwrap();
    drop(conn);
    use regua::import::ImportKind;
    import_ok(
        db,
        ImportKind::Customers,
        &format!(
            "external_id,name,document,email,mobile_phone\n\
             C1,Maria Silva,{},maria@exemplo.com.br,\n\
             C2,João Souza,{},joao@exemplo.com.br,\n\
             C3,Ana Lima,{},ana@exemplo.com.br,\n\
             C4,Rui Costa,{},,\n",
            cpf(529982247),
            cpf(111444777),
            cpf(123456789),
            cpf(935411347)
        ),
    )
    .await;
    import_ok(
        db,
        ImportKind::Contracts,
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\n\
         K1,C1,Fibra 300,\"99,90\",10,email,Boleto BB\n\
         K2,C2,Fibra 500,\"119,90\",20,email,Boleto BB\n\
         K3,C3,Fibra 300,\"99,90\",10,printed,Boleto BB\n\
         K4,C4,Fibra 300,\"99,90\",10,email,Boleto BB\n",
    )
    .await;
}

async fn generate_all(db: &Db) {
    for k in ["K1", "K2", "K3", "K4"] {
        regua::invoicing::generate_invoices(db, k, 2, &clock_on("2026-01-05"))
            .await
            .unwrap();
    }
}

/// Rules before_due 3, on_due, after_due 5; bands 1–10 and 11–30.
async fn regua_config(db: &Db) -> (Vec<i64>, Vec<i64>) {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut rules = Vec::new();
    for (kind, days) in [
        (RuleKind::BeforeDue, 3),
        (RuleKind::OnDue, 0),
        (RuleKind::AfterDue, 5),
    ] {
        rules.push(
            store::rules::insert_send_rule(&mut conn, "Boleto BB", kind, days, None, 0)
                .await
                .unwrap()
                .0,
        );
    }
    let bands = vec![
        store::dunning::insert_band(&mut conn, 1, 10, None, false, 0)
            .await
            .unwrap()
            .0,
        store::dunning::insert_band(&mut conn, 11, 30, None, false, 0)
            .await
            .unwrap()
            .0,
    ];
    (rules, bands)
}

async fn set_financial(db: &Db, name: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::parties::set_setting(&mut conn, store::accounts::SETTING_FINANCIAL_ACCOUNT, name)
        .await
        .unwrap();
}

async fn invoice_id(db: &Db, ext: &str) -> InvoiceId {
    let mut conn = db.pool.acquire().await.unwrap();
    store::invoices::find_invoice_by_external_id(&mut conn, ext)
        .await
        .unwrap()
        .unwrap()
        .id
}

fn request(date: Date, dry_run: bool) -> RunRequest {
    RunRequest {
        date,
        dry_run,
        routine: None,
        trigger: Trigger::Manual,
        actor: "test".into(),
        emission: None,
        detail: true,
    }
}

fn noon(d: Date) -> Clock {
    Clock::at_date(regua::DEFAULT_TIME_ZONE, d).unwrap()
}

/// The part of a Message-ID that names its dedup key (`rule.5.1.regua@provedor.com.br>`): the
/// random part in front makes each notice's id unique, the rest tells which notice it is.
fn mid(key: &str) -> String {
    let id = store::outbox::message_id_for(
        key,
        &regua::domain::EmailAddress::parse("cobranca@provedor.com.br").unwrap(),
    );
    key_part(&id)
}

/// A received Message-ID without its random part.
fn key_part(message_id: &str) -> String {
    let (random, rest) = message_id.trim_start_matches('<').split_once('.').unwrap();
    assert_eq!(random.len(), 24, "{message_id}");
    rest.to_string()
}

/// Sixty days of the scheduler: a weekday routine at 08:00 that skips holidays (an ISP holiday
/// on 20/01 and, by the setting, Carnival), payments and a pause in between, every notice
/// delivered through the real SMTP sink. The exact messages arrive on the exact days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_days_of_routines_send_exactly_the_expected_messages() {
    let t = sqlite().await;
    let db = &t.db;
    isp(db, false).await;
    generate_all(db).await;
    let (r, b) = regua_config(db).await;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    sink_account(db, "Cobrança", sink.port(), AccountSetup::default()).await;
    set_financial(db, "Cobrança").await;
    let mut conn = db.pool.acquire().await.unwrap();
    let routine_id = store::dunning::insert_routine(
        &mut conn,
        "Cobrança diária",
        dunning::Task::SendEmails,
        "mon-fri",
        "08:00:00",
        false,
        0,
    )
    .await
    .unwrap();
    store::dunning::insert_holiday(
        &mut conn,
        "20/01/2026",
        "Feriado municipal",
        false,
        dunning::HolidayScope::City,
        "Rio de Janeiro/RJ",
        0,
    )
    .await
    .unwrap();
    store::parties::set_setting(&mut conn, store::dunning::SETTING_OPTIONAL_HOLIDAYS, "yes")
        .await
        .unwrap();
    let i2 = invoice_id(db, "K1/2026-02").await;
    store::dunning::insert_pause(
        &mut conn,
        PauseTarget::Invoice(i2),
        date(2026, 2, 16),
        "promessa de pagamento",
        "test",
        0,
    )
    .await
    .unwrap();
    let routine = store::dunning::list_routines(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.id == routine_id)
        .unwrap();
    let calendar = store::dunning::calendar(&mut conn).await.unwrap();
    drop(conn);

    let id = |ext: &'static str| invoice_id(db, ext);
    let (i1, i3, i4) = (
        id("K1/2026-01").await.0,
        id("K2/2026-01").await.0,
        id("K2/2026-02").await.0,
    );
    let i2 = i2.0;
    let (r1, r2, r3) = (r[0], r[1], r[2]);
    let (b1, b2) = (b[0], b[1]);
    let key_r = |i: i64, r: i64| mid(&format!("rule:{i}:{r}"));
    let key_b = |i: i64, b: i64| mid(&format!("band:{i}:{b}"));
    let mut expected: BTreeMap<Date, BTreeSet<String>> = BTreeMap::new();
    let mut expect = |d: Date, keys: &[String]| {
        expected.entry(d).or_default().extend(keys.iter().cloned());
    };
    expect(date(2026, 1, 7), &[key_r(i1, r1)]);
    // Due Saturday 10/01: caught up on Monday; the first band goes and carries the day's
    // collection (the rule due the same day is superseded: one message per invoice per day).
    expect(date(2026, 1, 12), &[key_b(i1, b1)]);
    expect(date(2026, 1, 15), &[key_r(i1, r3)]);
    expect(date(2026, 1, 19), &[key_r(i3, r1)]);
    // 20/01 is a holiday; K2/2026-01 is paid on 21/01, so only K1's second band goes.
    expect(date(2026, 1, 21), &[key_b(i1, b2)]);
    // Paused through 16/02 (R1, R2 skipped); Carnival 16–18/02 is off: 19/02 catches up, the
    // band superseding the rule for K1/2026-02.
    expect(date(2026, 2, 19), &[key_b(i2, b1), key_r(i4, r1)]);
    expect(date(2026, 2, 20), &[key_r(i4, r2)]);
    expect(date(2026, 2, 23), &[key_b(i2, b2), key_b(i4, b1)]);
    expect(date(2026, 2, 25), &[key_r(i4, r3)]);
    expect(date(2026, 3, 3), &[key_b(i4, b2)]);

    let mut arrived: BTreeMap<Date, BTreeSet<String>> = BTreeMap::new();
    let mut seen = 0;
    let mut day = date(2026, 1, 5);
    let mut holidays_skipped = Vec::new();
    while day <= date(2026, 3, 5) {
        let clock = noon(day);
        if day == date(2026, 1, 21) {
            let mut conn = db.pool.acquire().await.unwrap();
            store::invoices::mark_invoice_paid(&mut conn, "K2/2026-01", day, Money(11990), 0)
                .await
                .unwrap();
        }
        match dunning::due_now(&routine, day.at(9, 0, 0, 0), &calendar, false) {
            Due::Run(d) => {
                let mut req = request(d, false);
                req.routine = Some(routine.clone());
                req.trigger = Trigger::Schedule;
                dunning::run(db, &clock, &req).await.unwrap();
                worker_at(db, &clock).drain(|_| {}).await.unwrap();
            }
            Due::Holiday(name) => holidays_skipped.push((day, name)),
            Due::No => {}
        }
        let received = sink.received();
        for m in &received[seen..] {
            arrived
                .entry(day)
                .or_default()
                .insert(key_part(m.message_id.as_deref().unwrap()));
            assert!(
                m.text().contains("filename=\"boleto-"),
                "every reminder carries its boleto"
            );
        }
        seen = received.len();
        day = day.tomorrow().unwrap();
    }
    assert_eq!(arrived, expected);
    assert_eq!(
        holidays_skipped.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        [
            date(2026, 1, 20),
            date(2026, 2, 16),
            date(2026, 2, 17),
            date(2026, 2, 18)
        ]
    );
    // Recipients: each message went to its customer, none to the printed or addressless ones.
    let to: BTreeSet<String> = sink.received().iter().flat_map(|m| m.to.clone()).collect();
    assert_eq!(
        to,
        BTreeSet::from(["joao@exemplo.com.br".into(), "maria@exemplo.com.br".into()])
    );
    // The skips are recorded with their reasons.
    let mut conn = db.pool.acquire().await.unwrap();
    let skipped = store::outbox::list_notices(
        &mut conn,
        Some(regua::delivery::NoticeStatus::Skipped),
        1000,
    )
    .await
    .unwrap();
    let reason_of = |key: &str| {
        skipped
            .iter()
            .find(|n| n.dedup_key == key)
            .and_then(|n| n.last_error.clone())
            .unwrap_or_else(|| panic!("{key} not recorded"))
    };
    assert!(reason_of(&format!("rule:{i2}:{r1}")).contains("pausada"));
    assert!(reason_of(&format!("rule:{i3}:{r2}")).contains("paga"));
    let k3 = invoice_id(db, "K3/2026-01").await.0;
    let k4 = invoice_id(db, "K4/2026-01").await.0;
    assert!(reason_of(&format!("rule:{k3}:{r1}")).contains("impressa"));
    assert!(reason_of(&format!("rule:{k4}:{r1}")).contains("sem e-mail"));
    // Every run is recorded; re-running a day afterwards sends nothing.
    let runs = store::dunning::list_runs(&mut conn, 100).await.unwrap();
    assert_eq!(
        runs.len(),
        40,
        "44 weekdays from 05/01 to 05/03 minus 4 holidays"
    );
    assert!(runs.iter().all(|r| r.status == "completed"));
    drop(conn);
    let again = dunning::run(
        db,
        &noon(date(2026, 2, 19)),
        &request(date(2026, 2, 19), false),
    )
    .await
    .unwrap();
    assert_eq!(again.enqueued, 0);
    assert!(
        again
            .skipped
            .iter()
            .any(|s| s.reason == "already_sent" && s.cause == "rule:after_due:5")
    );
}

#[tokio::test]
async fn bands_are_stored_without_overlaps() {
    for t in each_backend().await {
        let mut conn = t.db.pool.acquire().await.unwrap();
        let a = store::dunning::insert_band(&mut conn, 1, 10, None, false, 0)
            .await
            .unwrap();
        store::dunning::insert_band(&mut conn, 11, 30, Some("Aviso de atraso"), true, 0)
            .await
            .unwrap();
        for (from, to) in [(5, 12), (30, 40), (1, 1), (0, 5)] {
            let err = store::dunning::insert_band(&mut conn, from, to, None, false, 0)
                .await
                .unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { .. }),
                "{} {from}-{to}: {err}",
                t.label
            );
        }
        let err = store::dunning::insert_band(&mut conn, 40, 35, None, false, 0)
            .await
            .unwrap_err();
        // The store names the field; the command line names it by its flag.
        assert!(err.to_string().starts_with("to: "), "{err}");
        assert!(err.for_cli().starts_with("--to: "), "{err}");
        let bands = store::dunning::list_bands(&mut conn).await.unwrap();
        assert_eq!(
            bands
                .iter()
                .map(|b| (b.from_days, b.to_days, b.letter))
                .collect::<Vec<_>>(),
            [(1, 10, false), (11, 30, true)]
        );
        assert!(store::dunning::delete_band(&mut conn, a).await.unwrap());
        assert!(!store::dunning::delete_band(&mut conn, a).await.unwrap());
    }
}

/// A run on both engines: enqueues, records skips, and a second run of the date (or a
/// concurrent one) adds nothing; a dry run writes nothing.
#[tokio::test]
async fn a_run_enqueues_once_and_a_dry_run_writes_nothing() {
    for t in each_backend().await {
        let db = &t.db;
        isp(db, false).await;
        generate_all(db).await;
        regua_config(db).await;
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        sink_account(
            db,
            "Cobrança",
            sink.port(),
            AccountSetup {
                daily_limit: Some(2),
                ..Default::default()
            },
        )
        .await;
        // Without a financial account a run refuses, a dry run warns.
        let err = dunning::run(
            db,
            &noon(date(2026, 1, 7)),
            &request(date(2026, 1, 7), false),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, dunning::RunError::NoAccount), "{err}");
        let dry = dunning::run(
            db,
            &noon(date(2026, 1, 7)),
            &request(date(2026, 1, 7), true),
        )
        .await
        .unwrap();
        assert!(dry.warnings.iter().any(|w| w.contains("nenhuma conta")));
        set_financial(db, "Cobrança").await;

        // 07/01: before_due 3 for every invoice due 10/01 (K1, K3 printed, K4 no e-mail).
        let dry = dunning::run(
            db,
            &noon(date(2026, 1, 7)),
            &request(date(2026, 1, 7), true),
        )
        .await
        .unwrap();
        let json = serde_json::to_value(&dry).unwrap();
        assert_eq!(json["date"], "2026-01-07");
        assert_eq!(
            json["notices"],
            serde_json::json!([{"invoice": "K1/2026-01", "customer": "C1", "cause": "rule:before_due:3", "channel": "email", "account": "Cobrança"}])
        );
        let mut skipped: Vec<(String, String)> = dry
            .skipped
            .iter()
            .map(|s| (s.invoice.clone(), s.reason.to_string()))
            .collect();
        skipped.sort();
        assert_eq!(
            skipped,
            [
                ("K3/2026-01".to_string(), "printed".to_string()),
                ("K4/2026-01".to_string(), "no_email".to_string())
            ],
            "{}",
            t.label
        );
        assert_eq!(
            json["accounts"],
            serde_json::json!([{"account": "Cobrança", "planned": 1, "capacity_left_hour": null, "capacity_left_day": 2}])
        );
        let mut conn = db.pool.acquire().await.unwrap();
        assert!(
            store::outbox::count_notices_by_status(&mut conn)
                .await
                .unwrap()
                .is_empty(),
            "a dry run writes nothing ({})",
            t.label
        );
        // Only the refused run is recorded, as failed, with the reason.
        let runs = store::dunning::list_runs(&mut conn, 10).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, "failed");
        assert!(
            runs[0]
                .error
                .as_deref()
                .unwrap()
                .contains("financial SMTP account")
        );
        drop(conn);

        // Two runs of the date at once: one set of notices.
        let clock = noon(date(2026, 1, 7));
        let req = request(date(2026, 1, 7), false);
        let (a, b) = tokio::join!(
            dunning::run(db, &clock, &req),
            dunning::run(db, &clock, &req),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.enqueued + b.enqueued, 1, "{}", t.label);
        let mut conn = db.pool.acquire().await.unwrap();
        let counts = store::outbox::count_notices_by_status(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            counts,
            BTreeMap::from([("queued".to_string(), 1), ("skipped".to_string(), 2)])
        );
        // A day with more than the account's daily capacity left warns (the limit lowered to
        // one message a day, two due).
        sqlx::query("UPDATE smtp_accounts SET daily_limit = 1")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let dry = dunning::run(
            db,
            &noon(date(2026, 1, 17)),
            &request(date(2026, 1, 17), true),
        )
        .await
        .unwrap();
        assert_eq!(
            dry.notices.len(),
            2,
            "K1's band (its rule superseded) + K2 before_due 3: {:?}",
            dry.notices
        );
        assert!(
            dry.warnings
                .iter()
                .any(|w| w.contains("não comporta o dia")),
            "{:?}",
            dry.warnings
        );
    }
}

/// Letters of an email_and_letter band wait for review; approving sends the e-mail with the
/// letter and the boleto; rejecting sends nothing; the band is done either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn letters_wait_for_review_and_go_out_with_the_letter_attached() {
    for t in each_backend().await {
        let db = &t.db;
        isp(db, false).await;
        generate_all(db).await;
        let mut conn = db.pool.acquire().await.unwrap();
        store::dunning::insert_band(&mut conn, 1, 10, None, true, 0)
            .await
            .unwrap();
        drop(conn);
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        sink_account(db, "Cobrança", sink.port(), AccountSetup::default()).await;
        set_financial(db, "Cobrança").await;
        // 12/01: K1, K3 (printed) and K4 (no e-mail) are 2 days overdue.
        let day = date(2026, 1, 12);
        let report = dunning::run(db, &noon(day), &request(day, false))
            .await
            .unwrap();
        assert_eq!(report.letters, 1, "{}", t.label);
        assert!(report.notices.iter().all(|n| n.review));
        let mut conn = db.pool.acquire().await.unwrap();
        assert!(
            store::outbox::count_notices_by_status(&mut conn)
                .await
                .unwrap()
                .is_empty(),
            "nothing sent before review"
        );
        let pending = store::dunning::list_letter_reviews(&mut conn, Some("pending"))
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
        let pdf = dunning::letter_pdf(&mut conn, &pending[0], day)
            .await
            .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        drop(conn);
        // The next run does not queue it again.
        let again = dunning::run(
            db,
            &noon(day.tomorrow().unwrap()),
            &request(day.tomorrow().unwrap(), false),
        )
        .await
        .unwrap();
        assert_eq!(again.letters, 0);
        let mut tx = db.begin().await.unwrap();
        assert_eq!(
            dunning::approve_letters(&mut tx, &pending, "user: ana", 0)
                .await
                .unwrap(),
            1
        );
        // Approving twice does nothing.
        assert_eq!(
            dunning::approve_letters(&mut tx, &pending, "user: ana", 0)
                .await
                .unwrap(),
            0
        );
        tx.commit().await.unwrap();
        worker_at(db, &noon(day)).drain(|_| {}).await.unwrap();
        let received = sink.received();
        assert_eq!(received.len(), 1, "{}", t.label);
        let text = received[0].text();
        assert!(
            text.contains("filename=\"carta-cobranca-K1-2026-01.pdf\""),
            "{text:.2000}"
        );
        assert!(text.contains("filename=\"boleto-K1-2026-01.pdf\""));
    }
}

/// A wallet that sends on generation: one message per generation with one PDF, a page per
/// invoice; printed contracts get nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generating_invoices_sends_one_message_with_every_boleto() {
    for t in each_backend().await {
        let db = &t.db;
        isp(db, true).await;
        let sink = Sink::start(SinkConfig::default()).await.unwrap();
        sink_account(db, "Cobrança", sink.port(), AccountSetup::default()).await;
        set_financial(db, "Cobrança").await;
        let clock = clock_on("2026-01-05");
        let g = regua::invoicing::generate_invoices(db, "K1", 3, &clock)
            .await
            .unwrap();
        assert_eq!(g.created.len(), 3);
        assert!(matches!(
            g.notice,
            regua::invoicing::GenerationNotice::Queued(_)
        ));
        let printed = regua::invoicing::generate_invoices(db, "K3", 3, &clock)
            .await
            .unwrap();
        assert_eq!(printed.notice, regua::invoicing::GenerationNotice::Printed);
        // Generating again creates nothing and sends nothing.
        let again = regua::invoicing::generate_invoices(db, "K1", 3, &clock)
            .await
            .unwrap();
        assert_eq!(
            again.notice,
            regua::invoicing::GenerationNotice::NotApplicable
        );
        worker_at(db, &clock).drain(|_| {}).await.unwrap();
        assert_eq!(
            sink.wait_for(1, Duration::from_secs(5)).await,
            1,
            "{}",
            t.label
        );
        let m = &sink.received()[0];
        assert_eq!(m.to, ["maria@exemplo.com.br"]);
        let text = m.text();
        assert!(text.contains("filename=\"boletos-K1.pdf\""), "{text:.1500}");
        assert_eq!(text.matches("filename=").count(), 1, "one PDF");
        // The text is true to the case: three boletos, in the plural.
        let body = quoted_printable_decoded(&text);
        assert!(
            body.contains("As suas faturas do plano Fibra 300 já estão disponíveis: os 3 boletos seguem em anexo."),
            "{body:.3000}"
        );
        assert!(!body.contains("O boleto segue em anexo"));
        // The PDF has three pages.
        let b64: String = text
            .split("filename=\"boletos-K1.pdf\"")
            .nth(1)
            .unwrap()
            .split("\r\n\r\n")
            .nth(1)
            .unwrap()
            .split("--")
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        use base64::Engine as _;
        let pdf = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        assert!(pdf.windows(8).any(|w| w == b"/Count 3"));
    }
}

#[tokio::test]
async fn pauses_holidays_and_routines_are_validated() {
    let t = sqlite().await;
    let db = &t.db;
    isp(db, false).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let c1 = store::parties::find_customer_by_external_id(&mut conn, "C1")
        .await
        .unwrap()
        .unwrap();
    let err = store::dunning::insert_pause(
        &mut conn,
        PauseTarget::Customer(c1.id),
        date(2026, 2, 1),
        " ",
        "x",
        0,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Invalid {
            field: "reason",
            ..
        }
    ));
    store::dunning::insert_pause(
        &mut conn,
        PauseTarget::Customer(c1.id),
        date(2026, 2, 1),
        "promessa",
        "user: ana",
        0,
    )
    .await
    .unwrap();
    assert_eq!(
        store::dunning::list_pauses(&mut conn, date(2026, 2, 1))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store::dunning::list_pauses(&mut conn, date(2026, 2, 2))
            .await
            .unwrap()
            .is_empty()
    );
    let err = store::dunning::insert_holiday(
        &mut conn,
        "31/02/2026",
        "x",
        false,
        dunning::HolidayScope::National,
        "",
        0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { field: "date", .. }));
    let err = store::dunning::insert_holiday(
        &mut conn,
        "14/07/2026",
        "x",
        false,
        dunning::HolidayScope::City,
        "",
        0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { field: "place", .. }));
    let err = store::dunning::insert_routine(
        &mut conn,
        "R",
        dunning::Task::SendEmails,
        "mon-fri",
        "25:00",
        false,
        0,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConfigError::Invalid { field: "time", .. }));
    store::dunning::insert_routine(
        &mut conn,
        "R",
        dunning::Task::SendEmails,
        "seg-sex",
        "07:30:00",
        true,
        0,
    )
    .await
    .unwrap();
    let dup = store::dunning::insert_routine(
        &mut conn,
        "R",
        dunning::Task::SendEmails,
        "all",
        "07:30:00",
        true,
        0,
    )
    .await
    .unwrap_err();
    assert!(matches!(dup, ConfigError::Duplicate { .. }), "{dup}");
    assert!(
        store::dunning::deactivate_routine(&mut conn, "R")
            .await
            .unwrap()
    );
    assert!(
        store::dunning::list_routines(&mut conn)
            .await
            .unwrap()
            .is_empty()
    );
}

fn regua_cli(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(args)
        .env("REGUA_DATABASE_URL", url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("USER", "operador")
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The operator CLI: bands, routines, pauses, holidays, the dry run's JSON, letters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli() {
    let t = sqlite().await;
    isp(&t.db, false).await;
    generate_all(&t.db).await;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    sink_account(&t.db, "Cobrança", sink.port(), AccountSetup::default()).await;
    set_financial(&t.db, "Cobrança").await;
    let cli = |args: &[&str]| regua_cli(&t.url, args);

    assert_eq!(
        stdout(&cli(&["band", "add", "--from", "1", "--to", "10"])).trim(),
        "band 1 added: 1-10 days overdue (email)"
    );
    stdout(&cli(&[
        "band", "add", "--from", "11", "--to", "30", "--letter",
    ]));
    let overlap = cli(&["band", "add", "--from", "5", "--to", "12"]);
    assert_eq!(overlap.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&overlap.stderr).trim(),
        "--from: 5-12 overlaps the band 1-10 (bands may not overlap)"
    );
    assert_eq!(
        stdout(&cli(&["band", "list"])),
        "id\tfrom\tto\tgeneration\tlayout\tchannels\tmode\n1\t1\t10\temail\tAviso de atraso\temail\tfirst\n2\t11\t30\temail_and_letter\tAviso de atraso\temail\tfirst\n"
    );
    stdout(&cli(&[
        "rule",
        "add",
        "--method",
        "Boleto BB",
        "--kind",
        "after_due",
        "--days",
        "5",
    ]));
    stdout(&cli(&[
        "routine",
        "add",
        "--name",
        "Manhã",
        "--weekdays",
        "seg-sex",
        "--time",
        "08:30:00",
    ]));
    assert_eq!(
        stdout(&cli(&["routine", "list"])),
        "id\tname\ttask\tweekdays\ttime\tholidays\n1\tManhã\tsend_emails\tmon,tue,wed,thu,fri\t08:30:00\tno\n"
    );
    let bad = cli(&["routine", "add", "--name", "X", "--weekdays", "funday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("--weekdays: "));

    stdout(&cli(&[
        "pause",
        "--customer",
        "C4",
        "--until",
        "2026-01-31",
        "--reason",
        "promessa",
        "--today",
        "2026-01-10",
    ]));
    let past = cli(&[
        "pause",
        "--invoice",
        "K1/2026-01",
        "--until",
        "2026-01-01",
        "--reason",
        "x",
        "--today",
        "2026-01-10",
    ]);
    assert_eq!(past.status.code(), Some(2));
    assert!(
        stdout(&cli(&["pause", "--list", "--today", "2026-01-10"]))
            .contains("customer C4\t31/01/2026\tpromessa")
    );

    let bad = cli(&["settings", "set", "dunning_window_days", "90"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        stdout(&cli(&["settings", "set", "dunning_window_days", "10"])).trim(),
        "dunning_window_days = 10"
    );
    assert_eq!(
        stdout(&cli(&[
            "settings",
            "set",
            "routine_optional_holidays",
            "sim"
        ]))
        .trim(),
        "routine_optional_holidays = yes"
    );
    // Settings changed from the CLI are audited too.
    let mut conn = t.db.pool.acquire().await.unwrap();
    let audited: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT actor, entity, before, after FROM audit_log WHERE action = 'setting.set' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    assert_eq!(
        audited,
        [
            (
                "cli: operador".into(),
                "dunning_window_days".into(),
                None,
                Some("10".into())
            ),
            (
                "cli: operador".into(),
                "routine_optional_holidays".into(),
                None,
                Some("yes".into())
            ),
        ]
    );
    stdout(&cli(&[
        "holidays",
        "add",
        "--date",
        "2026-01-20",
        "--name",
        "São Sebastião",
        "--scope",
        "city",
        "--place",
        "Rio de Janeiro/RJ",
    ]));
    assert!(
        stdout(&cli(&["holidays", "2026"])).contains("20/01/2026\tSão Sebastião\t(municipal)\n")
    );
    assert!(
        stdout(&cli(&["holidays", "list"]))
            .contains("\tSão Sebastião\tno\tcity\tRio de Janeiro/RJ\n")
    );

    // 15/01: K1, K3, K4 (due 10/01) are 5 days overdue: after_due 5 and band 1–10.
    let out = stdout(&cli(&[
        "routine",
        "run",
        "--date",
        "2026-01-15",
        "--dry-run",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["date"], "2026-01-15");
    let notices: BTreeSet<(String, String)> = v["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            for k in ["invoice", "customer", "cause", "channel", "account"] {
                assert!(n[k].is_string(), "{k} in {n}");
            }
            (
                n["invoice"].as_str().unwrap().to_string(),
                n["cause"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        notices,
        BTreeSet::from([("K1/2026-01".into(), "band:1-10".into())])
    );
    let skipped: BTreeSet<(String, String, String)> = v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["invoice"].as_str().unwrap().into(),
                s["cause"].as_str().unwrap().into(),
                s["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        BTreeSet::from([
            (
                "K3/2026-01".into(),
                "rule:after_due:5".into(),
                "printed".into()
            ),
            ("K3/2026-01".into(), "band:1-10".into(), "printed".into()),
            (
                "K4/2026-01".into(),
                "rule:after_due:5".into(),
                "paused".into()
            ),
            ("K4/2026-01".into(), "band:1-10".into(), "paused".into()),
            (
                "K1/2026-01".into(),
                "rule:after_due:5".into(),
                "superseded".into()
            ),
        ])
    );
    assert_eq!(v["accounts"][0]["account"], "Cobrança");
    assert_eq!(v["accounts"][0]["planned"], 1);

    // The run itself, then the summary in pt-BR.
    let out = stdout(&cli(&[
        "routine",
        "run",
        "--date",
        "2026-01-15",
        "--name",
        "Manhã",
    ]));
    assert!(
        out.starts_with(
            "Rotina de 15/01/2026: 1 notificações (1 novas na fila, 0 cartas para revisão)"
        ),
        "{out}"
    );
    let runs = stdout(&cli(&["routine", "runs"]));
    assert!(
        runs.contains("15/01/2026\tManhã\tmanual\tcompleted\t1\t1\t3\t"),
        "{runs}"
    );

    // 26/01: K1 enters band 11–30 (letter): the manual emission shows it, then sends it.
    let out = stdout(&cli(&[
        "band",
        "emit",
        "--customer",
        "C1",
        "--today",
        "2026-01-26",
    ]));
    assert!(out.contains("band:11-30\t1"), "{out}");
    assert!(out.contains("--confirm"), "{out}");
    // The filters: K1, K3, K4 (due 10/01) and K2 (due 20/01) are overdue; K3 is printed, K4
    // paused through 31/01.
    let emit_json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["band", "emit", "--today", "2026-01-26", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&stdout(&cli(&args))).unwrap()
    };
    let all = emit_json(&[]);
    assert_eq!(all["notices"].as_array().unwrap().len(), 2, "{all}");
    assert_eq!(all["skipped"].as_array().unwrap().len(), 2, "{all}");
    for filter in [
        &["--due-from", "2026-01-21"][..],
        &["--due-to", "2026-01-09"],
        &["--issued-from", "2026-01-06"],
    ] {
        let v = emit_json(filter);
        assert!(
            v["notices"].as_array().unwrap().is_empty()
                && v["skipped"].as_array().unwrap().is_empty(),
            "{filter:?}: {v}"
        );
    }
    assert_eq!(
        emit_json(&[
            "--method",
            "Boleto BB",
            "--issued-to",
            "2026-01-05",
            "--due-to",
            "2026-01-10"
        ])["notices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let c2 = emit_json(&["--customer", "C2"]);
    assert_eq!(c2["notices"][0]["invoice"], "K2/2026-01");
    assert_eq!(c2["notices"][0]["cause"], "band:1-10");
    assert_eq!(c2["notices"].as_array().unwrap().len(), 1);
    assert_eq!(
        cli(&["band", "emit", "--method", "Nenhum"]).status.code(),
        Some(2)
    );
    let out = stdout(&cli(&[
        "band",
        "emit",
        "--customer",
        "C1",
        "--today",
        "2026-01-26",
        "--confirm",
    ]));
    assert!(out.contains("1 cartas para revisão"), "{out}");
    let list = stdout(&cli(&["letters", "list"]));
    assert_eq!(
        list,
        "id\tinvoice\tcustomer\tband\tstatus\n1\tK1/2026-01\tC1\tband:11-30\tpending\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("carta.pdf");
    stdout(&cli(&[
        "letters",
        "preview",
        "1",
        "--out",
        pdf.to_str().unwrap(),
        "--today",
        "2026-01-26",
    ]));
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    assert_eq!(
        stdout(&cli(&["letters", "approve", "--all", "--by", "user: ana"])).trim(),
        "1 letter(s) approved and queued"
    );
    assert_eq!(cli(&["letters", "approve", "1"]).status.code(), Some(2));
    assert!(stdout(&cli(&["letters", "list"])).lines().count() == 1);
}

/// The ISP with its invoices, rules and bands, an account as the financial one, and routines
/// sending e-mails on weekdays at the given times.
async fn isp_with_routines(db: &Db, routines: &[(&str, &str)]) {
    isp(db, false).await;
    generate_all(db).await;
    regua_config(db).await;
    sink_account(db, "Cobrança", 2525, AccountSetup::default()).await;
    set_financial(db, "Cobrança").await;
    let mut conn = db.pool.acquire().await.unwrap();
    for (name, time) in routines {
        store::dunning::insert_routine(
            &mut conn,
            name,
            dunning::Task::SendEmails,
            "mon-fri",
            time,
            false,
            0,
        )
        .await
        .unwrap();
    }
}

/// The scheduler runs a due routine once a day and reports a holiday once.
#[tokio::test]
async fn the_scheduler_runs_each_routine_once_a_day_and_not_on_holidays() {
    let t = sqlite().await;
    let db = &t.db;
    isp_with_routines(db, &[("Manhã", "08:00:00"), ("Noite", "20:00:00")]).await;
    // Wednesday 07/01/2026 at noon: the morning routine is due, the evening one is not.
    let mut s = dunning::Scheduler::new(db.clone(), noon(date(2026, 1, 7)));
    let first = s.tick().await.unwrap();
    assert_eq!(
        first,
        [dunning::TickOutcome::Ran {
            routine: "Manhã".into(),
            date: date(2026, 1, 7),
            enqueued: 1
        }]
    );
    assert!(s.tick().await.unwrap().is_empty(), "once a day");
    // Tuesday 20/01/2026, an ISP holiday: reported once, nothing runs.
    let mut conn = db.pool.acquire().await.unwrap();
    store::dunning::insert_holiday(
        &mut conn,
        "2026-01-20",
        "São Sebastião",
        true,
        dunning::HolidayScope::City,
        "Rio de Janeiro/RJ",
        0,
    )
    .await
    .unwrap();
    drop(conn);
    let mut s = dunning::Scheduler::new(db.clone(), noon(date(2026, 1, 20)));
    assert_eq!(
        s.tick().await.unwrap(),
        [dunning::TickOutcome::Holiday {
            routine: "Manhã".into(),
            holiday: "São Sebastião".into()
        }]
    );
    assert!(s.tick().await.unwrap().is_empty());
    let mut conn = db.pool.acquire().await.unwrap();
    let runs = store::dunning::list_runs(&mut conn, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "schedule");
}

/// Several servers on one database: only the scheduler holding the lease runs the routines;
/// the others take over when it gives the lease back or stops renewing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scheduler_among_several_servers_runs_the_routines() {
    for t in each_backend().await {
        let db = &t.db;
        isp_with_routines(db, &[("Manhã", "08:00:00"), ("Tarde", "14:00:00")]).await;
        let at = |d: Date, hh: i8, mm: i8| -> Clock {
            let zone = jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap();
            let ts = d.at(hh, mm, 0, 0).to_zoned(zone).unwrap().timestamp();
            Clock::fixed("America/Sao_Paulo", ts).unwrap()
        };
        let server =
            |name: &str, clock: Clock| dunning::Scheduler::new(db.clone(), clock).with_owner(name);
        let runs = async || {
            let mut conn = db.pool.acquire().await.unwrap();
            store::dunning::list_runs(&mut conn, 10)
                .await
                .unwrap()
                .len()
        };
        let wed = date(2026, 1, 7);
        // Both tick at once at 07:55: one takes the lease; nothing is due yet.
        let (mut a, mut b) = (server("a", at(wed, 7, 55)), server("b", at(wed, 7, 55)));
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        assert_eq!((ra.unwrap(), rb.unwrap()), (vec![], vec![]), "{}", t.label);
        let mut conn = db.pool.acquire().await.unwrap();
        let (leader, _) = store::dunning::lease_holder(&mut conn, dunning::LEASE_NAME)
            .await
            .unwrap()
            .unwrap();
        drop(conn);
        let (leader, follower) = if leader == "a" {
            ("a", "b")
        } else {
            ("b", "a")
        };
        // 08:01: the morning routine is due, but within the lease only the leader runs it.
        assert!(
            server(follower, at(wed, 8, 1))
                .tick()
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.label
        );
        assert_eq!(runs().await, 0, "{}", t.label);
        assert_eq!(
            server(leader, at(wed, 8, 2)).tick().await.unwrap().len(),
            1,
            "{}",
            t.label
        );
        assert_eq!(runs().await, 1, "{}", t.label);
        // The leader dies without giving the lease back. At 14:05 the lease has long expired:
        // the other takes over and runs the afternoon routine, once.
        assert_eq!(
            server(follower, at(wed, 14, 5)).tick().await.unwrap().len(),
            1,
            "{}",
            t.label
        );
        assert_eq!(runs().await, 2, "{}", t.label);
        let mut conn = db.pool.acquire().await.unwrap();
        let holder = store::dunning::lease_holder(&mut conn, dunning::LEASE_NAME)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(holder.0, follower, "{}", t.label);
        drop(conn);
        // Within the lease nobody else may take it; once given back (a clean stop), anyone can.
        let mut conn = db.pool.acquire().await.unwrap();
        let now = at(wed, 14, 7).now_millis();
        assert!(
            !store::dunning::take_lease(&mut conn, dunning::LEASE_NAME, leader, now, now + 1)
                .await
                .unwrap()
        );
        store::dunning::release_lease(&mut conn, dunning::LEASE_NAME, follower)
            .await
            .unwrap();
        assert!(
            store::dunning::take_lease(&mut conn, dunning::LEASE_NAME, leader, now, now + 1)
                .await
                .unwrap()
        );
        assert_eq!(runs().await, 2, "{}", t.label);
    }
}

/// A run longer than the lease keeps it: the scheduler renews it while the run lasts, so no
/// other server starts the next routine meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_keeps_its_lease_through_a_long_run() {
    for t in each_backend().await {
        let db = &t.db;
        let clock = Clock::system(regua::DEFAULT_TIME_ZONE).unwrap();
        // Long enough that a slow machine's scheduling delays (well under a third of it) do not matter.
        let lease = std::time::Duration::from_millis(900);
        let mut a = dunning::Scheduler::new(db.clone(), clock.clone())
            .with_owner("a")
            .with_lease(lease);
        a.tick().await.unwrap();
        let holder = async || {
            let mut conn = db.pool.acquire().await.unwrap();
            store::dunning::lease_holder(&mut conn, dunning::LEASE_NAME)
                .await
                .unwrap()
                .unwrap()
        };
        let (owner, first_until) = holder().await;
        assert_eq!(owner, "a", "{}", t.label);
        // A "run" of two and a half lease lengths; the other server tries to take over after
        // one and a half, when the lease taken before the run has lapsed.
        let b_tries = async {
            tokio::time::sleep(lease * 3 / 2).await;
            let now = clock.now_millis();
            let mut conn = db.pool.acquire().await.unwrap();
            store::dunning::take_lease(&mut conn, dunning::LEASE_NAME, "b", now, now + 900)
                .await
                .unwrap()
        };
        let run = a.renewing(tokio::time::sleep(lease * 5 / 2));
        let (_, b_got_it) = tokio::join!(run, b_tries);
        assert!(!b_got_it, "{}: the lease lapsed during the run", t.label);
        let (owner, until) = holder().await;
        assert_eq!(owner, "a", "{}", t.label);
        assert!(
            until >= first_until + 1350,
            "{}: renewed during the run ({first_until} -> {until})",
            t.label
        );
        // Without renewing, it lapses and the other server gets it.
        tokio::time::sleep(lease * 3 / 2).await;
        let now = clock.now_millis();
        let mut conn = db.pool.acquire().await.unwrap();
        assert!(
            store::dunning::take_lease(&mut conn, dunning::LEASE_NAME, "b", now, now + 900)
                .await
                .unwrap(),
            "{}",
            t.label
        );
    }
}

/// `regua serve` as a process: the scheduler runs the routine, the worker delivers to the real
/// sink, `/health` answers, and SIGTERM stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regua_serve_schedules_delivers_and_stops_on_sigterm() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let t = sqlite().await;
    isp(&t.db, false).await;
    generate_all(&t.db).await;
    regua_config(&t.db).await;
    let sink = Sink::start(SinkConfig::default()).await.unwrap();
    sink_account(&t.db, "Cobrança", sink.port(), AccountSetup::default()).await;
    set_financial(&t.db, "Cobrança").await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    store::dunning::insert_routine(
        &mut conn,
        "Manhã",
        dunning::Task::SendEmails,
        "all",
        "08:00:00",
        true,
        0,
    )
    .await
    .unwrap();
    drop(conn);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--today",
            "2026-01-07",
            "--tick-seconds",
            "1",
        ])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    assert_eq!(sink.wait_for(1, Duration::from_secs(20)).await, 1);
    let k1 = invoice_id(&t.db, "K1/2026-01").await.0;
    assert_eq!(
        key_part(sink.received()[0].message_id.as_deref().unwrap()),
        mid(&format!("rule:{k1}:1"))
    );
    let mut http = std::net::TcpStream::connect(&addr).unwrap();
    http.write_all(b"GET /health HTTP/1.1\r\nHost: regua\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(r#"{"database":"sqlite","status":"ok"}"#)
            || response.ends_with(r#"{"status":"ok","database":"sqlite"}"#),
        "{response}"
    );
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("regua serve: stopped"), "{rest}");
    let mut conn = t.db.pool.acquire().await.unwrap();
    let runs = store::dunning::list_runs(&mut conn, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for the day, however many ticks");
}

/// Every configuration command changes the audit trail as the pages do, as `cli: USER`; the
/// SMTP password is masked there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_changed_from_the_cli_is_audited() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| stdout(&regua_cli(&t.url, args));
    cli(&[
        "wallet",
        "add",
        "--name",
        "Itaú",
        "--bank",
        "341",
        "--agency",
        "1234",
        "--account",
        "12345-6",
        "--wallet",
        "109",
        "--agreement",
        "123456",
    ]);
    cli(&["method", "add", "--name", "Boleto Itaú", "--wallet", "Itaú"]);
    let pw = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args([
            "smtp",
            "add",
            "--name",
            "Principal",
            "--host",
            "127.0.0.1",
            "--port",
            "2525",
            "--security",
            "none",
            "--user",
            "u",
            "--password-env",
            "SMTP_PW",
            "--from",
            "cobranca@exemplo.com.br",
            "--default",
        ])
        .env("REGUA_DATABASE_URL", &t.url)
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env("USER", "operador")
        .env("SMTP_PW", "Segredo-123-nunca")
        .output()
        .unwrap();
    stdout(&pw);
    cli(&[
        "smtp",
        "add",
        "--name",
        "Pasta",
        "--folder",
        dir.path().to_str().unwrap(),
        "--from",
        "x@exemplo.com.br",
    ]);
    cli(&["smtp", "default", "Pasta"]);
    cli(&["smtp", "remove", "Principal"]);
    cli(&[
        "rule",
        "add",
        "--method",
        "Boleto Itaú",
        "--kind",
        "before_due",
        "--days",
        "3",
    ]);
    cli(&["rule", "remove", "1"]);
    cli(&["band", "add", "--from", "1", "--to", "10"]);
    cli(&["band", "remove", "1"]);
    cli(&["routine", "add", "--name", "Manhã"]);
    cli(&["routine", "remove", "Manhã"]);
    cli(&[
        "holidays",
        "add",
        "--date",
        "2026-07-14",
        "--name",
        "Aniversário",
        "--scope",
        "city",
        "--place",
        "Campinas/SP",
    ]);
    cli(&["holidays", "remove", "1"]);
    let mut conn = t.db.pool.acquire().await.unwrap();
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT actor, action, after FROM audit_log ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert!(
        rows.iter().all(|(actor, _, _)| actor == "cli: operador"),
        "{rows:?}"
    );
    let actions: Vec<&str> = rows.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "wallet.add",
            "method.add",
            "smtp.add",
            "setting.set",
            "smtp.add",
            "setting.set",
            "smtp.remove",
            "rule.add",
            "rule.remove",
            "band.add",
            "band.remove",
            "routine.add",
            "routine.remove",
            "holiday.add",
            "holiday.remove",
        ]
    );
    let smtp = rows[2].2.as_deref().unwrap();
    assert!(
        smtp.contains("\"password\":\"***\"") && !smtp.contains("Segredo"),
        "{smtp}"
    );
    assert_eq!(
        rows[5].2.as_deref(),
        Some("Pasta"),
        "the financial account, before and after"
    );
}
