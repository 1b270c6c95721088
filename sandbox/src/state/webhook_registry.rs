//! The completion-webhook registrations the sandbox keeps (registered through
//! [`webhooks`](crate::webhooks)).

use serde::Serialize;

use crate::error::ApiError;

/// Most registrations kept; registering a new URL beyond it answers 400 `invalid_webhook`.
pub const MAX_WEBHOOKS: usize = 100;

/// A registered webhook. JSON: `{"id": uuid, "url": string, "events": [string]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookRegistration {
    /// Id given at registration (UUID v4; a new one when the URL is registered again).
    pub id: String,
    /// Where completion events are POSTed: an `http://` URL.
    pub url: String,
    /// Event names as given (default `[]`). Recorded and echoed, not used for filtering:
    /// every registered URL receives every completion event.
    pub events: Vec<String>,
}

/// The registered webhooks, in registration order; one per URL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Webhooks {
    registrations: Vec<WebhookRegistration>,
}

impl Webhooks {
    /// Registers `registration`, replacing (in place) one with the same URL.
    ///
    /// Errors: [`ApiError::InvalidWebhook`] when [`MAX_WEBHOOKS`] other URLs are registered.
    pub fn register(&mut self, registration: WebhookRegistration) -> Result<(), ApiError> {
        if let Some(existing) = self
            .registrations
            .iter_mut()
            .find(|r| r.url == registration.url)
        {
            *existing = registration;
            return Ok(());
        }
        if self.registrations.len() >= MAX_WEBHOOKS {
            return Err(ApiError::InvalidWebhook(format!(
                "at most {MAX_WEBHOOKS} webhook URLs can be registered"
            )));
        }
        self.registrations.push(registration);
        Ok(())
    }

    /// Every registration, in registration order.
    pub fn list(&self) -> &[WebhookRegistration] {
        &self.registrations
    }

    /// The registered URLs, in registration order.
    pub fn urls(&self) -> Vec<String> {
        self.registrations.iter().map(|r| r.url.clone()).collect()
    }

    /// Forgets every registration.
    pub fn clear(&mut self) {
        self.registrations.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(url: &str, id: &str) -> WebhookRegistration {
        WebhookRegistration {
            id: id.to_owned(),
            url: url.to_owned(),
            events: Vec::new(),
        }
    }

    #[test]
    fn registering_a_url_again_replaces_it_in_place() {
        let mut hooks = Webhooks::default();
        hooks.register(registration("http://a/", "1")).expect("ok");
        hooks.register(registration("http://b/", "2")).expect("ok");
        hooks.register(registration("http://a/", "3")).expect("ok");
        let ids: Vec<&str> = hooks.list().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["3", "2"]);
        assert_eq!(hooks.urls(), ["http://a/", "http://b/"]);
        hooks.clear();
        assert!(hooks.list().is_empty());
    }

    #[test]
    fn the_number_of_urls_is_bounded() {
        let mut hooks = Webhooks::default();
        for i in 0..MAX_WEBHOOKS {
            hooks
                .register(registration(&format!("http://h/{i}"), "x"))
                .expect("room");
        }
        assert!(hooks.register(registration("http://h/new", "y")).is_err());
        // Replacing an existing URL still works at the limit.
        hooks
            .register(registration("http://h/0", "z"))
            .expect("replace");
    }
}
