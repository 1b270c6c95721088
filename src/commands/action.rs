//! `switchboard action create FILE [--dry-run] [--correlation-id ID] [--header NAME:VALUE]`:
//! validates a definition file and creates it through the configured CXone. Prints the
//! created definition (or, with `--dry-run`, the validated definition and its header matrix
//! size) as JSON on stdout; on failure prints the same JSON error body as
//! `POST /data-actions` on stderr and exits 1.

use std::path::Path;

use anyhow::Context as _;
use switchboard_actors::definitions::{CreateDefinition, DefinitionActor};

use super::{cxone_runtime, eprint_json, flush_audit, print_json, read_json, start_supervised};
use crate::answers::{created_json, definition_error};
use crate::config::Settings;

/// Parses `NAME:VALUE`.
///
/// Errors: no colon, or an empty name.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("{text:?} is not NAME:VALUE")),
    }
}

/// Runs the command; returns whether it succeeded.
///
/// Errors: the file cannot be read, or start-up fails.
pub async fn create(
    settings: Settings,
    file: &Path,
    dry_run: bool,
    correlation_id: Option<String>,
    headers: Vec<(String, String)>,
) -> anyhow::Result<bool> {
    let Some(definition) = read_json(file)? else {
        return Ok(false);
    };
    let runtime = cxone_runtime(&settings)?;
    let actor = start_supervised(DefinitionActor::new(
        runtime.handle.clone(),
        settings.definitions.clone(),
        Some(runtime.audit.clone()),
    ));
    let result = actor
        .send(CreateDefinition {
            definition,
            correlation_id,
            extra_headers: headers,
            dry_run,
        })
        .await
        .context("definition actor")?;
    flush_audit(&runtime).await?;
    match result {
        Ok(created) => {
            print_json(&created_json(created));
            Ok(true)
        }
        Err(e) => {
            eprint_json(&definition_error(e).body());
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_name_colon_value() {
        assert_eq!(
            parse_header("X-Team: ops"),
            Ok(("X-Team".into(), "ops".into()))
        );
        assert!(parse_header("novalue").is_err());
        assert!(parse_header(": x").is_err());
    }
}
