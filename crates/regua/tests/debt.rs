//! The suspension clock for non-payment (Anatel's RGC), end to end on both engines: the policy's
//! legal floors, the debt notice queued at the policy's days overdue and sent with what the law
//! requires, the clock counted from the notice's actual sending (a queued notice starts none),
//! suspension due 15 days later, the network's confirmation, and a payment moving the contract
//! to `restore_due` in the payment's own transaction.

mod common;

use common::*;
use regua::domain::Money;
use regua::domain::debt::DebtState;
use regua::store::{self, Db};

fn regua_on(url: &str, today: &str, args: &[&str]) -> std::process::Output {
    regua_at(url, today, args, &[])
}

fn out(o: &std::process::Output) -> String {
    output_text(o)
}

async fn state(db: &Db, contract: &str) -> Option<DebtState> {
    let mut conn = db.pool.acquire().await.unwrap();
    let k = store::parties::find_contract_by_external_id(&mut conn, contract)
        .await
        .unwrap()
        .unwrap();
    store::debt::get(&mut conn, k.id)
        .await
        .unwrap()
        .map(|r| r.record.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_runs_from_the_notice_actually_sent_and_a_payment_restores() {
    for t in each_backend().await {
        let db = &t.db;
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let cli = |today: &str, args: &[&str]| regua_on(&t.url, today, args);

        // Off by default; the law's floors refused with the key named.
        let off = cli("2026-01-20", &["debt", "run", "--date", "2026-01-20"]);
        assert!(
            out(&off).contains("the suspension clock is off"),
            "{}",
            out(&off)
        );
        let early = cli(
            "2026-01-20",
            &["settings", "set", "debt_suspension_after_notice_days", "14"],
        );
        assert_eq!(early.status.code(), Some(2), "{label}: {}", out(&early));
        assert!(
            out(&early).contains("debt_suspension_after_notice_days"),
            "{}",
            out(&early)
        );
        let late = cli(
            "2026-01-20",
            &["settings", "set", "debt_restore_within_hours", "48"],
        );
        assert_eq!(late.status.code(), Some(2), "{}", out(&late));
        assert!(
            cli("2026-01-20", &["settings", "set", "debt_clock", "yes"])
                .status
                .success()
        );

        // Maria's January invoice (due 10/01) is 9 days overdue on the 19th: nothing yet.
        let dry = out(&cli(
            "2026-01-19",
            &["debt", "run", "--date", "2026-01-19", "--dry-run"],
        ));
        assert!(dry.starts_with("0 move(s)"), "{label}: {dry}");
        let dry = out(&cli(
            "2026-01-20",
            &["debt", "run", "--date", "2026-01-20", "--dry-run"],
        ));
        assert_eq!(
            dry,
            "K1\tregular\tregular\tdebt_notice\n1 move(s) (dry run: nothing changed)\n"
        );
        assert_eq!(state(db, "K1").await, None, "the dry run changed nothing");
        assert!(
            cli("2026-01-20", &["debt", "run", "--date", "2026-01-20"])
                .status
                .success()
        );
        // Queued, not sent: no clock; the next day queues nothing more.
        let next = out(&cli("2026-01-21", &["debt", "run", "--date", "2026-01-21"]));
        assert!(next.starts_with("0 move(s)"), "{label}: {next}");
        assert_eq!(state(db, "K1").await, Some(DebtState::Regular));

        // Sent on the 22nd: what the law requires is in it.
        worker_at(db, &clock_on("2026-01-22"))
            .drain(|_| {})
            .await
            .unwrap();
        let mail = sink
            .received()
            .into_iter()
            .find(|m| {
                quoted_printable_decoded(&String::from_utf8_lossy(&m.data))
                    .contains("Constam em aberto")
            })
            .expect("the debt notice");
        let text = quoted_printable_decoded(&String::from_utf8_lossy(&mail.data));
        for needed in [
            "R$ 119,90",
            "01/2026",
            "06/02/2026",
            "sistemas de prote",
            "até 24 horas",
            "15 dias",
        ] {
            assert!(
                text.contains(needed),
                "{label}: the notice lacks {needed:?}\n{text}"
            );
        }
        assert!(
            cli("2026-01-22", &["debt", "run", "--date", "2026-01-22"])
                .status
                .success()
        );
        assert_eq!(state(db, "K1").await, Some(DebtState::Notified));
        // Never before 15 days after the sending.
        // (João's invoice, due 20/01, reaches the notice's 10 days meanwhile.)
        let early = out(&cli("2026-02-05", &["debt", "run", "--date", "2026-02-05"]));
        assert!(!early.contains("K1"), "{label}: {early}");
        let due = out(&cli("2026-02-06", &["debt", "run", "--date", "2026-02-06"]));
        assert_eq!(
            due, "K1\tnotified\tsuspension_due\tsuspension_due\n1 move(s)\n",
            "{label}"
        );

        // The network confirms; a confirmation that does not fit is refused.
        let wrong = cli("2026-02-06", &["debt", "confirm", "K1", "terminated"]);
        assert_eq!(wrong.status.code(), Some(2));
        assert!(
            cli("2026-02-07", &["debt", "confirm", "K1", "suspended"])
                .status
                .success()
        );
        assert_eq!(state(db, "K1").await, Some(DebtState::Suspended));

        // The page: the contract with its dates and next step, the same in CSV; the timeline.
        {
            let mut conn = db.pool.acquire().await.unwrap();
            store::auth::insert_user(
                &mut conn,
                "ana",
                "Ana",
                regua::web::auth::Role::Finance,
                "senha-forte-123",
                0,
            )
            .await
            .unwrap();
        }
        set_portal_password(db, "52998224725", "senha-da-maria").await;
        let db2 = db.clone();
        with_server_at(db, "2026-02-07", |addr| async move {
            let session = common::http::staff_session(addr, "ana", "senha-forte-123").await;
            let page = common::http::http(addr, "GET", "/inadimplencia", &session, "").await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains("<td>K1</td><td>Maria Silva</td><td>suspenso</td><td>22/01/2026</td><td>07/02/2026</td><td>aviso de rescisão a partir de 24/03/2026</td>"), "{}", page.body);
            let csv = common::http::http(addr, "GET", "/inadimplencia.csv?estado=suspended", &session, "").await;
            assert_eq!(csv.body, "contrato,cliente,situacao,notificado_em,suspenso_em,proximo_passo\nK1,Maria Silva,suspended,22/01/2026,07/02/2026,aviso de rescisão a partir de 24/03/2026\n");
            let id: i64 = {
                let mut conn = db2.pool.acquire().await.unwrap();
                sqlx::query_scalar("SELECT id FROM customers WHERE external_id = 'C1'").fetch_one(&mut *conn).await.unwrap()
            };
            let customer = common::http::http(addr, "GET", &format!("/clientes/{id}"), &session, "").await;
            assert!(customer.body.contains("Inadimplência do contrato K1: suspensão devida → suspenso — a rede confirmou a suspensão"), "{}", customer.body);
            // The app asks for a trust unlock: not offered by this ISP (trust_unlock_days 0);
            // another subscriber's contract is not found.
            let (status, body) = common::http::json_call(
                addr,
                "POST",
                "/central/api/v1/session",
                "",
                Some(&serde_json::json!({"document": "529.982.247-25", "password": "senha-da-maria"})),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            let token = body["token"].as_str().unwrap().to_string();
            let (status, body) = common::http::json_call(addr, "POST", "/central/api/v1/contracts/K1/trust-unlock", &token, None).await;
            assert_eq!((status, body["code"].as_str()), (422, Some("trust_unlock_refused")), "{body}");
            assert_eq!(body["message"], "O provedor não oferece desbloqueio de confiança.");
            let (status, _) = common::http::json_call(addr, "POST", "/central/api/v1/contracts/K2/trust-unlock", &token, None).await;
            assert_eq!(status, 404);
        })
        .await;

        // Maria pays January on the 8th (February is not due yet): restore_due, in the
        // payment's transaction.
        let jan = {
            let mut conn = db.pool.acquire().await.unwrap();
            let k1 = store::parties::find_contract_by_external_id(&mut conn, "K1")
                .await
                .unwrap()
                .unwrap()
                .id;
            store::invoices::list_invoices_of_contract(&mut conn, k1)
                .await
                .unwrap()
                .into_iter()
                .min_by_key(|i| i.due_date)
                .unwrap()
        };
        regua::actions::payments::record_payment(
            db,
            jan.id,
            &regua::actions::payments::Payment {
                paid_on: "2026-02-08".parse().unwrap(),
                amount: Money::from_cents(11990),
            },
            &regua::domain::Actor::Cli("ana".into()),
            clock_on("2026-02-08").now_millis(),
        )
        .await
        .unwrap();
        assert_eq!(
            state(db, "K1").await,
            Some(DebtState::RestoreDue),
            "{label}"
        );
        assert!(
            cli("2026-02-08", &["debt", "confirm", "K1", "active"])
                .status
                .success()
        );
        assert_eq!(state(db, "K1").await, Some(DebtState::Regular));
        let timeline = out(&cli("2026-02-08", &["debt", "timeline", "K1"]));
        let moves: Vec<&str> = timeline
            .lines()
            .skip(1)
            .map(|l| l.split('\t').nth(2).unwrap())
            .collect();
        assert_eq!(
            moves,
            [
                "notified",
                "suspension_due",
                "suspended",
                "restore_due",
                "regular"
            ],
            "{label}: {timeline}"
        );
        assert!(
            timeline.contains("notificação de débito enviada em 22/01/2026"),
            "{timeline}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_billing_method_can_have_its_own_policy_within_the_law() {
    for t in each_backend().await {
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(&t.db, &sink).await;
        let cli = |args: &[&str]| regua_on(&t.url, "2026-01-15", args);
        assert!(
            cli(&["settings", "set", "debt_clock", "yes"])
                .status
                .success()
        );
        let early = cli(&[
            "debt",
            "policy",
            "--method",
            "Boleto BB",
            "--suspension-after",
            "14",
        ]);
        assert_eq!(early.status.code(), Some(2));
        assert!(
            out(&early).starts_with("debt_suspension_after_notice_days: no mínimo 15 dias"),
            "{}",
            out(&early)
        );
        let short = cli(&[
            "debt",
            "policy",
            "--method",
            "Boleto BB",
            "--termination-notice-after",
            "20",
            "--termination-after",
            "20",
        ]);
        assert!(out(&short).contains("60 dias"), "{}", out(&short));
        let unknown = cli(&[
            "debt",
            "policy",
            "--method",
            "Nenhuma",
            "--notice-after",
            "5",
        ]);
        assert_eq!(unknown.status.code(), Some(2));
        assert!(
            out(&unknown).contains("não encontrada"),
            "{}",
            out(&unknown)
        );
        let set = cli(&[
            "debt",
            "policy",
            "--method",
            "Boleto BB",
            "--notice-after",
            "5",
        ]);
        assert_eq!(out(&set), "Boleto BB\t5\t15\t45\t15\t24\n", "{}", t.label);
        let list = out(&cli(&["debt", "policy"]));
        assert!(
            list.contains("(provedor)\t10\t15\t45\t15\t24\n") && list.contains("Boleto BB\t5\t"),
            "{list}"
        );
        // Maria's invoice (due 10/01) is 5 days overdue on the 15th: her method's notice is due.
        let dry = out(&cli(&["debt", "run", "--date", "2026-01-15", "--dry-run"]));
        assert!(
            dry.contains("K1\tregular\tregular\tdebt_notice"),
            "{}: {dry}",
            t.label
        );
        assert!(
            cli(&["debt", "policy", "--method", "Boleto BB", "--remove"])
                .status
                .success()
        );
        let dry = out(&cli(&["debt", "run", "--date", "2026-01-15", "--dry-run"]));
        assert!(!dry.contains("K1"), "{dry}");
    }
}
