//! Delivery: the outbox, the worker, rate limits, retries, the channels and the log. The one
//! way a message leaves Régua: a notice enqueued in the transaction of its cause
//! (`store::outbox::enqueue_notice`), claimed by a worker with a lease (`store::outbox::claim_due_notices`),
//! re-checked, rendered, sent, and recorded (`store::outbox::finish_attempts`). See `docs/delivery.md`.

mod batch;
pub mod channels;
mod enqueue;
mod policy;
mod prepare;
mod worker;

pub use channels::push::fcm;
pub use channels::sms;

pub use crate::domain::delivery::*;
pub use crate::domain::{BadNoticeKey, NoticeKey};
pub use channels::email::{BuildError, MailTransport, build_message};
pub use channels::{Accepted, http_client};
pub use enqueue::{enqueue_invoice_email, enqueue_test_message};
pub use policy::{Failure, MAX_ATTEMPTS, backoff_ms, classify_http, classify_smtp};
pub use worker::{
    BatchReport, DEFAULT_NETWORK_TIMEOUT, NETWORK_TIMEOUT_ENV, SHUTDOWN_GRACE, Worker,
    WorkerOptions, default_worker_name, network_timeout_from_env,
};
