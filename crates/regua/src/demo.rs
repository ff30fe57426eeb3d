//! `regua demo`: a fictitious ISP ("Provedor Exemplo") seeded into `./regua-demo.db` on first
//! run — customers with valid CPFs/CNPJs, contracts on two banks' wallets, invoices across the
//! last and next 60 days, some paid — then a summary. The data is generated from a fixed seed,
//! so every demo is the same ISP; dates move with today.

use std::fmt::Write as _;

use jiff::ToSpan as _;

use crate::domain::*;
use crate::store::{self, Db, invoices::NewInvoice};

/// `regua demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo database lives.
    #[arg(long, default_value = "regua-demo.db")]
    pub file: std::path::PathBuf,
    /// How many customers to seed on first run.
    #[arg(long, default_value_t = 300)]
    pub customers: usize,
    /// Print the summary and exit instead of serving the web UI.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the web UI listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: std::net::SocketAddr,
}

/// A small deterministic generator (SplitMix64): demo data must not depend on a crate's
/// changing algorithm.
pub struct DemoRng(u64);

impl DemoRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        DemoRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// One of the items.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A valid CPF built from nine random digits.
pub fn random_cpf(rng: &mut DemoRng) -> String {
    loop {
        let base = format!("{:09}", rng.below(1_000_000_000));
        if let Ok(cpf) = boleto::Cpf::from_base(&base) {
            return cpf.digits().to_string();
        }
    }
}

/// A valid numeric CNPJ (headquarters, `0001`) built from eight random digits.
pub fn random_cnpj(rng: &mut DemoRng) -> String {
    loop {
        let base = format!("{:08}0001", rng.below(100_000_000));
        if let Ok(cnpj) = boleto::Cnpj::from_base(&base) {
            return cnpj.digits().to_string();
        }
    }
}

const FIRST: &[&str] = &[
    "Ana",
    "Bruno",
    "Camila",
    "Diego",
    "Eduarda",
    "Felipe",
    "Gabriela",
    "Henrique",
    "Isabela",
    "João",
    "Larissa",
    "Marcos",
    "Natália",
    "Otávio",
    "Patrícia",
    "Rafael",
    "Sabrina",
    "Thiago",
    "Vanessa",
    "Wellington",
    "Júlia",
    "Antônio",
    "Luíza",
    "Célia",
];
const LAST: &[&str] = &[
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Araújo",
    "Conceição",
    "Magalhães",
];
const COMPANIES: &[&str] = &[
    "Padaria",
    "Mercado",
    "Oficina",
    "Farmácia",
    "Escritório",
    "Clínica",
    "Papelaria",
    "Restaurante",
];
const PLANS: &[(&str, i64)] = &[
    ("Fibra 300 Mega", 9990),
    ("Fibra 500 Mega", 11990),
    ("Fibra 1 Giga", 14990),
    ("Empresarial 600 Mega", 29990),
];
const DUE_DAYS: &[u8] = &[5, 10, 15, 20, 25, 31];
const DDDS: &[u8] = &[11, 19, 21, 31, 41, 48, 51, 61, 71, 81];

fn ascii_slug(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'â' | 'ã' | 'à' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' => 'u',
            'ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect()
}

/// The demo's Banco do Brasil agreement (7-digit convênio, carteira 18) under `name`, with
/// "send on generate" off and no PIX key; the bench and the tests use it too.
pub fn banco_do_brasil_wallet(name: &str) -> NewWallet {
    NewWallet {
        name: name.to_string(),
        bank_code: "001".into(),
        agency: "4042".into(),
        account: "61900".into(),
        wallet_code: "18".into(),
        agreement: "1238798".into(),
        kind: WalletKind::Bank,
        send_on_generate: false,
        pix_key: None,
        registration: crate::domain::charges::Registration::Erp,
        terms: crate::domain::charges::Terms::default(),
    }
}

/// Seeds the demo ISP into `db` as of `today`. Returns how many customers were created.
pub async fn seed(db: &Db, customers: usize, clock: &Clock) -> anyhow::Result<usize> {
    let mut rng = DemoRng::new(2026);
    let today = clock.today();
    let now = clock.now_millis();
    let mut tx = db.begin().await?;
    // The demo's wallets charge what most ISPs do: 2 % fine, 1 % a month.
    let usual = crate::domain::charges::Terms {
        fine_bp: 200,
        interest_bp_month: 100,
        ..Default::default()
    };
    let bb = NewWallet {
        send_on_generate: true,
        pix_key: Some("financeiro@provedorexemplo.com.br".into()),
        terms: usual,
        ..banco_do_brasil_wallet("Banco do Brasil")
    };
    let itau = NewWallet {
        name: "Itaú".into(),
        bank_code: "341".into(),
        agency: "0810".into(),
        account: "53678".into(),
        wallet_code: "109".into(),
        agreement: "12345".into(),
        kind: WalletKind::Bank,
        send_on_generate: false,
        pix_key: None,
        registration: crate::domain::charges::Registration::Erp,
        terms: usual,
    };
    for (key, value) in [
        ("company_name", "Provedor Exemplo"),
        ("company_document", "11.222.333/0001-81"),
        ("company_phone", "(11) 4000-1234"),
        ("company_email", "atendimento@provedorexemplo.com.br"),
        ("company_site", "https://www.provedorexemplo.com.br"),
        ("company_city", "São Paulo"),
        (
            "company_address",
            "Av. Paulista, 1000 - Bela Vista - São Paulo/SP - CEP 01310-100",
        ),
        ("portal_url", "http://localhost:8080"),
    ] {
        store::parties::set_setting(&mut tx, key, value).await?;
    }
    store::parties::insert_wallet(&mut tx, &bb, now).await?;
    store::parties::insert_wallet(&mut tx, &itau, now).await?;
    let m_bb = store::parties::insert_billing_method(
        &mut tx,
        "Boleto Banco do Brasil",
        "Banco do Brasil",
        now,
    )
    .await?;
    let m_itau = store::parties::insert_billing_method(&mut tx, "Boleto Itaú", "Itaú", now).await?;
    let from = today.checked_sub(60.days())?;
    let to = today.checked_add(60.days())?;
    for n in 1..=customers {
        let company = rng.below(10) == 0;
        let (name, document) = if company {
            let last = rng.pick(LAST);
            (
                format!("{} {} Ltda", rng.pick(COMPANIES), last),
                random_cnpj(&mut rng),
            )
        } else {
            (
                format!("{} {} {}", rng.pick(FIRST), rng.pick(LAST), rng.pick(LAST)),
                random_cpf(&mut rng),
            )
        };
        let email = (rng.below(100) < 85).then(|| {
            let local = ascii_slug(&name.replace(' ', "."));
            EmailAddress::parse(&format!("{local}{n}@exemplo.com.br")).expect("demo e-mail")
        });
        let mobile = (rng.below(100) < 70).then(|| {
            let phone = format!("{}9{:08}", rng.pick(DDDS), rng.below(100_000_000));
            MobilePhone::parse(&phone).expect("demo phone")
        });
        let customer = NewCustomer {
            external_id: format!("C{n:05}"),
            name,
            document: Document::parse(&document).expect("generated document"),
            email,
            mobile_phone: mobile,
            address: Some(crate::domain::PostalAddress {
                street: format!("Rua {}", rng.pick(LAST)),
                number: (1 + rng.below(2000)).to_string(),
                complement: String::new(),
                district: "Centro".into(),
                zip: format!("{:05}000", 1000 + rng.below(98_000)),
                city: "São Paulo".into(),
                state: "SP".into(),
            }),
        };
        let customer_id = store::parties::upsert_customer(&mut tx, &customer, now).await?;
        let (plan, price) = if company {
            PLANS[3]
        } else {
            *rng.pick(&PLANS[..3])
        };
        let contract = NewContract {
            external_id: format!("K{n:05}"),
            customer_id,
            plan: plan.to_string(),
            monthly_amount: Money(price),
            due_day: *rng.pick(DUE_DAYS),
            billing_method_id: if rng.below(2) == 0 { m_bb } else { m_itau },
            delivery_type: Some(if rng.below(10) == 0 {
                DeliveryType::Printed
            } else {
                DeliveryType::Email
            }),
            status: ContractStatus::Active,
        };
        let contract_id = store::parties::upsert_contract(&mut tx, &contract, now).await?;
        let contract = store::parties::get_contract(&mut tx, contract_id).await?;
        // Every competence month whose due date falls within the last and next 60 days.
        let (mut y, mut m) = (from.year(), from.month());
        loop {
            let due = due_date_in_month(y, m, contract.due_day);
            if due > to {
                break;
            }
            if due >= from {
                let status = if due < today && rng.below(100) < 80 {
                    let offset = rng.below(8) as i64 - 4;
                    InvoiceStatus::Paid {
                        paid_on: due.checked_add(offset.days())?.min(today),
                        amount: contract.monthly_amount,
                    }
                } else {
                    InvoiceStatus::Open
                };
                let competence = format!("{y:04}-{m:02}");
                let inv = NewInvoice {
                    external_id: format!("{}/{competence}", contract.external_id),
                    contract: contract.clone(),
                    amount: contract.monthly_amount,
                    issue_date: due.checked_sub(20.days())?,
                    due_date: due,
                    competence: Some(competence),
                    status,
                };
                let our_number =
                    store::invoices::allocate_our_numbers(&mut tx, contract.wallet_id, 1).await?;
                store::invoices::insert_invoice(&mut tx, &inv, our_number, now).await?;
            }
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
    }
    tx.commit().await?;
    Ok(customers)
}

/// `regua-demo.db` → `regua-demo-mail`: where the demo's e-mails are written.
pub fn mail_dir_for(db_file: &std::path::Path) -> std::path::PathBuf {
    let stem = db_file
        .file_stem()
        .map_or_else(|| "regua-demo".into(), |s| s.to_string_lossy().into_owned());
    db_file.with_file_name(format!("{stem}-mail"))
}

/// What the demo's delivery did.
pub struct DemoMail {
    /// Messages written by this run.
    pub sent_now: usize,
    /// Messages sent by all runs.
    pub total_sent: i64,
}

/// The demo's e-mail: a folder account (the default for boletos), a reminder for each open
/// invoice due in the next five days or overdue, delivered at once by a worker. Dedup keys make
/// a second run add only what became due since.
pub async fn send_demo_mail(
    db: &Db,
    clock: &Clock,
    mail_dir: &std::path::Path,
) -> anyhow::Result<DemoMail> {
    use crate::delivery::{NewSmtpAccount, Worker, WorkerOptions};
    use crate::layouts::Purpose;
    let mut conn = db.pool.acquire().await?;
    let account = match store::accounts::find_smtp_account(&mut conn, DEMO_ACCOUNT).await? {
        Some(a) => a,
        None => {
            let id = store::accounts::insert_smtp_account(
                &mut conn,
                &NewSmtpAccount {
                    from_name: "Provedor Exemplo".into(),
                    ..NewSmtpAccount::folder(
                        DEMO_ACCOUNT,
                        &mail_dir.display().to_string(),
                        crate::domain::EmailAddress::parse("cobranca@provedorexemplo.com.br")
                            .map_err(anyhow::Error::msg)?,
                    )
                },
                None,
                clock.now_millis(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            store::parties::set_setting(
                &mut conn,
                store::accounts::SETTING_FINANCIAL_ACCOUNT,
                DEMO_ACCOUNT,
            )
            .await?;
            store::accounts::get_smtp_account(&mut conn, id).await?
        }
    };
    let today = clock.today();
    let soon = today.checked_add(jiff::Span::new().days(5))?;
    let due: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, due_date FROM invoices WHERE status = 'open' AND due_date <= $1 AND delivery_type = 'email' ORDER BY id",
    )
    .bind(soon.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let before = store::layouts::layout_for_purpose(&mut conn, Purpose::ReminderBeforeDue)
        .await?
        .map(|l| l.id);
    let after = store::layouts::layout_for_purpose(&mut conn, Purpose::ReminderAfterDue)
        .await?
        .map(|l| l.id);
    let today_text = today.to_string();
    let mut tx = db.begin().await?;
    for (id, due_date) in due {
        let (purpose, kind, layout) = if due_date < today_text {
            (Purpose::ReminderAfterDue, "after", after)
        } else {
            (Purpose::ReminderBeforeDue, "before", before)
        };
        crate::delivery::enqueue_invoice_email(
            &mut tx,
            crate::domain::InvoiceId(id),
            &account,
            purpose,
            layout,
            crate::delivery::NoticeKey::Demo {
                kind: kind.to_string(),
                invoice: crate::domain::InvoiceId(id),
            },
            &crate::domain::Actor::Demo.to_string(),
            clock.now_millis(),
        )
        .await?;
    }
    // A temporary suspension of the first contract, from three days on, on the demo's first
    // run: its "suspensão agendada" notice joins the folder (docs/suspension.md).
    let none_yet: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM suspensions")
        .fetch_one(&mut *tx)
        .await?;
    if none_yet == 0
        && let Some(contract) =
            store::parties::find_contract_by_external_id(&mut tx, "K00001").await?
    {
        let from = today.checked_add(jiff::Span::new().days(3))?;
        crate::suspension::suspend(
            &mut tx,
            &crate::suspension::SuspendRequest {
                contract: contract.external_id,
                from,
                to: from.checked_add(jiff::Span::new().days(14))?,
                reason: "Viagem de férias".into(),
                actor: crate::domain::Actor::Demo.to_string(),
            },
            today,
            clock.now_millis(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    tx.commit().await?;
    drop(conn);
    let worker = Worker::new(db.clone(), clock.clone(), WorkerOptions::default(), None);
    let report = worker.drain(|_| {}).await?;
    let mut conn = db.pool.acquire().await?;
    let total_sent = store::outbox::count_notices_by_status(&mut conn)
        .await?
        .get("sent")
        .copied()
        .unwrap_or(0);
    Ok(DemoMail {
        sent_now: report.sent,
        total_sent,
    })
}

/// The demo's folder account.
pub const DEMO_ACCOUNT: &str = "Caixa de saída local";

/// Runs `regua demo`: seed on first run, then print what is there.
pub async fn run(args: &DemoArgs, clock: &Clock, database: Option<&str>) -> anyhow::Result<Db> {
    let url = match database {
        Some(u) => u.to_string(),
        None => format!("sqlite://{}", args.file.display()),
    };
    let db = Db::connect_and_migrate(&url).await?;
    let mut conn = db.pool.acquire().await?;
    let existing = store::parties::count_customers(&mut conn).await?;
    drop(conn);
    let mut out = String::new();
    if existing == 0 {
        let n = seed(&db, args.customers, clock).await?;
        writeln!(
            out,
            "Demo criada em {}: {n} clientes do Provedor Exemplo.",
            store::redact_url(&url)
        )?;
    } else {
        writeln!(
            out,
            "Demo já existente em {} ({existing} clientes).",
            store::redact_url(&url)
        )?;
    }
    // The messages' links (the portal's) follow where this run listens, not the default port.
    let portal = if args.bind.ip().is_unspecified() {
        format!("http://localhost:{}", args.bind.port())
    } else {
        format!("http://{}", args.bind)
    };
    let mut conn = db.pool.acquire().await?;
    store::parties::set_setting(&mut conn, "portal_url", &portal).await?;
    drop(conn);
    let mail_dir = mail_dir_for(&args.file);
    let mail = send_demo_mail(&db, clock, &mail_dir).await?;
    let mut conn = db.pool.acquire().await?;
    let (open, paid, cancelled) = store::invoices::count_invoices_by_status(&mut conn).await?;
    let wallets = store::parties::list_wallets(&mut conn).await?;
    writeln!(out, "Hoje: {}", format_date(clock.today()))?;
    writeln!(
        out,
        "Carteiras de cobrança: {}",
        wallets
            .iter()
            .map(|w| format!("{} ({})", w.name, w.bank_code))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "Faturas: {open} abertas, {paid} pagas, {cancelled} canceladas"
    )?;
    writeln!(
        out,
        "E-mails: {} enviados para a pasta {} (abra os .eml em qualquer leitor de e-mail); {} no total no log",
        mail.sent_now,
        mail_dir.display(),
        mail.total_sent
    )?;
    writeln!(
        out,
        "Experimente: regua --database {url} invoices list --contract K00001"
    )?;
    writeln!(out, "             regua --database {url} log --status sent")?;
    print!("{out}");
    Ok(db)
}

/// The demo's administrator: created on first run, and given a new password on every run
/// (only its hash is stored, so the demo prints a fresh one). Returns the password.
pub async fn reset_admin(db: &Db, clock: &Clock) -> anyhow::Result<String> {
    let password = crate::web::auth::new_password();
    let mut conn = db.pool.acquire().await?;
    if store::auth::user_for_login(&mut conn, "admin")
        .await?
        .is_some()
    {
        store::auth::set_user_password(&mut conn, "admin", &password, clock.now_millis()).await?;
    } else {
        store::auth::insert_user(
            &mut conn,
            "admin",
            "Administrador da demo",
            crate::web::auth::Role::Admin,
            &password,
            clock.now_millis(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(password)
}

/// The demo's subscriber for the Central do Assinante: the customer of the first contract gets
/// a new portal password on every run, and the portal offers "enviar por e-mail" unless an
/// administrator turned it off. Returns the document (formatted) and the password.
pub async fn reset_subscriber(db: &Db, clock: &Clock) -> anyhow::Result<(String, String)> {
    let password = crate::web::auth::new_password();
    let mut conn = db.pool.acquire().await?;
    let contract = store::parties::find_contract_by_external_id(&mut conn, "K00001")
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo has no contract K00001"))?;
    let customer = store::parties::get_customer(&mut conn, contract.customer_id).await?;
    store::subscribers::set_portal_password(
        &mut conn,
        customer.document.digits(),
        &crate::web::auth::hash_password(&password),
        clock.now_millis(),
    )
    .await?;
    if store::parties::get_setting(&mut conn, store::settings::SETTING_PORTAL_SEND_EMAIL)
        .await?
        .is_none()
    {
        store::parties::set_setting(&mut conn, store::settings::SETTING_PORTAL_SEND_EMAIL, "yes")
            .await?;
    }
    Ok((customer.document.to_string(), password))
}
