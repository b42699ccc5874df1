//! Chat notifications: what happens to migrations, told in each environment's channel through a
//! Slack-compatible incoming webhook (Mattermost accepts the same). A notification is written in
//! the transaction of the change it tells of (so none is lost, and none tells of a change that
//! did not happen), then delivered by whichever replica claims it: retried with backoff, never
//! in the way of the change itself, and kept with how it went.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Client;
use rollout::Environment;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::{db, outbound};

/// An environment's webhook and the channel it posts to.
#[derive(Debug, Clone)]
pub struct ChatWebhook {
    pub environment: Environment,
    /// The webhook's address is its credential: never logged, never shown.
    pub url: SecretString,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ChatConfig {
    pub webhooks: Vec<ChatWebhook>,
}

/// Attempts before a notification is given up on; backoff doubles from 2 s to about 4 min.
const ATTEMPTS: i32 = 8;
/// How long a claimed notification is left to its replica before another may take it.
const LEASE_SECONDS: f64 = 30.0;

pub struct Notifier {
    pub pool: PgPool,
    pub config: ChatConfig,
    pub client: Client,
}

impl Notifier {
    pub fn new(pool: PgPool, config: ChatConfig) -> Result<Notifier, reqwest::Error> {
        Ok(Notifier {
            pool,
            config,
            client: outbound::client(Duration::from_secs(5))?,
        })
    }

    pub async fn run(self) {
        loop {
            match self.deliver_due(Utc::now()).await {
                Ok(0) => tokio::time::sleep(Duration::from_secs(1)).await,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not deliver chat notifications");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }

    /// Delivers what is due now; how many it tried.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
        let due = db::notifications::claim_due(&self.pool, now, LEASE_SECONDS, 20).await?;
        for notification in &due {
            let webhook = self
                .config
                .webhooks
                .iter()
                .find(|w| w.environment.as_str() == notification.environment);
            let outcome = match webhook {
                None => Err(format!(
                    "no chat webhook is configured for {} (RAMPART_CHAT_WEBHOOK_{})",
                    notification.environment,
                    notification.environment.to_ascii_uppercase()
                )),
                Some(webhook) => self.post(webhook, &notification.text).await,
            };
            match outcome {
                Ok(()) => {
                    db::notifications::delivered(&self.pool, notification.id, Utc::now()).await?
                }
                Err(error) => {
                    let attempts = notification.attempts + 1;
                    // Nowhere to send it is not worth retrying.
                    let retry_at = (webhook.is_some() && attempts < ATTEMPTS)
                        .then(|| Utc::now() + TimeDelta::seconds(2_i64 << attempts.min(7)));
                    db::notifications::failed(
                        &self.pool,
                        notification.id,
                        &error,
                        retry_at,
                        Utc::now(),
                    )
                    .await?;
                }
            }
        }
        Ok(due.len())
    }

    async fn post(&self, webhook: &ChatWebhook, text: &str) -> Result<(), String> {
        let mut body = serde_json::json!({ "text": text });
        if let Some(channel) = &webhook.channel {
            body["channel"] = serde_json::Value::String(channel.clone());
        }
        let response = self
            .client
            .post(webhook.url.expose_secret())
            .json(&body)
            .send()
            .await
            // Without the address: it is the webhook's secret.
            .map_err(|error| {
                if error.is_timeout() {
                    "the chat webhook did not answer in time".to_owned()
                } else {
                    "the chat webhook could not be reached".to_owned()
                }
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the chat webhook answered {status}"))
        }
    }
}
