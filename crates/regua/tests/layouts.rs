//! Layouts: the defaults, saving with validation and versions, rendering with real invoices,
//! escaping, and the `regua layout` commands.

mod common;

use common::*;
use regua::actions::layouts::LayoutError;
use regua::domain::format_date;
use regua::import::ImportKind;
use regua::layouts::{LayoutContext, LayoutDraft, Purpose, context_for_invoice, default_layouts};
use regua::store;

#[test]
fn every_default_layout_renders_the_sample_data() {
    let sample = LayoutContext::sample();
    for d in default_layouts() {
        let m = regua::layouts::CompiledLayout::compile(d.subject, &d.html, "")
            .unwrap()
            .render(&sample)
            .unwrap();
        assert!(
            regua::layouts::check_layout(d.subject, &d.html, "").is_empty(),
            "{} fails its own validation",
            d.name
        );
        insta::assert_snapshot!(
            d.purpose.as_str(),
            format!(
                "Nome: {}\nAssunto: {}\n----- Texto -----\n{}----- HTML -----\n{}",
                d.name, m.subject, m.text, m.html
            )
        );
    }
}

#[test]
fn there_is_one_default_layout_per_purpose() {
    let mut purposes: Vec<Purpose> = default_layouts().iter().map(|d| d.purpose).collect();
    purposes.sort();
    let mut all = Purpose::ALL.to_vec();
    all.sort();
    assert_eq!(purposes, all);
}

#[test]
fn the_account_default_message_fits_before_and_after_the_due_date() {
    let d = regua::layouts::default_layout(Purpose::AccountDefault);
    let words = format!("{} {}", d.subject, d.html).to_lowercase();
    for dated in ["vence em", "vencida", "atraso", "lembramos", "hoje"] {
        assert!(!words.contains(dated), "the neutral message says {dated:?}");
    }
    assert!(words.contains("desconsidere"));
}

#[tokio::test]
async fn migrate_installs_one_default_layout_per_purpose_once() {
    for t in each_backend().await {
        store::migrate(&t.db).await.unwrap();
        let mut conn = t.db.pool.acquire().await.unwrap();
        let layouts = store::layouts::list_layouts(&mut conn).await.unwrap();
        assert_eq!(layouts.len(), Purpose::ALL.len(), "{}", t.label);
        assert!(
            layouts
                .iter()
                .all(|l| l.version == 1 && l.default_of == Some(l.purpose))
        );
        for p in Purpose::ALL {
            let l = store::layouts::layout_for_purpose(&mut conn, p)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(l.purpose, p);
        }
    }
}

fn draft(name: &str, subject: &str, html: &str) -> LayoutDraft {
    LayoutDraft {
        name: name.into(),
        purpose: Purpose::ReminderBeforeDue,
        subject: subject.into(),
        html: html.into(),
        text: String::new(),
        sms: String::new(),
    }
}

#[tokio::test]
async fn saving_grows_the_version_and_keeps_every_old_version() {
    for t in each_backend().await {
        let v1 = regua::actions::layouts::save_layout(
            &t.db,
            None,
            &draft(
                "Lembrete 5 dias",
                "Vence {{ fatura.vencimento }}",
                "<p>{{ cliente.nome }}</p>",
            ),
            &ana(),
            1,
        )
        .await
        .unwrap();
        assert_eq!(v1.version, 1);
        let v2 = regua::actions::layouts::save_layout(
            &t.db,
            Some("Lembrete 5 dias"),
            &draft(
                "Lembrete 5 dias",
                "Sua fatura vence {{ fatura.vencimento }}",
                "<p>Olá {{ cliente.nome }}</p>",
            ),
            &regua::domain::Actor::User("bia".into()),
            2,
        )
        .await
        .unwrap();
        assert_eq!((v2.id, v2.version), (v1.id, 2), "{}", t.label);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let old = store::layouts::get_layout_version(&mut conn, v1.id, 1)
            .await
            .unwrap();
        assert_eq!(old.subject, "Vence {{ fatura.vencimento }}");
        assert_eq!(old.version, 1);
        let cur = store::layouts::get_layout_version(&mut conn, v1.id, 2)
            .await
            .unwrap();
        assert_eq!(cur.html, "<p>Olá {{ cliente.nome }}</p>");
    }
}

#[tokio::test]
async fn an_invalid_layout_is_refused_with_line_and_column_and_nothing_changes() {
    for t in each_backend().await {
        regua::actions::layouts::save_layout(
            &t.db,
            None,
            &draft("L", "Fatura", "<p>ok</p>"),
            &ana(),
            1,
        )
        .await
        .unwrap();
        let bad = draft(
            "L",
            "Fatura {{ fatura.numero }}",
            "<p>Olá,</p>\n<p>{{ cliente.nome }}</p>\n<p>Valor: {{ fatura.valorr }}</p>",
        );
        let err = regua::actions::layouts::save_layout(&t.db, Some("L"), &bad, &ana(), 2)
            .await
            .unwrap_err();
        assert_eq!(
            err.message_pt(),
            "corpo HTML: linha 3, coluna 14: variável desconhecida `fatura.valorr` — você quis dizer `fatura.valor`?"
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        let l = store::layouts::find_layout(&mut conn, "L")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (l.version, l.subject.as_str(), l.html.as_str()),
            (1, "Fatura", "<p>ok</p>"),
            "{}",
            t.label
        );
        let err = regua::actions::layouts::save_layout(
            &t.db,
            None,
            &draft("L", "x", "<p>x</p>"),
            &ana(),
            3,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, LayoutError::DuplicateName(ref n) if n == "L"),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn restore_default_brings_back_the_built_in_words_as_a_new_version() {
    for t in each_backend().await {
        let name = regua::layouts::default_layout(Purpose::DueToday).name;
        let mut edited = draft(name, "Editado", "<p>editado</p>");
        edited.purpose = Purpose::DueToday;
        regua::actions::layouts::save_layout(&t.db, Some(name), &edited, &ana(), 1)
            .await
            .unwrap();
        let restored = regua::actions::layouts::restore_default_layout(&t.db, name, &ana(), 2)
            .await
            .unwrap();
        let d = regua::layouts::default_layout(Purpose::DueToday);
        assert_eq!(
            (
                restored.version,
                restored.subject.as_str(),
                restored.html.as_str()
            ),
            (3, d.subject, d.html.as_str())
        );
        assert!(matches!(
            regua::actions::layouts::restore_default_layout(&t.db, "nope", &ana(), 3).await,
            Err(LayoutError::NotFound(_))
        ));
    }
}

/// A customer with a nasty name, a contract and one generated invoice; returns the invoice.
async fn nasty_customer_invoice(db: &regua::store::Db) -> regua::domain::Invoice {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut w = regua::demo::banco_do_brasil_wallet("BB");
    w.pix_key = Some("financeiro@provedor.com.br".into());
    store::parties::insert_wallet(&mut conn, &w, 0)
        .await
        .unwrap();
    store::parties::insert_billing_method(&mut conn, "Boleto BB", "BB", 0)
        .await
        .unwrap();
    store::parties::set_setting(&mut conn, "company_name", "Provedor Ágil")
        .await
        .unwrap();
    store::parties::set_setting(&mut conn, "portal_url", "https://central.agil.net.br/")
        .await
        .unwrap();
    drop(conn);
    import_ok(db, ImportKind::Customers, "external_id,name,document,email,mobile_phone\nC1,<script>alert(1)</script> & Cia,529.982.247-25,cia@exemplo.com.br,\n").await;
    import_ok(db, ImportKind::Contracts, "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK1,C1,Fibra <b>500</b>,\"119,90\",10,email,Boleto BB\n").await;
    let g = regua::invoicing::generate_invoices(db, "K1", 2, &clock_on("2026-01-05"))
        .await
        .unwrap();
    g.created[0].clone()
}

#[tokio::test]
async fn a_customer_named_script_is_escaped_in_html_and_intact_in_text() {
    for t in each_backend().await {
        let invoice = nasty_customer_invoice(&t.db).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let ctx = context_for_invoice(&mut conn, invoice.id, "2026-01-05".parse().unwrap())
            .await
            .unwrap();
        for layout in store::layouts::list_layouts(&mut conn).await.unwrap() {
            let m = regua::layouts::CompiledLayout::of(&layout)
                .unwrap()
                .render(&ctx)
                .unwrap();
            if layout.html.contains("cliente.nome") {
                assert!(
                    m.html
                        .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; Cia"),
                    "{}: {}",
                    layout.name,
                    m.html
                );
                assert!(
                    m.text.contains("<script>alert(1)</script> & Cia"),
                    "{}: {}",
                    layout.name,
                    m.text
                );
            }
            assert!(
                !m.html.contains("<script>"),
                "{} lets a script through",
                layout.name
            );
            assert!(
                !m.html.contains("<b>500</b>"),
                "{} lets markup through",
                layout.name
            );
        }
    }
}

#[tokio::test]
async fn a_real_invoice_fills_the_variables_with_its_own_numbers() {
    for t in each_backend().await {
        let invoice = nasty_customer_invoice(&t.db).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let today = invoice.due_date.saturating_add(jiff::Span::new().days(13));
        let ctx = context_for_invoice(&mut conn, invoice.id, today)
            .await
            .unwrap();
        let f = &ctx.invoice;
        assert_eq!(f.amount, "R$ 119,90");
        assert_eq!(f.due_date, format_date(invoice.due_date));
        assert_eq!(f.days_overdue, 13);
        assert_eq!(
            f.portal_link,
            format!("https://central.agil.net.br/central/faturas/{}", invoice.id)
        );
        let line = boleto::DigitableLine::parse(&f.digitable_line).unwrap();
        assert_eq!(line.barcode().amount_cents(), 11_990);
        let pix = boleto::BrCode::parse(&f.pix_code).unwrap();
        assert_eq!(pix.amount_cents, Some(11_990));
        assert_eq!(pix.key.as_deref(), Some("financeiro@provedor.com.br"));
        assert_eq!(pix.merchant_name, "PROVEDOR AGIL");
        assert_eq!(ctx.company.name, "Provedor Ágil");
        assert_eq!(
            ctx.open_invoices.len(),
            2,
            "both generated invoices are open"
        );
        assert_eq!(ctx.open_total, "R$ 239,80");
        assert_eq!(ctx.today, format_date(today));
    }
}

fn regua(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(args)
        .env("REGUA_DATABASE_URL", url)
        .env("REGUA_TODAY", "2026-02-23")
        .output()
        .unwrap()
}

#[tokio::test]
async fn layout_check_prints_line_and_column_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("lembrete.html");
    std::fs::write(
        &bad,
        "<p>Olá</p>\n<p>{{ cliente.nome }}</p>\n<p>Valor: {{ fatura.valorr }}</p>\n{% if %}",
    )
    .unwrap();
    let out = regua(
        "sqlite::memory:",
        &["layout", "check", bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("lembrete.html: linha 4, coluna 7: erro de sintaxe"),
        "{stderr}"
    );
    let good = dir.path().join("ok.txt");
    std::fs::write(
        &good,
        "Olá {{ cliente.nome | maiusculas }}, {{ fatura.valor_centavos | brl }}",
    )
    .unwrap();
    let out = regua(
        "sqlite::memory:",
        &["layout", "check", good.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn layout_preview_renders_sample_data_or_a_real_invoice() {
    let t = sqlite().await;
    let invoice = nasty_customer_invoice(&t.db).await;
    let name = regua::layouts::default_layout(Purpose::ReminderAfterDue).name;
    let out = regua(&t.url, &["layout", "preview", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("Assunto: Fatura em aberto: vencida em 10/12/2026"),
        "{stdout}"
    );
    assert!(
        stdout.contains("----- Texto -----\nProvedor Exemplo"),
        "{stdout}"
    );

    let out = regua(
        &t.url,
        &["layout", "preview", name, "--invoice", &invoice.external_id],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let due = format_date(invoice.due_date);
    assert!(
        stdout.contains(&format!("Assunto: Fatura em aberto: vencida em {due}")),
        "{stdout}"
    );
    assert!(stdout.contains("R$ 119,90"), "{stdout}");
    let today: jiff::civil::Date = "2026-02-23".parse().unwrap();
    let days = (today - invoice.due_date).get_days();
    assert!(stdout.contains(&format!("({days} dias)")), "{stdout}");
}

#[tokio::test]
async fn layout_save_refuses_bad_templates_and_saves_good_ones() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("novo.html");
    std::fs::write(
        &html,
        "<p>{{ cliente.nome }} {{ fatura.vencimento | dta }}</p>",
    )
    .unwrap();
    let args = [
        "layout",
        "save",
        "Novo",
        "--purpose",
        "due_today",
        "--subject",
        "Hoje",
        "--html",
        html.to_str().unwrap(),
    ];
    let out = regua(&t.url, &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("filtro desconhecido `dta` — você quis dizer `data`?")
    );
    std::fs::write(
        &html,
        "<p>{{ cliente.nome }} {{ fatura.vencimento | data('extenso') }}</p>",
    )
    .unwrap();
    let out = regua(&t.url, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = regua(&t.url, &args);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "layout \"Novo\" saved (version 2)"
    );
    // Saved versions are in the audit trail; the refused draft is not.
    let mut conn = t.db.pool.acquire().await.unwrap();
    let audited: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT entity, before, after FROM audit_log WHERE action = 'layout.save' AND actor LIKE 'cli: %' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            ("layout:Novo".into(), None, Some("version 1".into())),
            (
                "layout:Novo".into(),
                Some("version 1".into()),
                Some("version 2".into())
            ),
        ]
    );
}

#[test]
fn docs_list_every_variable_and_filter() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/layouts.md"
    ))
    .unwrap();
    for v in regua::layouts::VARIABLES {
        assert!(
            doc.contains(&format!("| `{}` |", v.path)),
            "docs/layouts.md misses {}",
            v.path
        );
    }
    for f in regua::layouts::FILTERS {
        assert!(
            doc.contains(&format!("| `{f}` |")),
            "docs/layouts.md misses the filter {f}"
        );
    }
    for p in Purpose::ALL {
        assert!(
            doc.contains(&format!("`{}`", p.as_str())),
            "docs/layouts.md misses the purpose {p}"
        );
    }
}

#[tokio::test]
async fn company_settings_reach_the_messages_and_unknown_keys_are_refused() {
    let t = sqlite().await;
    let out = regua(
        &t.url,
        &["settings", "set", "company_name", "Fibra Já Telecom"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = regua(&t.url, &["settings", "set", "company_nme", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting \"company_nme\""));
    let out = regua(
        &t.url,
        &["settings", "set", "default_delivery_type", "Impresso"],
    );
    assert!(out.status.success());
    let list = String::from_utf8(regua(&t.url, &["settings", "list"]).stdout).unwrap();
    assert!(list.contains("company_name\tFibra Já Telecom\n"), "{list}");
    assert!(list.contains("default_delivery_type\tprinted\n"), "{list}");
    assert!(list.contains("company_phone\t\t(default)\n"), "{list}");
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert_eq!(
        store::parties::company_profile(&mut conn)
            .await
            .unwrap()
            .name,
        "Fibra Já Telecom"
    );
}

/// The editor in these tests.
fn ana() -> regua::domain::Actor {
    regua::domain::Actor::User("ana".into())
}

#[tokio::test]
async fn a_debt_notice_must_say_what_the_rgc_requires() {
    // The defaults say it all.
    for p in [Purpose::DebtNotice, Purpose::TerminationNotice] {
        let d = regua::layouts::default_layout(p);
        assert!(
            regua::layouts::check_required(p, &d.html, "").is_empty(),
            "{} lacks what the law requires",
            d.name
        );
    }
    let t = sqlite().await;
    let without = LayoutDraft {
        purpose: Purpose::DebtNotice,
        ..draft(
            "Notificação curta",
            "Débito em aberto",
            "<p>{{ cliente.nome }}, há débito de {{ aviso.competencias }}. {{ aviso.motivo }}. {{ aviso.regras }} {{ aviso.negativacao }} Volta em {{ aviso.prazo_restabelecimento }}.</p>",
        )
    };
    match regua::actions::layouts::save_layout(&t.db, None, &without, &ana(), 1).await {
        Err(LayoutError::Invalid(problems)) => {
            let messages: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
            assert_eq!(
                messages,
                [
                    "falta aviso.data_suspensao: a data da suspensão (exigido na notificação pelo RGC da Anatel, Resolução nº 765/2023)",
                    "falta aviso.valor_total: o valor do débito (exigido na notificação pelo RGC da Anatel, Resolução nº 765/2023)",
                ]
            );
        }
        other => panic!("saved a debt notice without the amount and the date: {other:?}"),
    }
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert!(
        store::layouts::find_layout(&mut conn, "Notificação curta")
            .await
            .unwrap()
            .is_none(),
        "nothing saved"
    );
    drop(conn);
    // The same words in an ordinary reminder are fine; with both variables the notice saves.
    let fixed = LayoutDraft {
        html: format!(
            "{} Suspensão em {{{{ aviso.data_suspensao }}}}; total {{{{ aviso.valor_total }}}}.",
            without.html
        ),
        ..without.clone()
    };
    regua::actions::layouts::save_layout(&t.db, None, &fixed, &ana(), 2)
        .await
        .unwrap();
}
