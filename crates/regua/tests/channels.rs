//! Suspension notices by e-mail, SMS and push, against real servers on loopback: an HTTP server
//! standing in for the SMS provider, Google's token endpoint and FCM (each request checked
//! exactly), and the SMTP test server for e-mail.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::stub::{Seen, Stub};
use common::*;
use regua::delivery::sms::GatewayInput;
use regua::delivery::{Channel, NoticeStatus};
use regua::domain::ContractStatus;
use regua::store::{self, Db, log::LogFilter};
use regua::suspension::{SuspendRequest, Suspended, plan_day, send_test, suspend};
use serde_json::{Value, json};

const TOKEN: &str = "s3cret-token-do-provedor";

async fn set(db: &Db, key: &str, value: &str) {
    let mut conn = db.pool.acquire().await.unwrap();
    store::parties::set_setting(&mut conn, key, value)
        .await
        .unwrap();
}

/// A gateway posting JSON to the stub's /sms, its token in a header, success when the reply
/// says "ok".
async fn add_gateway(db: &Db, stub: &Stub, hourly_limit: Option<u32>) {
    let input = GatewayInput {
        name: "Provedor SMS".into(),
        url: format!("{}/sms?conta=isp", stub.url()),
        method: "POST".into(),
        headers: vec![
            "Authorization: Bearer ${SMS_TOKEN}".into(),
            "X-Origem: regua".into(),
        ],
        body: Some(r#"{"to":"{{telefone_digitos}}","text":"{{mensagem}}"}"#.into()),
        success_contains: Some("\"ok\"".into()),
        hourly_limit,
        daily_limit: None,
    };
    let g = input
        .check(&|n| (n == "SMS_TOKEN").then(|| TOKEN.to_string()))
        .unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    store::channels::insert_sms_gateway(&mut conn, &g, Some(&test_key()), 0)
        .await
        .unwrap();
}

fn request(contract: &str, from: &str, to: &str) -> SuspendRequest {
    SuspendRequest {
        contract: contract.into(),
        from: from.parse().unwrap(),
        to: to.parse().unwrap(),
        reason: "Viagem".into(),
        actor: "test".into(),
    }
}

async fn suspend_on(db: &Db, req: &SuspendRequest, date: &str) -> Suspended {
    let clock = clock_on(date);
    let mut tx = db.begin().await.unwrap();
    let s = suspend(&mut tx, req, clock.today(), clock.now_millis())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    s
}

async fn drain(db: &Db, date: &str) {
    worker_at(db, &clock_on(date)).drain(|_| {}).await.unwrap();
}

async fn plan(db: &Db, date: &str) -> u64 {
    let clock = clock_on(date);
    plan_day(db, &clock, clock.today(), "routine: suspensões")
        .await
        .unwrap()
        .enqueued
}

/// The notices that tell of a suspension, oldest first.
async fn suspension_notices(db: &Db) -> Vec<regua::delivery::Notice> {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut all: Vec<_> = store::outbox::list_notices(&mut conn, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.suspension_id.is_some())
        .collect();
    all.reverse();
    all
}

async fn attempts_of(db: &Db, notice: regua::delivery::NoticeId) -> Vec<regua::delivery::Attempt> {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut all: Vec<_> = store::log::list_attempts(
        &mut conn,
        &LogFilter {
            limit: 1000,
            ..LogFilter::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|a| a.notice_id == notice)
    .collect();
    all.reverse();
    all
}

async fn contract_status(db: &Db, id: &str) -> ContractStatus {
    let mut conn = db.pool.acquire().await.unwrap();
    store::parties::find_contract_by_external_id(&mut conn, id)
        .await
        .unwrap()
        .unwrap()
        .status
}

fn ok_sms() -> Arc<common::stub::Reply> {
    Arc::new(|_: &Seen, n: usize| (200, format!(r#"{{"status":"ok","id":"m-{n}"}}"#)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_suspension_notices_reach_the_gateway_once_each() {
    for t in each_backend().await {
        let db = &t.db;
        open_invoices(db, 1).await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, Some(10)).await;
        set(db, store::settings::SETTING_SUSPENSION_METHOD, "sms").await;

        // Recorded on its first day: the "started" notice goes at once; the same request again
        // finds the same suspension and queues nothing.
        let req = request("K1", "2026-01-05", "2026-01-20");
        let Suspended::New(s) = suspend_on(db, &req, "2026-01-05").await else {
            panic!("{}: a new suspension", t.label)
        };
        assert_eq!(
            suspend_on(db, &req, "2026-01-05").await,
            Suspended::Exists(s.clone())
        );
        assert_eq!(contract_status(db, "K1").await, ContractStatus::Suspended);
        drain(db, "2026-01-05").await;

        let sent = stub.on("/sms");
        assert_eq!(sent.len(), 1, "{}", t.label);
        let r = &sent[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.query, "conta=isp");
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(r.headers["x-origem"], "regua");
        assert_eq!(r.headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 2, "{}", r.body);
        assert_eq!(body["to"], "5511987654321");
        // The company and the layout's subject, in GSM-7: one SMS.
        let company = {
            let mut conn = db.pool.acquire().await.unwrap();
            store::parties::company_profile(&mut conn)
                .await
                .unwrap()
                .name
        };
        assert_eq!(
            body["text"],
            format!("{company}: Seu servico esta suspenso temporariamente até 20/01/2026")
        );

        // The routine on later days: "ending" three days before the end, "ended" the day after;
        // each day's second run adds nothing.
        assert_eq!(plan(db, "2026-01-05").await, 0);
        assert_eq!(plan(db, "2026-01-16").await, 0);
        assert_eq!(plan(db, "2026-01-17").await, 1);
        assert_eq!(plan(db, "2026-01-17").await, 0);
        drain(db, "2026-01-17").await;
        assert_eq!(plan(db, "2026-01-21").await, 1);
        assert_eq!(contract_status(db, "K1").await, ContractStatus::Active);
        assert_eq!(plan(db, "2026-01-21").await, 0);
        drain(db, "2026-01-21").await;
        assert_eq!(plan(db, "2026-01-22").await, 0);

        let notices = suspension_notices(db).await;
        let keys: Vec<&str> = notices.iter().map(|n| n.dedup_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                format!("suspensao:{}:inicio", s.id),
                format!("suspensao:{}:termino", s.id),
                format!("suspensao:{}:fim", s.id),
            ],
            "{}",
            t.label
        );
        for n in &notices {
            assert_eq!(n.status, NoticeStatus::Sent, "{}: {n:?}", t.label);
            assert_eq!(n.channel, Channel::Sms);
            let a = attempts_of(db, n.id).await;
            assert_eq!(a.len(), 1);
            assert_eq!(a[0].reply_code, Some(200));
            assert_eq!(a[0].recipient, "+5511987654321");
        }
        assert_eq!(stub.on("/sms").len(), 3);
        let ended: Value = serde_json::from_str(&stub.on("/sms")[2].body).unwrap();
        assert_eq!(
            ended["text"],
            format!("{company}: Seu servico foi restabelecido")
        );

        // The provider's token is sealed at rest.
        let mut conn = db.pool.acquire().await.unwrap();
        let sealed: String = sqlx::query_scalar("SELECT headers_enc FROM sms_gateways")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert!(!sealed.contains(TOKEN) && !sealed.contains("Bearer"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_gateway_failures_are_retried_or_given_up_and_its_limit_holds() {
    for t in each_backend().await {
        let db = &t.db;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, Some(2)).await;
        let clock = clock_on("2026-01-05");
        let test = async |answer: Arc<common::stub::Reply>| {
            stub.answer(answer);
            send_test(
                db,
                &clock,
                Some(test_key()),
                Channel::Sms,
                "(21) 99876-5432",
                Some("Provedor SMS"),
                "test",
            )
            .await
            .unwrap()
        };
        let last = async || {
            let mut conn = db.pool.acquire().await.unwrap();
            store::outbox::list_notices(&mut conn, None, 1)
                .await
                .unwrap()
                .pop()
                .unwrap()
        };

        // 503: retried later, with backoff.
        let r = test(Arc::new(|_: &Seen, _| {
            (503, r#"{"erro":"manutencao"}"#.into())
        }))
        .await;
        assert!(!r.sent);
        assert!(r.answer.starts_with("503"), "{}", r.answer);
        let n = last().await;
        assert_eq!(n.status, NoticeStatus::Retrying, "{}", t.label);
        assert!(n.next_attempt_at > clock.now_millis());
        // 429 too.
        test(Arc::new(|_: &Seen, _| (429, "{}".into()))).await;
        assert_eq!(last().await.status, NoticeStatus::Retrying);
        // 400: the provider refuses the request; given up at once.
        let r = test(Arc::new(|_: &Seen, _| {
            (400, r#"{"erro":"numero invalido"}"#.into())
        }))
        .await;
        assert!(r.answer.contains("numero invalido"), "{}", r.answer);
        assert_eq!(last().await.status, NoticeStatus::Dead);
        // A redirect is an answer, not a place to send the provider's token.
        let r = test(Arc::new(|_: &Seen, _| (302, "/elsewhere".into()))).await;
        assert!(r.answer.starts_with("302"), "{}", r.answer);
        assert_eq!(last().await.status, NoticeStatus::Dead);
        assert!(stub.on("/elsewhere").is_empty());
        // 200 without the success text: not accepted.
        let r = test(Arc::new(|_: &Seen, _| (200, r#"{"status":"fail"}"#.into()))).await;
        assert!(r.answer.contains("texto de sucesso"), "{}", r.answer);
        assert_eq!(last().await.status, NoticeStatus::Dead);
        // The phone, normalised to E.164.
        assert!(
            stub.on("/sms")
                .iter()
                .all(|s| s.body.contains("\"to\":\"5521998765432\""))
        );

        // Hourly limit 2: failed attempts gave their slots back; two go, the third waits for
        // the window.
        assert!(test(ok_sms()).await.sent);
        assert!(test(ok_sms()).await.sent);
        let before = stub.on("/sms").len();
        let r = test(ok_sms()).await;
        assert!(!r.sent, "{}: {r:?}", t.label);
        assert_eq!(stub.on("/sms").len(), before);
        let n = last().await;
        assert_eq!(n.status, NoticeStatus::Queued);
        assert!(n.next_attempt_at > clock.now_millis() + 59 * 60_000);
        // The metrics count them under the gateway: the two retrying and the waiting one.
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::log::queue_depth_by_account(&mut conn).await.unwrap(),
            vec![("sms: Provedor SMS".to_string(), 3)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_the_method_cannot_reach_is_skipped_or_falls_back_to_email() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        import_ok(
            db,
            regua::import::ImportKind::Customers,
            "external_id,name,document,email,mobile_phone\nC3,Ana Lima,111.444.777-35,ana@exemplo.com.br,\n",
        )
        .await;
        import_ok(
            db,
            regua::import::ImportKind::Contracts,
            "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK3,C3,Fibra 300,\"99,90\",15,email,Boleto BB\n",
        )
        .await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        set(db, store::settings::SETTING_SUSPENSION_METHOD, "sms").await;

        // João (K2) has no mobile phone: skipped, with the reason.
        suspend_on(db, &request("K2", "2026-01-05", "2026-01-10"), "2026-01-05").await;
        drain(db, "2026-01-05").await;
        let n = suspension_notices(db).await.pop().unwrap();
        assert_eq!(n.status, NoticeStatus::Skipped, "{}", t.label);
        assert_eq!(
            n.last_error.as_deref(),
            Some("cliente sem celular cadastrado")
        );
        assert!(stub.on("/sms").is_empty());
        assert!(sink.received().is_empty());

        // With a fallback order, Ana (K3, no phone, no app) is reached by e-mail; the log shows
        // each channel tried.
        set(
            db,
            store::settings::SETTING_SUSPENSION_FALLBACK,
            "push,email",
        )
        .await;
        suspend_on(db, &request("K3", "2026-01-05", "2026-01-10"), "2026-01-05").await;
        drain(db, "2026-01-05").await;
        let n = suspension_notices(db).await.pop().unwrap();
        assert_eq!(n.status, NoticeStatus::Sent, "{}: {n:?}", t.label);
        assert_eq!(n.channel, Channel::Email);
        let log: Vec<(Channel, NoticeStatus, String)> = attempts_of(db, n.id)
            .await
            .into_iter()
            .map(|a| (a.channel, a.outcome, a.reply_text))
            .collect();
        assert_eq!(log.len(), 3, "{log:?}");
        assert_eq!(
            (log[0].0, log[0].1, log[0].2.as_str()),
            (
                Channel::Sms,
                NoticeStatus::Skipped,
                "cliente sem celular cadastrado; segue por push"
            )
        );
        assert_eq!((log[1].0, log[1].1), (Channel::Push, NoticeStatus::Skipped));
        assert!(log[1].2.ends_with("; segue por e-mail"), "{}", log[1].2);
        assert_eq!((log[2].0, log[2].1), (Channel::Email, NoticeStatus::Sent));
        let mail = sink.received();
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].to, vec!["ana@exemplo.com.br".to_string()]);
        assert!(
            mail[0].text().contains("suspenso temporariamente"),
            "{}",
            mail[0].text()
        );

        // The e-mail method: through the SMTP server, once even when the routine repeats.
        set(db, store::settings::SETTING_SUSPENSION_METHOD, "email").await;
        suspend_on(db, &request("K1", "2026-01-08", "2026-01-12"), "2026-01-05").await;
        drain(db, "2026-01-05").await;
        assert_eq!(plan(db, "2026-01-05").await, 0);
        // Maria's "started", and João's and Ana's "ending" (their suspensions end on the 10th).
        assert_eq!(plan(db, "2026-01-08").await, 3);
        assert_eq!(plan(db, "2026-01-08").await, 0);
        drain(db, "2026-01-08").await;
        let to_maria: Vec<_> = sink
            .received()
            .into_iter()
            .filter(|m| m.to == vec!["maria@exemplo.com.br".to_string()])
            .collect();
        assert_eq!(to_maria.len(), 2, "{}: scheduled and started", t.label);
        let ids: Vec<String> = to_maria
            .iter()
            .map(|m| m.message_id.clone().unwrap())
            .collect();
        assert!(
            ids[0].ends_with(".agendada.regua@provedor.com.br>"),
            "{ids:?}"
        );
        assert!(
            ids[1].ends_with(".inicio.regua@provedor.com.br>"),
            "{ids:?}"
        );
    }
}

/// An RSA key made by openssl for this run: (PKCS#8 PEM, the public half as PKCS#1 DER).
fn test_rsa_key() -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let public = dir.path().join("pub.der");
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let ok = std::process::Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    (
        std::fs::read_to_string(key).unwrap(),
        std::fs::read(public).unwrap(),
    )
}

/// Google's token endpoint and FCM: tokens `tok-1`, `tok-2`… in order; a message to the device
/// `gone` is UNREGISTERED; other sends answer with `fcm`.
/// FCM's answer to a send.
type FcmReply = Arc<dyn Fn(&Seen) -> (u16, String) + Send + Sync>;

fn google(fcm: FcmReply) -> Arc<common::stub::Reply> {
    Arc::new(move |s: &Seen, n: usize| {
        if s.path == "/token" {
            return (
                200,
                json!({"access_token": format!("tok-{}", n + 1), "expires_in": 3599, "token_type": "Bearer"})
                    .to_string(),
            );
        }
        if s.body.contains("\"token\":\"gone\"") {
            return (
                404,
                json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                    "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}})
                .to_string(),
            );
        }
        fcm(s)
    })
}

fn fcm_ok() -> FcmReply {
    Arc::new(|_: &Seen| {
        (
            200,
            r#"{"name":"projects/regua-teste/messages/0:1"}"#.into(),
        )
    })
}

fn form_value(body: &str, name: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(body)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{name} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_signs_the_jwt_exchanges_it_and_handles_what_fcm_answers() {
    let (pem, public_der) = test_rsa_key();
    for t in each_backend().await {
        let db = &t.db;
        open_invoices(db, 1).await;
        let stub = Stub::start(google(fcm_ok())).await;

        // The service-account file, uploaded with the CLI (the key sealed with REGUA_SECRET_KEY).
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("firebase.json");
        let token_uri = format!("{}/token", stub.url());
        std::fs::write(
            &file,
            json!({
                "type": "service_account", "project_id": "regua-teste", "private_key_id": "kid-123",
                "private_key": pem, "client_email": "regua@regua-teste.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": token_uri,
            })
            .to_string(),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
            .args(["push", "configure", "--service-account"])
            .arg(&file)
            .args(["--fcm-url", &stub.url()])
            .env("REGUA_DATABASE_URL", &t.url)
            .env("REGUA_SECRET_KEY", "5e".repeat(32))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut conn = db.pool.acquire().await.unwrap();
        let sealed: String = sqlx::query_scalar("SELECT private_key_enc FROM push_config")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert!(!sealed.contains("PRIVATE KEY"));
        for device in ["dev-ok", "gone"] {
            store::subscribers::register_device(&mut conn, "52998224725", device, "android", 0)
                .await
                .unwrap();
        }
        drop(conn);
        set(db, store::settings::SETTING_SUSPENSION_METHOD, "push").await;

        let clock = clock_on("2026-01-05");
        suspend_on(db, &request("K1", "2026-01-05", "2026-01-20"), "2026-01-05").await;
        drain(db, "2026-01-05").await;

        // One token exchange: a JWT signed with the service account's key.
        let tokens = stub.on("/token");
        assert_eq!(tokens.len(), 1, "{}", t.label);
        assert_eq!(
            tokens[0].headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            form_value(&tokens[0].body, "grant_type"),
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        );
        let jwt = form_value(&tokens[0].body, "assertion");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |p: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        assert_eq!(
            decode(parts[0]),
            json!({"alg": "RS256", "typ": "JWT", "kid": "kid-123"})
        );
        let iat = clock.now_millis() / 1000;
        assert_eq!(
            decode(parts[1]),
            json!({
                "iss": "regua@regua-teste.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/firebase.messaging",
                "aud": token_uri, "iat": iat, "exp": iat + 3600,
            })
        );
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &public_der,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the JWT verifies with the key's public half");

        // One message per device, with the access token; the unregistered device is dropped.
        let path = "/v1/projects/regua-teste/messages:send";
        let sends = stub.on(path);
        assert_eq!(sends.len(), 2);
        for s in &sends {
            assert_eq!(s.headers["authorization"], "Bearer tok-1");
        }
        let n = suspension_notices(db).await.pop().unwrap();
        let message: Value = serde_json::from_str(&sends[0].body).unwrap();
        let msg = &message["message"];
        assert_eq!(msg["token"], "dev-ok");
        assert_eq!(
            msg["notification"]["title"],
            "Seu serviço está suspenso temporariamente até 20/01/2026"
        );
        assert!(
            msg["notification"]["body"]
                .as_str()
                .unwrap()
                .contains("contrato K1"),
            "{msg}"
        );
        assert_eq!(
            msg["data"],
            json!({"tipo": "suspension_started", "aviso": n.id.0.to_string()})
        );
        assert_eq!(message.as_object().unwrap().len(), 1);
        assert_eq!(n.status, NoticeStatus::Sent, "{}", t.label);
        let log = attempts_of(db, n.id).await;
        assert_eq!(log.len(), 1);
        assert!(
            log[0].reply_text.starts_with(
                "enviado a 1 de 2 dispositivo(s); 1 dispositivo(s) não registrado(s) removido(s)"
            ),
            "{}",
            log[0].reply_text
        );
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::subscribers::devices_of(&mut conn, "52998224725")
                .await
                .unwrap(),
            vec!["dev-ok".to_string()]
        );
        drop(conn);

        // 401: the access token is dropped, a new one fetched, the message sent again with it.
        stub.answer(google(Arc::new(|s: &Seen| {
            if s.headers["authorization"] == "Bearer tok-2" {
                (
                    401,
                    r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#.into(),
                )
            } else {
                (
                    200,
                    r#"{"name":"projects/regua-teste/messages/0:2"}"#.into(),
                )
            }
        })));
        let push_test = async || {
            send_test(
                db,
                &clock,
                Some(test_key()),
                Channel::Push,
                "C1",
                None,
                "test",
            )
            .await
            .unwrap()
        };
        let r = push_test().await;
        assert!(r.sent, "{}: {r:?}", t.label);
        assert_eq!(stub.on("/token").len(), 3);
        let sends = stub.on(path);
        assert_eq!(sends.len(), 4);
        assert_eq!(sends[2].headers["authorization"], "Bearer tok-2");
        assert_eq!(sends[3].headers["authorization"], "Bearer tok-3");

        // 429 and 5xx: retried later, with backoff.
        let latest = async || {
            let mut conn = db.pool.acquire().await.unwrap();
            store::outbox::list_notices(&mut conn, None, 1)
                .await
                .unwrap()
                .pop()
                .unwrap()
        };
        for status in [429, 500, 503] {
            stub.answer(google(Arc::new(move |_: &Seen| {
                (status, r#"{"error":{"status":"UNAVAILABLE"}}"#.into())
            })));
            let r = push_test().await;
            assert!(!r.sent);
            assert!(r.answer.starts_with(&status.to_string()), "{}", r.answer);
            let n = latest().await;
            assert_eq!(n.status, NoticeStatus::Retrying, "{}: {status}", t.label);
            assert!(n.next_attempt_at > clock.now_millis());
        }

        // One device takes it, the other is busy (503): retried for that one only, so neither
        // gets it twice.
        let mut conn = db.pool.acquire().await.unwrap();
        store::subscribers::register_device(&mut conn, "52998224725", "dev-2", "ios", 0)
            .await
            .unwrap();
        drop(conn);
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let busy2 = busy.clone();
        stub.answer(google(Arc::new(move |s: &Seen| {
            if s.body.contains("\"dev-2\"") && busy2.load(std::sync::atomic::Ordering::SeqCst) {
                (503, r#"{"error":{"status":"UNAVAILABLE"}}"#.into())
            } else {
                (
                    200,
                    r#"{"name":"projects/regua-teste/messages/0:9"}"#.into(),
                )
            }
        })));
        let r = push_test().await;
        assert!(!r.sent, "{}: {r:?}", t.label);
        assert!(
            r.answer
                .contains("enviado a 1 de 2 dispositivo(s); os demais numa nova tentativa"),
            "{}",
            r.answer
        );
        let n = latest().await;
        assert_eq!(n.status, NoticeStatus::Retrying, "{}", t.label);
        busy.store(false, std::sync::atomic::Ordering::SeqCst);
        drain(db, "2026-01-06").await;
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::outbox::get_notice(&mut conn, n.id)
                .await
                .unwrap()
                .status,
            NoticeStatus::Sent,
            "{}",
            t.label
        );
        drop(conn);
        let aviso = n.id.0.to_string();
        let to_this: Vec<String> = stub
            .on(path)
            .iter()
            .filter_map(|s| {
                let m: Value = serde_json::from_str(&s.body).ok()?;
                (m["message"]["data"]["aviso"] == aviso.as_str())
                    .then(|| m["message"]["token"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(to_this, ["dev-ok", "dev-2", "dev-2"], "{}", t.label);
        let log = attempts_of(db, n.id).await;
        assert_eq!(log.len(), 2, "{}", t.label);
        assert!(
            log[1]
                .reply_text
                .contains("enviado a 1 de 1 dispositivo(s); 1 já o tinha(m) recebido antes"),
            "{}",
            log[1].reply_text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspensions_through_the_api_and_csv_import_are_recorded_once() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let key = {
            let mut conn = db.pool.acquire().await.unwrap();
            store::auth::insert_api_key(
                &mut conn,
                "erp",
                &[
                    regua::web::auth::Permission::View,
                    regua::web::auth::Permission::EditBilling,
                ],
                0,
            )
            .await
            .unwrap()
            .1
        };
        let label = t.label;
        let db2 = db.clone();
        with_server_at(db, "2026-01-05", |addr| async move {
            use common::http::json_call;
            let path = "/api/v1/contracts/K1/suspensions";
            let body = json!({"from": "2026-01-10", "to": "2026-01-20", "reason": "Viagem"});
            let (status, first) = json_call(addr, "POST", path, &key, Some(&body)).await;
            assert_eq!(status, 201, "{label}: {first}");
            assert_eq!(first["from"], "2026-01-10");
            assert_eq!(first["requested_by"], "api: erp");
            let (status, again) = json_call(addr, "POST", path, &key, Some(&body)).await;
            assert_eq!(status, 200, "{again}");
            assert_eq!(again["id"], first["id"]);
            let (status, e) = json_call(
                addr,
                "POST",
                path,
                &key,
                Some(&json!({"from": "2026-01-15", "to": "2026-01-25"})),
            )
            .await;
            assert_eq!((status, e["code"].as_str()), (409, Some("overlap")), "{e}");
            assert_eq!(
                e["message"],
                "O contrato já tem uma suspensão de 10/01/2026 a 20/01/2026."
            );
            let (status, e) = json_call(
                addr,
                "POST",
                path,
                &key,
                Some(&json!({"from": "2026-02-15", "to": "2026-02-01"})),
            )
            .await;
            assert_eq!((status, e["field"].as_str()), (422, Some("to")), "{e}");
            let (status, e) =
                json_call(addr, "POST", path, &key, Some(&json!({"to": "2026-02-01"}))).await;
            assert_eq!((status, e["field"].as_str()), (422, Some("from")), "{e}");
            let (status, _) = json_call(
                addr,
                "POST",
                "/api/v1/contracts/K9/suspensions",
                &key,
                Some(&body),
            )
            .await;
            assert_eq!(status, 404);
            let (status, list) = json_call(addr, "GET", path, &key, None).await;
            assert_eq!(status, 200);
            assert_eq!(list["suspensions"].as_array().unwrap().len(), 1);
            // One notice: "scheduled" (it starts later).
            let notices = suspension_notices(&db2).await;
            assert_eq!(notices.len(), 1, "{label}");
            assert_eq!(
                notices[0].dedup_key,
                format!("suspensao:{}:agendada", first["id"])
            );
            assert_eq!(notices[0].actor, "api: erp");
            let end = "/api/v1/contracts/K1/suspensions/end";
            let (status, ended) = json_call(addr, "POST", end, &key, None).await;
            assert_eq!(status, 200, "{ended}");
            assert_eq!(
                (ended["id"].clone(), ended["cancelled"].clone()),
                (first["id"].clone(), json!(true))
            );
            // Withdrawn before its "scheduled" notice went out: nobody to tell.
            assert_eq!(
                (ended["ended"].clone(), ended["customer_notified"].clone()),
                (json!("withdrawn"), json!(false)),
                "{ended}"
            );
            let (status, e) = json_call(addr, "POST", end, &key, None).await;
            assert_eq!(
                (status, e["code"].as_str()),
                (409, Some("not_suspended")),
                "{e}"
            );
            // A running one ends: restored, and the "ended" notice tells the customer.
            let today = json!({"from": "2026-01-05", "to": "2026-01-09"});
            let (status, _) = json_call(addr, "POST", path, &key, Some(&today)).await;
            assert_eq!(status, 201, "{label}");
            let (status, ended) = json_call(addr, "POST", end, &key, None).await;
            assert_eq!(status, 200, "{ended}");
            assert_eq!(
                (ended["ended"].clone(), ended["customer_notified"].clone()),
                (json!("restored"), json!(true)),
                "{ended}"
            );
        })
        .await;

        // CSV: a bad row imports nothing, and names its line and column.
        use regua::import::{ImportError, ImportKind, import_csv};
        let before = suspension_notices(db).await.len();
        let clock = clock_on("2026-01-05");
        let bad = "contract_external_id;starts_on;ends_on;reason\nK2;06/01/2026;08/01/2026;Mudança\nK9;06/01/2026;08/01/2026;x\nK2;2026-01-07;2026-01-09;\n";
        match import_csv(db, ImportKind::Suspensions, bad.as_bytes(), &clock).await {
            Err(ImportError::BadRows(rows)) => {
                let lines: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
                assert_eq!(
                    lines,
                    [
                        "line 3: contract_external_id: no contract \"K9\"",
                        "line 4: starts_on: contract K2 is already suspended from 2026-01-06 to 2026-01-08",
                    ],
                    "{}",
                    t.label
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            suspension_notices(db).await.len(),
            before,
            "nothing recorded"
        );
        let good =
            "contract_external_id,starts_on,ends_on,reason\nK2,06/01/2026,08/01/2026,Mudança\n";
        let r = import_csv(db, ImportKind::Suspensions, good.as_bytes(), &clock)
            .await
            .unwrap();
        assert_eq!((r.created, r.updated), (1, 0));
        let r = import_csv(db, ImportKind::Suspensions, good.as_bytes(), &clock)
            .await
            .unwrap();
        assert_eq!((r.created, r.updated), (0, 1));
        let notices = suspension_notices(db).await;
        assert_eq!(notices.len(), before + 1, "{}", t.label);
        assert_eq!(notices[before].actor, "import: suspensions");
    }
}

fn regua(url: &str, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_regua"));
    cmd.args(args)
        .env("REGUA_DATABASE_URL", url)
        .env("REGUA_TODAY", "2026-01-05")
        .env("REGUA_SECRET_KEY", "5e".repeat(32))
        .env_remove("SMS_TOKEN")
        .env("USER", "ana");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_gateways_without_showing_credentials_suspends_and_tests() {
    let t = sqlite().await;
    open_invoices(&t.db, 1).await;
    let stub = Stub::start(ok_sms()).await;
    let sms_url = format!("{}/sms", stub.url());
    let add = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut args = vec!["sms", "add", "--name", "Zap", "--url", sms_url.as_str()];
        args.extend_from_slice(extra);
        regua(&t.url, &args, envs)
    };
    let header = ["--header", "Authorization: Bearer ${SMS_TOKEN}"];
    // Refused: the variable unset, no {{mensagem}}, no master key to seal the header.
    let o = add(&header, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "--header: the variable SMS_TOKEN is not set"
    );
    let o = add(&["--body", "{\"to\":\"{{telefone}}\"}"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("--body: "), "{}", stderr(&o));
    let o = add(&header, &[("SMS_TOKEN", TOKEN), ("REGUA_SECRET_KEY", "")]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let o = add(
        &[
            &header[..],
            &["--hourly-limit", "100", "--success-contains", "ok"],
        ]
        .concat(),
        &[("SMS_TOKEN", TOKEN)],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).starts_with("sms gateway \"Zap\" added"));
    let list = stdout(&regua(&t.url, &["sms", "list"], &[]));
    assert!(list.contains("Authorization: (set)"), "{list}");
    assert!(list.contains("\t100\t"), "{list}");
    assert!(!list.contains(TOKEN));

    // A suspension from the command line, told by SMS; the same command again changes nothing.
    let o = regua(
        &t.url,
        &["settings", "set", "suspension_notify_method", "sms"],
        &[],
    );
    assert!(o.status.success(), "{o:?}");
    let o = regua(
        &t.url,
        &["settings", "set", "suspension_sms_gateway", "Nope"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "suspension_sms_gateway: no active sms gateway named \"Nope\""
    );
    let suspend = |from: &str, to: &str| {
        regua(
            &t.url,
            &[
                "suspend",
                "--contract",
                "K1",
                "--from",
                from,
                "--to",
                to,
                "--reason",
                "Viagem",
            ],
            &[],
        )
    };
    let o = suspend("05/01/2026", "2026-01-09");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        stdout(&o).trim(),
        "contract K1 suspended from 2026-01-05 to 2026-01-09 (suspension 1)"
    );
    let o = suspend("2026-01-05", "2026-01-09");
    assert!(stdout(&o).contains("nothing changed"), "{o:?}");
    let o = suspend("2026-01-08", "2026-01-12");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "contract K1 is already suspended from 2026-01-05 to 2026-01-09"
    );
    let o = suspend("2026-02-10", "2026-02-01");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("--to: "), "{}", stderr(&o));
    let o = regua(&t.url, &["outbox", "drain"], &[]);
    assert!(o.status.success(), "{o:?}");
    let sent = stub.on("/sms");
    assert_eq!(sent.len(), 1);
    let o = regua(&t.url, &["suspend", "--contract", "K1", "--end"], &[]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        stdout(&o).trim(),
        "suspension 1 of contract K1 ended; service restored today"
    );
    let o = regua(&t.url, &["suspend", "--contract", "K1", "--end"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "contract: contract K1 has no current or upcoming suspension"
    );
    let o = regua(&t.url, &["outbox", "drain"], &[]);
    assert!(o.status.success(), "{o:?}");
    let sent = stub.on("/sms");
    assert_eq!(sent.len(), 2, "the ended notice");
    assert!(sent[1].body.contains("restabelecido"), "{}", sent[1].body);
    assert_eq!(sent[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert!(
        sent[0].body.contains("\"telefone\":\"+5511987654321\""),
        "{}",
        sent[0].body
    );

    // "Realizar teste de envio" from the command line prints the gateway's answer.
    let o = regua(
        &t.url,
        &[
            "notify",
            "test",
            "sms",
            "--to",
            "(21) 99876-5432",
            "--gateway",
            "Zap",
        ],
        &[],
    );
    assert!(o.status.success(), "{o:?}");
    assert!(
        stdout(&o).starts_with("sent to +5521998765432: 200 {\"status\":\"ok\""),
        "{}",
        stdout(&o)
    );
    let o = regua(
        &t.url,
        &["notify", "test", "email", "--to", "x@exemplo.com.br"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no e-mail account"), "{}", stderr(&o));
    let o = regua(&t.url, &["notify", "test", "push", "--to", "C1"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("envio push não configurado"),
        "{}",
        stderr(&o)
    );

    // Every change is in the audit trail, the header's value masked.
    let mut conn = t.db.pool.acquire().await.unwrap();
    let audit: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT actor, action, after FROM audit_log ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let actions: Vec<&str> = audit.iter().map(|(_, a, _)| a.as_str()).collect();
    assert!(
        actions.contains(&"sms.add") && actions.contains(&"suspension.add"),
        "{actions:?}"
    );
    assert!(
        audit.iter().all(|(actor, _, after)| actor == "cli: ana"
            && !after.as_deref().unwrap_or("").contains(TOKEN))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notifications_page_saves_the_method_and_sends_a_test() {
    use common::http::{enc, http, staff_session};
    let t = sqlite().await;
    let stub = Stub::start(ok_sms()).await;
    add_gateway(&t.db, &stub, None).await;
    add_admin(&t.db).await;
    let db = t.db.clone();
    with_server_at(&t.db, "2026-01-05", |addr| async move {
        let session = staff_session(addr, "admin", "senha-forte-123").await;
        let page = http(addr, "GET", "/configuracoes/notificacoes", &session, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Realizar teste de envio"));
        let csrf = page.field("_csrf");

        // A bad fallback list is refused in Portuguese and nothing is saved.
        let save = |fallback: &str| {
            format!(
                "_csrf={}&suspension_notify_method=sms&suspension_smtp_account=&suspension_sms_gateway=Provedor+SMS&suspension_fallback={}&suspension_ending_days=5",
                enc(&csrf),
                enc(fallback)
            )
        };
        let r = http(addr, "POST", "/configuracoes/notificacoes", &session, &save("sms,fax")).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Uma lista de canais separados por vírgula"), "{}", r.body);
        // An account or gateway that does not exist is refused when saved.
        let typo = save("push").replace("suspension_smtp_account=", "suspension_smtp_account=Nope");
        let r = http(addr, "POST", "/configuracoes/notificacoes", &session, &typo).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Conta de e-mail SMTP não encontrada."), "{}", r.body);
        // The typed name stays on screen, marked, not swapped for another account.
        assert!(r.body.contains("<option value=\"Nope\" selected>Nope (não encontrado)</option>"), "{}", r.body);
        let r = http(addr, "POST", "/configuracoes/notificacoes", &session, &save("push, email")).await;
        assert_eq!(r.status, 303);
        // Accounts and gateways are picked from lists of those that exist.
        let page = http(addr, "GET", "/configuracoes/notificacoes", &session, "").await;
        for option in [
            "<option value=\"\" selected>Conta financeira (padrão)</option>",
            "<option value=\"\">O primeiro gateway ativo</option>",
            "<option value=\"Provedor SMS\" selected>Provedor SMS</option>",
            // The fallback order is picked, position by position, not typed.
            "<option value=\"push\" selected>1ª: Push (aplicativo)</option>",
            "<option value=\"email\" selected>2ª: E-mail</option>",
            "<option value=\"\">3ª alternativa: nenhuma</option>",
        ] {
            assert!(page.body.contains(option), "{option} in {}", page.body);
        }
        // As the page sends it: one select per position; a blank and a repeat are dropped.
        let picked = save("").replace(
            "&suspension_fallback=",
            "&suspension_fallback__1=email&suspension_fallback__2=&suspension_fallback__3=email&x=",
        );
        let r = http(addr, "POST", "/configuracoes/notificacoes", &session, &picked).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::parties::get_setting(&mut conn, store::settings::SETTING_SUSPENSION_FALLBACK).await.unwrap().as_deref(),
            Some("email")
        );
        drop(conn);
        let r = http(addr, "POST", "/configuracoes/notificacoes", &session, &save("push, email")).await;
        assert_eq!(r.status, 303);
        let mut conn = db.pool.acquire().await.unwrap();
        for (k, v) in [
            (store::settings::SETTING_SUSPENSION_METHOD, "sms"),
            (store::settings::SETTING_SUSPENSION_FALLBACK, "push,email"),
            (store::settings::SETTING_SUSPENSION_ENDING_DAYS, "5"),
        ] {
            assert_eq!(store::parties::get_setting(&mut conn, k).await.unwrap().as_deref(), Some(v));
        }
        drop(conn);

        // The test: sent now, the gateway's answer on the page.
        let r = http(
            addr,
            "POST",
            "/configuracoes/notificacoes/teste",
            &session,
            &format!("_csrf={}&method=sms&to={}", enc(&csrf), enc("(21) 99876-5432")),
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(
            r.body.contains("Teste por SMS enviado para +5521998765432. Resposta: 200"),
            "{}",
            r.body
        );
        assert_eq!(stub.on("/sms").len(), 1);
        let r = http(
            addr,
            "POST",
            "/configuracoes/notificacoes/teste",
            &session,
            &format!("_csrf={}&method=sms&to=123", enc(&csrf)),
        )
        .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Informe um celular válido, com DDD."));
        let r = http(
            addr,
            "POST",
            "/configuracoes/notificacoes/teste",
            &session,
            "_csrf=wrong&method=sms&to=21998765432",
        )
        .await;
        assert_eq!(r.status, 403);
        assert_eq!(stub.on("/sms").len(), 1);

        // The page warns while the chosen method cannot send at all.
        let page = http(addr, "GET", "/configuracoes/notificacoes", &session, "").await;
        assert!(!page.body.contains("role=\"alert\""), "{}", page.body);
        let mut conn = db.pool.acquire().await.unwrap();
        store::parties::set_setting(&mut conn, store::settings::SETTING_SUSPENSION_METHOD, "push")
            .await
            .unwrap();
        drop(conn);
        let page = http(addr, "GET", "/configuracoes/notificacoes", &session, "").await;
        assert!(
            page.body.contains("Falta o arquivo de configuração do Firebase"),
            "{}",
            page.body
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_plans_suspension_notices_from_eight_in_the_morning() {
    let t = sqlite().await;
    let db = &t.db;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(db, &sink).await;
    suspend_on(db, &request("K1", "2026-01-06", "2026-01-09"), "2026-01-05").await;
    // K2 is suspended too, then cancelled: it gets no more notices.
    suspend_on(db, &request("K2", "2026-01-06", "2026-01-09"), "2026-01-05").await;
    {
        let mut conn = db.pool.acquire().await.unwrap();
        sqlx::query("UPDATE contracts SET status = 'cancelled' WHERE external_id = 'K2'")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    let at = |time: &str| {
        let ts = format!("2026-01-06T{time}")
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::get(regua::DEFAULT_TIME_ZONE).unwrap())
            .unwrap()
            .timestamp();
        regua::domain::Clock::fixed(regua::DEFAULT_TIME_ZONE, ts).unwrap()
    };
    let keys = async || -> Vec<String> {
        suspension_notices(db)
            .await
            .into_iter()
            .map(|n| n.dedup_key)
            .collect()
    };
    assert_eq!(
        keys().await,
        ["suspensao:1:agendada", "suspensao:2:agendada"]
    );
    // At 07:59 the day's notices wait; from 08:00 they are queued, once.
    regua::dunning::Scheduler::new(db.clone(), at("07:59:00"))
        .tick()
        .await
        .unwrap();
    assert_eq!(
        keys().await,
        ["suspensao:1:agendada", "suspensao:2:agendada"]
    );
    let mut s = regua::dunning::Scheduler::new(db.clone(), at("08:00:00"));
    s.tick().await.unwrap();
    s.tick().await.unwrap();
    regua::dunning::Scheduler::new(db.clone(), at("09:30:00"))
        .tick()
        .await
        .unwrap();
    assert_eq!(
        keys().await,
        [
            "suspensao:1:agendada",
            "suspensao:2:agendada",
            "suspensao:1:inicio"
        ]
    );
    let n = suspension_notices(db).await.pop().unwrap();
    assert_eq!(n.actor, "routine: suspensões");
    assert_eq!(contract_status(db, "K1").await, ContractStatus::Suspended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_ends_early_or_is_withdrawn() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let end_on = async |contract: &str, date: &str| {
            let clock = clock_on(date);
            let mut tx = db.begin().await.unwrap();
            let r = regua::suspension::end(
                &mut tx,
                contract,
                clock.today(),
                "test",
                clock.now_millis(),
            )
            .await;
            tx.commit().await.unwrap();
            r
        };
        let ids = |mail: &[mailsink::Received]| -> Vec<String> {
            mail.iter().map(|m| m.message_id.clone().unwrap()).collect()
        };

        // Running since the 5th, ended on the 8th: service restored that day, the "ended" notice
        // at once, nothing more from the scheduler.
        suspend_on(db, &request("K1", "2026-01-05", "2026-01-20"), "2026-01-05").await;
        drain(db, "2026-01-05").await;
        let regua::suspension::Ended::Restored(s) = end_on("K1", "2026-01-08").await.unwrap()
        else {
            panic!("{}: restored", t.label)
        };
        assert_eq!(s.ends_on, "2026-01-07".parse().unwrap());
        assert_eq!(contract_status(db, "K1").await, ContractStatus::Active);
        drain(db, "2026-01-08").await;
        for day in ["2026-01-08", "2026-01-17", "2026-01-21"] {
            assert_eq!(plan(db, day).await, 0, "{}: {day}", t.label);
        }
        let got = ids(&sink.received());
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains(".inicio.") && got[1].contains(".fim."),
            "{got:?}"
        );
        assert!(matches!(
            end_on("K1", "2026-01-08").await,
            Err(regua::suspension::SuspendError::Invalid { .. })
        ));

        // Upcoming: withdrawn; its queued "scheduled" notice is skipped, nothing follows.
        suspend_on(db, &request("K2", "2026-01-10", "2026-01-15"), "2026-01-05").await;
        assert!(matches!(
            end_on("K2", "2026-01-05").await.unwrap(),
            regua::suspension::Ended::Withdrawn {
                notified: false,
                ..
            }
        ));
        drain(db, "2026-01-05").await;
        let n = suspension_notices(db).await.pop().unwrap();
        assert_eq!(n.status, NoticeStatus::Skipped);
        assert_eq!(n.last_error.as_deref(), Some("suspensão cancelada"));
        for day in ["2026-01-10", "2026-01-13", "2026-01-16"] {
            assert_eq!(plan(db, day).await, 0, "{}: {day}", t.label);
        }
        assert_eq!(contract_status(db, "K2").await, ContractStatus::Active);
        assert_eq!(sink.received().len(), 2);
        // Its days are free again: the same request after a withdrawal is a new suspension.
        assert!(matches!(
            suspend_on(db, &request("K2", "2026-01-10", "2026-01-15"), "2026-01-05").await,
            Suspended::New(_)
        ));
        // This time its "scheduled" notice went out before the withdrawal: the customer is
        // told it was withdrawn, once.
        drain(db, "2026-01-05").await;
        assert!(matches!(
            end_on("K2", "2026-01-05").await.unwrap(),
            regua::suspension::Ended::Withdrawn { notified: true, .. }
        ));
        drain(db, "2026-01-05").await;
        drain(db, "2026-01-06").await;
        assert_eq!(plan(db, "2026-01-10").await, 0, "{}", t.label);
        let got = ids(&sink.received());
        assert_eq!(got.len(), 4, "{}: {got:?}", t.label);
        assert!(
            got[2].contains(".3.agendada.") && got[3].contains(".3.cancelada."),
            "{got:?}"
        );
        let told = suspension_notices(db).await.pop().unwrap();
        assert_eq!(told.purpose, regua::layouts::Purpose::SuspensionWithdrawn);
        assert_eq!(told.status, NoticeStatus::Sent);

        // Started today and ended today: restored, and the morning's routine does not suspend
        // it again.
        suspend_on(db, &request("K2", "2026-01-20", "2026-01-25"), "2026-01-20").await;
        assert_eq!(contract_status(db, "K2").await, ContractStatus::Suspended);
        end_on("K2", "2026-01-20").await.unwrap();
        assert_eq!(plan(db, "2026-01-20").await, 0);
        assert_eq!(contract_status(db, "K2").await, ContractStatus::Active);
        drain(db, "2026-01-20").await;
        // Its "started" notice, still queued when it ended, is moot: only the end goes.
        let got = ids(&sink.received());
        assert_eq!(got.len(), 5, "{}: {got:?}", t.label);
        assert!(got[4].ends_with(".4.fim.regua@provedor.com.br>"), "{got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_page_suspends_and_ends_with_errors_in_portuguese() {
    use common::http::{enc, http, staff_session};
    let t = sqlite().await;
    let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
        .await
        .unwrap();
    portal_isp(&t.db, &sink).await;
    {
        let mut conn = t.db.pool.acquire().await.unwrap();
        for (login, role) in [
            ("ana", regua::web::auth::Role::Finance),
            ("leo", regua::web::auth::Role::ReadOnly),
        ] {
            store::auth::insert_user(&mut conn, login, login, role, "senha-forte-123", 0)
                .await
                .unwrap();
        }
    }
    let db = t.db.clone();
    with_server_at(&t.db, "2026-01-05", |addr| async move {
        let session = async |login: &str| staff_session(addr, login, "senha-forte-123").await;
        let ana = session("ana").await;
        let list = http(addr, "GET", "/contratos", &ana, "").await;
        assert!(
            list.body.contains("/contratos/1/suspensoes"),
            "{}",
            list.body
        );
        let page = http(addr, "GET", "/contratos/1/suspensoes", &ana, "").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Nenhuma suspensão."));
        let csrf = page.field("_csrf");
        let post = async |path: &str, form: String| {
            http(
                addr,
                "POST",
                path,
                &ana,
                &format!("_csrf={}&{form}", enc(&csrf)),
            )
            .await
        };

        // A bad date and an end before the start are refused, nothing saved.
        let r = post(
            "/contratos/1/suspensoes",
            "from=amanha&to=2026-01-20&reason=".into(),
        )
        .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Início: informe uma data"), "{}", r.body);
        let r = post(
            "/contratos/1/suspensoes",
            "from=2026-01-20&to=2026-01-10&reason=x".into(),
        )
        .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("O fim não pode ser antes do início."));
        assert!(
            r.body.contains("value=\"2026-01-20\""),
            "the form keeps what was typed"
        );

        // Recorded; the customer is told; the same form again changes nothing.
        let form = format!(
            "from=2026-01-10&to=2026-01-20&reason={}",
            enc("Viagem à praia")
        );
        let r = post("/contratos/1/suspensoes", form.clone()).await;
        assert_eq!(r.status, 303);
        assert_eq!(
            r.header("location"),
            Some("/contratos/1/suspensoes?ok=nova")
        );
        let r = post("/contratos/1/suspensoes", form).await;
        assert_eq!(
            r.header("location"),
            Some("/contratos/1/suspensoes?ok=existente")
        );
        let page = http(addr, "GET", "/contratos/1/suspensoes?ok=nova", &ana, "").await;
        for text in [
            "Suspensão registrada; o cliente será avisado.",
            "10/01/2026",
            "Viagem à praia",
            "user: ana",
            "agendada",
            "Cancelar a suspensão agendada de 10/01/2026 a 20/01/2026",
        ] {
            assert!(page.body.contains(text), "{text} in {}", page.body);
        }
        let r = post(
            "/contratos/1/suspensoes",
            "from=2026-01-15&to=2026-01-25&reason=".into(),
        )
        .await;
        assert_eq!(r.status, 422);
        assert!(
            r.body
                .contains("O contrato já tem uma suspensão de 10/01/2026 a 20/01/2026.")
        );
        let notices = suspension_notices(&db).await;
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].actor, "user: ana");

        // Read-only users see the list, not the forms, and cannot post.
        let leo = session("leo").await;
        let page = http(addr, "GET", "/contratos/1/suspensoes", &leo, "").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains("suspension-form"));
        let csrf_leo = page.field("_csrf");
        let r = http(
            addr,
            "POST",
            "/contratos/1/suspensoes/encerrar",
            &leo,
            &format!("_csrf={}", enc(&csrf_leo)),
        )
        .await;
        assert_eq!(r.status, 403);

        // Cancelled before it starts.
        let r = post("/contratos/1/suspensoes/encerrar", String::new()).await;
        assert_eq!(
            r.header("location"),
            Some("/contratos/1/suspensoes?ok=cancelada")
        );
        let page = http(addr, "GET", "/contratos/1/suspensoes", &ana, "").await;
        assert!(page.body.contains("cancelada antes do início"));
        assert!(!page.body.contains("end-form"));
        let r = post("/contratos/1/suspensoes/encerrar", String::new()).await;
        assert_eq!(r.status, 422);
        assert!(
            r.body
                .contains("O contrato não tem suspensão em curso ou agendada.")
        );
        let r = http(addr, "GET", "/contratos/999/suspensoes", &ana, "").await;
        assert_eq!(r.status, 404);
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'suspension.%' ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(actions, ["suspension.add", "suspension.end"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_gateways_and_the_firebase_file_are_configured_on_the_page() {
    use common::http::{enc, http, http_multipart, staff_session};
    let t = sqlite().await;
    open_invoices(&t.db, 1).await;
    let stub = Stub::start(ok_sms()).await;
    add_admin(&t.db).await;
    let (pem, _) = test_rsa_key();
    let db = t.db.clone();
    let stub_url = stub.url();
    with_server(&t.db, |addr| async move {
        let session = staff_session(addr, "admin", "senha-forte-123").await;
        let page = http(addr, "GET", "/configuracoes/sms-push", &session, "").await;
        assert_eq!(page.status, 200);
        let csrf = page.field("_csrf");
        let form = |name: &str, url: &str, headers: &str, body: &str| {
            format!(
                "_csrf={}&name={}&url={}&method=POST&headers={}&body={}&success_contains=ok&hourly_limit=&daily_limit=100",
                enc(&csrf), enc(name), enc(url), enc(headers), enc(body)
            )
        };
        let body = r#"{"to":"{{telefone_digitos}}","text":"{{mensagem}}"}"#;
        // A body without the message is refused in Portuguese, naming the field.
        let r = http(addr, "POST", "/configuracoes/sms", &session,
            &form("Provedor SMS", &format!("{stub_url}/sms"), "", r#"{"to":"{{telefone}}"}"#)).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("O corpo ou o endereço precisa de {{mensagem}}"), "{}", r.body);
        let r = http(addr, "POST", "/configuracoes/sms", &session,
            &form("Provedor SMS", &format!("{stub_url}/sms"), &format!("Authorization: Bearer {TOKEN}"), body)).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = http(addr, "GET", "/configuracoes/sms-push?salvo=sms", &session, "").await;
        assert!(page.body.contains("Gateway de SMS salvo."));
        assert!(page.body.contains("Authorization"), "the header's name is listed");
        assert!(!page.body.contains(TOKEN), "its value never comes back");
        // The edit: another path, the header box left blank keeps the stored token.
        let id: i64 = {
            let mut conn = db.pool.acquire().await.unwrap();
            sqlx::query_scalar("SELECT id FROM sms_gateways").fetch_one(&mut *conn).await.unwrap()
        };
        let edit = http(addr, "GET", &format!("/configuracoes/sms/{id}"), &session, "").await;
        assert_eq!(edit.status, 200);
        assert!(!edit.body.contains(TOKEN));
        let r = http(addr, "POST", &format!("/configuracoes/sms/{id}"), &session,
            &form("Provedor SMS", &format!("{stub_url}/v2/sms"), "", body)).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let sent = send_test(&db, &clock_on("2026-01-05"), Some(test_key()), Channel::Sms,
            "(21) 99876-5432", Some("Provedor SMS"), "test").await.unwrap();
        assert!(sent.sent, "{sent:?}");
        let seen = stub.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/v2/sms");
        assert_eq!(seen[0].headers.get("authorization").map(String::as_str), Some(format!("Bearer {TOKEN}").as_str()));
        // Removing frees the name.
        let r = http(addr, "POST", &format!("/configuracoes/sms/{id}/remover"), &session,
            &format!("_csrf={}", enc(&csrf))).await;
        assert_eq!(r.status, 303);
        let r = http(addr, "POST", "/configuracoes/sms", &session,
            &form("Provedor SMS", &format!("{stub_url}/sms"), "", body)).await;
        assert_eq!(r.status, 303, "{}", r.body);

        // Firebase: a file that is not a service account is refused; a good one is sealed.
        let r = http_multipart(addr, "/configuracoes/push", &session,
            &[("_csrf", None, csrf.as_bytes()), ("service_account", Some("x.json"), b"{\"type\":\"user\"}"), ("fcm_url", None, b"")]).await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("não é uma conta de serviço do Firebase"), "{}", r.body);
        let file = json!({
            "type": "service_account", "project_id": "regua-teste", "private_key_id": "kid-123",
            "private_key": pem, "client_email": "regua@regua-teste.iam.gserviceaccount.com",
            "token_uri": format!("{stub_url}/token"),
        })
        .to_string();
        let r = http_multipart(addr, "/configuracoes/push", &session,
            &[("_csrf", None, csrf.as_bytes()), ("service_account", Some("firebase.json"), file.as_bytes()), ("fcm_url", None, stub_url.as_bytes())]).await;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = http(addr, "GET", "/configuracoes/sms-push?salvo=push", &session, "").await;
        assert!(page.body.contains("Projeto <strong>regua-teste</strong>"), "{}", page.body);
        assert!(!page.body.contains("PRIVATE KEY"));
    })
    .await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let push = store::channels::push_config(&mut conn)
        .await
        .unwrap()
        .unwrap();
    assert!(
        push.fcm_url.starts_with("http://127.0.0.1:"),
        "{}",
        push.fcm_url
    );
    let actions: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT action, actor, after FROM audit_log WHERE action LIKE 'sms.%' OR action LIKE 'push.%' ORDER BY id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "sms.add",
            "sms.update",
            "sms.remove",
            "sms.add",
            "push.configure"
        ]
    );
    assert!(
        actions
            .iter()
            .all(|(_, actor, after)| actor == "user: admin"
                && !after.as_deref().unwrap_or("").contains(TOKEN)
                && !after.as_deref().unwrap_or("").contains("PRIVATE KEY"))
    );
}

#[tokio::test]
async fn a_suppressed_email_address_hands_the_notice_to_the_next_channel() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        set(db, store::settings::SETTING_SUSPENSION_METHOD, "email").await;
        set(db, store::settings::SETTING_SUSPENSION_FALLBACK, "sms").await;
        // Maria's address bounced hard (docs/bounces.md): it is suppressed.
        let mut conn = db.pool.acquire().await.unwrap();
        store::bounces::suppress(
            &mut conn,
            &store::bounces::Suppression {
                address: "maria@exemplo.com.br".into(),
                reason: "hard".into(),
                status: Some("5.1.1".into()),
                diagnostic: "550 5.1.1 User unknown".into(),
                created_at: 0,
            },
            None,
        )
        .await
        .unwrap();
        drop(conn);
        suspend_on(db, &request("K1", "2026-01-05", "2026-01-10"), "2026-01-05").await;
        drain(db, "2026-01-05").await;
        let n = suspension_notices(db).await.pop().unwrap();
        assert_eq!(n.status, NoticeStatus::Sent, "{}: {n:?}", t.label);
        assert_eq!(n.channel, Channel::Sms);
        assert!(sink.received().is_empty(), "nothing to the dead address");
        assert_eq!(stub.on("/sms").len(), 1);
        let log: Vec<(Channel, NoticeStatus, String)> = attempts_of(db, n.id)
            .await
            .into_iter()
            .map(|a| (a.channel, a.outcome, a.reply_text))
            .collect();
        assert_eq!(
            (log[0].0, log[0].1, log[0].2.as_str()),
            (
                Channel::Email,
                NoticeStatus::Skipped,
                "e-mail suprimido: maria@exemplo.com.br (devolvido como inexistente, 5.1.1); segue por SMS"
            )
        );
        assert_eq!((log[1].0, log[1].1), (Channel::Sms, NoticeStatus::Sent));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_bands_go_by_their_channels_with_fallback_or_on_all() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        // Ana (C3) has no mobile phone; her invoice is due on the 10th like Maria's.
        import_ok(
            db,
            regua::import::ImportKind::Customers,
            "external_id,name,document,email,mobile_phone\nC3,Ana Lima,111.444.777-35,ana@exemplo.com.br,\n",
        )
        .await;
        import_ok(
            db,
            regua::import::ImportKind::Contracts,
            "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\nK3,C3,Fibra 300,\"99,90\",10,email,Boleto BB\n",
        )
        .await;
        regua::invoicing::generate_invoices(db, "K3", 1, &clock_on("2026-01-05"))
            .await
            .unwrap();
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        let cli = |args: &[&str]| regua(&t.url, args, &[]);

        // Bad input: named, nothing saved.
        let bad = cli(&[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "before_due",
            "--days",
            "5",
            "--channels",
            "fax,email",
        ]);
        assert_eq!(bad.status.code(), Some(2));
        assert!(
            stderr(&bad).starts_with("--channels: ") && stderr(&bad).contains("\"fax\""),
            "{}",
            stderr(&bad)
        );
        let bad = cli(&[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "before_due",
            "--days",
            "5",
            "--channels",
            "sms,sms",
        ]);
        assert_eq!(stderr(&bad), "--channels: sms is listed twice\n");
        let bad = cli(&[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "before_due",
            "--days",
            "5",
            "--mode",
            "some",
        ]);
        assert_eq!(stderr(&bad), "--mode: \"some\" is not first or all\n");
        let add = cli(&[
            "rule",
            "add",
            "--method",
            "Boleto BB",
            "--kind",
            "before_due",
            "--days",
            "5",
            "--channels",
            "sms,email",
        ]);
        assert!(add.status.success(), "{add:?}");
        assert!(
            stdout(&add).ends_with("on \"Boleto BB\" by sms,email (first)\n"),
            "{}",
            stdout(&add)
        );
        let list = stdout(&cli(&["rule", "list"]));
        assert!(list.contains("\tsms,email\tfirst\n"), "{list}");

        // The dry run says which channel each notice takes: Maria by SMS, Ana (no phone) by e-mail.
        let dry = cli(&[
            "routine",
            "run",
            "--date",
            "2026-01-05",
            "--dry-run",
            "--json",
        ]);
        assert!(dry.status.success(), "{dry:?}");
        let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
        let mut taken: Vec<(String, String)> = report["notices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["customer"].as_str().unwrap().to_string(),
                    n["channel"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        taken.sort();
        // Each channel's load against its limits: one e-mail on the account, one SMS on the gateway.
        assert_eq!(report["accounts"][0]["planned"], 1, "{report}");
        assert_eq!(
            report["gateways"],
            json!([{"gateway": "Provedor SMS", "planned": 1, "capacity_left_hour": null, "capacity_left_day": null}])
        );
        assert_eq!(
            taken,
            [
                ("C1".to_string(), "sms".to_string()),
                ("C3".to_string(), "email".to_string())
            ],
            "{}",
            t.label
        );
        assert!(
            cli(&["routine", "run", "--date", "2026-01-05"])
                .status
                .success()
        );
        drain(db, "2026-01-05").await;
        assert_eq!(stub.on("/sms").len(), 1, "{}", t.label);
        let sms: Value = serde_json::from_str(&stub.on("/sms")[0].body).unwrap();
        assert_eq!(sms["to"], "5511987654321");
        let mail = sink.received();
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].to, vec!["ana@exemplo.com.br".to_string()]);

        // Maria's address bounced: an e-mail-first rule hands her notice to SMS at send time.
        let mut conn = db.pool.acquire().await.unwrap();
        store::bounces::suppress(
            &mut conn,
            &store::bounces::Suppression {
                address: "maria@exemplo.com.br".into(),
                reason: "hard".into(),
                status: Some("5.1.1".into()),
                diagnostic: "550 5.1.1 User unknown".into(),
                created_at: 0,
            },
            None,
        )
        .await
        .unwrap();
        drop(conn);
        assert!(
            cli(&[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "on_due",
                "--channels",
                "email,sms"
            ])
            .status
            .success()
        );
        assert!(
            cli(&["routine", "run", "--date", "2026-01-10"])
                .status
                .success()
        );
        drain(db, "2026-01-10").await;
        assert_eq!(stub.on("/sms").len(), 2, "{}: Maria by SMS", t.label);
        assert_eq!(sink.received().len(), 2, "Ana by e-mail");
        let mut conn = db.pool.acquire().await.unwrap();
        let maria_log: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT channel, outcome, reply_text FROM delivery_attempts WHERE notice_id =
               (SELECT notice_id FROM delivery_attempts WHERE reply_text LIKE 'e-mail suprimido%') ORDER BY id",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        assert_eq!(
            maria_log,
            [
                ("email".to_string(), "skipped".to_string(), "e-mail suprimido: maria@exemplo.com.br (devolvido como inexistente, 5.1.1); segue por SMS".to_string()),
                ("sms".to_string(), "sent".to_string(), maria_log[1].2.clone()),
            ]
        );

        // A band on all its channels: one notice each; the suppressed e-mail is skipped.
        let band = cli(&[
            "band",
            "add",
            "--from",
            "1",
            "--to",
            "10",
            "--channels",
            "sms,email",
            "--mode",
            "all",
        ]);
        assert!(band.status.success(), "{band:?}");
        assert!(
            cli(&["routine", "run", "--date", "2026-01-12"])
                .status
                .success()
        );
        drain(db, "2026-01-12").await;
        let mut conn = db.pool.acquire().await.unwrap();
        let mut band_notices: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT n.dedup_key, n.channel, n.status FROM notices n WHERE n.dedup_key LIKE 'band:%' ORDER BY n.dedup_key",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        band_notices
            .iter_mut()
            .for_each(|(k, _, _)| *k = k.split(':').skip(3).collect());
        band_notices.sort();
        assert_eq!(
            band_notices,
            [
                ("email".to_string(), "email".to_string(), "sent".to_string()),
                (
                    "email".to_string(),
                    "email".to_string(),
                    "skipped".to_string()
                ),
                ("sms".to_string(), "sms".to_string(), "sent".to_string()),
            ],
            "{}: Ana by e-mail only (no phone); Maria on both, her e-mail skipped",
            t.label
        );
        // A band with a letter goes by e-mail only.
        let bad = cli(&[
            "band",
            "add",
            "--from",
            "11",
            "--to",
            "20",
            "--letter",
            "--channels",
            "sms",
        ]);
        assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_outside_its_window_waits_for_eight_the_next_business_day_and_email_does_not() {
    for t in each_backend().await {
        let db = &t.db;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        portal_isp(db, &sink).await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        let cli = |args: &[&str]| regua(&t.url, args, &[]);
        // The law's hours are the widest an SMS window may be; narrower is fine.
        let wide = cli(&[
            "settings",
            "set",
            "sending_window_sms",
            "seg-sex 07:00-22:00",
        ]);
        assert_eq!(wide.status.code(), Some(2), "{wide:?}");
        assert!(
            stderr(&wide).contains("wider than Lei 15.426/2014 (SP), art. 2"),
            "{}",
            stderr(&wide)
        );
        let list = stdout(&cli(&["settings", "list"]));
        assert!(
            list.contains("sending_window_sms\tseg-sex 08:00-20:00, sab 08:00-14:00"),
            "{list}"
        );
        // Maria by SMS, João (no phone) by e-mail; the routine runs late on Friday 09/01/2026.
        assert!(
            cli(&[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "before_due",
                "--days",
                "1",
                "--channels",
                "sms,email"
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
                "11",
                "--channels",
                "sms,email"
            ])
            .status
            .success()
        );
        // A dry run made on a Sunday says the SMS would wait for Monday 08:00; e-mail would not.
        let dry = regua(
            &t.url,
            &[
                "routine",
                "run",
                "--date",
                "2026-01-09",
                "--dry-run",
                "--json",
            ],
            &[("REGUA_TODAY", "2026-01-11")],
        );
        let report: Value = serde_json::from_slice(&dry.stdout).unwrap();
        let waits: Vec<(String, Value)> = report["notices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["channel"].as_str().unwrap().to_string(),
                    n["waits_until"].clone(),
                )
            })
            .collect();
        assert!(
            waits.contains(&("sms".to_string(), json!("2026-01-12 08:00"))),
            "{waits:?}"
        );
        assert!(
            waits.contains(&("email".to_string(), Value::Null)),
            "{waits:?}"
        );
        assert!(
            cli(&["routine", "run", "--date", "2026-01-09"])
                .status
                .success()
        );
        let tz = regua::DEFAULT_TIME_ZONE;
        let at = |d: jiff::civil::DateTime| {
            regua::domain::Clock::fixed(
                tz,
                d.to_zoned(jiff::tz::TimeZone::get(tz).unwrap())
                    .unwrap()
                    .timestamp(),
            )
            .unwrap()
        };
        let friday_night = at(jiff::civil::date(2026, 1, 9).at(21, 0, 0, 0));
        worker_at(db, &friday_night).drain(|_| {}).await.unwrap();
        assert!(stub.on("/sms").is_empty(), "{}: no SMS at 21:00", t.label);
        assert_eq!(
            sink.received().len(),
            1,
            "{}: the e-mail is not held",
            t.label
        );
        let mut conn = db.pool.acquire().await.unwrap();
        let (status, next, why, attempts): (String, i64, Option<String>, i64) = sqlx::query_as(
            "SELECT status, next_attempt_at, last_error, attempts FROM notices WHERE channel = 'sms'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        let saturday_eight = at(jiff::civil::date(2026, 1, 10).at(8, 0, 0, 0));
        assert_eq!((status.as_str(), attempts), ("queued", 0));
        assert_eq!(next, saturday_eight.now_millis());
        assert_eq!(
            why.as_deref(),
            Some("aguardando a janela de envio do SMS (abre 10/01/2026 às 08:00)")
        );
        // The dashboard says what waits, and the gateway's use.
        let mut conn = db.pool.acquire().await.unwrap();
        store::auth::insert_user(
            &mut conn,
            "ana",
            "Ana Souza",
            regua::domain::auth::Role::Support,
            "senha-forte-1",
            0,
        )
        .await
        .unwrap();
        drop(conn);
        with_server_at(db, "2026-01-09", |addr| async move {
            let ana = common::http::staff_session(addr, "ana", "senha-forte-1").await;
            let dash = common::http::http(addr, "GET", "/", &ana, "").await;
            assert!(
                dash.body.contains("1 aviso(s) por SMS aguardando a janela de envio: o primeiro sai em 10/01 às 08:00."),
                "{}",
                dash.body
            );
            assert!(dash.body.contains("<h2>Gateways de SMS</h2>"), "{}", dash.body);
        })
        .await;
        // At 07:59 still nothing; at 08:00 it goes.
        worker_at(db, &saturday_eight.later_by_millis(-60_000))
            .drain(|_| {})
            .await
            .unwrap();
        assert!(stub.on("/sms").is_empty());
        worker_at(db, &saturday_eight).drain(|_| {}).await.unwrap();
        assert_eq!(stub.on("/sms").len(), 1, "{}", t.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_gateway_moves_its_waiting_sms_to_the_next_one() {
    for t in each_backend().await {
        let db = &t.db;
        open_invoices(db, 1).await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        plain_sms_gateway(db, "Reserva", &format!("{}/sms2", stub.url())).await;
        set(db, store::settings::SETTING_SUSPENSION_METHOD, "sms").await;
        set(
            db,
            store::settings::SETTING_SUSPENSION_GATEWAY,
            "Provedor SMS",
        )
        .await;
        suspend_on(db, &request("K1", "2026-01-05", "2026-01-20"), "2026-01-05").await;
        let out = regua(&t.url, &["sms", "remove", "Provedor SMS"], &[]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            stdout(&out),
            "sms gateway \"Provedor SMS\" removed\n1 waiting notice(s) moved to \"Reserva\"\n",
            "{}",
            t.label
        );
        drain(db, "2026-01-05").await;
        assert!(stub.on("/sms").is_empty());
        assert_eq!(
            stub.on("/sms2").len(),
            1,
            "{}: sent by the gateway that remains",
            t.label
        );
        // The suspension setting no longer names the removed gateway: the next notice goes too.
        let mut conn = db.pool.acquire().await.unwrap();
        assert_eq!(
            store::parties::get_setting(&mut conn, store::settings::SETTING_SUSPENSION_GATEWAY)
                .await
                .unwrap()
                .as_deref(),
            Some("")
        );
        drop(conn);
        suspend_on(db, &request("K1", "2026-02-02", "2026-02-10"), "2026-02-02").await;
        drain(db, "2026-02-02").await;
        assert_eq!(stub.on("/sms2").len(), 2, "{}", t.label);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layouts_sms_text_is_what_the_sms_says_checked_and_counted_on_save() {
    for t in each_backend().await {
        let db = &t.db;
        open_invoices(db, 1).await;
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        sink_account(db, "Principal", sink.port(), AccountSetup::default()).await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        let cli = |args: &[&str]| regua(&t.url, args, &[]);
        assert!(cli(&["smtp", "default", "Principal"]).status.success());
        // A wrong variable is refused, named, nothing saved.
        let bad = cli(&[
            "layout",
            "save",
            "Lembrete antes do vencimento",
            "--sms",
            "Fatura de {{ fatura.valorr }}",
        ]);
        assert_eq!(bad.status.code(), Some(2), "{bad:?}");
        assert!(stderr(&bad).contains("texto do SMS"), "{}", stderr(&bad));
        assert!(stderr(&bad).contains("fatura.valor"), "{}", stderr(&bad));
        let ok = cli(&[
            "layout",
            "save",
            "Lembrete antes do vencimento",
            "--sms",
            "{{ empresa.nome }}: sua fatura de {{ fatura.valor }} vence em {{ fatura.vencimento }}. Dúvidas: {{ empresa.telefone }}",
        ]);
        assert!(ok.status.success(), "{ok:?}");
        let out = stdout(&ok);
        assert!(out.contains("sms on the sample: "), "{out}");
        assert!(out.contains(" part(s)"), "{out}");
        assert!(
            cli(&[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "before_due",
                "--days",
                "5",
                "--channels",
                "sms"
            ])
            .status
            .success()
        );
        assert!(
            cli(&["routine", "run", "--date", "2026-01-05"])
                .status
                .success()
        );
        drain(db, "2026-01-05").await;
        let sent = stub.on("/sms");
        assert_eq!(sent.len(), 1, "{}", t.label);
        let body: Value = serde_json::from_str(&sent[0].body).unwrap();
        let text = body["text"].as_str().unwrap();
        assert!(text.contains(": sua fatura de R$"), "{text}");
        assert!(text.contains("vence em 10/01/2026. Duvidas:"), "{text}");
        assert!(
            !text.contains("Lembrete:"),
            "the SMS text, not the subject: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_delivery_receipts_reach_the_notice_by_the_gateways_json_paths() {
    for t in each_backend().await {
        let db = &t.db;
        open_invoices(db, 1).await;
        let stub = Stub::start(ok_sms()).await;
        add_gateway(db, &stub, None).await;
        let cli = |args: &[&str]| regua(&t.url, args, &[]);
        let on = cli(&[
            "sms",
            "receipts",
            "Provedor SMS",
            "--reply-id-path",
            "id",
            "--id-path",
            "$.data.message_id",
            "--status-path",
            "data.status",
            "--delivered",
            "DELIVRD",
            "--failed",
            "UNDELIV,REJECTD",
        ]);
        assert!(on.status.success(), "{on:?}");
        let printed = stdout(&on);
        let token = printed
            .split("?token=")
            .nth(1)
            .and_then(|r| r.lines().next())
            .unwrap()
            .to_string();
        assert!(
            printed.contains("receipt URL: /webhooks/sms/Provedor%20SMS?token="),
            "{printed}"
        );
        let audit: String = {
            let mut conn = db.pool.acquire().await.unwrap();
            sqlx::query_scalar("SELECT after FROM audit_log WHERE action = 'sms.receipts'")
                .fetch_one(&mut *conn)
                .await
                .unwrap()
        };
        assert!(!audit.contains(&token), "the token is not in the trail");
        assert!(
            cli(&[
                "rule",
                "add",
                "--method",
                "Boleto BB",
                "--kind",
                "on_due",
                "--channels",
                "sms"
            ])
            .status
            .success()
        );
        // The run needs the financial account (its address makes every notice's Message-ID).
        let sink = mailsink::Sink::start(mailsink::SinkConfig::default())
            .await
            .unwrap();
        sink_account(db, "Principal", sink.port(), AccountSetup::default()).await;
        set(db, store::accounts::SETTING_FINANCIAL_ACCOUNT, "Principal").await;
        assert!(
            cli(&["routine", "run", "--date", "2026-01-10"])
                .status
                .success()
        );
        drain(db, "2026-01-10").await;
        assert_eq!(stub.on("/sms").len(), 1, "{}", t.label);
        let db2 = db.clone();
        with_server_at(db, "2026-01-10", |addr| async move {
            let post = async |path: &str, body: &str| {
                let r = reqwest::Client::new()
                    .post(format!("http://{addr}{path}"))
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            };
            let batch = r#"[{"data":{"message_id":"m-0","status":"DELIVRD"}},{"data":{"message_id":"m-9","status":"DELIVRD"}},{"data":{"message_id":"m-0","status":"ENROUTE"}}]"#;
            assert_eq!(post("/webhooks/sms/Provedor%20SMS?token=nope", batch).await.0, 401);
            assert_eq!(post("/webhooks/sms/Outro?token=nope", batch).await.0, 404);
            let none: i64 = {
                let mut conn = db2.pool.acquire().await.unwrap();
                sqlx::query_scalar("SELECT COUNT(*) FROM notice_receipts").fetch_one(&mut *conn).await.unwrap()
            };
            assert_eq!(none, 0, "a refused call records nothing");
            let url = format!("/webhooks/sms/Provedor%20SMS?token={token}");
            let (status, body) = post(&url, batch).await;
            assert_eq!(status, 200, "{body}");
            let report: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(report, json!({"recorded": 1, "unknown": 1, "ignored": 1}));
            let (_, again) = post(&url, batch).await;
            assert_eq!(serde_json::from_str::<Value>(&again).unwrap()["recorded"], 0);
            let mut conn = db2.pool.acquire().await.unwrap();
            let receipt: String = sqlx::query_scalar("SELECT receipt FROM notices WHERE channel = 'sms'")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(receipt, "delivered");
            let log = store::log::list_attempts(&mut conn, &LogFilter::default()).await.unwrap();
            assert_eq!(log[0].receipt.as_deref(), Some("delivered"));
        })
        .await;
        let off = cli(&["sms", "receipts", "Provedor SMS", "--off"]);
        assert!(off.status.success(), "{off:?}");
    }
}
