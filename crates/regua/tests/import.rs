//! CSV import: all-or-nothing, line-numbered errors, re-import updates, both separators and
//! both number/date formats; on SQLite and PostgreSQL, and through the real `regua` binary.

mod common;

use common::*;
use regua::domain::*;
use regua::import::{ImportError, ImportKind, import_csv};
use regua::store;

const CUSTOMERS_HEADER: &str = "external_id,name,document,email,mobile_phone";

async fn import_err(db: &store::Db, kind: ImportKind, csv: &str) -> Vec<String> {
    match import_csv(db, kind, csv.as_bytes(), &clock_on("2026-01-05")).await {
        Err(ImportError::BadRows(rows)) => rows.iter().map(ToString::to_string).collect(),
        other => panic!("expected bad rows, got {other:?}"),
    }
}

#[tokio::test]
async fn a_file_with_any_bad_row_imports_nothing_and_names_every_bad_row() {
    for t in each_backend().await {
        let csv = format!(
            "{CUSTOMERS_HEADER}\n\
             C1,Maria,529.982.247-25,maria@exemplo.com.br,11987654321\n\
             C2,José,111.444.777-36,jose@exemplo.com.br,\n\
             C3,,111.444.777-35,nao-e-email,(11) 3456-7890\n\
             C1,Maria de novo,529.982.247-25,,\n"
        );
        let errors = import_err(&t.db, ImportKind::Customers, &csv).await;
        assert_eq!(
            errors,
            [
                "line 3: document: \"111.444.777-36\" is not a valid CPF or CNPJ: second check digit does not match",
                "line 4: name: is empty",
                "line 4: email: \"nao-e-email\" has no @",
                "line 4: mobile_phone: \"(11) 3456-7890\" has 8 digits after the area code; mobiles have 9 starting with 9",
                "line 5: external_id: \"C1\" appears again (first on line 2)",
            ],
            "{}",
            t.label
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        assert_eq!(
            store::parties::count_customers(&mut conn).await.unwrap(),
            0,
            "{}: nothing imported",
            t.label
        );
    }
}

#[tokio::test]
async fn a_missing_column_is_reported_on_the_header_line() {
    let t = sqlite().await;
    let errors = import_err(
        &t.db,
        ImportKind::Customers,
        "external_id;name;documento\nC1;Maria;52998224725\n",
    )
    .await;
    assert_eq!(
        errors,
        [
            "line 1: document: required column is missing from the header",
            "line 1: email: required column is missing from the header",
            "line 1: mobile_phone: required column is missing from the header",
        ]
    );
}

#[tokio::test]
async fn reimporting_a_row_updates_it() {
    for t in each_backend().await {
        let first = import_ok(
            &t.db,
            ImportKind::Customers,
            &format!("{CUSTOMERS_HEADER}\nC1,Maria,52998224725,,\nC2,João,11144477735,,\n"),
        )
        .await;
        assert_eq!((first.created, first.updated), (2, 0));
        // Semicolons, extra columns, a BOM, upper-case header and a quoted field: all accepted.
        let second = import_ok(
            &t.db,
            ImportKind::Customers,
            "\u{feff}EXTERNAL_ID;Name;document;email;mobile_phone;observacao\nC1;\"Maria Souza; filial\";529.982.247-25;maria@exemplo.com.br;11 98765-4321;x\n",
        )
        .await;
        assert_eq!((second.created, second.updated), (0, 1), "{}", t.label);
        let mut conn = t.db.pool.acquire().await.unwrap();
        let c1 = store::parties::find_customer_by_external_id(&mut conn, "C1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c1.name, "Maria Souza; filial");
        assert_eq!(c1.email.unwrap().as_str(), "maria@exemplo.com.br");
        assert_eq!(store::parties::count_customers(&mut conn).await.unwrap(), 2);
    }
}

#[tokio::test]
async fn contracts_invoices_and_payments_import_with_both_number_and_date_forms() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 10, "email").await;
        let invoices = "external_id,contract_external_id,amount,issue_date,due_date,status\n\
                        F1,K1,1234.56,2026-01-01,2026-01-10,aberta\n\
                        F2,K1,\"1.234,56\",01/02/2026,10/02/2026,OPEN\n\
                        F3,K1,99,01/03/2026,10/03/2026,Cancelada\n\
                        F4,K1,\"50,00\",01/12/2025,10/12/2025,paga\n";
        assert_eq!(
            import_ok(&t.db, ImportKind::Invoices, invoices)
                .await
                .created,
            4
        );
        let mut conn = t.db.pool.acquire().await.unwrap();
        let f2 = store::invoices::find_invoice_by_external_id(&mut conn, "F2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (f2.amount, f2.due_date.to_string(), f2.status),
            (Money(123456), "2026-02-10".into(), InvoiceStatus::Open)
        );
        assert_eq!(f2.delivery_type, DeliveryType::Email);
        let f4 = store::invoices::find_invoice_by_external_id(&mut conn, "F4")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            f4.status,
            InvoiceStatus::Paid {
                paid_on: "2025-12-10".parse().unwrap(),
                amount: Money(5000)
            },
            "{}",
            t.label
        );
        drop(conn);
        let payments = "invoice_external_id;paid_on;amount\nF1;12/01/2026;1234,56\n";
        import_ok(&t.db, ImportKind::Payments, payments).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let f1 = store::invoices::find_invoice_by_external_id(&mut conn, "F1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            f1.status,
            InvoiceStatus::Paid {
                paid_on: "2026-01-12".parse().unwrap(),
                amount: Money(123456)
            }
        );
        // Imported invoices count for generation: January and February exist, so only March on.
        drop(conn);
        let g = regua::invoicing::generate_invoices(&t.db, "K1", 3, &clock_on("2026-01-05"))
            .await
            .unwrap();
        assert_eq!(
            g.skipped_months,
            ["2026-01", "2026-02", "2026-03"],
            "{}: a cancelled month stays cancelled",
            t.label
        );
    }
}

#[tokio::test]
async fn references_to_unknown_records_are_bad_rows_that_list_what_exists() {
    for t in each_backend().await {
        add_bb_wallet_and_method(&t.db).await;
        customer_with_contract(&t.db, 10, "email").await;
        let contracts = "external_id,customer_external_id,plan,monthly_amount,due_day,delivery_type,billing_method\n\
                         K2,C9,Fibra,100,10,email,Boleto BB\n\
                         K3,C1,Fibra,100,32,carta,Pix\n";
        let errors = import_err(&t.db, ImportKind::Contracts, contracts).await;
        assert_eq!(
            errors,
            [
                "line 2: customer_external_id: no customer with external id \"C9\"",
                "line 3: due_day: \"32\" is not a day between 1 and 31",
                "line 3: delivery_type: \"carta\" is not a delivery type (email, e-mail, impresso, printed)",
                "line 3: billing_method: no billing method named \"Pix\"; known: Boleto BB",
            ],
            "{}",
            t.label
        );
        let invoices = "external_id,contract_external_id,amount,issue_date,due_date,status\n\
                        F1,K1,abc,2026-01-10,2026-01-01,pendente\n";
        let errors = import_err(&t.db, ImportKind::Invoices, invoices).await;
        assert_eq!(
            errors,
            [
                "line 2: amount: \"abc\" is not an amount",
                "line 2: due_date: 01/01/2026 is before the issue date 10/01/2026",
                "line 2: status: \"pendente\" is not a status (open/aberta, paid/paga, cancelled/cancelada)",
            ]
        );
        let payments = "invoice_external_id,paid_on,amount\nNOPE,2026-01-01,10\n";
        assert_eq!(
            import_err(&t.db, ImportKind::Payments, payments).await,
            ["line 2: invoice_external_id: no invoice with external id \"NOPE\""]
        );
    }
}

#[tokio::test]
async fn the_cli_exits_non_zero_and_prints_line_numbered_errors() {
    let t = sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("clientes.csv");
    std::fs::write(
        &bad,
        format!("{CUSTOMERS_HEADER}\nC1,Maria,52998224725,,\nC2,Ana,123,,\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["--database", &t.url, "import", "customers"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("line 3: document: \"123\" is not a valid CPF or CNPJ"),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 bad row(s); nothing was imported"),
        "{stderr}"
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    assert_eq!(store::parties::count_customers(&mut conn).await.unwrap(), 0);

    let good = dir.path().join("ok.csv");
    std::fs::write(
        &good,
        format!("{CUSTOMERS_HEADER}\nC1,Maria,52998224725,,\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(["--database", &t.url, "import", "customers"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("imported {}: 1 created, 0 updated", good.display())
    );
}

#[tokio::test]
async fn customers_carry_an_optional_postal_address_checked_by_cep_and_uf() {
    for t in each_backend().await {
        let header = format!(
            "{CUSTOMERS_HEADER},address_street,address_number,address_complement,address_district,address_zip,address_city,address_state"
        );
        // A bad CEP, a bad UF, an address without its district: each named, nothing saved.
        let bad = format!(
            "{header}\n\
             C1,Maria,529.982.247-25,,,Rua das Flores,10,,Centro,0100-100,São Paulo,SP\n\
             C2,José,111.444.777-35,,,Rua B,,,Centro,01001000,Rio,XX\n\
             C3,Ana,390.533.447-05,,,Rua C,1,,,01001000,Santos,SP\n"
        );
        assert_eq!(
            import_err(&t.db, ImportKind::Customers, &bad).await,
            [
                "line 2: address_zip: \"0100-100\" is not a CEP (8 digits)",
                "line 3: address_state: \"XX\" is not a UF",
                "line 4: address_district: is required when an address is given",
            ],
            "{}",
            t.label
        );
        // Good rows: one with an address, one without (the columns are optional).
        let good = format!(
            "{header}\n\
             C1,Maria,529.982.247-25,,,Rua das Flores,10,apto 3,Centro,01001-000,São Paulo,sp\n\
             C2,José,111.444.777-35,,,,,,,,,\n"
        );
        import_ok(&t.db, ImportKind::Customers, &good).await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let maria = store::parties::find_customer_by_external_id(&mut conn, "C1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            maria.address.as_ref().map(ToString::to_string).as_deref(),
            Some("Rua das Flores, 10, apto 3 - Centro - São Paulo/SP - CEP 01001-000"),
            "{}",
            t.label
        );
        let jose = store::parties::find_customer_by_external_id(&mut conn, "C2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(jose.address, None);
        drop(conn);
        // A file without the address columns keeps working and erases no address.
        import_ok(
            &t.db,
            ImportKind::Customers,
            &format!("{CUSTOMERS_HEADER}\nC1,Maria Silva,529.982.247-25,,\n"),
        )
        .await;
        let mut conn = t.db.pool.acquire().await.unwrap();
        let maria = store::parties::find_customer_by_external_id(&mut conn, "C1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(maria.name, "Maria Silva");
        assert_eq!(
            maria.address.map(|a| a.zip).as_deref(),
            Some("01001000"),
            "{}",
            t.label
        );
    }
}

#[tokio::test]
async fn a_windows_1252_file_is_read_with_its_accents_and_the_encoding_said() {
    let t = sqlite().await;
    // "José Conceição" as Excel saves it in Brazil: Windows-1252 bytes.
    let mut bytes = format!("{CUSTOMERS_HEADER}\nC1,Jos").into_bytes();
    bytes.push(0xE9);
    bytes.extend_from_slice(b" Concei");
    bytes.extend_from_slice(&[0xE7, 0xE3]);
    bytes.extend_from_slice(b"o,529.982.247-25,,\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clientes.csv");
    std::fs::write(&path, &bytes).unwrap();
    // Forced UTF-8: refused on the right line (the row, line 2), nothing imported.
    let out = regua_cli(
        &t.url,
        &[
            "import",
            "customers",
            path.to_str().unwrap(),
            "--encoding",
            "utf-8",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("line 2: -: not UTF-8"), "{err}");
    // Detected: read as Windows-1252, the accents kept, and said.
    let out = regua_cli(&t.url, &["import", "customers", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read as Windows-1252 (detected: not UTF-8)")
    );
    let mut conn = t.db.pool.acquire().await.unwrap();
    let c = store::parties::find_customer_by_external_id(&mut conn, "C1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.name, "José Conceição");
    // A UTF-8 file is read as UTF-8.
    let utf8 = format!("{CUSTOMERS_HEADER}\nC2,João,111.444.777-35,,\n");
    let r = import_csv(
        &t.db,
        ImportKind::Customers,
        utf8.as_bytes(),
        &clock_on("2026-01-05"),
    )
    .await
    .unwrap();
    assert_eq!(r.encoding, regua::import::Encoding::Utf8);
}
