//! `regua settings`: the general parameters.

use std::process::ExitCode;

use clap::Subcommand;

use super::{Global, actor};
use crate::store;

/// `regua settings …`
#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Print every known setting and its value (defaults marked).
    List,
    /// Set one setting.
    Set {
        /// The key (see `regua settings list`).
        key: String,
        /// The value.
        value: String,
    },
}

pub(super) async fn settings(g: &Global, cmd: SettingsCmd) -> anyhow::Result<ExitCode> {
    let db = g.db().await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        SettingsCmd::List => {
            for spec in store::settings::SETTINGS {
                match store::parties::get_setting(&mut conn, spec.key).await? {
                    Some(v) => println!("{}\t{v}", spec.key),
                    None => println!("{}\t{}\t(default)", spec.key, spec.default),
                }
            }
        }
        SettingsCmd::Set { key, value } => {
            let Some(spec) = store::settings::setting_spec(&key) else {
                eprintln!(
                    "unknown setting {key:?}; known: {}",
                    store::settings::SETTINGS
                        .iter()
                        .map(|s| s.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return Ok(ExitCode::from(2));
            };
            let value = match store::settings::check_setting(spec, &value) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("{key}: {}", e.en);
                    return Ok(ExitCode::from(2));
                }
            };
            if let Err(e) = store::settings::check_setting_in_db(&mut conn, spec, &value).await? {
                eprintln!("{key}: {}", e.en);
                return Ok(ExitCode::from(2));
            }
            crate::actions::billing_setup::set_settings(
                &db,
                &[(key.as_str(), value.clone())],
                crate::actions::billing_setup::Unset::ReadsAsNone,
                &actor(),
                g.clock()?.now_millis(),
            )
            .await?;
            println!("{key} = {value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
