//! What CXone callers share with the token actor: the current token ([`TokenCache`], read
//! without a message while it is valid) and the message that asks for one ([`GetToken`]).
//! Apart from the actor, so the client depends on these and not on the actor.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::error::TokenError;

/// An access token. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    /// A token of `value` (the token actor, from the endpoint's answer).
    pub(super) fn new(value: &str) -> Self {
        AccessToken(Arc::from(value))
    }

    /// The bearer value, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// Asks for a valid token; waits for the refresh in flight when there is none.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<AccessToken, TokenError>")]
pub struct GetToken;

/// The current token of a tenant, written by the [`TokenActor`](super::token::TokenActor) alone and read by CXone
/// clients directly, so a call with a valid token sends no message.
#[derive(Default)]
pub struct TokenCache {
    current: std::sync::RwLock<Option<(AccessToken, Instant)>>,
}

impl TokenCache {
    /// The token, while it may still be handed out.
    pub fn valid(&self, now: Instant) -> Option<AccessToken> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|(_, until)| *until > now)
            .map(|(t, _)| t.clone())
    }

    /// Replaces the token (the token actor, after a refresh).
    pub(super) fn set(&self, token: AccessToken, usable_until: Instant) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((token, usable_until));
    }

    /// Drops `token` if it is the current one (the API refused it); true when it was.
    pub fn clear_if(&self, token: &AccessToken) -> bool {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|(t, _)| t == token) {
            *current = None;
            return true;
        }
        false
    }
}
