//! Remessa end to end, on SQLite and PostgreSQL, through the real `regua` binary: a CNAB 240
//! wallet's invoices go out once each (their our number, amount, due date and payer CPF read
//! back here by slicing the FEBRABAN positions, not by the writer's code), the sequence number
//! grows once per file, a payer without an address is left out with the reason, a cancelled
//! invoice is written off and a changed due date or amount sent as a change, file N downloads again as
//! the same bytes, and the bank's return file marks each invoice registered or rejected.

mod common;

use common::*;
use regua::domain::charges::{Registration, Terms};
use regua::store;

/// Field `a..=b` (1-based) of a line.
fn f(line: &str, a: usize, b: usize) -> &str {
    &line[a - 1..b]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallets_remessa_registers_each_invoice_once_and_follows_its_changes() {
    for t in each_backend().await {
        let label = t.label;
        add_bb_wallet_and_method(&t.db).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let wallet = store::parties::list_wallets(&mut conn).await.unwrap()[0].clone();
        let terms = Terms {
            fine_bp: 200,
            interest_bp_month: 100,
            ..Terms::default()
        };
        store::parties::update_wallet_terms(&mut conn, wallet.id, Registration::Cnab240, &terms)
            .await
            .unwrap();
        store::parties::set_setting(&mut conn, "company_document", "11.222.333/0001-81")
            .await
            .unwrap();
        drop(conn);
        import_ok(
            &t.db,
            regua::import::ImportKind::Customers,
            "external_id,name,document,email,mobile_phone,address_street,address_number,address_complement,address_district,address_zip,address_city,address_state\n\
             C1,Maria Silva,529.982.247-25,maria@exemplo.com.br,,Rua das Flores,10,,Centro,01001-000,São Paulo,SP\n\
             C2,João Souza,111.444.777-35,joao@exemplo.com.br,,,,,,,,\n",
        )
        .await;
        import_ok(
            &t.db,
            regua::import::ImportKind::Contracts,
            "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\n\
             K1,C1,Fibra 500,\"119,90\",10,email,Boleto BB\n\
             K2,C2,Fibra 300,\"99,90\",10,email,Boleto BB\n",
        )
        .await;
        let clock = clock_on("2026-01-05");
        let maria = regua::invoicing::generate_invoices(&t.db, "K1", 2, &clock)
            .await
            .unwrap()
            .created;
        regua::invoicing::generate_invoices(&t.db, "K2", 1, &clock)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.rem");

        // The first file: Maria's two invoices; João's left out for want of an address.
        let out = regua_cli(
            &t.url,
            &[
                "cnab",
                "remessa",
                "--wallet",
                "BB",
                "--output",
                first.to_str().unwrap(),
                "--date",
                "2026-01-06",
            ],
        );
        assert!(out.status.success(), "{label}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("(NSA 1): 2 entries, 0 write-offs, 0 changes"),
            "{stdout}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("left out: K2/2026-01: o cliente não tem endereço"),
            "{stderr}"
        );
        let bytes = std::fs::read(&first).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.ends_with("\r\n"));
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(
            lines.iter().all(|l| l.len() == 240 && l.is_ascii()),
            "{label}"
        );
        assert_eq!(
            (f(lines[0], 1, 3), f(lines[0], 8, 8), f(lines[0], 143, 143)),
            ("001", "0", "1")
        );
        assert_eq!(f(lines[0], 144, 151), "06012026");
        assert_eq!(f(lines[0], 158, 163), "000001", "NSA");
        assert_eq!(f(lines[0], 19, 32), "11222333000181");
        // Batch trailer: its records (header + 2 × P/Q/R + trailer); file trailer: all of them.
        assert_eq!(f(lines[8], 8, 8), "5");
        assert_eq!(f(lines[8], 18, 23), "000008");
        assert_eq!(f(lines[9], 24, 29), "000010");
        for (k, inv) in maria.iter().enumerate() {
            let p = lines[2 + 3 * k];
            let q = lines[3 + 3 * k];
            assert_eq!((f(p, 8, 8), f(p, 14, 14), f(p, 16, 17)), ("3", "P", "01"));
            let printed = regua::payment::printed_our_number(inv.into(), &wallet).unwrap();
            let digits: String = printed.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(f(p, 38, 57).trim_end(), digits, "{label}: our number");
            assert_eq!(f(p, 78, 85), inv.due_date.strftime("%d%m%Y").to_string());
            assert_eq!(f(p, 86, 100), "000000000011990");
            // Interest R$ 0,04 a day (119,90 × 1 % / 30), fine 2 %.
            assert_eq!(f(p, 118, 118), "1");
            assert_eq!(f(p, 127, 141), "000000000000004");
            assert_eq!(f(lines[4 + 3 * k], 66, 66), "2");
            assert_eq!((f(q, 14, 14), f(q, 19, 33)), ("Q", "000052998224725"));
            assert_eq!(f(q, 129, 136), "01001000");
        }

        // Nothing new: no file, the sequence number not taken.
        let again = regua_cli(
            &t.url,
            &[
                "cnab",
                "remessa",
                "--wallet",
                "BB",
                "--output",
                dir.path().join("none.rem").to_str().unwrap(),
            ],
        );
        assert_eq!(again.status.code(), Some(1), "{label}: {again:?}");
        assert!(!dir.path().join("none.rem").exists());

        // One invoice cancelled, the other's due date and amount changed: a write-off and two
        // changes, NSA 2.
        let mut conn = t.db.pool.acquire().await.unwrap();
        sqlx::query("UPDATE invoices SET status = 'cancelled' WHERE id = $1")
            .bind(maria[0].id.0)
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query(
            "UPDATE invoices SET due_date = '2026-02-20', amount_cents = 12990 WHERE id = $1",
        )
        .bind(maria[1].id.0)
        .execute(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        let second = dir.path().join("second.rem");
        let out = regua_cli(
            &t.url,
            &[
                "cnab",
                "remessa",
                "--wallet",
                "BB",
                "--output",
                second.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{label}: {out:?}");
        let text2 = std::fs::read_to_string(&second).unwrap();
        let lines2: Vec<&str> = text2.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(f(lines2[0], 158, 163), "000002", "NSA grows once");
        let movements: Vec<&str> = lines2
            .iter()
            .filter(|l| f(l, 14, 14) == "P")
            .map(|l| f(l, 16, 17))
            .collect();
        // The due date moved (06) and the amount changed (31, "alteração de outros dados").
        assert_eq!(movements, ["02", "06", "31"], "{label}");
        assert!(lines2.iter().any(|l| f(l, 14, 14) == "P"
            && f(l, 16, 17) == "31"
            && f(l, 86, 100) == "000000000012990"));
        assert!(
            lines2
                .iter()
                .any(|l| f(l, 14, 14) == "P" && f(l, 78, 85) == "20022026")
        );

        // File 1 downloads again as the same bytes.
        let mut conn = t.db.pool.acquire().await.unwrap();
        let files = store::remessa::list_files(&mut conn, 10).await.unwrap();
        assert_eq!(files.len(), 2);
        let (_, content) = store::remessa::get_file(&mut conn, files[1].id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(content.as_bytes(), bytes.as_slice(), "{label}");
        drop(conn);

        // The bank answers: the second invoice registered… and an invented rejection for the
        // first (occurrence 03): each invoice shows the bank's word.
        let return_file = bb_return(&[
            (
                regua::payment::printed_our_number((&maria[1]).into(), &wallet).unwrap(),
                "02",
                0,
            ),
            (
                regua::payment::printed_our_number((&maria[0]).into(), &wallet).unwrap(),
                "03",
                0,
            ),
        ]);
        let path = dir.path().join("ret.ret");
        std::fs::write(&path, &return_file).unwrap();
        let out = regua_cli(&t.url, &["cnab", "import", path.to_str().unwrap()]);
        assert!(out.status.success(), "{label}: {out:?}");
        let mut conn = t.db.pool.acquire().await.unwrap();
        for (invoice, want) in [(&maria[1], "registered"), (&maria[0], "rejected")] {
            let word = store::bank_returns::bank_status_of(&mut conn, invoice.id)
                .await
                .unwrap()
                .map(|(s, _)| s);
            assert_eq!(word.as_deref(), Some(want), "{label}");
        }
    }
}

/// One wallet per bank Régua writes a remessa for, with the boleto vectors' agreements.
fn bank_wallets() -> Vec<(regua::domain::NewWallet, Registration)> {
    let w = |bank: &str, agency: &str, account: &str, wallet: &str, agreement: &str| {
        regua::domain::NewWallet {
            name: format!("Banco {bank}"),
            bank_code: bank.into(),
            agency: agency.into(),
            account: account.into(),
            wallet_code: wallet.into(),
            agreement: agreement.into(),
            kind: regua::domain::WalletKind::Bank,
            send_on_generate: false,
            pix_key: None,
            registration: Registration::Erp,
            terms: Terms::default(),
        }
    };
    vec![
        (
            w("001", "4042", "61900", "18", "1238798"),
            Registration::Cnab240,
        ),
        (
            w("033", "0059", "013000123", "102", "1899775"),
            Registration::Cnab240,
        ),
        (
            w("104", "1825", "0000528", "1", "245274"),
            Registration::Cnab240,
        ),
        (
            w("748", "0710", "61900", "3", "65.129"),
            Registration::Cnab240,
        ),
        (
            w("756", "4327", "417270", "1", "229385"),
            Registration::Cnab240,
        ),
        (
            w("237", "1172", "0403005", "06", "12387989"),
            Registration::Cnab400,
        ),
        (
            w("341", "0810", "53678", "175", "12387"),
            Registration::Cnab400,
        ),
    ]
}

/// The README's positions (`shared/vectors/cnab/README.md`, "Remessa positions"), sliced here
/// independently of the writer: (our number, due date, amount, payer document) of each title.
fn titles_of(
    bank: &str,
    layout: Registration,
    text: &str,
) -> Vec<(String, String, String, String)> {
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let width = if layout == Registration::Cnab240 {
        240
    } else {
        400
    };
    assert!(
        lines.iter().all(|l| l.len() == width && l.is_ascii()),
        "{bank}"
    );
    if layout == Registration::Cnab400 {
        assert_eq!(&lines[0][..19], "01REMESSA01COBRANCA", "{bank}");
        assert_eq!(&lines[0][76..79], bank);
        for (n, l) in lines.iter().enumerate() {
            assert_eq!(&l[394..400], format!("{:06}", n + 1), "{bank}: sequence");
        }
        assert!(lines.last().unwrap().starts_with('9'));
        let on = if bank == "237" { (71, 82) } else { (63, 70) };
        return lines
            .iter()
            .filter(|l| l.starts_with('1'))
            .map(|l| {
                (
                    f(l, on.0, on.1).to_string(),
                    f(l, 121, 126).to_string(),
                    f(l, 127, 139).to_string(),
                    f(l, 221, 234).to_string(),
                )
            })
            .collect();
    }
    assert_eq!((&lines[0][..3], &lines[0][3..8]), (bank, "00000"), "{bank}");
    assert_eq!(f(lines[1], 8, 9), "1R");
    let batch_trailer = lines[lines.len() - 2];
    assert_eq!(f(batch_trailer, 8, 8), "5");
    assert_eq!(
        f(batch_trailer, 18, 23),
        format!("{:06}", lines.len() - 2),
        "{bank}"
    );
    let file_trailer = lines[lines.len() - 1];
    assert_eq!(
        (f(file_trailer, 4, 8), f(file_trailer, 18, 23)),
        ("99999", "000001")
    );
    assert_eq!(
        f(file_trailer, 24, 29),
        format!("{:06}", lines.len()),
        "{bank}"
    );
    let on = match bank {
        "033" => (45, 57),
        "104" => (41, 57),
        "756" => (38, 47),
        _ => (38, 57),
    };
    let mut out = Vec::new();
    for (k, l) in lines.iter().enumerate() {
        if f(l, 14, 14) == "P" {
            let q = lines[k + 1];
            assert_eq!(f(q, 14, 14), "Q", "{bank}");
            out.push((
                f(l, on.0, on.1).trim().to_string(),
                f(l, 78, 85).to_string(),
                f(l, 86, 100).to_string(),
                f(q, 19, 33).to_string(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_required_bank_and_layout_writes_its_invoices_at_the_manuals_positions() {
    let t = sqlite().await;
    import_ok(
        &t.db,
        regua::import::ImportKind::Customers,
        "external_id,name,document,email,mobile_phone,address_street,address_number,address_complement,address_district,address_zip,address_city,address_state\n\
         C1,Maria Silva,529.982.247-25,,,Rua das Flores,10,,Centro,01001-000,São Paulo,SP\n",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    for (n, (wallet, registration)) in bank_wallets().into_iter().enumerate() {
        let bank = wallet.bank_code.clone();
        let name = wallet.name.clone();
        let mut conn = t.db.pool.acquire().await.unwrap();
        let id = store::parties::insert_wallet(&mut conn, &wallet, 0)
            .await
            .unwrap();
        store::parties::update_wallet_terms(&mut conn, id, registration, &Terms::default())
            .await
            .unwrap();
        store::parties::insert_billing_method(&mut conn, &format!("Boleto {bank}"), &name, 0)
            .await
            .unwrap();
        drop(conn);
        import_ok(
            &t.db,
            regua::import::ImportKind::Contracts,
            &format!(
                "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\n\
                 K{n},C1,Fibra,\"1{n}9,90\",10,email,Boleto {bank}\n"
            ),
        )
        .await;
        let invoices = regua::invoicing::generate_invoices(
            &t.db,
            &format!("K{n}"),
            2,
            &clock_on("2026-01-05"),
        )
        .await
        .unwrap()
        .created;
        let path = dir.path().join(format!("{bank}.rem"));
        let out = regua_cli(
            &t.url,
            &[
                "cnab",
                "remessa",
                "--wallet",
                &name,
                "--output",
                path.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{bank}: {out:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        let titles = titles_of(&bank, registration, &text);
        assert_eq!(titles.len(), invoices.len(), "{bank}");
        for (inv, (on, due, amount, doc)) in invoices.iter().zip(&titles) {
            // Our number: the invoice's sequence at the end, with or without one check digit
            // (and the prefix the bank wants: BB's convênio, CAIXA's modalidade).
            let seq = inv.our_number.to_string();
            let digits: String = on.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            let without_dv = &digits[..digits.len() - 1];
            assert!(
                digits.ends_with(&seq) || without_dv.ends_with(&seq),
                "{bank}: our number {on:?} does not carry {seq}"
            );
            let want_due = if registration == Registration::Cnab240 {
                inv.due_date.strftime("%d%m%Y").to_string()
            } else {
                inv.due_date.strftime("%d%m%y").to_string()
            };
            assert_eq!(due, &want_due, "{bank}");
            assert_eq!(amount.parse::<i64>().unwrap(), inv.amount.cents(), "{bank}");
            assert_eq!(doc.trim_start_matches('0'), "52998224725", "{bank}");
        }
    }
}
