//! The local Cloud API server lives in `mailsink::cloudapi` (shared with the benchmark's
//! `cloudapi` binary).

pub use mailsink::cloudapi::*;
