//! The configuration file (`/etc/regua/regua.toml`, docs/configuration.md).
//!
//! Every command reads it: `--config FILE`, else `REGUA_CONFIG`, else `/etc/regua/regua.toml`
//! when that file exists. Its keys are named like the variables (`database_url` for
//! `REGUA_DATABASE_URL`) and like the flags in `[serve]`, `[worker]` and `[backup]`. What it sets
//! is only a default: a `REGUA_*` variable overrides it, and a flag overrides both — the
//! values become clap's defaults before the command line is parsed, so clap's own order
//! (flag, variable, default) is the precedence.
//!
//! Secrets are never required inline: the master key and the metrics token are read from files
//! (`secret_key_file`, `metrics_token_file`) that the package keeps readable by `regua` only.
//! Unknown keys are refused, naming the key, so a misspelt setting is not silently ignored.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// Where the package installs the configuration, read when no other file is named.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/regua/regua.toml";

/// The variable naming the configuration file.
pub const CONFIG_ENV: &str = "REGUA_CONFIG";

/// The whole file. Every key is optional: an absent key leaves the built-in default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `REGUA_DATABASE_URL`: `sqlite:///var/lib/regua/regua.db` or `postgres://…`.
    pub database_url: Option<String>,
    /// `REGUA_TIMEZONE`: the ISP's IANA time zone.
    pub timezone: Option<String>,
    /// `REGUA_SECRET_KEY_FILE`: a file holding the master key (`regua secret-key > FILE`).
    pub secret_key_file: Option<PathBuf>,
    /// `REGUA_METRICS_TOKEN_FILE`: a file holding the bearer token /metrics requires.
    pub metrics_token_file: Option<PathBuf>,
    /// `REGUA_DNS_SERVER`: the resolver `regua smtp check` asks.
    pub dns_server: Option<std::net::SocketAddr>,
    /// `REGUA_NETWORK_TIMEOUT_SECONDS`: the bound on each network step.
    pub network_timeout_seconds: Option<u64>,
    /// `REGUA_LOG`: the log filter (`warn`, `info`, `regua=debug`…).
    pub log: Option<String>,
    /// `regua serve`'s flags.
    #[serde(default)]
    pub serve: ServeConfig,
    /// The delivery worker's flags (`regua worker`, and the worker inside `serve`).
    #[serde(default)]
    pub worker: WorkerConfig,
    /// `regua backup`'s defaults: the nightly backup's folder and how many to keep.
    #[serde(default)]
    pub backup: BackupConfig,
}

/// `[serve]`: `regua serve`'s flags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `--bind`.
    pub bind: Option<std::net::SocketAddr>,
    /// `--secure-cookies` (also implied per request by `X-Forwarded-Proto: https`).
    pub secure_cookies: Option<bool>,
    /// `--tick-seconds`.
    pub tick_seconds: Option<u64>,
    /// `--bounce-poll-seconds`.
    pub bounce_poll_seconds: Option<u64>,
    /// `--bounce-smtp`.
    pub bounce_smtp: Option<std::net::SocketAddr>,
    /// `--no-worker`.
    pub no_worker: Option<bool>,
    /// `--no-scheduler`.
    pub no_scheduler: Option<bool>,
    /// `--metrics-open`.
    pub metrics_open: Option<bool>,
}

/// `[worker]`: the delivery worker's flags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// `--concurrency`.
    pub concurrency: Option<usize>,
    /// `--batch`.
    pub batch: Option<i64>,
    /// `--lease-seconds`.
    pub lease_seconds: Option<u64>,
}

/// `[backup]`: where `regua backup` (no `--output`) writes, and how many it keeps.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// `--dir`.
    pub dir: Option<PathBuf>,
    /// `--keep`.
    pub keep: Option<usize>,
}

/// A configuration file that cannot be used: which file, which key, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {key}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: String,
    /// The key (dotted: `serve.bind`), or `-` when the file as a whole is at fault.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

static LOADED: OnceLock<(Option<PathBuf>, Config)> = OnceLock::new();

/// The configuration this process runs with (empty until [`install`]).
pub fn get() -> &'static Config {
    static EMPTY: OnceLock<Config> = OnceLock::new();
    LOADED
        .get()
        .map(|(_, c)| c)
        .unwrap_or_else(|| EMPTY.get_or_init(Config::default))
}

/// The file this process read, if any.
pub fn loaded_path() -> Option<&'static Path> {
    LOADED.get().and_then(|(p, _)| p.as_deref())
}

/// Makes `config` (read from `path`) this process's configuration; the first call wins.
pub fn install(path: Option<PathBuf>, config: Config) {
    if let Some(file) = &config.secret_key_file {
        crate::secrets::set_key_file(file.clone());
    }
    let _ = LOADED.set((path, config));
}

/// The file to read for this command line: `--config FILE` (or `--config=FILE`), else
/// `REGUA_CONFIG`, else [`DEFAULT_CONFIG_PATH`] when it exists. A named file that is missing
/// is an error when read; the default path is only returned when present.
pub fn locate(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let Some(s) = arg.to_str() else { continue };
        if s == "--" {
            break;
        }
        if s == "--config" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(p) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let default = Path::new(DEFAULT_CONFIG_PATH);
    default.exists().then(|| default.to_path_buf())
}

/// Reads and parses `path`: unknown keys, wrong types and bad TOML are refused with the key.
pub fn read(path: &Path) -> Result<Config, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        path: shown.clone(),
        key: "-".into(),
        reason: format!("cannot read the file: {e}"),
    })?;
    parse(&shown, &text)
}

/// Parses the text of a configuration file named `path` (for messages).
pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError {
        path: path.into(),
        key: "-".into(),
        reason: one_line(&e.to_string()),
    })?;
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let key = e.path().to_string();
        ConfigError {
            path: path.into(),
            key: if key == "." || key.is_empty() {
                "-".into()
            } else {
                key
            },
            reason: one_line(&e.into_inner().to_string()),
        }
    })
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks what parsing cannot: the time zone exists, the database URL has an engine Régua
/// speaks, the key and token files are readable and hold what they should, the key file is not
/// readable by others, the backup folder exists. Every problem, not just the first.
pub fn check(path: &str, config: &Config) -> Vec<ConfigError> {
    let mut problems = Vec::new();
    let mut bad = |key: &str, reason: String| {
        problems.push(ConfigError {
            path: path.into(),
            key: key.into(),
            reason,
        })
    };
    if let Some(tz) = &config.timezone
        && jiff::tz::TimeZone::get(tz).is_err()
    {
        bad(
            "timezone",
            format!("unknown time zone {tz:?} (an IANA name such as America/Sao_Paulo)"),
        );
    }
    if let Some(url) = &config.database_url
        && !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
    {
        bad(
            "database_url",
            "must start with sqlite:// or postgres://".into(),
        );
    }
    if let Some(file) = &config.secret_key_file {
        match std::fs::read_to_string(file) {
            Err(e) => bad(
                "secret_key_file",
                format!("cannot read {}: {e}", file.display()),
            ),
            Ok(text) => {
                if crate::secrets::MasterKey::parse(&text).is_err() {
                    bad(
                        "secret_key_file",
                        format!(
                            "{} does not hold a key (64 hex digits or base64 of 32 bytes; `regua secret-key` prints one)",
                            file.display()
                        ),
                    );
                }
                if let Some(mode) = others_can_read(file) {
                    bad(
                        "secret_key_file",
                        format!(
                            "{} is readable by other users (mode {mode:o}): chmod 0640 or 0600",
                            file.display()
                        ),
                    );
                }
            }
        }
    }
    if let Some(file) = &config.metrics_token_file {
        match std::fs::read_to_string(file) {
            Err(e) => bad(
                "metrics_token_file",
                format!("cannot read {}: {e}", file.display()),
            ),
            Ok(t) if t.trim().is_empty() => {
                bad("metrics_token_file", format!("{} is empty", file.display()))
            }
            Ok(_) => {}
        }
    }
    if config.network_timeout_seconds == Some(0) {
        bad("network_timeout_seconds", "must be at least 1".into());
    }
    if let Some(filter) = &config.log
        && tracing_subscriber::EnvFilter::try_new(filter).is_err()
    {
        bad(
            "log",
            format!("not a log filter: {filter:?} (warn, info, regua=debug…)"),
        );
    }
    if config.worker.concurrency == Some(0) {
        bad("worker.concurrency", "must be at least 1".into());
    }
    if matches!(config.worker.batch, Some(b) if b < 1) {
        bad("worker.batch", "must be at least 1".into());
    }
    if let Some(dir) = &config.backup.dir
        && !dir.is_dir()
    {
        bad("backup.dir", format!("{} is not a folder", dir.display()));
    }
    if config.backup.keep == Some(0) {
        bad(
            "backup.keep",
            "must be at least 1 (how many backups to keep)".into(),
        );
    }
    problems
}

#[cfg(unix)]
fn others_can_read(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(file).ok()?.permissions().mode() & 0o777;
    (mode & 0o004 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn others_can_read(_: &Path) -> Option<u32> {
    None
}

/// Reads a one-line secret from a file named in the configuration (the metrics token).
pub fn read_secret_file(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    Ok(text.trim().to_string())
}

/// Applies `config` to the command line's definition: each value set becomes the default of
/// its flag, so a flag or a `REGUA_*` variable still wins over it.
pub fn apply(mut cmd: clap::Command, config: &Config) -> clap::Command {
    fn set(cmd: clap::Command, id: &'static str, value: Option<String>) -> clap::Command {
        match value {
            Some(v) => cmd.mut_arg(id, |a| a.default_value(v)),
            None => cmd,
        }
    }
    cmd = set(cmd, "database", config.database_url.clone());
    cmd = set(cmd, "timezone", config.timezone.clone());
    let worker = |mut c: clap::Command| {
        c = set(
            c,
            "concurrency",
            config.worker.concurrency.map(|v| v.to_string()),
        );
        c = set(c, "batch", config.worker.batch.map(|v| v.to_string()));
        c = set(
            c,
            "lease_seconds",
            config.worker.lease_seconds.map(|v| v.to_string()),
        );
        set(
            c,
            "timeout_seconds",
            config.network_timeout_seconds.map(|v| v.to_string()),
        )
    };
    cmd = cmd.mut_subcommand("worker", worker);
    cmd = cmd.mut_subcommand("serve", |mut c| {
        let s = &config.serve;
        c = worker(c);
        c = set(c, "bind", s.bind.map(|v| v.to_string()));
        c = set(c, "tick_seconds", s.tick_seconds.map(|v| v.to_string()));
        c = set(
            c,
            "bounce_poll_seconds",
            s.bounce_poll_seconds.map(|v| v.to_string()),
        );
        c = set(c, "bounce_smtp", s.bounce_smtp.map(|v| v.to_string()));
        c = set(c, "secure_cookies", s.secure_cookies.map(|v| v.to_string()));
        c = set(c, "no_worker", s.no_worker.map(|v| v.to_string()));
        c = set(c, "no_scheduler", s.no_scheduler.map(|v| v.to_string()));
        set(c, "metrics_open", s.metrics_open.map(|v| v.to_string()))
    });
    cmd = cmd.mut_subcommand("backup", |mut c| {
        c = set(
            c,
            "dir",
            config.backup.dir.as_ref().map(|v| v.display().to_string()),
        );
        set(c, "keep", config.backup.keep.map(|v| v.to_string()))
    });
    cmd.mut_subcommand("smtp", |c| {
        c.mut_subcommand("check", |c| {
            set(c, "dns_server", config.dns_server.map(|v| v.to_string()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_file_parses_and_sets_what_it_says() {
        let c = parse(
            "packaging/regua.toml",
            include_str!("../../../packaging/regua.toml"),
        )
        .unwrap();
        assert_eq!(
            c.database_url.as_deref(),
            Some("sqlite:///var/lib/regua/regua.db")
        );
        assert_eq!(
            c.secret_key_file.as_deref(),
            Some(Path::new("/etc/regua/secret.key"))
        );
        assert_eq!(c.backup.keep, Some(14));
        assert_eq!(c.serve.bind.map(|b| b.port()), Some(8080));
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = parse("f.toml", "databse_url = \"sqlite://x.db\"\n").unwrap_err();
        assert!(e.reason.contains("databse_url"), "{e}");
        let e = parse("f.toml", "[serve]\nbindd = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(e.key, "serve.bindd", "{e}");
        assert!(e.reason.contains("line 2"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = parse("f.toml", "[serve]\nbind = \"not an address\"\n").unwrap_err();
        assert_eq!(e.key, "serve.bind", "{e}");
        let e = parse("f.toml", "network_timeout_seconds = \"ten\"\n").unwrap_err();
        assert_eq!(e.key, "network_timeout_seconds", "{e}");
    }

    #[test]
    fn check_names_each_problem() {
        let c = parse(
            "f.toml",
            "timezone = \"America/Nowhere\"\ndatabase_url = \"mysql://x\"\nsecret_key_file = \"/nonexistent/key\"\n[backup]\nkeep = 0\n",
        )
        .unwrap();
        let keys: Vec<String> = check("f.toml", &c).into_iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            ["timezone", "database_url", "secret_key_file", "backup.keep"]
        );
    }

    #[test]
    fn values_become_defaults_that_flags_override() {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let c = parse(
            "f.toml",
            "database_url = \"sqlite:///srv/r.db\"\ntimezone = \"America/Manaus\"\n[serve]\nbind = \"0.0.0.0:9000\"\nsecure_cookies = true\n[worker]\nconcurrency = 3\n",
        )
        .unwrap();
        let cmd = apply(crate::cli::Cli::command(), &c);
        let m = cmd
            .clone()
            .try_get_matches_from(["regua", "serve", "--bind", "127.0.0.1:1"])
            .unwrap();
        let cli = crate::cli::Cli::from_arg_matches(&m).unwrap();
        assert_eq!(cli.global.database.as_deref(), Some("sqlite:///srv/r.db"));
        assert_eq!(cli.global.timezone, "America/Manaus");
        let crate::cli::Command::Serve(s) = cli.command else {
            panic!("serve")
        };
        assert_eq!(s.bind.to_string(), "127.0.0.1:1");
        assert!(s.secure_cookies);
        assert_eq!(s.worker.concurrency, 3);
    }
}
