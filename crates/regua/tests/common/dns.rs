//! A real DNS server on loopback for `regua smtp check`'s tests: it answers TXT queries over
//! UDP and TCP (RFC 1035, length-prefixed over TCP) from a table, NXDOMAIN for other names;
//! with `truncate_udp` every UDP answer comes back empty with TC set, so the client must ask
//! again over TCP, as a long DKIM key makes real servers do.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A running server, on a thread of its own (so a test may block on a child process that
/// asks it); stopped on drop.
pub struct DnsServer {
    /// UDP and TCP, same port.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn answer(query: &[u8], records: &HashMap<String, Vec<String>>, truncate: bool) -> Vec<u8> {
    // The question's name.
    let mut at = 12;
    let mut labels = Vec::new();
    while at < query.len() && query[at] != 0 {
        let n = query[at] as usize;
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + n]).to_lowercase());
        at += 1 + n;
    }
    let question_end = at + 5;
    let name = labels.join(".");
    let mut out = query[..2].to_vec();
    let found = records.get(&name);
    let rcode = if found.is_some() { 0 } else { 3 };
    out.push(0x84 | if truncate { 0x02 } else { 0 }); // response, authoritative
    out.push(0x80 | rcode); // recursion available
    let count = if truncate {
        0
    } else {
        found.map_or(0, Vec::len) as u16
    };
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    if !truncate {
        for text in found.into_iter().flatten() {
            out.extend_from_slice(&[0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            let mut data = Vec::new();
            for chunk in text.as_bytes().chunks(255) {
                data.push(chunk.len() as u8);
                data.extend_from_slice(chunk);
            }
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(&data);
        }
    }
    out
}

impl DnsServer {
    /// Starts one answering `records` (name → TXT records).
    pub async fn start(records: &[(&str, &str)], truncate_udp: bool) -> DnsServer {
        let records: Vec<(String, String)> = records
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (addr, tasks) = Self::serve(&records, truncate_udp).await;
                addr_tx.send(addr).unwrap();
                let _ = stopped.await;
                for t in tasks {
                    t.abort();
                }
            });
        });
        DnsServer {
            addr: addr_rx.recv().unwrap(),
            stop: Some(stop),
        }
    }

    async fn serve(
        records: &[(String, String)],
        truncate_udp: bool,
    ) -> (SocketAddr, Vec<tokio::task::JoinHandle<()>>) {
        let mut table: HashMap<String, Vec<String>> = HashMap::new();
        for (name, text) in records {
            table
                .entry(name.to_lowercase())
                .or_default()
                .push(text.to_string());
        }
        let table = Arc::new(table);
        // The UDP port is the kernel's pick; the same TCP port may be taken
        // by another test's connection, so pick again until both are free.
        let (udp, tcp, addr) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            match tokio::net::TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, tcp, addr),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => panic!("dns test server: {e}"),
            }
        };
        let t = table.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    return;
                };
                let reply = answer(&buf[..n], &t, truncate_udp);
                let _ = udp.send_to(&reply, peer).await;
            }
        });
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    return;
                };
                let t = table.clone();
                tokio::spawn(async move {
                    let Ok(len) = s.read_u16().await else { return };
                    let mut q = vec![0u8; len as usize];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let reply = answer(&q, &t, false);
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    let _ = s.write_all(&framed).await;
                });
            }
        });
        (addr, vec![udp_task, tcp_task])
    }
}
