//! CPF and CNPJ: the Brazilian taxpayer numbers of people and companies, parsed and validated,
//! including the alphanumeric CNPJ that the Receita Federal issues from July 2026.

use std::fmt;

/// Why a CPF or CNPJ was refused. Each variant names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// After removing punctuation, the number has the wrong count of characters.
    #[error("expected {expected} characters, found {found}")]
    Length {
        /// How many characters the document needs.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// A character that is not allowed at that position.
    #[error("character {found:?} at position {position} is not allowed")]
    Character {
        /// 1-based position within the unpunctuated number.
        position: usize,
        /// The character found.
        found: char,
    },
    /// All digits equal (000.000.000-00, 111…): passes the arithmetic but is never issued.
    #[error("all digits are equal")]
    AllEqual,
    /// The first check digit does not match.
    #[error("first check digit does not match")]
    FirstCheckDigit,
    /// The second check digit does not match.
    #[error("second check digit does not match")]
    SecondCheckDigit,
    /// Neither 11 (CPF) nor 14 (CNPJ) characters.
    #[error("a CPF has 11 digits and a CNPJ 14 characters; found {0}")]
    UnknownKind(usize),
}

fn strip_punctuation(input: &str) -> String {
    input
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '/' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// CPF weights run 2, 3, … from the right without cycling (at most 11 for the second digit).
const CPF_MAX_WEIGHT: u32 = 11;
/// CNPJ weights cycle 2..=9 from the right.
const CNPJ_MAX_WEIGHT: u32 = 9;

/// The módulo-11 check digit CPF and CNPJ share: 0 when the remainder is below 2, else
/// 11 − remainder. Letters of the alphanumeric CNPJ count as their ASCII code minus 48, which is
/// what `c - b'0'` in the weighted sum gives.
fn document_dv(chars: &[u8], max_weight: u32) -> u8 {
    let r = crate::checksum::weighted_sum_from_right(chars, max_weight) % 11;
    if r < 2 { 0 } else { (11 - r) as u8 }
}

/// Appends the two check digits to a document's base (the way both CPF and CNPJ are completed).
fn with_check_digits(base: &str, max_weight: u32) -> String {
    let mut s = base.to_ascii_uppercase();
    for _ in 0..2 {
        let dv = document_dv(s.as_bytes(), max_weight);
        s.push(char::from(b'0' + dv));
    }
    s
}

/// A valid CPF (Cadastro de Pessoas Físicas), stored as its 11 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpf(String);

impl Cpf {
    /// Parses a CPF with or without punctuation (`529.982.247-25` or `52998224725`).
    pub fn parse(input: &str) -> Result<Self, DocumentError> {
        let s = strip_punctuation(input);
        if s.chars().count() != 11 {
            return Err(DocumentError::Length {
                expected: 11,
                found: s.chars().count(),
            });
        }
        if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
            return Err(DocumentError::Character {
                position: i + 1,
                found: c,
            });
        }
        let d = s.as_bytes();
        if d.iter().all(|&c| c == d[0]) {
            return Err(DocumentError::AllEqual);
        }
        if document_dv(&d[..9], CPF_MAX_WEIGHT) != d[9] - b'0' {
            return Err(DocumentError::FirstCheckDigit);
        }
        if document_dv(&d[..10], CPF_MAX_WEIGHT) != d[10] - b'0' {
            return Err(DocumentError::SecondCheckDigit);
        }
        Ok(Cpf(s))
    }

    /// Completes nine digits with their check digits (e.g. to generate sample data). Fails on
    /// anything that would not parse, such as nine equal digits.
    pub fn from_base(nine_digits: &str) -> Result<Self, DocumentError> {
        if nine_digits.len() != 9 {
            return Err(DocumentError::Length {
                expected: 9,
                found: nine_digits.len(),
            });
        }
        Cpf::parse(&with_check_digits(nine_digits, CPF_MAX_WEIGHT))
    }

    /// The 11 digits, no punctuation.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cpf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        write!(f, "{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..])
    }
}

/// A valid CNPJ (Cadastro Nacional da Pessoa Jurídica), numeric or alphanumeric, stored as its
/// 14 characters in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cnpj(String);

impl Cnpj {
    /// Parses a CNPJ with or without punctuation. The first 12 characters may be digits or
    /// letters (letters count as their ASCII code minus 48, per the Receita Federal); the two
    /// check digits are always numeric. Lower case is accepted and normalised.
    pub fn parse(input: &str) -> Result<Self, DocumentError> {
        let s = strip_punctuation(input);
        let n = s.chars().count();
        if n != 14 {
            return Err(DocumentError::Length {
                expected: 14,
                found: n,
            });
        }
        for (i, c) in s.chars().enumerate() {
            let ok = if i < 12 {
                c.is_ascii_digit() || c.is_ascii_uppercase()
            } else {
                c.is_ascii_digit()
            };
            if !ok {
                return Err(DocumentError::Character {
                    position: i + 1,
                    found: c,
                });
            }
        }
        let d = s.as_bytes();
        if d.iter().all(|&c| c == d[0]) {
            return Err(DocumentError::AllEqual);
        }
        if document_dv(&d[..12], CNPJ_MAX_WEIGHT) != d[12] - b'0' {
            return Err(DocumentError::FirstCheckDigit);
        }
        if document_dv(&d[..13], CNPJ_MAX_WEIGHT) != d[13] - b'0' {
            return Err(DocumentError::SecondCheckDigit);
        }
        Ok(Cnpj(s))
    }

    /// Completes a twelve-character base (digits or letters) with its check digits.
    pub fn from_base(twelve: &str) -> Result<Self, DocumentError> {
        if twelve.len() != 12 {
            return Err(DocumentError::Length {
                expected: 12,
                found: twelve.len(),
            });
        }
        Cnpj::parse(&with_check_digits(twelve, CNPJ_MAX_WEIGHT))
    }

    /// The 14 characters, no punctuation.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Cnpj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        write!(
            f,
            "{}.{}.{}/{}-{}",
            &s[..2],
            &s[2..5],
            &s[5..8],
            &s[8..12],
            &s[12..]
        )
    }
}

/// A CPF or a CNPJ: the document of a customer or a beneficiary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Document {
    /// A person.
    Cpf(Cpf),
    /// A company.
    Cnpj(Cnpj),
}

impl Document {
    /// Parses either kind, telling them apart by length (11 → CPF, 14 → CNPJ).
    pub fn parse(input: &str) -> Result<Self, DocumentError> {
        match strip_punctuation(input).chars().count() {
            11 => Cpf::parse(input).map(Document::Cpf),
            14 => Cnpj::parse(input).map(Document::Cnpj),
            n => Err(DocumentError::UnknownKind(n)),
        }
    }

    /// The unpunctuated characters, as stored.
    pub fn digits(&self) -> &str {
        match self {
            Document::Cpf(c) => c.digits(),
            Document::Cnpj(c) => c.digits(),
        }
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Document::Cpf(c) => c.fmt(f),
            Document::Cnpj(c) => c.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_are_completed_from_the_base() {
        assert_eq!(Cpf::from_base("529982247").unwrap().digits(), "52998224725");
        assert_eq!(
            Cnpj::from_base("112223330001").unwrap().digits(),
            "11222333000181"
        );
        assert_eq!(
            Cnpj::from_base("12abc34501de").unwrap().digits(),
            "12ABC34501DE35"
        );
        assert_eq!(Cpf::from_base("111111111"), Err(DocumentError::AllEqual));
        assert!(Cpf::from_base("1234").is_err());
    }
}
