//! `regua boleto codes|pdf|check` through the real binary.

use std::process::Command;

fn regua(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_regua"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn codes_prints_the_barcode_and_line_of_an_input_file_and_pdf_writes_a_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("boleto.json");
    std::fs::write(
        &input,
        r#"{"bank":"237","agency":"1172","account":"0403005","wallet":"06","our_number":"75896452","due_date":"2009-04-30","amount_cents":295295,"agreement":"12387989"}"#,
    )
    .unwrap();
    let out = regua(&["boleto", "codes", "--input", input.to_str().unwrap()]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["barcode"],
        "23795422300002952951172060007589645204030050"
    );
    assert_eq!(json["digitable_line"].as_str().unwrap().len(), 47);

    let pdf = dir.path().join("boleto.pdf");
    let out = regua(&[
        "boleto",
        "pdf",
        "--input",
        input.to_str().unwrap(),
        "--output",
        pdf.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
}

#[test]
fn a_missing_input_key_is_named_and_the_command_fails() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("boleto.json");
    std::fs::write(&input, r#"{"bank":"748","agency":"0710","wallet":"1","agreement":"129","our_number":"1","due_date":"2026-12-10","amount_cents":100}"#).unwrap();
    let out = regua(&["boleto", "codes", "--input", input.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`extra.station` is required for bank 748")
    );
}

#[test]
fn check_names_the_field_whose_digit_is_wrong() {
    let ok = regua(&[
        "boleto",
        "check",
        "00190.00009 01238.798977 77700.168188 3 37690000013500",
    ]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("valid: bank 001"));
    let bad = regua(&[
        "boleto",
        "check",
        "00190.00009 01238.798978 77700.168188 3 37690000013500",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("field 2's check digit is 8, expected 7")
    );
}
