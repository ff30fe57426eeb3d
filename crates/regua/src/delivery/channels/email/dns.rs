//! A minimal DNS client for TXT records (RFC 1035, with EDNS0 per RFC 6891): what
//! `regua smtp check` needs to read SPF, DKIM and DMARC records. UDP first, TCP when the
//! answer comes back truncated. The server is the system's (`/etc/resolv.conf`) unless one is
//! given (`--dns-server`, `REGUA_DNS_SERVER`).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txt {
    /// The records, each its strings joined (RFC 7208 § 3.3).
    Found(Vec<String>),
    /// The name does not exist or has no TXT record.
    None,
}

/// The first `nameserver` of `/etc/resolv.conf`, port 53.
pub fn system_server() -> anyhow::Result<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| anyhow::anyhow!("cannot read /etc/resolv.conf: {e}"))?;
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .ok_or_else(|| anyhow::anyhow!("no nameserver in /etc/resolv.conf"))
}

/// Looks up the TXT records of `name` at `server`.
pub async fn txt(server: SocketAddr, name: &str, timeout: Duration) -> anyhow::Result<Txt> {
    let id = fastrand::u16(..);
    let query = encode_query(id, name)?;
    let answer = tokio::time::timeout(timeout, async {
        let socket = tokio::net::UdpSocket::bind(if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .await?;
        socket.connect(server).await?;
        socket.send(&query).await?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buf).await?;
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                buf.truncate(n);
                return anyhow::Ok(buf);
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("DNS server {server} did not answer for {name}"))??;
    let answer = if answer.len() > 2 && answer[2] & 0x02 != 0 {
        // Truncated: ask again over TCP (RFC 7766).
        tokio::time::timeout(timeout, async {
            let mut s = tokio::net::TcpStream::connect(server).await?;
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            s.write_all(&framed).await?;
            let len = s.read_u16().await? as usize;
            let mut buf = vec![0u8; len];
            s.read_exact(&mut buf).await?;
            anyhow::Ok(buf)
        })
        .await
        .map_err(|_| anyhow::anyhow!("DNS server {server} did not answer over TCP for {name}"))??
    } else {
        answer
    };
    decode_txt(id, &answer)
}

fn encode_query(id: u16, name: &str) -> anyhow::Result<Vec<u8>> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // recursion desired
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional (OPT)
    for label in name.trim_end_matches('.').split('.') {
        anyhow::ensure!(
            !label.is_empty() && label.len() < 64,
            "{name:?} is not a domain name"
        );
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 16, 0, 1]); // TXT, IN
    // EDNS0 OPT: root name, type 41, UDP payload 4096, no flags, no options.
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    Ok(q)
}

/// Skips a (possibly compressed) name at `at`; the position after it.
fn skip_name(msg: &[u8], mut at: usize) -> anyhow::Result<usize> {
    loop {
        let len = *msg
            .get(at)
            .ok_or_else(|| anyhow::anyhow!("DNS answer cut short"))? as usize;
        if len == 0 {
            return Ok(at + 1);
        }
        if len & 0xC0 == 0xC0 {
            return Ok(at + 2);
        }
        at += 1 + len;
    }
}

fn u16_at(msg: &[u8], at: usize) -> anyhow::Result<u16> {
    Ok(u16::from_be_bytes([
        *msg.get(at)
            .ok_or_else(|| anyhow::anyhow!("DNS answer cut short"))?,
        *msg.get(at + 1)
            .ok_or_else(|| anyhow::anyhow!("DNS answer cut short"))?,
    ]))
}

fn decode_txt(id: u16, msg: &[u8]) -> anyhow::Result<Txt> {
    anyhow::ensure!(
        msg.len() >= 12 && u16_at(msg, 0)? == id,
        "not the DNS answer asked for"
    );
    let rcode = msg[3] & 0x0F;
    match rcode {
        0 => {}
        3 => return Ok(Txt::None), // NXDOMAIN
        2 => anyhow::bail!("the DNS server failed (SERVFAIL)"),
        5 => anyhow::bail!("the DNS server refused the query"),
        other => anyhow::bail!("DNS error code {other}"),
    }
    let (qd, an) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at)?;
        let rtype = u16_at(msg, at)?;
        let rdlen = u16_at(msg, at + 8)? as usize;
        let data = msg
            .get(at + 10..at + 10 + rdlen)
            .ok_or_else(|| anyhow::anyhow!("DNS answer cut short"))?;
        at += 10 + rdlen;
        if rtype != 16 {
            continue; // a CNAME on the way
        }
        let mut text = Vec::new();
        let mut i = 0;
        while i < data.len() {
            let n = data[i] as usize;
            text.extend_from_slice(data.get(i + 1..i + 1 + n).unwrap_or_default());
            i += 1 + n;
        }
        records.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(if records.is_empty() {
        Txt::None
    } else {
        Txt::Found(records)
    })
}
