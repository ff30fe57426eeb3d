//! The channels a notice goes by — e-mail, SMS, push, WhatsApp — each its own module behind the one enum
//! [`Route`]: where a notice can go now ([`Channels::route`], re-checked right before
//! sending) and sending a prepared message there ([`Channels::send`]). The worker knows
//! nothing of SMTP, gateways or Firebase.
//!
//! A new channel is a new module here with its route (which of its senders, which address of
//! the customer) and its send, a variant of [`Route`], a `Channel` value in `domain::delivery`
//! and its configuration in `store::channels`.

pub mod email;
pub mod push;
pub mod sms;
pub mod whatsapp;

use std::time::Duration;

use super::batch::BatchCache;
use super::policy::Failure;
use super::prepare::Message;
use super::{Channel, Notice, SmsGateway, SmtpAccount};
use crate::domain::{Clock, Customer};
use crate::secrets::MasterKey;
use crate::store::{Db, channels::PushConfig};

/// The HTTP client every outbound call of Régua uses (SMS gateways, FCM, Meta's Cloud API,
/// webhooks): Régua's user agent, `timeout` for connecting and for the whole request, and no
/// redirects — a gateway's headers carry its credentials, and a 3xx from a provider is an answer
/// to log, not a place to send them.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("regua/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .expect("an HTTP client with the built-in roots")
}

/// Where a notice goes on its channel, as re-checked right before sending.
pub(super) enum Route<'a> {
    /// By e-mail, through this account, to this address.
    Email(&'a SmtpAccount, String),
    /// By SMS, through this gateway, to this phone.
    Sms(&'a SmsGateway, sms::SmsPhone),
    /// By push, to these devices of the customer with this document.
    Push(&'a PushConfig, &'a [String], String),
    /// By WhatsApp, from this account, as this template, to this phone.
    Whatsapp(
        &'a crate::domain::whatsapp::WhatsappAccount,
        &'a crate::domain::whatsapp::TemplateMapping,
        sms::SmsPhone,
    ),
}

impl Route<'_> {
    /// The recipient as the log shows it: address, phone, or the customer's document.
    pub(super) fn recipient(&self) -> String {
        match self {
            Route::Email(_, to) => to.clone(),
            Route::Sms(_, phone) | Route::Whatsapp(_, _, phone) => phone.e164.clone(),
            Route::Push(_, _, document) => document.clone(),
        }
    }
}

/// The server's answer to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Reply code (250).
    pub code: u16,
    /// Reply text.
    pub text: String,
}

/// What a channel answers for one message.
pub(super) enum Outcome {
    /// Accepted: the server's code and reply.
    Sent {
        /// Who it reached.
        recipient: String,
        /// The reply code.
        code: u16,
        /// The reply, as the server sent it (plus what the channel adds).
        text: String,
        /// The provider's id of the message (Meta's `wamid`), which its receipts name.
        provider_id: Option<String>,
    },
    /// Not accepted: retried or given up by the failure's kind.
    Failed {
        /// Who it was for.
        recipient: String,
        /// Why.
        failure: Failure,
    },
    /// Nobody on this channel could take it (push: no registered device): on to the fallback.
    Unreachable(String),
}

/// The channels' state a worker keeps between batches: pooled SMTP transports, gateways'
/// secrets, the Firebase client.
pub(super) struct Channels {
    email: email::EmailChannel,
    sms: sms::SmsChannel,
    push: push::PushChannel,
    whatsapp: whatsapp::WhatsappChannel,
}

impl Channels {
    /// The channels of a worker on `db`; `key` opens the stored secrets.
    pub(super) fn new(
        db: &Db,
        clock: &Clock,
        key: Option<&MasterKey>,
        concurrency: usize,
        timeout: Duration,
    ) -> Channels {
        let http = http_client(timeout);
        Channels {
            email: email::EmailChannel::new(db.clone(), key.cloned(), concurrency, timeout),
            sms: sms::SmsChannel::new(db.clone(), key.cloned(), http.clone()),
            push: push::PushChannel::new(db.clone(), clock.clone(), key.cloned(), http.clone()),
            whatsapp: whatsapp::WhatsappChannel::new(db.clone(), clock.clone(), key.cloned(), http),
        }
    }

    /// Where `n` can go now on its channel, or why it cannot (in Portuguese: the log shows it
    /// to finance staff). An error is a record missing from the batch.
    pub(super) fn route<'a>(
        &self,
        n: &Notice,
        customer: Option<&Customer>,
        cache: &'a BatchCache,
    ) -> anyhow::Result<Result<Route<'a>, String>> {
        match n.channel {
            Channel::Email => email::route(n, customer, &cache.accounts, &cache.suppressed),
            Channel::Sms => sms::route(n, customer, &cache.gateways),
            Channel::Push => Ok(push::route(customer, cache.push.as_ref(), &cache.devices)),
            Channel::Whatsapp => Ok(whatsapp::route(n, customer, &cache.whatsapp)),
        }
    }

    /// Sends the prepared message by its route. `company` signs an SMS.
    pub(super) async fn send(
        &self,
        n: &Notice,
        route: Route<'_>,
        message: &Message,
        company: &str,
    ) -> Outcome {
        match route {
            Route::Email(account, to) => self.email.send(n, account, to, message).await,
            Route::Sms(gateway, phone) => {
                let line = sms::message_line(company, &message.rendered);
                self.sms.send(n, gateway, phone, &line).await
            }
            Route::Push(config, devices, document) => {
                self.push
                    .send(n, config, devices, document, &message.rendered)
                    .await
            }
            Route::Whatsapp(account, mapping, phone) => {
                self.whatsapp.send(account, mapping, phone, message).await
            }
        }
    }
}
