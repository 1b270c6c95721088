//! Checking answers against the OpenAPI document: [`call`] sends a request and keeps the
//! whole answer, [`conformance`] says whether it is what the document promises (status,
//! content type, body schema, headers).

use serde_json::Value;

use crate::helpers::TestApp;

/// One answer: status, headers (lower-case names) and body (JSON, or the text as a string).
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with a JSON `body` (when given) and `headers`.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = app.http.request(method, format!("{}{path}", app.address));
    for (name, value) in headers {
        req = req.insert_header((*name, *value));
    }
    let mut resp = match body {
        Some(body) => req.send_json(body).await,
        None => req.send().await,
    }
    .expect("request");
    let bytes = resp.body().limit(16 << 20).await.expect("body");
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Answer {
        status: resp.status().as_u16(),
        headers,
        content_type,
        body,
    }
}

/// A JSON Schema validator of `schema`, whose `#/components/...` references resolve in `doc`.
pub fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} compiles: {e}"))
}

/// Whether `answer` conforms to the document's `method template` operation: its status is
/// documented, its content type is the documented one, its body is valid against the
/// documented schema, and every documented (required) header is sent. The error says what
/// does not.
pub fn conformance(
    doc: &Value,
    method: &str,
    template: &str,
    answer: &Answer,
) -> Result<(), String> {
    let what = format!("{} {template} → {}", method.to_uppercase(), answer.status);
    let response = doc["paths"][template][method]["responses"]
        .get(answer.status.to_string())
        .ok_or_else(|| format!("{what} is not documented: {}", answer.body))?;
    let content = response["content"]
        .as_object()
        .ok_or_else(|| format!("{what}: no documented content"))?;
    let essence = answer.content_type.split(';').next().unwrap_or("").trim();
    let (_, media) = content
        .iter()
        .find(|(ct, _)| ct.split(';').next().unwrap_or("").trim() == essence)
        .ok_or_else(|| {
            format!(
                "{what}: content type {:?} not documented",
                answer.content_type
            )
        })?;
    let errors: Vec<String> = validator(doc, &media["schema"])
        .iter_errors(&answer.body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if !errors.is_empty() {
        return Err(format!("{what}: {} {errors:?}", answer.body));
    }
    for (name, header) in response["headers"].as_object().into_iter().flatten() {
        if header["required"] == true && answer.header(name).is_none() {
            return Err(format!("{what}: no {name} header"));
        }
    }
    Ok(())
}

/// Asserts [`conformance`].
pub fn assert_conforms(doc: &Value, method: &str, template: &str, answer: &Answer) {
    if let Err(e) = conformance(doc, method, template, answer) {
        panic!("{e}");
    }
}

/// `GET /openapi.json`: 200, JSON; the document.
pub async fn served_document(app: &TestApp) -> Value {
    let answer = call(app, "GET", "/openapi.json", None, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.content_type.starts_with("application/json"));
    answer.body
}
