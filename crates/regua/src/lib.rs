//! Régua: the billing-communications engine for Brazilian ISPs. This library holds the domain,
//! storage, invoicing and import; the `regua` binary (`src/main.rs`) is a thin CLI over it.
//! See `docs/architecture.md` for how the modules fit together.

#![forbid(unsafe_code)]

pub mod actions;
pub mod analytics;
pub mod backup;
pub mod bench;
pub mod bounce;
pub mod cli;
pub mod config;
pub mod debt;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod dunning;
pub mod import;
pub mod invoicing;
pub mod layouts;
pub mod payment;
pub mod secrets;
pub mod server;
pub mod store;
pub mod suspension;
pub mod web;
pub mod webhooks;

/// The ISP's time zone when none is configured.
pub const DEFAULT_TIME_ZONE: &str = "America/Sao_Paulo";
