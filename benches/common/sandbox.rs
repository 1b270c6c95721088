//! Calls the benches make to the sandbox's token endpoint.

use anyhow::Context as _;
use serde_json::Value;

/// Token request of the sandbox's default tenant.
pub const TOKEN_FORM: &str =
    "grant_type=client_credentials&client_id=switchboard&client_secret=switchboard-sandbox-secret";

/// A bearer token of the sandbox's default tenant (`Bearer <access_token>`), from
/// `POST {sandbox}/oauth/token`.
///
/// Errors: the request fails, the answer is not JSON, or it carries no `access_token`.
pub async fn bearer(client: &awc::Client, sandbox: &str) -> anyhow::Result<String> {
    let mut resp = client
        .post(format!("{sandbox}/oauth/token"))
        .content_type("application/x-www-form-urlencoded")
        .send_body(TOKEN_FORM)
        .await
        .map_err(|e| anyhow::anyhow!("token: {e}"))?;
    let token: Value = serde_json::from_slice(&resp.body().await?)?;
    Ok(format!(
        "Bearer {}",
        token["access_token"].as_str().context("no access_token")?
    ))
}
