//! `regua smtp check NAME`: whether the DNS says what receivers need to trust the account's
//! mail — an SPF record for the envelope domain, the DKIM selector's key (and that it is the
//! account's key), a DMARC policy — and whether SPF and DKIM align with the From domain, as
//! Gmail's and Yahoo's 2024 bulk sender rules ask (docs/bounces.md).

use std::net::SocketAddr;
use std::time::Duration;

use rsa::pkcs8::EncodePublicKey as _;

use super::dkim::SigningKey;
use super::dns::{self, Txt};
use crate::delivery::SmtpAccount;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `SPF`, `DKIM` or `DMARC`.
    pub check: &'static str,
    /// `ok`, `missing` or `wrong`.
    pub verdict: &'static str,
    /// The DNS name looked at.
    pub name: String,
    /// What was found, or what to do (English, for the terminal).
    pub detail: String,
}

impl Finding {
    fn new(check: &'static str, verdict: &'static str, name: &str, detail: String) -> Finding {
        Finding {
            check,
            verdict,
            name: name.to_string(),
            detail,
        }
    }
}

/// Second-level suffixes under which an organization's domain has three labels
/// (`provedor.com.br`). An approximation of the Public Suffix List for the domains Brazilian
/// ISPs send from.
const TWO_LABEL_SUFFIXES: [&str; 14] = [
    "com.br", "net.br", "org.br", "ind.br", "emp.br", "srv.br", "tec.br", "inf.br", "gov.br",
    "edu.br", "art.br", "adv.br", "co.uk", "com.ar",
];

/// The organizational domain (RFC 7489 § 3.2), approximated: `mail.provedor.com.br` →
/// `provedor.com.br`, `mail.provedor.net` → `provedor.net`.
pub fn organizational_domain(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let keep = if labels.len() >= 3
        && TWO_LABEL_SUFFIXES.contains(&labels[labels.len() - 2..].join(".").as_str())
    {
        3
    } else {
        2
    };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

fn aligned(a: &str, b: &str) -> bool {
    organizational_domain(a) == organizational_domain(b)
}

fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.split_whitespace().collect(),
            )
        })
        .collect()
}

/// Runs the three checks for `account`, asking `server`.
pub async fn check(
    account: &SmtpAccount,
    server: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Vec<Finding>> {
    let from_domain = account
        .from_address
        .as_str()
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    let envelope_domain = if account.bounce_domain.is_empty() {
        from_domain.clone()
    } else {
        account.bounce_domain.to_ascii_lowercase()
    };
    let mut out = Vec::new();

    // SPF is checked on the envelope (MAIL FROM) domain: the bounce domain when there is one.
    let spf: Vec<String> = match dns::txt(server, &envelope_domain, timeout).await? {
        Txt::Found(r) => r
            .into_iter()
            .filter(|r| r.to_ascii_lowercase().starts_with("v=spf1"))
            .collect(),
        Txt::None => Vec::new(),
    };
    out.push(match spf.as_slice() {
        [] => Finding::new(
            "SPF",
            "missing",
            &envelope_domain,
            format!("no SPF record: publish \"v=spf1 include:<your SMTP provider> -all\" (or ip4:<server address>) at {envelope_domain}"),
        ),
        [one] if one.to_ascii_lowercase().split_whitespace().any(|m| m == "+all" || m == "all") => {
            Finding::new("SPF", "wrong", &envelope_domain, format!("{one}: \"+all\" lets anyone send as this domain"))
        }
        [one] if !aligned(&envelope_domain, &from_domain) => Finding::new(
            "SPF",
            "wrong",
            &envelope_domain,
            format!("{one}: the envelope domain does not align with the From domain {from_domain}, so DMARC will not count SPF"),
        ),
        [one] => Finding::new("SPF", "ok", &envelope_domain, one.clone()),
        many => Finding::new(
            "SPF",
            "wrong",
            &envelope_domain,
            format!("{} SPF records: RFC 7208 § 3.2 allows one, receivers treat this as an error", many.len()),
        ),
    });

    out.push(match &account.dkim {
        None => Finding::new(
            "DKIM",
            "missing",
            &from_domain,
            "the account signs nothing: add a key (regua smtp add … --dkim-selector S --dkim-domain D --dkim-key FILE)".into(),
        ),
        Some(d) => {
            let name = format!("{}._domainkey.{}", d.selector, d.domain);
            let ours = std::fs::read_to_string(&d.key_file)
                .map_err(|e| e.to_string())
                .and_then(|pem| SigningKey::from_pem(&pem))
                .and_then(|k| {
                    rsa::RsaPublicKey::from(k.rsa())
                        .to_public_key_der()
                        .map_err(|e| e.to_string())
                })
                .map(|der| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
                });
            let expected = match &ours {
                Ok(p) => format!("\"v=DKIM1; k=rsa; p={p}\""),
                Err(e) => format!("(the key file cannot be read: {e})"),
            };
            let published = match dns::txt(server, &name, timeout).await? {
                Txt::Found(r) => r.into_iter().find(|r| {
                    tags(r).iter().any(|(k, _)| k == "p")
                }),
                Txt::None => None,
            };
            match published {
                None => Finding::new("DKIM", "missing", &name, format!("no key published: publish {expected}")),
                Some(r) => {
                    let p = tags(&r).into_iter().find(|(k, _)| k == "p").map(|(_, v)| v).unwrap_or_default();
                    if ours.as_deref() != Ok(p.as_str()) {
                        Finding::new("DKIM", "wrong", &name, format!("the published key is not the account's: publish {expected}"))
                    } else if !aligned(&d.domain, &from_domain) {
                        Finding::new("DKIM", "wrong", &name, format!("d={} does not align with the From domain {from_domain}, so DMARC will not count DKIM", d.domain))
                    } else {
                        Finding::new("DKIM", "ok", &name, "the published key is the account's".into())
                    }
                }
            }
        }
    });

    // DMARC: the From domain's record, else its organizational domain's (RFC 7489 § 6.6.3).
    let org = organizational_domain(&from_domain);
    let mut names = vec![format!("_dmarc.{from_domain}")];
    if org != from_domain {
        names.push(format!("_dmarc.{org}"));
    }
    let mut dmarc = None;
    for name in &names {
        if let Txt::Found(r) = dns::txt(server, name, timeout).await?
            && let Some(rec) = r
                .into_iter()
                .find(|r| r.to_ascii_uppercase().starts_with("V=DMARC1"))
        {
            dmarc = Some((name.clone(), rec));
            break;
        }
    }
    out.push(match dmarc {
        None => Finding::new(
            "DMARC",
            "missing",
            &names[0],
            format!("no DMARC record: publish \"v=DMARC1; p=none; rua=mailto:dmarc@{org}\" at _dmarc.{org} (Gmail and Yahoo require one from bulk senders)"),
        ),
        Some((name, rec)) => match tags(&rec).into_iter().find(|(k, _)| k == "p").map(|(_, v)| v.to_ascii_lowercase()) {
            Some(p) if ["none", "quarantine", "reject"].contains(&p.as_str()) => Finding::new("DMARC", "ok", &name, rec),
            _ => Finding::new("DMARC", "wrong", &name, format!("{rec}: no valid p= policy (none, quarantine or reject)")),
        },
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organizational_domain_keeps_brazilian_second_levels() {
        assert_eq!(
            organizational_domain("mail.provedor.com.br"),
            "provedor.com.br"
        );
        assert_eq!(organizational_domain("provedor.com.br"), "provedor.com.br");
        assert_eq!(
            organizational_domain("retorno.provedor.net"),
            "provedor.net"
        );
        assert_eq!(organizational_domain("Provedor.NET."), "provedor.net");
        assert!(aligned("retorno.provedor.com.br", "provedor.com.br"));
        assert!(!aligned("provedor.com.br", "outro.com.br"));
    }
}
