//! No internal code on screen (#19 item 6): every admin page, as each role, on the demo ISP
//! with an SMTP account, an SMS gateway, rules, bands and routines; the visible text (tags,
//! scripts and attributes stripped) must not show an enum's code.

mod common;

use common::http::{http, staff_session};
use common::*;
use regua::store;
use regua::web::auth::Role;

/// Codes that belong to the database, the CLI and the API, never to a page.
const CODES: &[&str] = &[
    "no_email",
    "printed",
    "starttls",
    "after_due",
    "before_due",
    "on_due",
    "email_and_letter",
    "letter_only",
    "mon,tue",
    "written to",
    "reminder_before_due",
    "reminder_after_due",
    "invoice_generated",
    "payment_confirmed",
    "overdue_band",
    "second_copy",
    "suspension_notice",
    "account_default",
    "cnab240",
    "cnab400",
    "retrying",
    "queued",
    "skipped",
    "sending",
    "generation",
    "routine:",
    "rule:",
    "band:",
    "portal:",
    "user: ",
    "cli: ",
];

/// The text a reader sees: no tags, no script or style, entities decoded.
fn visible(html: &str) -> String {
    let mut without = html.to_string();
    for skip in ["script", "style"] {
        let (open, close) = (format!("<{skip}"), format!("</{skip}>"));
        while let Some(i) = without.find(&open) {
            let end = without[i..]
                .find(&close)
                .map_or(without.len(), |j| i + j + close.len());
            without.replace_range(i..end, " ");
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for ch in without.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_shows_an_internal_code_to_any_role() {
    let t = sqlite().await;
    let clock = clock_on("2026-03-20");
    regua::demo::seed(&t.db, 30, &clock).await.unwrap();
    let mail = tempfile::tempdir().unwrap();
    regua::demo::send_demo_mail(&t.db, &clock, mail.path())
        .await
        .unwrap();
    sink_account(
        &t.db,
        "Principal",
        2525,
        AccountSetup {
            starttls_ca: Some("/nonexistent/ca.pem".into()),
            auth: Some(("cobranca".into(), "senha-1".into())),
            hourly_limit: Some(100),
            ..AccountSetup::default()
        },
    )
    .await;
    // A routine, a letter band and an SMS gateway: their codes (weekdays, generation type) too.
    let actor = regua::domain::Actor::Cli("ana".into());
    regua::actions::dunning::add_routine(
        &t.db,
        &regua::actions::dunning::NewRoutine {
            name: "Manhã",
            task: regua::dunning::Task::SendEmails,
            weekdays: "mon,wed,fri",
            time: "08:00",
            run_on_holidays: false,
        },
        &actor,
        0,
    )
    .await
    .unwrap();
    let gateway = regua::delivery::sms::GatewayInput {
        name: "Provedor SMS".into(),
        url: "https://sms.exemplo.com.br/send?to={{telefone}}&m={{mensagem}}".into(),
        method: "GET".into(),
        ..Default::default()
    }
    .check(&|_| None)
    .unwrap();
    regua::actions::channels::add_sms_gateway(&t.db, &gateway, Some(&test_key()), &actor, 0)
        .await
        .unwrap();
    let mut conn = t.db.pool.acquire().await.unwrap();
    for (login, role) in [
        ("admin", Role::Admin),
        ("fin", Role::Finance),
        ("atend", Role::Support),
        ("leitor", Role::ReadOnly),
    ] {
        store::auth::insert_user(&mut conn, login, login, role, "senha-forte-123", 0)
            .await
            .unwrap();
    }
    let invoice: i64 = sqlx::query_scalar("SELECT MIN(id) FROM invoices")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let customer: i64 = sqlx::query_scalar("SELECT MIN(id) FROM customers")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let account: i64 = sqlx::query_scalar("SELECT MIN(id) FROM smtp_accounts")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let layout: i64 = sqlx::query_scalar("SELECT MIN(id) FROM layouts")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let pages = [
        "/".to_string(),
        "/previsao".into(),
        "/clientes".into(),
        format!("/clientes/{customer}"),
        "/contratos".into(),
        "/faturas".into(),
        format!("/faturas/{invoice}"),
        "/retorno-bancario".into(),
        "/remessa".into(),
        "/emissao".into(),
        "/cartas".into(),
        "/log".into(),
        "/configuracoes/carteiras".into(),
        "/configuracoes/formas".into(),
        "/configuracoes/feriados".into(),
        "/configuracoes/regua".into(),
        "/configuracoes/parametros".into(),
        "/configuracoes/usuarios".into(),
        "/configuracoes/email".into(),
        format!("/configuracoes/email/{account}"),
        "/configuracoes/sms-push".into(),
        "/configuracoes/whatsapp".into(),
        "/inadimplencia".into(),
        "/configuracoes/webhooks".into(),
        "/configuracoes/layouts".into(),
        format!("/configuracoes/layouts/{layout}"),
        "/configuracoes/central".into(),
        "/configuracoes/notificacoes".into(),
        "/senha".into(),
        "/importar".into(),
        "/emails-invalidos".into(),
        "/emissao/faixas".into(),
    ];
    with_server_at(&t.db, "2026-03-20", |addr| async move {
        let mut found = Vec::new();
        let mut seen = 0;
        for login in ["admin", "fin", "atend", "leitor"] {
            let session = staff_session(addr, login, "senha-forte-123").await;
            for path in &pages {
                let r = http(addr, "GET", path, &session, "").await;
                if r.status != 200 {
                    assert!(
                        [403, 404].contains(&r.status),
                        "{login} {path}: {}",
                        r.status
                    );
                    continue;
                }
                seen += 1;
                let text = visible(&r.body);
                for code in CODES {
                    if let Some(i) = text.find(code) {
                        let start = text[..i].char_indices().rev().nth(40).map_or(0, |(j, _)| j);
                        let end = (i + code.len() + 40).min(text.len());
                        let end = (end..=text.len())
                            .find(|e| text.is_char_boundary(*e))
                            .unwrap();
                        found.push(format!(
                            "{login} {path}: {code:?} in …{}…",
                            &text[start..end]
                        ));
                    }
                }
                if login == "fin" && path == "/contratos" {
                    assert!(
                        text.contains("Tipo de envio de cobrança padrão"),
                        "Financeiro sees the default delivery type"
                    );
                }
            }
        }
        assert!(seen >= 70, "{seen} pages read");
        assert!(found.is_empty(), "codes on screen:\n{}", found.join("\n"));
    })
    .await;
}
