//! The régua on WhatsApp, against a real HTTP server on loopback that answers as Meta's Cloud
//! API does (messages, media upload, template list; errors in Meta's shape) and posts signed
//! webhooks back: templates with the layout's variables and the boleto PDF, receipts on the
//! log, the fallback to e-mail when a number is not on WhatsApp (once), opt-out by PARAR,
//! refused signatures, the verification handshake, and the sending window.

mod common;

use common::*;
use mailsink::cloudapi::{APP_SECRET, CloudApi, PHONE_NUMBER_ID, TOKEN, WABA_ID};
use regua::store::{self, Db};

const VERIFY: &str = "verifica-123";

fn regua(url: &str, args: &[&str]) -> std::process::Output {
    regua_at(
        url,
        "2026-01-05",
        args,
        &[("WA_TOKEN", TOKEN), ("WA_SECRET", APP_SECRET)],
    )
}

fn out(o: &std::process::Output) -> String {
    output_text(o)
}

async fn count(db: &Db, sql: &str) -> i64 {
    let mut conn = db.pool.acquire().await.unwrap();
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn drain(db: &Db, date: &str) {
    worker_at(db, &clock_on(date)).drain(|_| {}).await.unwrap();
}

/// Rúbia (C4): her number is not on WhatsApp.
async fn customer_not_on_whatsapp(db: &Db) {
    import_ok(
        db,
        regua::import::ImportKind::Customers,
        "external_id,name,document,email,mobile_phone\nC4,Rubia Alves,111.444.777-35,rubia@exemplo.com.br,(11) 91234-5678\n",
    )
    .await;
    import_ok(
        db,
        regua::import::ImportKind::Contracts,
        "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK4,C4,Fibra 300,\"89,90\",10,email,Boleto BB\n",
    )
    .await;
    regua::invoicing::generate_invoices(db, "K4", 1, &clock_on("2026-01-05"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_regua_goes_by_whatsapp_with_receipts_fallback_and_opt_out() {
    for t in each_backend().await {
        let db = &t.db;
        let label = t.label;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        customer_not_on_whatsapp(db).await;
        let api = CloudApi::start().await;
        let api_url = api.api_url();
        let cli = |args: &[&str]| regua(&t.url, args);

        // The account: secrets from the environment, never on the command line or in listings.
        let add = [
            "whatsapp",
            "add",
            "--name",
            "Oficial",
            "--phone-number-id",
            PHONE_NUMBER_ID,
            "--business-account-id",
            WABA_ID,
            "--token-env",
            "WA_TOKEN",
            "--app-secret-env",
            "WA_SECRET",
            "--verify-token",
            VERIFY,
            "--api-url",
            &api_url,
            "--daily-limit",
            "1000",
        ];
        let unset = cli(&[&add[..9], &["NO_SUCH_VAR"], &add[10..]].concat());
        assert_eq!(unset.status.code(), Some(2), "{}", out(&unset));
        assert_eq!(
            out(&unset),
            "--token-env: the variable NO_SUCH_VAR is not set\n"
        );
        let added = cli(&add);
        assert!(added.status.success(), "{label}: {}", out(&added));
        let list = out(&cli(&["whatsapp", "list"]));
        assert!(
            list.contains(&format!(
                "Oficial\t{PHONE_NUMBER_ID}\t{WABA_ID}\t{api_url}\t1000\t0\tyes"
            )),
            "{list}"
        );
        assert!(!list.contains(TOKEN) && !list.contains(APP_SECRET) && !list.contains(VERIFY));
        let audit = count(db, &format!("SELECT COUNT(*) FROM audit_log WHERE after LIKE '%{TOKEN}%' OR after LIKE '%{APP_SECRET}%' OR after LIKE '%{VERIFY}%'")).await;
        assert_eq!(audit, 0, "no secret in the audit trail");
        let templates = out(&cli(&["whatsapp", "templates", "Oficial"]));
        assert!(
            templates.contains("lembrete_fatura\tpt_BR\tAPPROVED\tUTILITY\t3\tDOCUMENT\tno"),
            "{templates}"
        );

        // A mapping that does not match the template is refused, with the reason; nothing saved.
        let map = |template: &str, params: &str, extra: &[&str]| {
            let mut args = vec![
                "layout",
                "whatsapp",
                "Vencimento hoje",
                "--account",
                "Oficial",
                "--template",
                template,
                "--params",
                params,
            ];
            args.extend_from_slice(extra);
            cli(&args)
        };
        let few = map(
            "lembrete_fatura",
            "cliente.nome,fatura.valor",
            &["--document", "boleto"],
        );
        assert_eq!(few.status.code(), Some(2));
        assert!(
            out(&few).contains("tem 3 parâmetro(s) no corpo e foram informadas 2"),
            "{}",
            out(&few)
        );
        let typo = map(
            "lembrete_fatura",
            "cliente.nome,fatura.valr,fatura.vencimento",
            &["--document", "boleto"],
        );
        assert!(
            out(&typo).contains("variável desconhecida \"fatura.valr\""),
            "{}",
            out(&typo)
        );
        let pending = map("promocao", "cliente.nome", &[]);
        assert!(
            out(&pending).contains("não está aprovado"),
            "{}",
            out(&pending)
        );
        let no_doc = map(
            "lembrete_fatura",
            "cliente.nome,fatura.valor,fatura.vencimento",
            &[],
        );
        assert!(
            out(&no_doc).contains("cabeçalho DOCUMENT"),
            "{}",
            out(&no_doc)
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM layout_whatsapp").await, 0);
        let ok = map(
            "lembrete_fatura",
            "cliente.nome,fatura.valor,fatura.vencimento",
            &["--document", "boleto"],
        );
        assert!(ok.status.success(), "{}", out(&ok));
        let ok = cli(&[
            "layout",
            "whatsapp",
            "Lembrete após o vencimento",
            "--account",
            "Oficial",
            "--template",
            "aviso_atraso",
            "--params",
            "cliente.nome,fatura.valor",
            "--button",
            "fatura.link_portal",
        ]);
        assert!(ok.status.success(), "{}", out(&ok));

        // "Realizar teste de envio": the template with sample data and a test PDF; Meta's answer.
        let test = cli(&[
            "notify",
            "test",
            "whatsapp",
            "--to",
            "(11) 98765-4321",
            "--layout",
            "Vencimento hoje",
        ]);
        assert!(test.status.success(), "{}", out(&test));
        assert!(
            out(&test).starts_with("sent to +5511987654321: 200 {")
                && out(&test).contains("\"messages\":[{\"id\":\"wamid."),
            "{}",
            out(&test)
        );
        assert_eq!(api.sent().len(), 1);
        assert_eq!(
            api.sent()[0].body["template"]["components"][1]["parameters"][0]["text"],
            "Maria da Silva"
        );
        assert!(api.media()[0].bytes.starts_with(b"%PDF-"));

        // The rule: WhatsApp first, then e-mail.
        let rule = cli(&[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "on_due",
            "--channels",
            "whatsapp,email",
        ]);
        assert!(rule.status.success(), "{}", out(&rule));
        let dry = out(&cli(&[
            "routine",
            "run",
            "--date",
            "2026-01-10",
            "--dry-run",
            "--json",
        ]));
        assert!(dry.contains("\"channel\": \"whatsapp\""), "{dry}");
        assert!(
            cli(&["routine", "run", "--date", "2026-01-10"])
                .status
                .success()
        );
        drain(db, "2026-01-10").await;

        // Maria and Rúbia by WhatsApp (the template, her values, the boleto uploaded first).
        let sent = api.sent();
        assert_eq!(sent.len(), 3, "{label}: the test and two reminders");
        let maria = sent
            .iter()
            .find(|s| {
                s.body["to"] == "5511987654321"
                    && s.body["template"]["components"][1]["parameters"][0]["text"] == "Maria Silva"
            })
            .expect("Maria's reminder");
        let c = &maria.body["template"]["components"];
        assert_eq!(maria.body["template"]["name"], "lembrete_fatura");
        assert_eq!(maria.body["template"]["language"]["code"], "pt_BR");
        let texts: Vec<&str> = c[1]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, ["Maria Silva", "R$ 119,90", "10/01/2026"]);
        let media_id = c[0]["parameters"][0]["document"]["id"].as_str().unwrap();
        let pdf = api.media().into_iter().find(|m| m.id == media_id).unwrap();
        assert_eq!(pdf.mime, "application/pdf");
        assert!(
            pdf.filename.starts_with("boleto-") && pdf.bytes.starts_with(b"%PDF-"),
            "{}",
            pdf.filename
        );
        assert_eq!(
            sink.received().len(),
            0,
            "{label}: João's invoice is due on the 20th"
        );

        let db2 = db.clone();
        let api = &api;
        with_server_at(db, "2026-01-10", |addr| async move {
            let db = &db2;
            // Meta's handshake.
            let ok = common::http::http(addr, "GET", &format!("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"), "", "").await;
            assert_eq!((ok.status, ok.body.as_str()), (200, "1158201444"));
            let wrong = common::http::http(addr, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", "", "").await;
            assert_eq!(wrong.status, 403);

            // A wrong signature: refused, nothing recorded.
            let body = api.status_body(&api.sent()[1].id, "read", 1_768_050_000);
            assert_eq!(api.post_webhook(addr, &body, "not-the-secret").await, 401);
            assert_eq!(count(db, "SELECT COUNT(*) FROM notice_receipts").await, 0);

            // Delivered, then read; Rúbia's number is not on WhatsApp: failed, on to e-mail.
            api.not_a_user("5511912345678");
            assert_eq!(api.post_statuses(addr, "delivered", 1_768_050_000).await, 3);
            assert_eq!(api.post_statuses(addr, "read", 1_768_050_060).await, 3);
            let receipt: String = {
                let mut conn = db.pool.acquire().await.unwrap();
                sqlx::query_scalar("SELECT receipt FROM notices WHERE channel = 'whatsapp' AND recipient = '+5511987654321' AND dedup_key LIKE 'rule:%'")
                    .fetch_one(&mut *conn).await.unwrap()
            };
            assert_eq!(receipt, "read");
            let rubia: (String, String, String) = {
                let mut conn = db.pool.acquire().await.unwrap();
                sqlx::query_as("SELECT channel, status, fallback FROM notices WHERE recipient LIKE '%5511912345678' OR recipient = 'rubia@exemplo.com.br'")
                    .fetch_one(&mut *conn).await.unwrap()
            };
            assert_eq!(rubia, ("email".to_string(), "queued".to_string(), String::new()), "back in the queue on e-mail");
            // The same failure again (Meta retries webhooks): nothing more.
            let again = api.status_body(&api.sent().iter().find(|s| s.body["to"] == "5511912345678").unwrap().id, "failed", 1_768_050_000);
            assert_eq!(api.post_webhook(addr, &again, APP_SECRET).await, 200);
            assert_eq!(count(db, "SELECT COUNT(*) FROM notices WHERE status = 'queued'").await, 1);
            assert_eq!(count(db, "SELECT COUNT(*) FROM whatsapp_blocks WHERE phone = '5511912345678' AND kind = 'unusable'").await, 1);

            // The log shows what Meta said.
            let session = {
                let mut conn = db.pool.acquire().await.unwrap();
                store::auth::insert_user(&mut conn, "admin", "Ana", regua::web::auth::Role::Admin, "senha-forte-123", 0).await.unwrap();
                drop(conn);
                common::http::staff_session(addr, "admin", "senha-forte-123").await
            };
            let log = common::http::http(addr, "GET", "/log", &session, "").await;
            assert!(log.body.contains("enviado — lida"), "{}", log.body);
            assert!(log.body.contains("WhatsApp não entregue: (#131026) Message undeliverable"), "{}", log.body);

            // The dashboard: the account's use of its 24-hour limit (the two reminders; the test
            // went five days earlier).
            let dash = common::http::http(addr, "GET", "/", &session, "").await;
            assert!(dash.body.contains("Contas de WhatsApp") && dash.body.contains("<td>2 de 1000</td>"), "{}", dash.body);

            // Maria writes PARAR: opted out, on her page.
            let parar = api.inbound_body("551187654321", "wamid.IN1", "PARAR", 1_768_050_100);
            assert_eq!(api.post_webhook(addr, &parar, APP_SECRET).await, 200);
            assert_eq!(api.post_webhook(addr, &parar, APP_SECRET).await, 200);
            assert_eq!(count(db, "SELECT COUNT(*) FROM whatsapp_blocks WHERE phone = '5511987654321' AND kind = 'optout'").await, 1);
            let hello = api.inbound_body("5511987654321", "wamid.IN2", "Já paguei ontem", 1_768_050_200);
            assert_eq!(api.post_webhook(addr, &hello, APP_SECRET).await, 200);
            assert_eq!(count(db, "SELECT COUNT(*) FROM inbound_messages WHERE customer_id IS NOT NULL").await, 2);
            let maria_id: i64 = {
                let mut conn = db.pool.acquire().await.unwrap();
                sqlx::query_scalar("SELECT id FROM customers WHERE external_id = 'C1'").fetch_one(&mut *conn).await.unwrap()
            };
            let page = common::http::http(addr, "GET", &format!("/clientes/{maria_id}"), &session, "").await;
            assert!(page.body.contains("pediu para não receber WhatsApp (PARAR)"), "{}", page.body);
            assert!(page.body.contains("Já paguei ontem"), "{}", page.body);
        })
        .await;

        // Rúbia's reminder goes by e-mail.
        drain(db, "2026-01-10").await;
        assert_eq!(sink.received().len(), 1, "{label}: Rúbia by e-mail, once");
        assert!(
            sink.received()[0]
                .to
                .iter()
                .any(|r| r == "rubia@exemplo.com.br")
        );

        // After PARAR, Maria's next reminder goes by e-mail; WhatsApp is not called.
        let rule = cli(&[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "after_due",
            "--days",
            "2",
            "--channels",
            "whatsapp,email",
        ]);
        assert!(rule.status.success(), "{}", out(&rule));
        assert!(
            cli(&["routine", "run", "--date", "2026-01-12"])
                .status
                .success()
        );
        let before = api.sent().len();
        drain(db, "2026-01-12").await;
        assert_eq!(api.sent().len(), before, "{label}: nobody left on WhatsApp");
        let maria_mail = sink
            .received()
            .iter()
            .filter(|m| m.to.iter().any(|r| r == "maria@exemplo.com.br"))
            .count();
        assert_eq!(maria_mail, 1, "{label}");
        let blocked = out(&cli(&["whatsapp", "blocked"]));
        assert!(blocked.contains("5511987654321\toptout\t"), "{blocked}");

        // An operator reverses it.
        let unblock = cli(&["whatsapp", "unblock", "(11) 98765-4321"]);
        assert!(unblock.status.success(), "{}", out(&unblock));
        assert!(!out(&cli(&["whatsapp", "blocked"])).contains("5511987654321\toptout"));
        assert_eq!(
            count(
                db,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'whatsapp.unblock'"
            )
            .await,
            1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_notice_planned_at_night_waits_for_the_window_and_email_does_not() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let api = CloudApi::start().await;
        let api_url = api.api_url();
        let cli = |args: &[&str]| regua(&t.url, args);
        assert!(
            cli(&[
                "whatsapp",
                "add",
                "--name",
                "Oficial",
                "--phone-number-id",
                PHONE_NUMBER_ID,
                "--business-account-id",
                WABA_ID,
                "--token-env",
                "WA_TOKEN",
                "--app-secret-env",
                "WA_SECRET",
                "--verify-token",
                VERIFY,
                "--api-url",
                &api_url,
            ])
            .status
            .success()
        );
        assert!(
            cli(&[
                "layout",
                "whatsapp",
                "Lembrete antes do vencimento",
                "--account",
                "Oficial",
                "--template",
                "aviso_atraso",
                "--params",
                "cliente.nome,fatura.valor",
                "--button",
                "fatura.link_portal",
            ])
            .status
            .success()
        );
        // WhatsApp for Maria, e-mail for João (no phone), both on Monday 2026-01-12 (Maria's
        // February invoice is due 10/02: 29 days before; João's on 20/01: 8 days).
        assert!(
            cli(&[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "before_due",
                "--days",
                "8",
                "--channels",
                "whatsapp,email"
            ])
            .status
            .success()
        );
        assert!(
            cli(&[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "before_due",
                "--days",
                "29",
                "--channels",
                "whatsapp,email"
            ])
            .status
            .success()
        );
        let run = cli(&["routine", "run", "--date", "2026-01-12"]);
        assert!(run.status.success(), "{}", out(&run));
        let at = |local: &str| {
            let ts = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", local)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::get(regua::DEFAULT_TIME_ZONE).unwrap())
                .unwrap()
                .timestamp();
            regua::domain::Clock::fixed(regua::DEFAULT_TIME_ZONE, ts).unwrap()
        };
        // 21:00 on Monday: the e-mail goes, WhatsApp waits.
        worker_at(db, &at("2026-01-12 21:00"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.received().len(), 1, "{}: e-mail is not held", t.label);
        assert_eq!(api.sent().len(), 0);
        let waiting: (String, i64) = {
            let mut conn = db.pool.acquire().await.unwrap();
            sqlx::query_as(
                "SELECT last_error, next_attempt_at FROM notices WHERE channel = 'whatsapp'",
            )
            .fetch_one(&mut *conn)
            .await
            .unwrap()
        };
        assert!(
            waiting.0.starts_with("aguardando a janela de envio"),
            "{}",
            waiting.0
        );
        assert_eq!(
            waiting.1,
            at("2026-01-13 08:00").now_millis(),
            "{}: opens 08:00 Tuesday",
            t.label
        );
        // 07:59 Tuesday: still waiting; 08:00: sent.
        worker_at(db, &at("2026-01-13 07:59"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(api.sent().len(), 0);
        worker_at(db, &at("2026-01-13 08:00"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(api.sent().len(), 1, "{}", t.label);
        assert_eq!(
            api.sent()[0].body["template"]["components"][1]["sub_type"],
            "url"
        );
    }
}
