//! Delivery: the outbox, the worker, rate limits, retries, transports and the log. The one
//! way a message leaves Régua: a notice enqueued in the transaction of its cause
//! (`store::outbox::enqueue_notice`), claimed by a worker with a lease (`store::outbox::claim_due_notices`),
//! re-checked, rendered, sent, and recorded (`store::outbox::finish_attempts`). See `docs/delivery.md`.

mod enqueue;
pub mod fcm;
mod message;
mod policy;
pub mod sms;
mod smtp_pool;
mod transport;
mod worker;

pub use crate::domain::delivery::*;
pub use crate::domain::{BadNoticeKey, NoticeKey};
pub use enqueue::{enqueue_invoice_email, enqueue_test_message};
pub use message::{BuildError, build_message};
pub use policy::{Failure, MAX_ATTEMPTS, backoff_ms, classify_http, classify_smtp};
pub use transport::{Accepted, MailTransport};
pub use worker::{
    BatchReport, DEFAULT_NETWORK_TIMEOUT, NETWORK_TIMEOUT_ENV, SHUTDOWN_GRACE, Worker,
    WorkerOptions, default_worker_name, network_timeout_from_env,
};
