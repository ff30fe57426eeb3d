//! The ERP's own boleto, carried unchanged: an invoice imported with the ERP's our number and
//! digitable line is e-mailed with a PDF whose barcode (decoded by zbarimg) is the ERP's, not
//! one Régua would compute; a line that does not match the row is a bad row naming the column.

mod common;

use common::*;
use regua::import::{ImportError, ImportKind};
use regua::store;

/// The PDF attached to an `.eml`: the base64 part after `Content-Type: application/pdf`.
fn pdf_of(eml: &str) -> Vec<u8> {
    use base64::Engine as _;
    let at = eml
        .find("Content-Type: application/pdf")
        .expect("a PDF part");
    let body_start = eml[at..].find("\r\n\r\n").map(|i| at + i + 4).unwrap();
    let body: String = eml[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--") && !l.is_empty())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("base64 PDF")
}

fn scan(pdf: &[u8], dir: &std::path::Path) -> Vec<String> {
    let pdf_path = dir.join("boleto.pdf");
    std::fs::write(&pdf_path, pdf).unwrap();
    let status = std::process::Command::new("pdftoppm")
        .args(["-r", "300", "-png", "-singlefile"])
        .arg(&pdf_path)
        .arg(dir.join("page"))
        .status()
        .expect("pdftoppm (poppler-utils) must be installed: run ./scripts/test");
    assert!(status.success());
    let out = std::process::Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(dir.join("page.png"))
        .output()
        .expect("zbarimg (zbar-tools) must be installed: run ./scripts/test");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_erp_boleto_is_the_one_emailed() {
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    customer_with_contract(&t.db, 10, "email").await;
    // The ERP registered the boleto under another convênio than the wallet Régua knows: its
    // barcode is not the one Régua would compute.
    let due: jiff::civil::Date = "2026-02-10".parse().unwrap();
    let erp_input = boleto::BoletoInput {
        bank: "001".into(),
        agency: "4042".into(),
        account: Some("61900".into()),
        wallet: Some("18".into()),
        agreement: Some("7654321".into()),
        our_number: "555".into(),
        due_date: due,
        amount_cents: 11990,
        ..boleto::BoletoInput::default()
    };
    let erp = erp_input.codes().unwrap();
    let header = "external_id,contract_external_id,amount,issue_date,due_date,status,our_number,digitable_line\n";
    // A line for another amount is a bad row, naming the column; nothing is imported.
    let wrong = format!(
        "{header}ERP-1,K1,\"100,00\",05/01/2026,10/02/2026,aberta,555,{}\n",
        erp.digitable_line.formatted()
    );
    match regua::import::import_csv(
        &t.db,
        ImportKind::Invoices,
        wrong.as_bytes(),
        &clock_on("2026-01-05"),
    )
    .await
    {
        Err(ImportError::BadRows(rows)) => {
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(rows[0].column, "digitable_line");
            assert!(
                rows[0].reason.contains("is for R$ 119,90"),
                "{}",
                rows[0].reason
            );
        }
        other => panic!("{other:?}"),
    }
    let good = format!(
        "{header}ERP-1,K1,\"119,90\",05/01/2026,10/02/2026,aberta,555,{}\n",
        erp.digitable_line.formatted()
    );
    import_ok(&t.db, ImportKind::Invoices, &good).await;
    let mut conn = t.db.pool.acquire().await.unwrap();
    let inv = store::invoices::find_invoice_by_external_id(&mut conn, "ERP-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        inv.our_number, 555,
        "the ERP's our number, not one allocated"
    );
    drop(conn);
    // E-mailed through a folder account: the attached PDF's barcode is the ERP's.
    let dir = tempfile::tempdir().unwrap();
    let account = folder_account(&t.db, dir.path()).await;
    let clock = clock_on("2026-01-06");
    queue_invoice_email(&t.db, &inv, &account, "erp:1", clock.now_millis()).await;
    worker_at(&t.db, &clock).drain(|_| {}).await.unwrap();
    let eml = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "eml"))
        .expect("the message");
    let text = std::fs::read_to_string(eml).unwrap();
    let scanned = scan(&pdf_of(&text), dir.path());
    assert!(
        scanned.contains(&erp.barcode.as_str().to_string()),
        "{scanned:?} should hold {}",
        erp.barcode.as_str()
    );
    // Régua's own computation for the same invoice would differ.
    let mut conn = t.db.pool.acquire().await.unwrap();
    let wallet = store::parties::list_wallets(&mut conn).await.unwrap()[0].clone();
    let ours = regua::payment::printed_our_number((&inv).into(), &wallet).unwrap();
    assert!(!ours.is_empty());
    let computed = boleto::BoletoInput {
        agreement: Some(wallet.agreement.clone()),
        ..erp_input
    }
    .codes()
    .unwrap();
    assert_ne!(computed.barcode, erp.barcode);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_carries_the_erp_boleto_too() {
    use regua::actions::records::{InvoiceInput, Refused, Save, save_invoice};
    let t = sqlite().await;
    add_bb_wallet_and_method(&t.db).await;
    customer_with_contract(&t.db, 10, "email").await;
    let due: jiff::civil::Date = "2026-02-10".parse().unwrap();
    let erp = boleto::BoletoInput {
        bank: "001".into(),
        agency: "4042".into(),
        account: Some("61900".into()),
        wallet: Some("18".into()),
        agreement: Some("7654321".into()),
        our_number: "777".into(),
        due_date: due,
        amount_cents: 5000,
        ..boleto::BoletoInput::default()
    }
    .codes()
    .unwrap();
    let input = |amount: i64| InvoiceInput {
        external_id: "ERP-9".into(),
        contract: Some("K1".into()),
        amount: regua::domain::Money(amount),
        issue_date: "2026-01-05".parse().unwrap(),
        due_date: due,
        erp_our_number: "777".into(),
        erp_digitable_line: erp.digitable_line.formatted(),
        erp_pix_code: String::new(),
    };
    let actor = regua::domain::Actor::Api("erp".into());
    let refused = save_invoice(&t.db, &input(4000), Save::Create, &actor, 1)
        .await
        .unwrap();
    assert!(
        matches!(
            refused,
            Err(Refused::Invalid {
                field: "digitable_line",
                ..
            })
        ),
        "{refused:?}"
    );
    save_invoice(&t.db, &input(5000), Save::Create, &actor, 1)
        .await
        .unwrap()
        .unwrap();
    let mut conn = t.db.pool.acquire().await.unwrap();
    let inv = store::invoices::find_invoice_by_external_id(&mut conn, "ERP-9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.our_number, 777);
    assert_eq!(
        inv.registered_barcode.as_deref(),
        Some(erp.barcode.as_str())
    );
    let codes = regua::payment::payment_codes(&mut conn, &inv, inv.due_date)
        .await
        .unwrap();
    assert_eq!(codes.line, Some(erp.digitable_line.formatted()));
}
