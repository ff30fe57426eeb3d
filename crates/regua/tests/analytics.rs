//! Recovery analytics (docs/analytics.md): on a generated history — 60 contracts, four months of
//! invoices, the régua's notices on two rules and a band over e-mail and SMS, payments drawn
//! before and after them — the figures `regua analytics refresh` stores and the page, the API
//! and `regua analytics steps` read match a direct computation over the same rows, written
//! here plainly and independently of `domain::analytics`, on SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use jiff::civil::{Date, date};
use sqlx::Row as _;

const TODAY: &str = common::history::HISTORY_TODAY;

fn diff(a: Date, b: Date) -> i64 {
    i64::from(a.until(b).unwrap().get_days())
}

/// The rows, read back plainly.
struct Rows {
    /// id → (due, paid_on, amount, paid amount)
    invoices: HashMap<i64, (Date, Option<Date>, i64, i64)>,
    /// (id, invoice, sent day, step, channel, receipt)
    notices: Vec<(i64, i64, Date, String, String, Option<String>)>,
}

async fn rows(db: &regua::store::Db) -> Rows {
    let mut conn = db.pool.acquire().await.unwrap();
    let invoices = sqlx::query(
        "SELECT id, due_date, paid_on, amount_cents, COALESCE(paid_amount_cents, 0) FROM invoices WHERE status <> 'cancelled'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let paid: Option<String> = r.get(2);
        (
            r.get::<i64, _>(0),
            (
                r.get::<String, _>(1).parse().unwrap(),
                paid.map(|p| p.parse().unwrap()),
                r.get(3),
                r.get(4),
            ),
        )
    })
    .collect();
    let tz = jiff::tz::TimeZone::get("America/Sao_Paulo").unwrap();
    let notices = sqlx::query(
        "SELECT id, invoice_id, sent_at, dedup_key, channel, receipt FROM notices WHERE status = 'sent' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let key: String = r.get(3);
        let parts: Vec<&str> = key.split(':').collect();
        (
            r.get(0),
            r.get(1),
            jiff::Timestamp::from_millisecond(r.get(2))
                .unwrap()
                .to_zoned(tz.clone())
                .date(),
            format!("{}:{}", parts[0], parts[2]),
            r.get(4),
            r.get(5),
        )
    })
    .collect();
    Rows { invoices, notices }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_match_a_direct_computation_over_the_same_rows() {
    for t in each_backend().await {
        let label = t.label;
        common::history::history(&t.db).await;
        let refresh = regua_at(
            &t.url,
            TODAY,
            &["analytics", "refresh", "--from", "2026-01-01"],
            &[],
        );
        assert!(
            refresh.status.success(),
            "{label}: {}",
            output_text(&refresh)
        );
        assert!(
            output_text(&refresh).starts_with("refreshed 2026-01-01..2026-06-30: "),
            "{}",
            output_text(&refresh)
        );
        let (from, to) = (date(2026, 2, 1), date(2026, 4, 30));
        let out = regua_at(
            &t.url,
            TODAY,
            &[
                "analytics",
                "steps",
                "--from",
                "2026-02-01",
                "--to",
                "2026-04-30",
                "--json",
            ],
            &[],
        );
        assert!(out.status.success(), "{label}: {}", output_text(&out));
        let shown: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let r = rows(&t.db).await;

        // Direct: per step and channel, the notices sent in the period and what followed.
        let mut last_touch: HashMap<i64, (Date, i64)> = HashMap::new();
        for (id, inv, day, ..) in &r.notices {
            if let Some((_, Some(paid), ..)) = r.invoices.get(inv)
                && day <= paid
            {
                let e = last_touch.entry(*inv).or_insert((*day, *id));
                if (*day, *id) > *e {
                    *e = (*day, *id);
                }
            }
        }
        let mut expected: BTreeMap<(String, String), [i64; 8]> = BTreeMap::new();
        let mut days_to_pay: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
        for (id, inv, day, step, channel, receipt) in &r.notices {
            if *day < from || *day > to {
                continue;
            }
            let (_, paid, _, paid_amount) = r.invoices[inv];
            let e = expected.entry((step.clone(), channel.clone())).or_default();
            e[0] += 1;
            let delivered = match channel.as_str() {
                "sms" => matches!(receipt.as_deref(), Some("delivered" | "read")),
                _ => true,
            };
            e[1] += i64::from(delivered);
            e[2] += i64::from(receipt.as_deref() == Some("read"));
            if let Some(p) = paid {
                let d = diff(*day, p);
                if (0..=90).contains(&d) {
                    e[3] += i64::from(d <= 1);
                    e[4] += i64::from(d <= 3);
                    e[5] += i64::from(d <= 7);
                    days_to_pay
                        .entry((step.clone(), channel.clone()))
                        .or_default()
                        .push(d);
                }
                if last_touch.get(inv) == Some(&(*day, *id)) {
                    e[6] += 1;
                    e[7] += paid_amount;
                }
            }
        }
        assert_eq!(shown.len(), expected.len(), "{label}");
        assert!(expected.len() >= 5, "steps × channels: {expected:?}");
        for f in &shown {
            let key = (
                f["step"].as_str().unwrap().to_string(),
                f["channel"].as_str().unwrap().to_string(),
            );
            let e = expected[&key];
            let got = [
                "sent",
                "delivered",
                "read",
                "paid_1",
                "paid_3",
                "paid_7",
                "recovered",
                "recovered_cents",
            ]
            .map(|k| f[k].as_i64().unwrap());
            assert_eq!(got, e, "{label} {key:?}");
            let mut days = days_to_pay.get(&key).cloned().unwrap_or_default();
            days.sort();
            let median = (!days.is_empty()).then(|| days[days.len().div_ceil(2) - 1]);
            assert_eq!(f["median_days"].as_i64(), median, "{label} {key:?}");
        }
        // The API answers the same figures, and refuses a bad filter naming it.
        let token = {
            let mut conn = t.db.pool.acquire().await.unwrap();
            regua::store::auth::insert_api_key(
                &mut conn,
                "bi",
                &[regua::web::auth::Permission::View],
                0,
            )
            .await
            .unwrap()
            .1
        };
        let shown_ref = &shown;
        with_server_at(&t.db, TODAY, |addr| async move {
            let (status, body) = common::http::json_call(
                addr,
                "GET",
                "/api/v1/analytics/steps?from=2026-02-01&to=2026-04-30",
                &token,
                None,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let api = body["steps"].as_array().unwrap();
            assert_eq!(api.len(), shown_ref.len());
            for (a, c) in api.iter().zip(shown_ref) {
                for k in [
                    "step",
                    "channel",
                    "sent",
                    "paid_7",
                    "recovered_cents",
                    "median_days",
                ] {
                    assert_eq!(a[k], c[k], "{k}");
                }
                assert!(a["label"].as_str().unwrap().starts_with(
                    if c["step"].as_str().unwrap().starts_with("rule") {
                        "Regra: "
                    } else {
                        "Faixa de atraso "
                    }
                ));
            }
            let (status, body) = common::http::json_call(
                addr,
                "GET",
                "/api/v1/analytics/curves?from=2026-02-01&to=2026-04-30",
                &token,
                None,
            )
            .await;
            assert_eq!(status, 200);
            assert_eq!(body["months"].as_array().unwrap().len(), 3);
            assert_eq!(
                body["months"][0]["paid_by_day_permille"]
                    .as_array()
                    .unwrap()
                    .len(),
                101
            );
            let (status, body) = common::http::json_call(
                addr,
                "GET",
                "/api/v1/analytics/overdue?from=2026-04-31",
                &token,
                None,
            )
            .await;
            assert_eq!(
                (status, body["field"].as_str()),
                (422, Some("from")),
                "{body}"
            );
        })
        .await;

        // The amount recovered, once per paid invoice whose last notice fell in the period.
        let recovered: i64 = shown.iter().map(|f| f["recovered"].as_i64().unwrap()).sum();
        let direct = last_touch
            .values()
            .filter(|(d, _)| *d >= from && *d <= to)
            .count();
        assert_eq!(recovered, i64::try_from(direct).unwrap(), "{label}");

        // The base rate: open invoices of each age, each day, with no notice in the 7 days up
        // to it; paid within 7 days.
        let mut base: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let mut day = from;
        while day <= to {
            for (inv, (due, paid, ..)) in &r.invoices {
                let age = diff(*due, day);
                if !(-10..=90).contains(&age) || paid.is_some_and(|p| p < day) {
                    continue;
                }
                let told = r
                    .notices
                    .iter()
                    .any(|n| n.1 == *inv && (0..=7).contains(&diff(n.2, day)));
                if told {
                    continue;
                }
                let e = base.entry(age).or_default();
                e.0 += 1;
                e.1 += i64::from(paid.is_some_and(|p| (0..=7).contains(&diff(day, p))));
            }
            day = day.tomorrow().unwrap();
        }
        let filter = regua::store::analytics::Filter {
            from,
            to,
            method: None,
            wallet: None,
            channel: None,
        };
        let mut conn = t.db.pool.acquire().await.unwrap();
        let stored = regua::store::analytics::base_by_age(&mut conn, &filter)
            .await
            .unwrap();
        assert_eq!(stored, base, "{label}");

        // The curves: each due month's invoices, paid by each day relative to the due date.
        let curves = regua::store::analytics::curves(&mut conn, &filter)
            .await
            .unwrap();
        assert_eq!(
            curves.iter().map(|c| c.month.as_str()).collect::<Vec<_>>(),
            ["2026-02", "2026-03", "2026-04"],
            "{label}"
        );
        let today: Date = TODAY.parse().unwrap();
        for c in &curves {
            let month: Date = format!("{}-01", c.month).parse().unwrap();
            let of_month: Vec<_> = r
                .invoices
                .values()
                .filter(|(due, ..)| due.first_of_month() == month)
                .collect();
            assert_eq!(c.issued, i64::try_from(of_month.len()).unwrap(), "{label}");
            let overdue = of_month
                .iter()
                .filter(|(due, paid, ..)| paid.is_none() && *due < today)
                .count();
            assert_eq!(c.overdue, i64::try_from(overdue).unwrap(), "{label}");
            for rel in [-10i64, -1, 0, 3, 7, 30, 90] {
                let paid = of_month
                    .iter()
                    .filter(|(due, paid, ..)| paid.is_some_and(|p| diff(*due, p) <= rel))
                    .count();
                let i = usize::try_from(rel + 10).unwrap();
                assert_eq!(
                    c.paid_by_day_permille[i],
                    i64::try_from(paid).unwrap() * 1000 / c.issued,
                    "{label} {} day {rel}",
                    c.month
                );
            }
        }

        // Overdue by band on a few days: open at the start of the day and past due.
        let by_band = regua::store::analytics::overdue_by_band(&mut conn, &filter)
            .await
            .unwrap();
        for d in [date(2026, 2, 11), date(2026, 3, 20), date(2026, 4, 30)] {
            let mut direct: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
            for (due, paid, amount, _) in r.invoices.values() {
                let over = diff(*due, d);
                if over < 1 || paid.is_some_and(|p| p < d) {
                    continue;
                }
                let band = match over {
                    1..=15 => "1",
                    16..=60 => "2",
                    _ => "0",
                };
                let e = direct.entry(band).or_default();
                e.0 += 1;
                e.1 += amount;
            }
            let stored: BTreeMap<&str, (i64, i64)> = by_band
                .iter()
                .filter(|(day, ..)| *day == d.to_string())
                .map(|(_, band, n, cents)| {
                    let b = match *band {
                        0 => "0",
                        b if b
                            == by_band
                                .iter()
                                .map(|x| x.1)
                                .filter(|x| *x > 0)
                                .min()
                                .unwrap() =>
                        {
                            "1"
                        }
                        _ => "2",
                    };
                    (b, (*n, *cents))
                })
                .collect();
            assert_eq!(stored, direct, "{label} {d}");
        }
    }
}

/// The page is computed once per refresh and filter: a refresh shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_a_new_refresh_at_once() {
    let t = sqlite().await;
    common::history::history(&t.db).await;
    add_admin(&t.db).await;
    let db = t.db.clone();
    with_server_at(&t.db, TODAY, |addr| async move {
        let session = common::http::staff_session(addr, "admin", "senha-forte-123").await;
        let before = common::http::http(addr, "GET", "/resultados", &session, "").await;
        assert_eq!(before.status, 200);
        assert!(before.body.contains("ainda não foram calculados"));
        assert!(before.body.contains("Nenhum aviso enviado no período."));
        regua::analytics::refresh(
            &db,
            &clock_on(TODAY),
            "2026-01-01".parse().unwrap(),
            TODAY.parse().unwrap(),
            "test",
        )
        .await
        .unwrap();
        let after = common::http::http(addr, "GET", "/resultados", &session, "").await;
        assert!(
            after.body.contains("Números atualizados em"),
            "{}",
            after.body
        );
        assert!(
            after
                .body
                .contains("Regra: 3 dia(s) antes do vencimento (Boleto BB)")
        );
        assert!(!after.body.contains("Nenhum aviso enviado no período."));
        // A date that cannot be read: 400, the field named, the default period shown.
        let bad = common::http::http(addr, "GET", "/resultados?de=31/02/2026", &session, "").await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("De: "), "{}", bad.body);
    })
    .await;
}

/// The what-if replays the planner: a new rule 10 days after the due date adds, on each of the
/// last 30 days, one e-mail per invoice due 10 days before that day, issued by then and still
/// open — counted here directly. The CLI and the page show it and save nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_what_if_adds_what_a_new_rule_would_have_sent() {
    let t = sqlite().await;
    common::history::history(&t.db).await;
    // A day inside the history: its last 30 days hold invoices due 10 days before.
    let day = "2026-04-30";
    let today: Date = day.parse().unwrap();
    let mut conn = t.db.pool.acquire().await.unwrap();
    let method: i64 = sqlx::query_scalar("SELECT MIN(id) FROM billing_methods")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let invoices: Vec<(Date, Date, Option<Date>)> =
        sqlx::query("SELECT due_date, issue_date, paid_on FROM invoices")
            .fetch_all(&mut *conn)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                let paid: Option<String> = r.get(2);
                (
                    r.get::<String, _>(0).parse().unwrap(),
                    r.get::<String, _>(1).parse().unwrap(),
                    paid.map(|p| p.parse().unwrap()),
                )
            })
            .collect();
    drop(conn);
    let rule = regua::domain::rules::SendRule {
        id: regua::domain::rules::RuleId(0),
        method: regua::domain::BillingMethodId(method),
        kind: regua::domain::rules::RuleKind::AfterDue,
        days: 10,
        layout: regua::domain::LayoutId(0),
        channels: regua::domain::rules::ChannelPlan::default(),
    };
    let w = regua::dunning::what_if::what_if(
        &t.db,
        &clock_on(day),
        &regua::dunning::what_if::Change::AddRule(rule),
        30,
    )
    .await
    .unwrap();
    assert_eq!(w.days.len(), 30);
    assert_eq!(w.days[0].day, date(2026, 3, 31));
    assert_eq!(w.days[29].day, today.yesterday().unwrap());
    let mut total = 0;
    for d in &w.days {
        let direct = invoices
            .iter()
            .filter(|(due, issued, paid)| {
                diff(*due, d.day) == 10 && *issued <= d.day && paid.is_none_or(|p| p >= d.day)
            })
            .count() as i64;
        assert_eq!(d.delta("email"), direct, "{}", d.day);
        assert_eq!(d.delta("sms"), 0);
        total += direct;
    }
    assert!(total > 5, "{total}");
    assert_eq!(w.totals().get("email"), Some(&total));
    // No e-mail account: a capacity of 0, so every day with more is over it.
    assert_eq!(w.capacity.get("email"), Some(&Some(0)));

    // The CLI: the same total, nothing saved.
    let out = regua_at(
        &t.url,
        day,
        &[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "after_due",
            "--days",
            "10",
            "--what-if",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains(&format!("total\temail\t+{total}\t")),
        "{text}"
    );
    assert!(text.ends_with("nothing was saved\n"), "{text}");
    let rules = regua_at(&t.url, day, &["rule", "list"], &[]);
    assert_eq!(
        output_text(&rules).lines().count(),
        3,
        "header and the two rules"
    );

    // The page: "Simular o último mês" beside "Adicionar regra".
    add_admin(&t.db).await;
    with_server_at(&t.db, day, |addr| async move {
        let session = common::http::staff_session(addr, "admin", "senha-forte-123").await;
        let page = common::http::http(addr, "GET", "/configuracoes/regua", &session, "").await;
        assert!(page.body.contains("Simular o último mês"));
        let form = format!(
            "_csrf={}&method=Boleto+BB&kind=after_due&days=10&layout=&channel1=email&mode=first&simular=1",
            common::http::enc(&page.field("_csrf"))
        );
        let r = common::http::http(addr, "POST", "/configuracoes/regua/regras", &session, &form)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Simulação: regra"), "{}", r.body);
        assert!(r.body.contains("Nada foi salvo."));
        assert!(
            r.body.contains(&format!("e-mail: +{total} mensagens no período")),
            "{}",
            r.body
        );
        assert!(r.body.contains("id=\"what-if-days\""));
    })
    .await;
    let rules = regua_at(&t.url, day, &["rule", "list"], &[]);
    assert_eq!(
        output_text(&rules).lines().count(),
        3,
        "the page saved nothing"
    );

    // Removing the rule 5 days after the due date: fewer messages, never more; nothing removed.
    let mut conn = t.db.pool.acquire().await.unwrap();
    let after_5: i64 =
        sqlx::query_scalar("SELECT id FROM send_rules WHERE kind = 'after_due' AND days = 5")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    drop(conn);
    let w = regua::dunning::what_if::what_if(
        &t.db,
        &clock_on(day),
        &regua::dunning::what_if::Change::RemoveRule(regua::domain::rules::RuleId(after_5)),
        30,
    )
    .await
    .unwrap();
    assert!(
        w.days
            .iter()
            .all(|d| d.delta("email") <= 0 && d.delta("sms") <= 0)
    );
    let fewer = w.totals().values().sum::<i64>();
    assert!(fewer < 0, "{fewer}");
    let out = regua_at(
        &t.url,
        day,
        &["rule", "remove", &after_5.to_string(), "--what-if"],
        &[],
    );
    assert!(
        output_text(&out).contains(&format!("total\temail\t{}\t", w.totals()["email"])),
        "{}",
        output_text(&out)
    );
    let missing = regua_at(&t.url, day, &["rule", "remove", "999", "--what-if"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(output_text(&missing), "no rule 999\n");
    with_server_at(&t.db, day, |addr| async move {
        let session = common::http::staff_session(addr, "admin", "senha-forte-123").await;
        let page = common::http::http(addr, "GET", "/configuracoes/regua", &session, "").await;
        assert!(page.body.contains("Simular remoção"));
        let form = format!(
            "_csrf={}&simular=1",
            common::http::enc(&page.field("_csrf"))
        );
        let r = common::http::http(
            addr,
            "POST",
            &format!("/configuracoes/regua/regras/{after_5}/remover"),
            &session,
            &form,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body
                .contains(&format!("Simulação: remoção da regra {after_5}"))
        );
        assert!(r.body.contains("Nada foi salvo."));
    })
    .await;
    let rules = regua_at(&t.url, day, &["rule", "list"], &[]);
    assert_eq!(output_text(&rules).lines().count(), 3, "nothing removed");
}
