//! Contact data of a customer: the primary e-mail and the Brazilian mobile phone.

use std::fmt;

/// A syntactically valid e-mail address (one `@`, a dotted domain, no spaces), lower-cased
/// domain. Deliverability is the SMTP server's call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses and normalises an address.
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        if s.len() > 254 {
            return Err("longer than 254 characters".into());
        }
        let (local, domain) = s.split_once('@').ok_or_else(|| format!("{s:?} has no @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(format!("{s:?} has an empty or too long name before the @"));
        }
        if domain.contains('@') {
            return Err(format!("{s:?} has more than one @"));
        }
        if s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | ',' | ';' | '"' | '(' | ')')
        }) {
            return Err(format!(
                "{s:?} contains a space or a character not allowed in an address"
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        {
            return Err(format!("{s:?} does not have a valid domain"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(format!("{s:?} has misplaced dots"));
        }
        Ok(EmailAddress(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Brazilian mobile number, stored as E.164 digits (`5511987654321`) and shown
/// `+55 11 98765-4321`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MobilePhone {
    ddd: u8,
    number: String,
}

/// Area codes (DDD) in use in Brazil.
const DDDS: &[u8] = &[
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43,
    44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77,
    79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
];

impl MobilePhone {
    /// Parses `(11) 98765-4321`, `11987654321`, `+55 11 98765-4321` or `5511987654321`. The number
    /// must be a mobile: nine digits starting with 9, after a valid area code.
    pub fn parse(input: &str) -> Result<Self, String> {
        let digits: String = input.chars().filter(char::is_ascii_digit).collect();
        if input
            .chars()
            .any(|c| !(c.is_ascii_digit() || " ()-+.".contains(c)))
        {
            return Err(format!(
                "{input:?} contains characters that are not part of a phone number"
            ));
        }
        let national = match digits.len() {
            13 if digits.starts_with("55") => &digits[2..],
            11 => &digits[..],
            12 if digits.starts_with('0') => &digits[1..], // trunk prefix 0
            10 => {
                return Err(format!(
                    "{input:?} has 8 digits after the area code; mobiles have 9 starting with 9"
                ));
            }
            n => {
                return Err(format!(
                    "{input:?} has {n} digits; expected area code and 9 digits"
                ));
            }
        };
        let ddd: u8 = national[..2]
            .parse()
            .map_err(|_| "bad area code".to_string())?;
        if !DDDS.contains(&ddd) {
            return Err(format!("area code {ddd} does not exist"));
        }
        let number = &national[2..];
        if !number.starts_with('9') {
            return Err(format!(
                "{input:?} is not a mobile number (mobiles start with 9)"
            ));
        }
        Ok(MobilePhone {
            ddd,
            number: number.to_string(),
        })
    }

    /// E.164 form without the plus: `5511987654321`.
    pub fn e164(&self) -> String {
        format!("55{}{}", self.ddd, self.number)
    }
}

impl fmt::Display for MobilePhone {
    /// `+55 11 98765-4321`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "+55 {} {}-{}",
            self.ddd,
            &self.number[..5],
            &self.number[5..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_phones_are_normalised() {
        for input in [
            "(11) 98765-4321",
            "11987654321",
            "+55 11 98765-4321",
            "5511987654321",
            "011 98765-4321",
        ] {
            assert_eq!(
                MobilePhone::parse(input).unwrap().to_string(),
                "+55 11 98765-4321",
                "{input}"
            );
        }
        assert_eq!(
            MobilePhone::parse("11987654321").unwrap().e164(),
            "5511987654321"
        );
        for bad in [
            "1198765432",
            "(11) 3456-7890",
            "(20) 98765-4321",
            "11 88765-4321",
            "abc",
            "11 98765-4321 r2",
        ] {
            assert!(MobilePhone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_validated() {
        assert_eq!(
            EmailAddress::parse(" Joao@Exemplo.COM.br ")
                .unwrap()
                .as_str(),
            "Joao@exemplo.com.br"
        );
        for bad in [
            "joao",
            "joao@",
            "@x.com",
            "jo ao@x.com",
            "joao@x",
            "a@b@c.com",
            "joao@.com",
            "a..b@x.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
