//! The sample boleto shared by the PDF scan test and `cargo bench -p boleto`.

use boleto::{BoletoInput, BrCode, Party};

/// A Banco do Brasil boleto with a PIX QR code ("boleto híbrido"), accented payer and
/// instructions: the page a typical ISP prints.
pub fn hybrid_boleto(due_date: jiff::civil::Date, our_number: u32) -> BoletoInput {
    let mut pix = BrCode::new_static(
        "financeiro@provedorexemplo.com.br",
        "Provedor Exemplo Ltda",
        "SAO PAULO",
    );
    pix.amount_cents = Some(14990);
    pix.txid = format!("FAT{our_number:010}");
    BoletoInput {
        bank: "001".into(),
        agency: "4042".into(),
        account: Some("61900".into()),
        wallet: Some("18".into()),
        agreement: Some("1238798".into()),
        our_number: our_number.to_string(),
        due_date,
        issue_date: Some("2026-11-20".parse().unwrap()),
        amount_cents: 14990,
        document_number: Some(format!("K{our_number:05}")),
        beneficiary: Some(Party {
            name: "Provedor Exemplo Ltda".into(),
            document: Some("11.222.333/0001-81".into()),
            address: None,
        }),
        payer: Some(Party {
            name: "João Conceição Magalhães".into(),
            document: Some("529.982.247-25".into()),
            address: Some("Rua das Acácias, 123 — São Paulo/SP".into()),
        }),
        instructions: vec!["Após o vencimento, multa de 2% e juros de 1% ao mês.".into()],
        pix: Some(pix.to_payload().unwrap()),
        ..Default::default()
    }
}
