//! A real IMAP server for the bounce-mailbox tests: Dovecot from Debian's packages
//! (`scripts/test` installs `dovecot-imapd`), started on loopback in a temporary directory with
//! its own configuration, a self-signed certificate, one user and a Maildir; stopped on drop.
//! A message "arrives" by being written into the Maildir's `new/`, as a delivery agent does.

use std::path::PathBuf;
use std::time::Duration;

/// The login of the one mailbox.
pub const USER: &str = "devolucoes";
/// Its password.
pub const PASSWORD: &str = "segredo-imap";

/// A running Dovecot.
pub struct Dovecot {
    dir: tempfile::TempDir,
    /// IMAPS (TLS from the first byte).
    pub imaps_port: u16,
    /// IMAP (STARTTLS).
    pub imap_port: u16,
    /// The certificate to trust (PEM file).
    pub ca_file: PathBuf,
    uid: u32,
    counter: std::sync::atomic::AtomicU32,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn chown_all(path: &std::path::Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_all(&e.unwrap().path(), uid);
        }
    }
}

impl Dovecot {
    /// Starts one, with the folders `INBOX` and `extra` (Maildir++ `.NAME`).
    pub async fn start(extra: &[&str]) -> Dovecot {
        let binary = "/usr/sbin/dovecot";
        assert!(
            std::path::Path::new(binary).exists(),
            "Dovecot is not installed: scripts/test installs dovecot-imapd"
        );
        // Dovecot runs mail processes under an unprivileged uid; as root we use `nobody`,
        // otherwise our own (with the login and auth processes under it too).
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let dir = tempfile::Builder::new()
            .prefix("regua-dovecot")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let (cert, key) = mailsink::self_signed().unwrap();
        std::fs::write(d.join("cert.pem"), &cert).unwrap();
        std::fs::write(d.join("key.pem"), &key).unwrap();
        std::fs::write(d.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n")).unwrap();
        let maildir = d.join("home").join(USER).join("Maildir");
        for folder in std::iter::once(String::new()).chain(extra.iter().map(|f| format!(".{f}"))) {
            for sub in ["new", "cur", "tmp"] {
                std::fs::create_dir_all(maildir.join(&folder).join(sub)).unwrap();
            }
        }
        let uid: u32 = if root {
            65534
        } else {
            String::from_utf8_lossy(
                &std::process::Command::new("id")
                    .arg("-u")
                    .output()
                    .unwrap()
                    .stdout,
            )
            .trim()
            .parse()
            .unwrap()
        };
        if root {
            chown_all(&d.join("home"), uid);
        }
        let (imaps_port, imap_port) = (free_port(), free_port());
        let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
        let unprivileged = if root {
            String::new()
        } else {
            format!(
                "default_internal_user = {me}\ndefault_login_user = {me}\n\
                 service anvil {{\n  chroot =\n}}\nservice imap-login {{\n  chroot =\n}}\n"
            )
        };
        let p = d.display();
        let conf = format!(
            "base_dir = {p}/run\nstate_dir = {p}/state\ninstance_name = regua-test-{imaps_port}\n\
             log_path = {p}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\nssl = required\n\
             ssl_cert = <{p}/cert.pem\nssl_key = <{p}/key.pem\nauth_mechanisms = plain login\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {p}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={p}/home/%u\n}}\n\
             mail_location = maildir:~/Maildir\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n\
             {unprivileged}\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap_port}\n  }}\n\
               inet_listener imaps {{\n    port = {imaps_port}\n    ssl = yes\n  }}\n}}\n"
        );
        std::fs::create_dir_all(d.join("run")).unwrap();
        std::fs::create_dir_all(d.join("state")).unwrap();
        std::fs::write(d.join("dovecot.conf"), conf).unwrap();
        // Dovecot forks into the background: its output goes to a file, not to pipes this
        // process would wait on forever.
        let errors = std::fs::File::create(d.join("start.err")).unwrap();
        let status = std::process::Command::new(binary)
            .arg("-c")
            .arg(d.join("dovecot.conf"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(errors)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "dovecot did not start: {}{}",
            std::fs::read_to_string(d.join("start.err")).unwrap_or_default(),
            std::fs::read_to_string(d.join("dovecot.log")).unwrap_or_default()
        );
        // Ready when the TLS port accepts.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", imaps_port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Dovecot {
            ca_file: d.join("cert.pem"),
            dir,
            imaps_port,
            imap_port,
            uid,
            counter: Default::default(),
        }
    }

    fn folder(&self, folder: &str) -> PathBuf {
        let base = self.dir.path().join("home").join(USER).join("Maildir");
        if folder == "INBOX" {
            base
        } else {
            base.join(format!(".{folder}"))
        }
    }

    /// Delivers `raw` into `folder` (`INBOX`, or one of the extra folders).
    pub fn deliver(&self, folder: &str, raw: &[u8]) {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!(
            "{}.M{n}P{}.regua-test",
            jiff::Timestamp::now().as_second(),
            std::process::id()
        );
        let tmp = self.folder(folder).join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        std::os::unix::fs::chown(&tmp, Some(self.uid), Some(self.uid)).ok();
        std::fs::rename(&tmp, self.folder(folder).join("new").join(&name)).unwrap();
    }

    /// How many messages `folder` holds (new and seen).
    pub fn count(&self, folder: &str) -> usize {
        ["new", "cur"]
            .iter()
            .map(|s| {
                std::fs::read_dir(self.folder(folder).join(s))
                    .unwrap()
                    .count()
            })
            .sum()
    }

    /// The Maildir flags of the messages in `folder`'s `cur/` (`S` seen, `a`… keywords).
    pub fn flags(&self, folder: &str) -> Vec<String> {
        std::fs::read_dir(self.folder(folder).join("cur"))
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().to_string();
                name.rsplit_once(":2,")
                    .map(|(_, f)| f.to_string())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The server's log (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("run").join("master.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}
