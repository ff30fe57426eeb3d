//! Every public test vector in `tests/data/` (copied from `shared/vectors/`) must pass.

use boleto::{BoletoInput, BrCode, DigitableLine, Document, crc16_ccitt_false, due_date_factor};
use serde_json::Value;

fn load(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn every_boleto_vector_gives_the_expected_barcode_and_digitable_line() {
    let vectors = load("boleto.json");
    assert!(vectors.len() >= 100, "expected the full vector file");
    let mut banks = std::collections::BTreeSet::new();
    for v in &vectors {
        let input: BoletoInput = serde_json::from_value(v["inputs"].clone()).unwrap();
        let codes = input
            .codes()
            .unwrap_or_else(|e| panic!("{}: {e}", v["source"]));
        assert_eq!(
            codes.barcode.as_str(),
            v["expected"]["barcode"],
            "barcode of {}",
            v["source"]
        );
        assert_eq!(
            codes.digitable_line.as_str(),
            v["expected"]["digitable_line"],
            "line of {}",
            v["source"]
        );
        // The line parses back to the same barcode.
        let parsed = DigitableLine::parse(&codes.digitable_line.formatted()).unwrap();
        assert_eq!(parsed.barcode(), codes.barcode);
        banks.insert(input.bank.clone());
    }
    assert_eq!(banks.len(), 7, "all seven banks are covered: {banks:?}");
}

#[test]
fn every_due_date_factor_vector_matches() {
    for v in load("due-date-factor.json") {
        let date: jiff::civil::Date = v["date"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            u64::from(due_date_factor(date).unwrap()),
            v["factor"].as_u64().unwrap(),
            "{date}"
        );
    }
}

#[test]
fn every_document_vector_is_accepted_or_refused_as_listed() {
    for v in load("documents.json") {
        let value = v["value"].as_str().unwrap();
        let ok = Document::parse(value).is_ok();
        assert_eq!(
            ok,
            v["valid"].as_bool().unwrap(),
            "{value}: {:?}",
            Document::parse(value)
        );
        if let Some(reason) = v["reason"].as_str() {
            let err = Document::parse(value).unwrap_err().to_string();
            let expect = match reason {
                "first check digit" => "first check digit",
                "second check digit" => "second check digit",
                "all digits equal" => "all digits are equal",
                "10 digits" => "found 10",
                "not a digit" | "check digits are always numeric" => "not allowed",
                other => panic!("unknown reason {other}"),
            };
            assert!(err.contains(expect), "{value}: {err} should say {expect}");
        }
    }
}

#[test]
fn every_pix_vector_is_verified_and_the_valid_ones_rebuild() {
    for v in load("pix.json") {
        if let Some(check) = v["crc_check"].as_str() {
            assert_eq!(
                format!("{:04X}", crc16_ccitt_false(check.as_bytes())),
                v["crc"]
            );
            continue;
        }
        let payload = v["payload"].as_str().unwrap();
        let parsed = BrCode::parse(payload);
        if !v["valid"].as_bool().unwrap() {
            let err = parsed.unwrap_err().to_string();
            let correct = v["reason"]
                .as_str()
                .unwrap()
                .split("correct: ")
                .nth(1)
                .unwrap()
                .trim_end_matches(')');
            assert!(
                err.contains(correct),
                "{err} should name the correct CRC {correct}"
            );
            continue;
        }
        let parsed = parsed.unwrap();
        let inputs = &v["inputs"];
        assert_eq!(parsed.key.as_deref(), inputs["key"].as_str());
        assert_eq!(parsed.merchant_name, inputs["merchant_name"]);
        assert_eq!(parsed.merchant_city, inputs["merchant_city"]);
        assert_eq!(parsed.txid, inputs["txid"]);
        assert_eq!(parsed.amount_cents, inputs["amount_cents"].as_u64());
        let mut built = BrCode::new_static(
            inputs["key"].as_str().unwrap(),
            inputs["merchant_name"].as_str().unwrap(),
            inputs["merchant_city"].as_str().unwrap(),
        );
        built.txid = inputs["txid"].as_str().unwrap().to_string();
        built.amount_cents = inputs["amount_cents"].as_u64();
        let rebuilt = built.to_payload().unwrap();
        // The GUI's case is free ("br.gov.bcb.pix" or upper case); everything else is exact.
        if payload.contains(boleto_gui_lower()) {
            assert_eq!(rebuilt, payload);
        } else {
            assert_eq!(BrCode::parse(&rebuilt).unwrap(), parsed);
        }
    }
}

fn boleto_gui_lower() -> &'static str {
    "0014br.gov.bcb.pix"
}
