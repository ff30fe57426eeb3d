//! A Brazilian postal address: what a registered boleto prints for its payer and beneficiary and
//! what every bank's remessa carries. CEP and UF are checked; the rest is free text.

use std::fmt;

/// The 27 federative units.
pub const UFS: [&str; 27] = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR",
    "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
];

/// A checked postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PostalAddress {
    /// Logradouro.
    pub street: String,
    /// Número (may be "S/N").
    pub number: String,
    /// Complemento.
    pub complement: String,
    /// Bairro.
    pub district: String,
    /// CEP, 8 digits.
    pub zip: String,
    /// Cidade.
    pub city: String,
    /// UF, two upper-case letters.
    pub state: String,
}

/// The address as typed (a CSV row, an API body, a form); empty texts are absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressText<'a> {
    /// `address_street`
    pub street: &'a str,
    /// `address_number`
    pub number: &'a str,
    /// `address_complement`
    pub complement: &'a str,
    /// `address_district`
    pub district: &'a str,
    /// `address_zip`
    pub zip: &'a str,
    /// `address_city`
    pub city: &'a str,
    /// `address_state`
    pub state: &'a str,
}

impl AddressText<'_> {
    /// No field given.
    pub fn is_empty(&self) -> bool {
        [
            self.street,
            self.number,
            self.complement,
            self.district,
            self.zip,
            self.city,
            self.state,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }
}

impl PostalAddress {
    /// Checks an address: none when every field is empty; otherwise street, district, CEP (8
    /// digits, `01001-000` accepted), city and UF are required. The error names the field
    /// (`address_zip`…) and says why in English.
    pub fn parse(t: &AddressText) -> Result<Option<PostalAddress>, (&'static str, String)> {
        if t.is_empty() {
            return Ok(None);
        }
        let required = |field: &'static str, v: &str| {
            let v = v.trim();
            if v.is_empty() {
                Err((field, "is required when an address is given".to_string()))
            } else {
                Ok(v.to_string())
            }
        };
        let street = required("address_street", t.street)?;
        let district = required("address_district", t.district)?;
        let city = required("address_city", t.city)?;
        let zip_raw = required("address_zip", t.zip)?;
        let zip: String = zip_raw.chars().filter(|c| *c != '-' && *c != '.').collect();
        if zip.len() != 8 || !zip.bytes().all(|b| b.is_ascii_digit()) || zip == "00000000" {
            return Err((
                "address_zip",
                format!("{zip_raw:?} is not a CEP (8 digits)"),
            ));
        }
        let state = required("address_state", t.state)?.to_ascii_uppercase();
        if !UFS.contains(&state.as_str()) {
            return Err(("address_state", format!("{state:?} is not a UF")));
        }
        Ok(Some(PostalAddress {
            street,
            number: t.number.trim().to_string(),
            complement: t.complement.trim().to_string(),
            district,
            zip,
            city,
            state,
        }))
    }

    /// Street, number and complement in one line: `Rua das Flores, 10, apto 3`.
    pub fn street_line(&self) -> String {
        let mut s = self.street.clone();
        for part in [&self.number, &self.complement] {
            if !part.is_empty() {
                s.push_str(", ");
                s.push_str(part);
            }
        }
        s
    }

    /// The CEP as printed: `01001-000`.
    pub fn zip_formatted(&self) -> String {
        format!("{}-{}", &self.zip[..5], &self.zip[5..])
    }
}

impl fmt::Display for PostalAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} - {} - {}/{} - CEP {}",
            self.street_line(),
            self.district,
            self.city,
            self.state,
            self.zip_formatted()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text<'a>(zip: &'a str, state: &'a str) -> AddressText<'a> {
        AddressText {
            street: "Rua das Flores",
            number: "10",
            complement: "",
            district: "Centro",
            zip,
            city: "São Paulo",
            state,
        }
    }

    #[test]
    fn an_address_is_checked_and_printed() {
        let a = PostalAddress::parse(&text("01001-000", "sp"))
            .unwrap()
            .unwrap();
        assert_eq!(a.zip, "01001000");
        assert_eq!(a.state, "SP");
        assert_eq!(
            a.to_string(),
            "Rua das Flores, 10 - Centro - São Paulo/SP - CEP 01001-000"
        );
        assert_eq!(PostalAddress::parse(&AddressText::default()), Ok(None));
        assert_eq!(
            PostalAddress::parse(&text("0100100", "SP")).unwrap_err().0,
            "address_zip"
        );
        assert_eq!(
            PostalAddress::parse(&text("01001000", "XX")).unwrap_err().0,
            "address_state"
        );
        let partial = AddressText {
            street: "Rua A",
            ..AddressText::default()
        };
        assert_eq!(
            PostalAddress::parse(&partial).unwrap_err().0,
            "address_district"
        );
    }
}
