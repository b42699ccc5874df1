//! The Prometheus client against a fake of its HTTP API's contract (CONTRACTS.md): a matrix
//! answer with warnings and special values, its error shapes, and a server too slow to wait for.

use std::{collections::HashMap, time::Duration};

use axum::{Form, Json, Router, http::StatusCode, response::IntoResponse, routing::post};
use chrono::{TimeZone, Utc};
use serde_json::json;
use server::observability::{QueryError, prometheus::Prometheus};

async fn answer(Form(form): Form<HashMap<String, String>>) -> axum::response::Response {
    assert_eq!(form["start"], "1700000000");
    assert_eq!(form["end"], "1700000060");
    assert_eq!(form["step"], "30");
    match form["query"].as_str() {
        "ok" => Json(json!({
            "status": "success",
            "warnings": ["results truncated"],
            "data": {"resultType": "matrix", "result": [
                {"metric": {"enabled": "true"}, "values": [[1700000000, "1.5"], [1700000030.5, "NaN"], [1700000060, "2"]]},
                {"metric": {"enabled": "false"}, "values": [[1700000000, "+Inf"]]}
            ]}
        }))
        .into_response(),
        "bad" => (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})),
        )
            .into_response(),
        "heavy" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"})),
        )
            .into_response(),
        "down" => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({"status": "success", "data": {"result": []}})).into_response()
        }
        other => panic!("unexpected query {other}"),
    }
}

async fn fake_prometheus() -> String {
    let router = Router::new().route("/prom/api/v1/query_range", post(answer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/prom/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn a_range_query_reads_series_and_tells_refusals_from_unavailability() {
    let prometheus = Prometheus::new(&fake_prometheus().await, Duration::from_millis(500)).unwrap();
    let start = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let end = Utc.timestamp_opt(1_700_000_060, 0).unwrap();
    let step = Duration::from_secs(30);
    let ask = |query: &'static str| prometheus.query_range(query, start, end, step);

    let answer = ask("ok").await.unwrap();
    assert_eq!(answer.warnings, ["results truncated"]);
    assert_eq!(answer.series.len(), 2);
    let on = &answer.series[0];
    assert_eq!(on.labels["enabled"], "true");
    assert_eq!(on.points.len(), 3);
    assert_eq!(on.points[0], (start, 1.5));
    assert!(on.points[1].1.is_nan());
    assert_eq!(
        on.points[1].0,
        Utc.timestamp_millis_opt(1_700_000_030_500).unwrap()
    );
    assert!(answer.series[1].points[0].1.is_infinite());

    assert!(matches!(ask("bad").await, Err(QueryError::Refused(m)) if m.contains("parse error")));
    assert!(
        matches!(ask("heavy").await, Err(QueryError::Unavailable(m)) if m.contains("timed out"))
    );
    assert!(matches!(ask("down").await, Err(QueryError::Unavailable(_))));
    assert_eq!(
        ask("slow").await,
        Err(QueryError::Unavailable(
            "Prometheus did not answer in time".to_owned()
        ))
    );
}
