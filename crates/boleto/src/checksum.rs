//! The check-digit arithmetic FEBRABAN and the banks use. Every function takes ASCII digits
//! already validated by the caller (callers parse first), so none of them can fail.

/// FEBRABAN "módulo 10": weights 2,1,2,1… from the right; two-digit products add their digits.
pub fn mod10(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &c) in digits.iter().rev().enumerate() {
        let mut p = u32::from(c - b'0') * if i % 2 == 0 { 2 } else { 1 };
        if p > 9 {
            p = p / 10 + p % 10;
        }
        sum += p;
    }
    ((10 - sum % 10) % 10) as u8
}

/// Weighted sum with weights 2..=`max_weight` cycling from the right (the "módulo 11" base).
pub fn weighted_sum_from_right(digits: &[u8], max_weight: u32) -> u32 {
    let mut weight = 2;
    let mut sum = 0u32;
    for &c in digits.iter().rev() {
        sum += u32::from(c - b'0') * weight;
        weight = if weight == max_weight { 2 } else { weight + 1 };
    }
    sum
}

/// The barcode's general check digit: 11 − (sum mod 11), where 0, 10 and 11 become 1.
pub fn barcode_dv(digits43: &[u8]) -> u8 {
    let dv = 11 - weighted_sum_from_right(digits43, 9) % 11;
    if dv == 0 || dv > 9 { 1 } else { dv as u8 }
}

/// The most common bank variant: 11 − (sum mod 11) with weights 2..9, where 10 and 11 become 0.
pub fn mod11_zero_when_over_nine(digits: &[u8]) -> u8 {
    let dv = 11 - weighted_sum_from_right(digits, 9) % 11;
    if dv > 9 { 0 } else { dv as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod10_matches_the_febraban_manual_example() {
        // Field 1 of a well-known Banco do Brasil line: 001 9 00000 → DV 9.
        assert_eq!(mod10(b"001900000"), 9);
        assert_eq!(mod10(b"0"), 0);
    }

    #[test]
    fn barcode_dv_never_yields_zero() {
        for n in 0..2000u32 {
            let s = format!("{n:043}");
            let dv = barcode_dv(s.as_bytes());
            assert!((1..=9).contains(&dv));
        }
    }
}
