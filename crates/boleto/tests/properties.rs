//! Property tests: barcode ⇄ digitable line round-trips, any single-digit change is detected,
//! PIX payloads round-trip through the parser.

use boleto::{Barcode, BrCode, DigitableLine};
use jiff::civil::Date;
use proptest::prelude::*;

fn any_barcode() -> impl Strategy<Value = Barcode> {
    (
        prop::sample::select(vec!["001", "033", "104", "237", "341", "748", "756"]),
        0i64..12_000,
        0u64..10_000_000_000,
        "[0-9]{25}",
    )
        .prop_map(|(bank, day, amount, free)| {
            let due = jiff::civil::date(2000, 7, 3)
                .checked_add(jiff::Span::new().days(day))
                .unwrap();
            Barcode::compose(bank, due, amount, &free).unwrap()
        })
}

proptest! {
    #[test]
    fn barcode_and_digitable_line_round_trip(b in any_barcode()) {
        let line = b.digitable_line();
        prop_assert_eq!(line.as_str().len(), 47);
        let back = DigitableLine::parse(&line.formatted()).unwrap();
        prop_assert_eq!(back.barcode(), b.clone());
        prop_assert_eq!(Barcode::parse(b.as_str()).unwrap(), b);
    }

    #[test]
    fn any_single_digit_change_in_a_line_is_detected(b in any_barcode(), pos in 0usize..47, delta in 1u8..10) {
        let line = b.digitable_line();
        let mut digits = line.as_str().as_bytes().to_vec();
        digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
        let changed = String::from_utf8(digits).unwrap();
        let accepted = DigitableLine::parse(&changed).is_ok();
        if pos < 32 {
            // Fields 1-3 carry a módulo-10 digit that catches every single-digit change, and
            // field 4 is the general digit itself.
            prop_assert!(!accepted, "{} accepted", changed);
        } else if accepted {
            // Field 5 (factor, amount) is guarded only by the general módulo-11 digit, which
            // FEBRABAN maps from remainders 0, 1 and 10 alike to 1: a change that moves the
            // remainder within that set is undetectable by design, and nothing else is.
            let barcode = DigitableLine::parse_any(&changed).map(|b| b.as_str().to_string());
            prop_assert!(barcode.is_ok());
            prop_assert!(remainder_in_collision_set(&b) && remainder_in_collision_set(&Barcode::parse(&barcode.unwrap()).unwrap()));
        }
    }

    #[test]
    fn any_single_digit_change_in_a_barcode_is_detected(b in any_barcode(), pos in 0usize..44, delta in 1u8..10) {
        let mut digits = b.as_str().as_bytes().to_vec();
        digits[pos] = b'0' + (digits[pos] - b'0' + delta) % 10;
        let changed = String::from_utf8(digits).unwrap();
        match Barcode::parse(&changed) {
            Err(_) => {}
            // Same módulo-11 collision as above; the check digit position itself never collides.
            Ok(accepted) => prop_assert!(pos != 4 && remainder_in_collision_set(&b) && remainder_in_collision_set(&accepted)),
        }
    }

    #[test]
    fn pix_payloads_round_trip(
        key in "[a-z0-9@.+-]{1,60}",
        name in "[A-Za-z ]{1,25}",
        city in "[A-Z ]{1,15}",
        txid in "[A-Za-z0-9]{1,25}",
        amount in proptest::option::of(1u64..1_000_000_000),
    ) {
        prop_assume!(!name.trim().is_empty() && !city.trim().is_empty());
        let mut code = BrCode::new_static(&key, &name, &city);
        code.txid = txid;
        code.amount_cents = amount;
        let payload = code.to_payload().unwrap();
        prop_assert_eq!(BrCode::parse(&payload).unwrap(), code);
    }
}

#[test]
fn a_wrong_field_check_digit_is_named() {
    let line = "00190000090123879897777700168188337690000013500";
    let mut d = line.as_bytes().to_vec();
    d[20] = if d[20] == b'0' { b'1' } else { b'0' }; // field 2's check digit
    let err = DigitableLine::parse(std::str::from_utf8(&d).unwrap()).unwrap_err();
    assert!(
        matches!(err, boleto::ParseError::FieldCheckDigit { field: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_parsed_line_gives_bank_amount_and_due_date() {
    let b = DigitableLine::parse("00190.00009 01238.798977 77700.168188 3 37690000013500")
        .unwrap()
        .barcode();
    assert_eq!(b.bank(), "001");
    assert_eq!(b.amount_cents(), 13500);
    let reference: Date = "2008-01-01".parse().unwrap();
    assert_eq!(
        boleto::date_from_factor(b.factor(), reference),
        Some("2008-02-01".parse().unwrap())
    );
}

#[test]
fn a_missing_bank_input_names_the_field() {
    let input = boleto::BoletoInput {
        bank: "748".into(),
        agency: "0710".into(),
        wallet: Some("1".into()),
        agreement: Some("129".into()),
        our_number: "8879".into(),
        due_date: "2026-12-10".parse().unwrap(),
        amount_cents: 100,
        ..Default::default()
    };
    let err = input.codes().unwrap_err();
    assert_eq!(
        err,
        boleto::BoletoError::Missing {
            field: "extra.station",
            bank: "748"
        }
    );
    let bad = boleto::BoletoInput {
        our_number: "12a".into(),
        extra: boleto::Extra {
            station: Some("65".into()),
            ..Default::default()
        },
        ..input
    };
    assert!(
        bad.codes()
            .unwrap_err()
            .to_string()
            .contains("`our_number`")
    );
}

/// Whether the barcode's módulo-11 remainder is one of the three FEBRABAN maps to digit 1.
fn remainder_in_collision_set(b: &Barcode) -> bool {
    let d = b.as_str().as_bytes();
    let without: Vec<u8> = d[..4].iter().chain(&d[5..]).copied().collect();
    let r = boleto::checksum::weighted_sum_from_right(&without, 9) % 11;
    matches!(r, 0 | 1 | 10)
}

#[test]
fn single_digit_changes_escape_only_through_the_documented_collision() {
    // Exhaustive over every position and digit of one barcode whose remainder is not in the
    // collision set: every single change must be caught.
    let b = DigitableLine::parse("00190.00009 01238.798977 77700.168188 3 37690000013500")
        .unwrap()
        .barcode();
    assert!(!remainder_in_collision_set(&b));
    for pos in 0..44 {
        for delta in 1..10u8 {
            let mut d = b.as_str().as_bytes().to_vec();
            d[pos] = b'0' + (d[pos] - b'0' + delta) % 10;
            assert!(
                Barcode::parse(std::str::from_utf8(&d).unwrap()).is_err(),
                "pos {pos} +{delta}"
            );
        }
    }
}
