//! Health, readiness, metrics and the headers every response carries.

use crate::helpers::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), r#"{"status":"ok"}"#);
}

#[tokio::test]
async fn readyz_is_ready_with_the_database_up_and_migrated() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), r#"{"status":"ready"}"#);
}

#[tokio::test]
async fn readyz_says_unavailable_when_the_database_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);

    app.drop_database().await;

    // The client's 30 s timeout turns a hang into a failure here.
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["reason"], "database unreachable");
    // /healthz only says the process is up, so it still answers.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_and_status() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/page").await;

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    let headers = response.headers();
    let id = headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(
        headers["referrer-policy"],
        "strict-origin-when-cross-origin"
    );
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "from-the-load-balancer")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "from-the-load-balancer");
}
