//! Dunning ("régua de cobrança"): deciding, each day, who gets which notice. So far the calendar
//! of Brazilian national holidays and the pure planner; the stored rules, bands, routines and
//! pauses, and the routine that feeds the planner and enqueues its plan, are still to come
//! (issue #6).

mod holidays;
mod planner;

pub use holidays::{Holiday, easter, national_holidays};
pub use planner::*;
