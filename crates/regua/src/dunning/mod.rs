//! Dunning ("régua de cobrança"): deciding, each day, who gets which notice. So far the calendar
//! of Brazilian national holidays; issue #6 builds the send rules, overdue bands, routines and
//! the pure planner on it.

mod holidays;

pub use holidays::{Holiday, easter, national_holidays};
