//! Dunning ("régua de cobrança"): deciding, each day, who gets which notice. The calendar of
//! Brazilian national holidays and the ISP's own, the routines and when they run, the pure
//! planner, and the routine run that feeds the planner from the store and enqueues its plan.

mod letters;
mod planner;
mod run;
mod scheduler;
pub mod what_if;

pub use crate::domain::holidays::{Holiday, easter, national_holidays};
pub use crate::domain::schedule::*;
pub use letters::{approve_letters, letter_pdf};
pub use planner::*;
pub use run::*;
pub use scheduler::{LEASE, LEASE_NAME, Scheduler, TickOutcome};
