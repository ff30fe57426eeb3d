//! PIX BR Code (EMV QRCPS merchant-presented mode): building static and dynamic "copia e cola"
//! payloads with their CRC16, and parsing one back with the CRC verified.

use std::fmt::Write as _;

/// The GUI that marks a PIX merchant account (field 26, subfield 00).
const PIX_GUI: &str = "br.gov.bcb.pix";

/// Why a BR Code could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PixError {
    /// A field is longer than the spec allows.
    #[error("`{field}` has {found} characters, at most {max} allowed")]
    TooLong {
        /// Input name.
        field: &'static str,
        /// The limit.
        max: usize,
        /// What was given.
        found: usize,
    },
    /// A required field is empty.
    #[error("`{0}` is required")]
    Empty(&'static str),
    /// A field holds a character the spec does not allow there.
    #[error("`{field}`: {reason}")]
    Invalid {
        /// Input name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The payload's CRC does not match its contents.
    #[error("CRC is {found}, expected {expected}")]
    Crc {
        /// The CRC written in the payload.
        found: String,
        /// The CRC its contents give.
        expected: String,
    },
    /// The TLV structure is broken.
    #[error("malformed payload at position {position}: {reason}")]
    Malformed {
        /// 0-based character offset.
        position: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection), as the BR Code requires.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// What a BR Code carries, for building one or as the result of parsing one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrCode {
    /// The PIX key (static charges).
    pub key: Option<String>,
    /// The payload location URL without scheme (dynamic charges).
    pub url: Option<String>,
    /// Amount in centavos; `None` lets the payer type it.
    pub amount_cents: Option<u64>,
    /// Receiver's name, at most 25 characters.
    pub merchant_name: String,
    /// Receiver's city, at most 15 characters.
    pub merchant_city: String,
    /// Transaction id, at most 25 alphanumerics; `***` when none.
    pub txid: String,
    /// Free text shown to the payer (static only).
    pub description: Option<String>,
}

fn tlv(out: &mut String, tag: &str, value: &str) {
    let _ = write!(out, "{tag}{:02}{value}", value.chars().count());
}

fn limit(field: &'static str, value: &str, max: usize) -> Result<(), PixError> {
    let n = value.chars().count();
    if n > max {
        return Err(PixError::TooLong {
            field,
            max,
            found: n,
        });
    }
    Ok(())
}

impl BrCode {
    /// A static charge to a PIX key.
    pub fn new_static(key: &str, merchant_name: &str, merchant_city: &str) -> Self {
        BrCode {
            key: Some(key.to_string()),
            merchant_name: merchant_name.to_string(),
            merchant_city: merchant_city.to_string(),
            txid: "***".to_string(),
            ..Default::default()
        }
    }

    /// Builds the "copia e cola" payload, enforcing every field's limit, with the CRC appended.
    pub fn to_payload(&self) -> Result<String, PixError> {
        if self.merchant_name.trim().is_empty() {
            return Err(PixError::Empty("merchant_name"));
        }
        if self.merchant_city.trim().is_empty() {
            return Err(PixError::Empty("merchant_city"));
        }
        limit("merchant_name", &self.merchant_name, 25)?;
        limit("merchant_city", &self.merchant_city, 15)?;
        let txid = if self.txid.is_empty() {
            "***"
        } else {
            self.txid.as_str()
        };
        limit("txid", txid, 25)?;
        if txid != "***" && !txid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(PixError::Invalid {
                field: "txid",
                reason: "only letters and digits are allowed".into(),
            });
        }
        for (field, v) in [
            ("merchant_name", &self.merchant_name),
            ("merchant_city", &self.merchant_city),
        ] {
            if v.chars().any(|c| c.is_control()) {
                return Err(PixError::Invalid {
                    field,
                    reason: "control characters are not allowed".into(),
                });
            }
        }
        let mut account = String::new();
        tlv(&mut account, "00", PIX_GUI);
        match (&self.key, &self.url) {
            (Some(key), None) => {
                if key.trim().is_empty() {
                    return Err(PixError::Empty("key"));
                }
                limit("key", key, 77)?;
                tlv(&mut account, "01", key);
                if let Some(d) = self.description.as_deref().filter(|d| !d.is_empty()) {
                    tlv(&mut account, "02", d);
                }
            }
            (None, Some(url)) => {
                if url.trim().is_empty() {
                    return Err(PixError::Empty("url"));
                }
                limit("url", url, 77)?;
                tlv(&mut account, "25", url);
            }
            _ => {
                return Err(PixError::Invalid {
                    field: "key",
                    reason: "give either a key (static) or a url (dynamic)".into(),
                });
            }
        }
        limit("key + description", &account, 99)?;
        let mut p = String::with_capacity(160);
        tlv(&mut p, "00", "01");
        if self.url.is_some() {
            tlv(&mut p, "01", "12");
        }
        tlv(&mut p, "26", &account);
        tlv(&mut p, "52", "0000");
        tlv(&mut p, "53", "986");
        if let Some(c) = self.amount_cents {
            let amount = format!("{}.{:02}", c / 100, c % 100);
            limit("amount_cents", &amount, 13)?;
            tlv(&mut p, "54", &amount);
        }
        tlv(&mut p, "58", "BR");
        tlv(&mut p, "59", &self.merchant_name);
        tlv(&mut p, "60", &self.merchant_city);
        let mut additional = String::new();
        tlv(&mut additional, "05", txid);
        tlv(&mut p, "62", &additional);
        p.push_str("6304");
        let crc = crc16_ccitt_false(p.as_bytes());
        let _ = write!(p, "{crc:04X}");
        Ok(p)
    }

    /// Parses a payload, verifying its CRC and structure.
    pub fn parse(payload: &str) -> Result<Self, PixError> {
        let payload = payload.trim();
        if payload.len() < 8 || !payload.is_char_boundary(payload.len() - 4) {
            return Err(PixError::Malformed {
                position: 0,
                reason: "too short",
            });
        }
        let (body, crc) = payload.split_at(payload.len() - 4);
        if !body.ends_with("6304") {
            return Err(PixError::Malformed {
                position: body.len().saturating_sub(4),
                reason: "CRC field 63 must come last",
            });
        }
        let expected = format!("{:04X}", crc16_ccitt_false(body.as_bytes()));
        if !crc.eq_ignore_ascii_case(&expected) {
            return Err(PixError::Crc {
                found: crc.to_string(),
                expected,
            });
        }
        let mut out = BrCode::default();
        let fields = parse_tlv(&body[..body.len() - 4], 0)?;
        if fields.first().map(|(t, v, _)| (t.as_str(), v.as_str())) != Some(("00", "01")) {
            return Err(PixError::Malformed {
                position: 0,
                reason: "must start with payload format 01",
            });
        }
        let mut has_account = false;
        for (tag, value, pos) in fields {
            match tag.as_str() {
                "26" => {
                    for (sub, v, _) in parse_tlv(&value, pos + 4)? {
                        match sub.as_str() {
                            "00" if v.eq_ignore_ascii_case(PIX_GUI) => has_account = true,
                            "01" => out.key = Some(v),
                            "02" => out.description = Some(v),
                            "25" => out.url = Some(v),
                            _ => {}
                        }
                    }
                }
                "54" => {
                    let (int, frac) = value.split_once('.').unwrap_or((value.as_str(), "0"));
                    let bad = PixError::Malformed {
                        position: pos,
                        reason: "amount is not a decimal number",
                    };
                    let int: u64 = int.parse().map_err(|_| bad.clone())?;
                    let frac = format!("{frac:0<2}");
                    if frac.len() > 2 {
                        return Err(bad);
                    }
                    let frac: u64 = frac.parse().map_err(|_| bad)?;
                    out.amount_cents = Some(int * 100 + frac);
                }
                "59" => out.merchant_name = value,
                "60" => out.merchant_city = value,
                "62" => {
                    for (sub, v, _) in parse_tlv(&value, pos + 4)? {
                        if sub == "05" {
                            out.txid = v;
                        }
                    }
                }
                _ => {}
            }
        }
        if !has_account {
            return Err(PixError::Malformed {
                position: 0,
                reason: "no PIX merchant account (field 26 with br.gov.bcb.pix)",
            });
        }
        Ok(out)
    }
}

/// Splits `s` into (tag, value, offset) triples; lengths count characters, as the spec does.
fn parse_tlv(s: &str, base: usize) -> Result<Vec<(String, String, usize)>, PixError> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        if i + 4 > chars.len() {
            return Err(PixError::Malformed {
                position: base + i,
                reason: "truncated field header",
            });
        }
        let tag: String = chars[i..i + 2].iter().collect();
        let len: String = chars[i + 2..i + 4].iter().collect();
        let len: usize = len.parse().map_err(|_| PixError::Malformed {
            position: base + i + 2,
            reason: "length is not two digits",
        })?;
        if !tag.chars().all(|c| c.is_ascii_digit()) {
            return Err(PixError::Malformed {
                position: base + i,
                reason: "tag is not two digits",
            });
        }
        if i + 4 + len > chars.len() {
            return Err(PixError::Malformed {
                position: base + i,
                reason: "field runs past the end",
            });
        }
        out.push((tag, chars[i + 4..i + 4 + len].iter().collect(), base + i));
        i += 4 + len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_payload_carries_the_url_and_the_point_of_initiation() {
        let code = BrCode {
            url: Some("pix.example.com/qr/v2/9d36b84fc70b478fb95c12729b90ca25".into()),
            amount_cents: Some(123456),
            merchant_name: "Provedor Exemplo".into(),
            merchant_city: "CURITIBA".into(),
            txid: "***".into(),
            ..Default::default()
        };
        let payload = code.to_payload().unwrap();
        assert!(payload.starts_with("000201010212"), "{payload}");
        assert!(
            payload.contains("2554pix.example.com/qr/v2/9d36b84fc70b478fb95c12729b90ca25"),
            "{payload}"
        );
        assert!(payload.contains("54071234.56"), "{payload}");
        assert_eq!(BrCode::parse(&payload).unwrap(), code);
    }

    #[test]
    fn field_limits_are_enforced_with_the_field_named() {
        let mut code = BrCode::new_static("chave@exemplo.com", "N".repeat(26).as_str(), "CIDADE");
        assert_eq!(
            code.to_payload(),
            Err(PixError::TooLong {
                field: "merchant_name",
                max: 25,
                found: 26
            })
        );
        code.merchant_name = "Nome".into();
        code.merchant_city = "C".repeat(16);
        assert_eq!(
            code.to_payload(),
            Err(PixError::TooLong {
                field: "merchant_city",
                max: 15,
                found: 16
            })
        );
        code.merchant_city = "CIDADE".into();
        code.txid = "T".repeat(26);
        assert_eq!(
            code.to_payload(),
            Err(PixError::TooLong {
                field: "txid",
                max: 25,
                found: 26
            })
        );
        code.txid = "com espaço".into();
        assert!(matches!(
            code.to_payload(),
            Err(PixError::Invalid { field: "txid", .. })
        ));
        code.txid = "***".into();
        code.key = Some("k".repeat(78));
        assert_eq!(
            code.to_payload(),
            Err(PixError::TooLong {
                field: "key",
                max: 77,
                found: 78
            })
        );
        code.key = Some("k".repeat(60));
        code.description = Some("d".repeat(30));
        assert!(matches!(
            code.to_payload(),
            Err(PixError::TooLong {
                field: "key + description",
                max: 99,
                ..
            })
        ));
        code.url = Some("pix.example.com/x".into());
        assert!(
            matches!(
                code.to_payload(),
                Err(PixError::Invalid { field: "key", .. })
            ),
            "key and url together"
        );
    }
}
