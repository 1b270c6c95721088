//! Export reports (`POST /sandbox/reports`), export jobs and paging through their records.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{spawn_sandbox, Reply, TestSandbox};
use crate::SandboxOptions;

impl TestSandbox {
    async fn report(&self, body: Value) -> (u16, Value) {
        self.admin("POST", "/sandbox/reports", Some(body)).await
    }

    async fn start_export(&self, token: &str, body: Value) -> Reply {
        let body = body.to_string();
        self.send(
            "POST",
            "/api/v2/data-actions/exports",
            Some(token),
            &[],
            body.as_bytes(),
        )
        .await
    }

    async fn export_job(&self, token: &str, report_id: &str) -> String {
        let reply = self
            .start_export(token, json!({"report_id": report_id, "format": "json"}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_str().expect("job id").to_owned()
    }

    async fn page(&self, token: &str, job: &str, query: &str) -> Reply {
        let path = format!("/api/v2/data-actions/exports/{job}/records?{query}");
        self.send("GET", &path, Some(token), &[], b"").await
    }
}

fn records(reply: &Reply) -> &Vec<Value> {
    reply.body.as_array().expect("a JSON array of records")
}

#[actix_rt::test]
async fn a_report_is_exported_page_by_page_until_an_empty_page() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, report) = app
        .report(json!({"id": "orders", "records": 2500, "drift_at": null, "seed": 7}))
        .await;
    assert_eq!(status, 201, "{report}");
    assert_eq!(
        report,
        json!({"id": "orders", "records": 2500, "drift_at": null, "seed": 7})
    );
    let started = app
        .start_export(&token, json!({"report_id": "orders", "format": "json"}))
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["report_id"], "orders");
    assert_eq!(started.body["status"], "ready");
    let job = started.body["id"].as_str().expect("job id").to_owned();
    assert_eq!(app.state().await["exports"], json!({ job.clone(): 0 }));

    let mut seen = HashSet::new();
    let mut offset = 0;
    loop {
        let page = app
            .page(&token, &job, &format!("limit=1000&offset={offset}"))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.header("content-type"), Some("application/json"));
        let batch = records(&page);
        if batch.is_empty() {
            break;
        }
        for record in batch {
            assert_eq!(record["seq"], seen.len() as u64, "records in order");
            assert!(record["region"].is_string() && record.get("channel").is_none());
            assert!(seen.insert(record["id"].as_str().expect("id").to_owned()));
        }
        offset += batch.len() as u64;
    }
    assert_eq!(seen.len(), 2500);
    assert_eq!(app.state().await["exports"], json!({ job.clone(): 2500 }));

    // The same page twice is the same records; a default page is 1000 from offset 0.
    let again = app.page(&token, &job, "offset=1200&limit=3").await;
    let first = app.page(&token, &job, "offset=1200&limit=3").await;
    assert_eq!(again.raw, first.raw);
    assert_eq!(records(&again)[0]["id"], "orders-1200");
    let default = app.page(&token, &job, "").await;
    assert_eq!(records(&default).len(), 1000);
    assert_eq!(records(&default)[0]["seq"], 0);
    let past = app.page(&token, &job, "offset=99999999").await;
    assert_eq!((past.status, past.body.clone()), (200, json!([])));
    assert_eq!(app.state().await["exports"][&job], 2500 + 3 + 3 + 1000);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn records_change_shape_from_the_drift_offset_on() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let body = json!({"id": "drifting", "records": 100, "drift_at": 60, "seed": 3});
    assert_eq!(app.report(body).await.0, 201);
    let job = app.export_job(&token, "drifting").await;
    let page = app.page(&token, &job, "offset=55&limit=10").await;
    let batch = records(&page);
    assert_eq!(batch.len(), 10);
    for record in batch {
        let seq = record["seq"].as_u64().expect("seq");
        let drifted = seq >= 60;
        assert_eq!(record.get("region").is_none(), drifted, "{record}");
        assert_eq!(record.get("channel").is_some(), drifted, "{record}");
        for field in ["id", "customer", "amount", "created_at"] {
            assert!(record.get(field).is_some(), "{field} in {record}");
        }
    }
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_ten_million_record_report_serves_its_last_full_page_quickly() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let body = json!({"id": "huge", "records": 10_000_000, "drift_at": 5_000_000, "seed": 11});
    assert_eq!(app.report(body).await.0, 201);
    let job = app.export_job(&token, "huge").await;
    let started = Instant::now();
    let page = app.page(&token, &job, "limit=10000&offset=9990000").await;
    let elapsed = started.elapsed();
    assert_eq!(page.status, 200);
    let batch = records(&page);
    assert_eq!(batch.len(), 10_000);
    assert_eq!(batch[9_999]["id"], "huge-9999999");
    assert!(batch[0].get("channel").is_some());
    // Milliseconds in release; generous for unoptimised test builds.
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    let end = app.page(&token, &job, "limit=10000&offset=10000000").await;
    assert_eq!(end.body, json!([]));
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn bad_reports_exports_and_queries_answer_400_and_unknown_ones_404() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, body) = app.report(json!({"id": "r", "records": 10_000_001})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_report"))
    );
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("records")));
    let (status, body) = app
        .report(json!({"id": "r", "records": 5, "drift_at": -2}))
        .await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("drift_at")));

    let unknown = app
        .start_export(&token, json!({"report_id": "never"}))
        .await;
    assert_eq!(
        (unknown.status, unknown.body["error"].as_str()),
        (404, Some("not_found"))
    );
    let bad = app.start_export(&token, json!({"format": "json"})).await;
    assert_eq!(
        (bad.status, bad.body["error"].as_str()),
        (400, Some("invalid_export"))
    );
    let path = "/api/v2/data-actions/exports";
    let malformed = app.send("POST", path, Some(&token), &[], b"{").await;
    assert_eq!(malformed.status, 400);
    assert_eq!(app.send("POST", path, None, &[], b"{}").await.status, 401);

    assert_eq!(app.report(json!({"id": "r", "records": 5})).await.0, 201);
    let job = app.export_job(&token, "r").await;
    for query in ["limit=0", "limit=10001", "offset=-1", "limit=abc"] {
        let reply = app.page(&token, &job, query).await;
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (400, Some("invalid_query")),
            "{query}"
        );
    }
    let missing = app.page(&token, "no-such-job", "").await;
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(app.state().await["exports"], json!({ job: 0 }));
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn jobs_keep_their_report_and_reset_clears_reports_and_jobs() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    app.report(json!({"id": "r", "records": 3, "seed": 1}))
        .await;
    let old_job = app.export_job(&token, "r").await;
    // Re-registering replaces the report for new jobs only.
    app.report(json!({"id": "r", "records": 8, "seed": 1}))
        .await;
    let new_job = app.export_job(&token, "r").await;
    assert_eq!(records(&app.page(&token, &old_job, "").await).len(), 3);
    assert_eq!(records(&app.page(&token, &new_job, "").await).len(), 8);

    app.admin("POST", "/sandbox/reset", None).await;
    assert_eq!(app.state().await["exports"], json!({}));
    assert_eq!(app.page(&token, &old_job, "").await.status, 404);
    let gone = app.start_export(&token, json!({"report_id": "r"})).await;
    assert_eq!(gone.status, 404);
    app.sandbox.stop().await;
}
