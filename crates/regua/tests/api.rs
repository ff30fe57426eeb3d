//! The REST API over real HTTP: keys and permissions, every endpoint with bad input, and
//! idempotent retries.

mod common;

use std::net::SocketAddr;

use common::*;
use regua::store;
use regua::web::auth::Permission;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Resp {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n");
    if !key.is_empty() {
        req.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    if method == "POST" || method == "PUT" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = headers.split(' ').nth(1).unwrap().parse().unwrap();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

async fn key(db: &store::Db, name: &str, perms: &[Permission]) -> String {
    let mut conn = db.pool.acquire().await.unwrap();
    store::auth::insert_api_key(&mut conn, name, perms, 0)
        .await
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reads_acts_refuses_and_replays() {
    for t in each_backend().await {
        let db = t.db.clone();
        open_invoices(&db, 2).await;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        sink_account(&db, "Principal", sink.port(), AccountSetup::default()).await;
        let mut conn = db.pool.acquire().await.unwrap();
        store::parties::set_setting(
            &mut conn,
            store::accounts::SETTING_FINANCIAL_ACCOUNT,
            "Principal",
        )
        .await
        .unwrap();
        drop(conn);
        let reader = key(&db, "erp-leitura", &[Permission::View]).await;
        let full = key(
            &db,
            "erp",
            &[Permission::View, Permission::Send, Permission::EditBilling],
        )
        .await;
        let revoked = key(&db, "antiga", &[Permission::View]).await;
        let mut conn = db.pool.acquire().await.unwrap();
        assert!(
            store::auth::revoke_api_key(&mut conn, "antiga", 0)
                .await
                .unwrap()
        );
        drop(conn);
        let label = t.label;
        let reader2 = reader.clone();
        with_server(&t.db, |addr| async move {
            // Every route refuses anonymous, unknown and revoked keys.
            for (method, path) in [
                ("GET", "/api/v1/customers"),
                ("GET", "/api/v1/customers/C1"),
                ("GET", "/api/v1/invoices"),
                ("GET", "/api/v1/invoices/K1%2F2026-01"),
                ("GET", "/api/v1/invoices/K1%2F2026-01/boleto.pdf"),
                ("POST", "/api/v1/invoices/K1%2F2026-01/paid"),
                ("POST", "/api/v1/invoices/K1%2F2026-01/send"),
                ("POST", "/api/v1/contracts/K1/generate"),
                ("GET", "/api/v1/notices"),
                ("POST", "/api/v1/dry-run"),
                ("POST", "/api/v1/customers"),
                ("PUT", "/api/v1/customers/C1"),
                ("POST", "/api/v1/contracts"),
                ("GET", "/api/v1/contracts/K1"),
                ("PUT", "/api/v1/contracts/K1"),
                ("POST", "/api/v1/invoices"),
                ("PUT", "/api/v1/invoices/K1%2F2026-01"),
                ("POST", "/api/v1/invoices/K1%2F2026-01/cancel"),
            ] {
                for k in ["", "rg_wrong", revoked.as_str()] {
                    let r = call(addr, method, path, k, &[], Some(&json!({}))).await;
                    assert_eq!(r.status, 401, "{label} {method} {path} with {k:?}");
                    assert_eq!(r.json()["code"], "unauthorized");
                }
            }
            // The document is public.
            let doc = call(addr, "GET", "/api/v1/openapi.json", "", &[], None)
                .await
                .json();
            assert_eq!(doc["openapi"], "3.1.0");
            for p in [
                "/customers",
                "/invoices/{id}/send",
                "/contracts/{id}/generate",
                "/contracts/{id}/suspensions",
                "/notices",
                "/dry-run",
            ] {
                assert!(doc["paths"][p].is_object(), "{p}");
            }
            // Every documented operation refuses a call without a key too.
            let mut documented = 0;
            for (p, ops) in doc["paths"].as_object().unwrap() {
                for method in ops.as_object().unwrap().keys() {
                    let path = format!("/api/v1{}", p.replace("{id}", "K1"));
                    let r = call(
                        addr,
                        &method.to_uppercase(),
                        &path,
                        "",
                        &[],
                        Some(&json!({})),
                    )
                    .await;
                    assert_eq!(r.status, 401, "{label} {method} {path}");
                    documented += 1;
                }
            }
            assert_eq!(documented, 31, "{label}: every route is documented");

            // Reading.
            let r = call(
                addr,
                "GET",
                "/api/v1/customers?search=maria",
                &reader,
                &[],
                None,
            )
            .await;
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["customers"][0]["id"], "C1");
            assert_eq!(r.json()["customers"][0]["mobile_phone"], "+5511987654321");
            assert_eq!(
                call(addr, "GET", "/api/v1/customers/NOPE", &reader, &[], None)
                    .await
                    .status,
                404
            );
            let bad = call(
                addr,
                "GET",
                "/api/v1/customers?per_page=1000",
                &reader,
                &[],
                None,
            )
            .await;
            assert_eq!(
                (bad.status, bad.json()["field"].clone()),
                (422, json!("per_page"))
            );
            let r = call(
                addr,
                "GET",
                "/api/v1/invoices?customer=C1&status=open",
                &reader,
                &[],
                None,
            )
            .await;
            let list = r.json()["invoices"].as_array().unwrap().clone();
            assert_eq!(list.len(), 2);
            assert_eq!(list[0]["id"], "K1/2026-02", "latest due first");
            assert_eq!(list[0]["amount_cents"], 11990);
            for (q, field) in [
                ("status=late", "status"),
                ("due_from=31%2F02%2F2026", "due_from"),
                ("customer=NOPE", "customer"),
            ] {
                let r = call(
                    addr,
                    "GET",
                    &format!("/api/v1/invoices?{q}"),
                    &reader,
                    &[],
                    None,
                )
                .await;
                assert_eq!(
                    (r.status, r.json()["field"].clone()),
                    (422, json!(field)),
                    "{q}"
                );
            }
            let inv = call(
                addr,
                "GET",
                "/api/v1/invoices/K1%2F2026-01",
                &reader,
                &[],
                None,
            )
            .await
            .json();
            assert_eq!(inv["due_date"], "2026-01-10");
            let pdf = call(
                addr,
                "GET",
                "/api/v1/invoices/K1%2F2026-01/boleto.pdf",
                &reader,
                &[],
                None,
            )
            .await;
            assert!(
                pdf.headers.contains("content-type: application/pdf")
                    && pdf.body.starts_with(b"%PDF-")
            );

            // Permissions: a reading key cannot act.
            for path in [
                "/api/v1/invoices/K1%2F2026-01/send",
                "/api/v1/invoices/K1%2F2026-01/paid",
                "/api/v1/contracts/K1/generate",
            ] {
                let r = call(
                    addr,
                    "POST",
                    path,
                    &reader,
                    &[],
                    Some(&json!({"months": 1})),
                )
                .await;
                assert_eq!(
                    (r.status, r.json()["code"].clone()),
                    (403, json!("forbidden")),
                    "{path}"
                );
            }

            // Send now, retried with the same Idempotency-Key: one notice, the first answer again.
            let idem = [("Idempotency-Key", "envio-123")];
            let first = call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-01/send",
                &full,
                &idem,
                None,
            )
            .await;
            assert_eq!(first.status, 202);
            let again = call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-01/send",
                &full,
                &idem,
                None,
            )
            .await;
            assert_eq!(again.status, 202);
            assert!(again.headers.contains("idempotent-replayed: true"));
            assert_eq!(again.json(), first.json());
            let reused = call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-02/send",
                &full,
                &idem,
                None,
            )
            .await;
            assert_eq!(
                (reused.status, reused.json()["code"].clone()),
                (422, json!("idempotency_key_reused"))
            );
            // Without a key, two sends are two notices.
            call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-02/send",
                &full,
                &[],
                None,
            )
            .await;

            // Generate: bad input names the field; idempotent by month anyway.
            for (body, field) in [
                (json!({}), "months"),
                (json!({"months": "três"}), "months"),
                (json!({"months": 99}), "months"),
            ] {
                let r = call(
                    addr,
                    "POST",
                    "/api/v1/contracts/K1/generate",
                    &full,
                    &[],
                    Some(&body),
                )
                .await;
                assert_eq!(r.status, 422, "{body}");
                assert_eq!(
                    r.json()["field"],
                    field,
                    "{body}: {}",
                    String::from_utf8_lossy(&r.body)
                );
            }
            let g = call(
                addr,
                "POST",
                "/api/v1/contracts/K1/generate",
                &full,
                &[("Idempotency-Key", "gen-1")],
                Some(&json!({"months": 3})),
            )
            .await;
            assert_eq!(g.status, 201);
            assert_eq!(
                g.json()["created"].as_array().unwrap().len(),
                1,
                "January and February exist"
            );
            assert_eq!(
                call(
                    addr,
                    "POST",
                    "/api/v1/contracts/NOPE/generate",
                    &full,
                    &[],
                    Some(&json!({"months": 1}))
                )
                .await
                .status,
                404
            );

            // Mark paid, then a second time: 409.
            let paid = call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-01/paid",
                &full,
                &[],
                Some(&json!({"paid_on": "2026-01-09"})),
            )
            .await;
            assert_eq!(paid.status, 200);
            assert_eq!(paid.json()["status"], "paid");
            assert_eq!(paid.json()["paid_amount_cents"], 11990);
            let twice = call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-01/paid",
                &full,
                &[],
                Some(&json!({})),
            )
            .await;
            assert_eq!(
                (twice.status, twice.json()["code"].clone()),
                (409, json!("not_open"))
            );
            let bad = call(
                addr,
                "POST",
                "/api/v1/invoices/K1%2F2026-02/paid",
                &full,
                &[],
                Some(&json!({"paid_on": "ontem"})),
            )
            .await;
            assert_eq!(
                (bad.status, bad.json()["field"].clone()),
                (422, json!("paid_on"))
            );

            // Dry run.
            let d = call(
                addr,
                "POST",
                "/api/v1/dry-run",
                &reader,
                &[],
                Some(&json!({"date": "2026-01-07"})),
            )
            .await;
            assert_eq!(d.status, 200);
            assert_eq!(d.json()["date"], "2026-01-07");
            let bad = call(
                addr,
                "POST",
                "/api/v1/dry-run",
                &reader,
                &[],
                Some(&json!({"date": "amanhã"})),
            )
            .await;
            assert_eq!(
                (bad.status, bad.json()["field"].clone()),
                (422, json!("date"))
            );
        })
        .await;
        // Two notices queued (the retry made none); K1/2026-01 was paid meanwhile, so its notice
        // was skipped with the payment (issue #20) and the worker sends the other. The log
        // shows each, by invoice.
        let mut conn = db.pool.acquire().await.unwrap();
        let counts = store::outbox::count_notices_by_status(&mut conn)
            .await
            .unwrap();
        assert_eq!(counts.get("queued"), Some(&1), "{label}: {counts:?}");
        assert_eq!(counts.get("skipped"), Some(&1), "{label}: {counts:?}");
        drop(conn);
        worker_at(&db, &clock_on("2026-01-07"))
            .drain(|_| {})
            .await
            .unwrap();
        assert_eq!(sink.count(), 1);
        with_server(&db, |addr| async move {
            let r = call(
                addr,
                "GET",
                "/api/v1/notices?invoice=K1%2F2026-01",
                &reader2,
                &[],
                None,
            )
            .await;
            let attempts = r.json()["attempts"].as_array().unwrap().clone();
            assert_eq!(attempts.len(), 1);
            assert_eq!(attempts[0]["outcome"], "skipped");
            assert!(
                attempts[0]["reply"]
                    .as_str()
                    .unwrap()
                    .starts_with("fatura paga em 09/01/2026")
            );
            assert_eq!(attempts[0]["caused_by"], "api: erp");
            let r = call(
                addr,
                "GET",
                "/api/v1/notices?status=lost",
                &reader2,
                &[],
                None,
            )
            .await;
            assert_eq!(
                (r.status, r.json()["field"].clone()),
                (422, json!("status"))
            );
        })
        .await;
    }
}

#[test]
fn regua_apikey_add_prints_a_key_once_and_list_never_shows_it() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let t = rt.block_on(sqlite());
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(args)
            .env("REGUA_DATABASE_URL", &t.url)
            .output()
            .unwrap()
    };
    let out = run(&[
        "apikey",
        "add",
        "--name",
        "erp",
        "--permissions",
        "view,send",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let token = text
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("key: ")
        .unwrap()
        .to_string();
    assert!(token.starts_with("rg_") && token.len() > 40);
    assert_eq!(
        run(&["apikey", "add", "--name", "x", "--permissions", "root"])
            .status
            .code(),
        Some(2)
    );
    let list = String::from_utf8(run(&["apikey", "list"]).stdout).unwrap();
    assert_eq!(list, "name\tpermissions\tstatus\nerp\tview,send\tactive\n");
    assert!(!list.contains(&token));
    assert!(run(&["apikey", "revoke", "erp"]).status.success());
    assert_eq!(run(&["apikey", "revoke", "erp"]).status.code(), Some(2));
    rt.block_on(async {
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert!(
            store::auth::api_key_for_token(&mut conn, &token)
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_contracts_and_invoices_are_created_updated_and_cancelled() {
    for t in each_backend().await {
        let db = t.db.clone();
        add_bb_wallet_and_method(&db).await;
        let reader = key(&db, "leitura", &[Permission::View]).await;
        let erp = key(&db, "erp", &[Permission::View, Permission::EditBilling]).await;
        let label = t.label;
        with_server(&t.db, |addr| async move {
            let post = |path: &'static str, body: Value| {
                let erp = erp.clone();
                async move { call(addr, "POST", path, &erp, &[], Some(&body)).await }
            };
            let maria = json!({"id": "C7", "name": "Maria Souza", "document": "529.982.247-25", "email": "maria@exemplo.com.br", "mobile_phone": "(11) 98765-4321"});
            let r = call(addr, "POST", "/api/v1/customers", &reader, &[], Some(&maria)).await;
            assert_eq!(r.status, 403, "{label}: creating needs billing");
            // Bad input: 422 naming the field, nothing saved.
            for (field, bad, message) in [
                ("document", json!("111.111.111-11"), "CPF ou CNPJ inválido."),
                ("email", json!("maria@"), "E-mail inválido."),
                ("mobile_phone", json!("123"), "Celular inválido (DDD e número)."),
                ("name", json!(" "), "Informe o nome."),
            ] {
                let mut body = maria.clone();
                body[field] = bad;
                let r = post("/api/v1/customers", body).await;
                assert_eq!(r.status, 422, "{label} {field}");
                assert_eq!(r.json()["field"], field, "{label}");
                assert_eq!(r.json()["message"], message, "{label}");
            }
            let mut typo = maria.clone();
            typo["emial"] = json!("x@y.com");
            let r = post("/api/v1/customers", typo).await;
            assert_eq!((r.status, r.json()["field"].clone()), (422, json!("emial")), "{label}: unknown fields are refused");
            let r = call(addr, "GET", "/api/v1/customers/C7", &erp, &[], None).await;
            assert_eq!(r.status, 404, "{label}: nothing was saved");
            // Created once; an Idempotency-Key retry replays; a second create is a conflict.
            let idem = [("Idempotency-Key", "cria-C7")];
            let r = call(addr, "POST", "/api/v1/customers", &erp, &idem, Some(&maria)).await;
            assert_eq!(r.status, 201, "{label}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.json()["mobile_phone"], "+5511987654321");
            let again = call(addr, "POST", "/api/v1/customers", &erp, &idem, Some(&maria)).await;
            assert_eq!(again.status, 201);
            assert!(again.headers.contains("idempotent-replayed: true"));
            let r = post("/api/v1/customers", maria.clone()).await;
            assert_eq!((r.status, r.json()["code"].clone()), (409, json!("exists")), "{label}");
            // Update replaces the fields; a different id in the body is refused.
            let r = call(addr, "PUT", "/api/v1/customers/C7", &erp, &[], Some(&json!({"name": "Maria S. Souza", "document": "52998224725", "email": "m.souza@exemplo.com.br"}))).await;
            assert_eq!(r.status, 200, "{label}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.json()["email"], "m.souza@exemplo.com.br");
            assert_eq!(r.json()["mobile_phone"], Value::Null, "left out, cleared");
            let r = call(addr, "PUT", "/api/v1/customers/C7", &erp, &[], Some(&json!({"id": "C8", "name": "X", "document": "52998224725"}))).await;
            assert_eq!((r.status, r.json()["field"].clone()), (422, json!("id")));
            let r = call(addr, "PUT", "/api/v1/customers/C9", &erp, &[], Some(&json!({"name": "X", "document": "52998224725"}))).await;
            assert_eq!(r.status, 404, "updating needs an existing customer");

            let k1 = json!({"id": "K7", "customer": "C7", "plan": "Fibra 600", "monthly_amount_cents": 12990, "due_day": 15, "billing_method": "Boleto BB", "delivery_type": "email"});
            for (field, bad) in [("due_day", json!(32)), ("monthly_amount_cents", json!(-1)), ("billing_method", json!("Pix")), ("customer", json!("C404")), ("delivery_type", json!("fax"))] {
                let mut body = k1.clone();
                body[field] = bad;
                let r = post("/api/v1/contracts", body).await;
                assert_eq!((r.status, r.json()["field"].clone()), (422, json!(field)), "{label}");
            }
            let mut wrong_type = k1.clone();
            wrong_type["due_day"] = json!("quinze");
            let r = post("/api/v1/contracts", wrong_type).await;
            assert_eq!((r.status, r.json()["field"].clone()), (422, json!("due_day")), "{label}: a wrong type names its field");
            let r = post("/api/v1/contracts", k1.clone()).await;
            assert_eq!(r.status, 201, "{label}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.json()["status"], "active");
            let mut changed = k1.clone();
            changed["monthly_amount_cents"] = json!(13990);
            changed["delivery_type"] = json!("printed");
            let r = call(addr, "PUT", "/api/v1/contracts/K7", &erp, &[], Some(&changed)).await;
            assert_eq!(r.status, 200);
            assert_eq!((r.json()["monthly_amount_cents"].clone(), r.json()["delivery_type"].clone()), (json!(13990), json!("printed")));
            let r = post("/api/v1/customers", json!({"id": "C8", "name": "Outro", "document": "11144477735"})).await;
            assert_eq!(r.status, 201);
            changed["customer"] = json!("C8");
            let r = call(addr, "PUT", "/api/v1/contracts/K7", &erp, &[], Some(&changed)).await;
            assert_eq!((r.status, r.json()["field"].clone()), (422, json!("customer")), "{label}: a contract keeps its customer");
            let r = call(addr, "GET", "/api/v1/contracts/K7", &reader, &[], None).await;
            assert_eq!((r.json()["customer"].clone(), r.json()["plan"].clone()), (json!("C7"), json!("Fibra 600")));

            let inv = json!({"id": "F-100", "contract": "K7", "amount_cents": 13990, "issue_date": "2026-01-05", "due_date": "2026-01-15"});
            let mut early = inv.clone();
            early["due_date"] = json!("2026-01-01");
            let r = post("/api/v1/invoices", early).await;
            assert_eq!((r.status, r.json()["field"].clone()), (422, json!("due_date")));
            let mut bad_date = inv.clone();
            bad_date["due_date"] = json!("2026-02-30");
            assert_eq!(post("/api/v1/invoices", bad_date).await.json()["field"], "due_date");
            let r = post("/api/v1/invoices", inv.clone()).await;
            assert_eq!(r.status, 201, "{label}: {}", String::from_utf8_lossy(&r.body));
            let created = r.json();
            assert_eq!((created["status"].clone(), created["customer"].clone(), created["delivery_type"].clone()), (json!("open"), json!("C7"), json!("printed")));
            assert!(created["our_number"].as_i64().unwrap() >= 1);
            let r = call(addr, "PUT", "/api/v1/invoices/F-100", &erp, &[], Some(&json!({"amount_cents": 10000, "due_date": "2026-01-20", "issue_date": "2026-01-05"}))).await;
            assert_eq!(r.status, 200, "{label}: {}", String::from_utf8_lossy(&r.body));
            assert_eq!((r.json()["amount_cents"].clone(), r.json()["due_date"].clone()), (json!(10000), json!("2026-01-20")));
            assert_eq!(r.json()["our_number"], created["our_number"], "the boleto keeps its nosso número");
            let cancel = |idem: &'static str| {
                let erp = erp.clone();
                async move { call(addr, "POST", "/api/v1/invoices/F-100/cancel", &erp, &[("Idempotency-Key", idem)], None).await }
            };
            let r = cancel("cancela-1").await;
            assert_eq!((r.status, r.json()["status"].clone()), (200, json!("cancelled")), "{label}");
            assert_eq!(cancel("cancela-2").await.status, 200, "cancelling twice is harmless");
            let r = call(addr, "PUT", "/api/v1/invoices/F-100", &erp, &[], Some(&json!({"amount_cents": 1, "due_date": "2026-01-20"}))).await;
            assert_eq!((r.status, r.json()["code"].clone()), (409, json!("not_open")), "{label}");
            let r = post("/api/v1/invoices", json!({"id": "F-101", "contract": "K7", "amount_cents": 500, "due_date": "2026-01-25", "issue_date": "2026-01-05"})).await;
            assert_eq!(r.status, 201);
            let r = call(addr, "POST", "/api/v1/invoices/F-101/paid", &erp, &[], Some(&json!({}))).await;
            assert_eq!(r.status, 200);
            let r = call(addr, "POST", "/api/v1/invoices/F-101/cancel", &erp, &[], None).await;
            assert_eq!((r.status, r.json()["code"].clone()), (409, json!("not_open")), "{label}: a paid invoice is not cancelled");
        })
        .await;
        let mut conn = db.pool.acquire().await.unwrap();
        let actions: Vec<String> =
            sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = 'api: erp' ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        assert_eq!(
            actions,
            [
                "customer.create",
                "customer.update",
                "contract.create",
                "contract.update",
                "customer.create",
                "invoice.create",
                "invoice.update",
                "invoice.cancel",
                "invoice.create",
                "invoice.paid"
            ],
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_terms_are_read_and_set_through_the_api_within_the_consumer_caps() {
    for t in each_backend().await {
        let label = t.label;
        add_bb_wallet_and_method(&t.db).await;
        let viewer = key(&t.db, "painel", &[Permission::View]).await;
        let erp = key(&t.db, "erp", &[Permission::View, Permission::EditBilling]).await;
        with_server(&t.db, |addr| async move {
            let (status, body) = common::http::json_call(addr, "GET", "/api/v1/wallets", &viewer, None).await;
            assert_eq!(status, 200, "{label}: {body}");
            assert_eq!(body["wallets"][0]["name"], "BB");
            assert_eq!(body["wallets"][0]["registration"], "erp");
            let path = "/api/v1/wallets/BB/terms";
            let terms = serde_json::json!({"registration": "cnab240", "fine_bp": 300, "interest_bp_month": 100});
            let (status, _) = common::http::json_call(addr, "PUT", path, &viewer, Some(&terms)).await;
            assert_eq!(status, 403, "{label}");
            // 3 % for consumers: refused, with the law's reason, nothing saved.
            let (status, body) = common::http::json_call(addr, "PUT", path, &erp, Some(&terms)).await;
            assert_eq!(status, 422, "{label}: {body}");
            assert_eq!(body["field"], "fine_bp", "{body}");
            assert!(body["message"].as_str().unwrap().contains("art. 52, § 1º"), "{body}");
            let (_, list) = common::http::json_call(addr, "GET", "/api/v1/wallets", &viewer, None).await;
            assert_eq!(list["wallets"][0]["fine_bp"], 0);
            // Within the caps it is saved; fields left out keep their value.
            let ok = serde_json::json!({"registration": "cnab240", "fine_bp": 200, "interest_bp_month": 100});
            let (status, body) = common::http::json_call(addr, "PUT", path, &erp, Some(&ok)).await;
            assert_eq!(status, 200, "{label}: {body}");
            assert_eq!((body["registration"].as_str(), body["fine_bp"].as_u64()), (Some("cnab240"), Some(200)));
            let (status, body) = common::http::json_call(addr, "PUT", path, &erp, Some(&serde_json::json!({"write_off_days": 30}))).await;
            assert_eq!(status, 200);
            assert_eq!((body["fine_bp"].as_u64(), body["write_off_days"].as_u64()), (Some(200), Some(30)));
            let bad = serde_json::json!({"registration": "fax"});
            assert_eq!(common::http::json_call(addr, "PUT", path, &erp, Some(&bad)).await.0, 422);
            assert_eq!(common::http::json_call(addr, "PUT", "/api/v1/wallets/Nenhuma/terms", &erp, Some(&ok)).await.0, 404);
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_bands_are_added_with_their_channels_through_the_api() {
    for t in each_backend().await {
        let label = t.label;
        add_bb_wallet_and_method(&t.db).await;
        let viewer = key(&t.db, "painel", &[Permission::View]).await;
        let erp = key(&t.db, "erp", &[Permission::View, Permission::ManageDunning]).await;
        with_server(&t.db, |addr| async move {
            let rule = json!({"method": "Boleto BB", "kind": "after_due", "days": 3, "channels": ["sms", "email"]});
            let (status, _) = common::http::json_call(addr, "POST", "/api/v1/rules", &viewer, Some(&rule)).await;
            assert_eq!(status, 403, "{label}");
            let (status, body) = common::http::json_call(addr, "POST", "/api/v1/rules", &erp, Some(&rule)).await;
            assert_eq!(status, 201, "{label}: {body}");
            assert_eq!(body["channels"], json!(["sms", "email"]));
            assert_eq!(body["mode"], "first");
            assert_eq!(body["layout"], "Lembrete após o vencimento");
            for (bad, field) in [
                (json!({"method": "Boleto BB", "kind": "on_due", "channels": ["email", "email"]}), "channels"),
                (json!({"method": "Boleto BB", "kind": "on_due", "channels": ["fax"]}), "channels"),
                (json!({"method": "Boleto BB", "kind": "on_due", "mode": "some"}), "mode"),
                (json!({"method": "Boleto BB", "kind": "soon"}), "kind"),
            ] {
                let (status, body) = common::http::json_call(addr, "POST", "/api/v1/rules", &erp, Some(&bad)).await;
                assert_eq!((status, body["field"].as_str()), (422, Some(field)), "{bad}: {body}");
            }
            let band = json!({"from_days": 1, "to_days": 10, "channels": ["push", "sms", "email"], "mode": "all"});
            let (status, body) = common::http::json_call(addr, "POST", "/api/v1/bands", &erp, Some(&band)).await;
            assert_eq!(status, 201, "{label}: {body}");
            assert_eq!((body["mode"].as_str(), body["letter"].as_bool()), (Some("all"), Some(false)));
            let letter = json!({"from_days": 11, "to_days": 20, "letter": true, "channels": ["sms"]});
            let (status, body) = common::http::json_call(addr, "POST", "/api/v1/bands", &erp, Some(&letter)).await;
            assert_eq!((status, body["field"].as_str()), (422, Some("channels")), "{body}");
            let (_, rules) = common::http::json_call(addr, "GET", "/api/v1/rules", &erp, None).await;
            assert_eq!(rules["rules"].as_array().unwrap().len(), 1, "nothing saved by the refused ones");
            let (_, bands) = common::http::json_call(addr, "GET", "/api/v1/bands", &erp, None).await;
            assert_eq!(bands["bands"][0]["channels"], json!(["push", "sms", "email"]));
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_confirms_what_it_did_on_the_suspension_clock() {
    for t in each_backend().await {
        let label = t.label;
        open_invoices(&t.db, 1).await;
        let viewer = key(&t.db, "painel", &[Permission::View]).await;
        let rede = key(&t.db, "rede", &[Permission::View, Permission::EditBilling]).await;
        with_server(&t.db, |addr| async move {
            let path = "/api/v1/contracts/K1/network-state";
            let body = |s: &str| serde_json::json!({"state": s});
            assert_eq!(
                common::http::json_call(addr, "POST", path, &viewer, Some(&body("active")))
                    .await
                    .0,
                403
            );
            let (status, b) =
                common::http::json_call(addr, "POST", path, &rede, Some(&body("paused"))).await;
            assert_eq!(
                (status, b["field"].as_str()),
                (422, Some("state")),
                "{label}: {b}"
            );
            // Nothing was due to be cut: a suspension does not fit.
            let (status, b) =
                common::http::json_call(addr, "POST", path, &rede, Some(&body("suspended"))).await;
            assert_eq!(status, 409, "{label}: {b}");
            assert!(b["message"].as_str().unwrap().contains("regular"), "{b}");
            let (status, b) =
                common::http::json_call(addr, "POST", path, &rede, Some(&body("active"))).await;
            assert_eq!(
                (status, b["state"].as_str()),
                (200, Some("regular")),
                "{label}: {b}"
            );
            assert_eq!(
                common::http::json_call(
                    addr,
                    "POST",
                    "/api/v1/contracts/K9/network-state",
                    &rede,
                    Some(&body("active"))
                )
                .await
                .0,
                404
            );
        })
        .await;
    }
}
