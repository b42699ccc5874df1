//! Log counts against a fake of Elasticsearch's `_count` contract (CONTRACTS.md): counts, zero
//! hits, a partial answer, a missing index, a bad query, an overloaded cluster, a slow one.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::Path,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::{Value, json};
use server::observability::{
    QueryError,
    logs::{Count, Hosts, Kind, LogCounts},
};

/// Answers by the method asked for; insists on the API key.
async fn count(
    Path(index): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("ApiKey a2V5OnNlY3JldA==")
    );
    let method = body["query"]["bool"]["filter"][0]["term"]["grpc.method.keyword"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let errors = body["query"]["bool"]["must_not"]
        .as_array()
        .is_some_and(|n| n.iter().any(|t| t["term"]["grpc.code.keyword"] == "OK"));
    let shards =
        |failed: u64| json!({"total": 5, "successful": 5 - failed, "skipped": 0, "failed": failed});
    if index != "gitaly-*" {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"type": "index_not_found_exception", "reason": format!("no such index [{index}]")}, "status": 404})),
        )
            .into_response();
    }
    match method.as_str() {
        "FindCommit" => Json(json!({"count": if errors { 12 } else { 48_211 }, "_shards": shards(0)})).into_response(),
        "Unused" => Json(json!({"count": 0, "_shards": shards(0)})).into_response(),
        "Partial" => Json(json!({"count": 900, "_shards": shards(2)})).into_response(),
        "Bad" => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": {"type": "parsing_exception", "reason": "unknown query [termz]"}, "status": 400})),
        )
            .into_response(),
        "Busy" => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"}, "status": 429})),
        )
            .into_response(),
        "Slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!({"count": 1})).into_response()
        }
        other => panic!("unexpected method {other}"),
    }
}

async fn fake_elasticsearch() -> String {
    let router = Router::new().route("/{index}/_count", post(count));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn counts_say_how_many_and_whether_whole_and_failures_say_why() {
    let url = fake_elasticsearch().await;
    let key = Some(SecretString::from("a2V5OnNlY3JldA=="));
    let logs = LogCounts::new(&url, "gitaly-*", key.clone(), Duration::from_millis(500)).unwrap();
    let (from, until) = (Utc::now() - chrono::TimeDelta::hours(1), Utc::now());
    let hosts = Hosts::AllBut("dev".to_owned());
    let count = |method: &'static str, kind| logs.count(method, kind, &hosts, from, until);

    assert_eq!(
        count("FindCommit", Kind::Invocations).await,
        Ok(Count {
            count: 48_211,
            partial: None
        })
    );
    assert_eq!(
        count("FindCommit", Kind::Errors).await,
        Ok(Count {
            count: 12,
            partial: None
        })
    );
    assert_eq!(
        count("Unused", Kind::Invocations).await,
        Ok(Count {
            count: 0,
            partial: None
        })
    );
    assert_eq!(
        count("Partial", Kind::Invocations).await,
        Ok(Count {
            count: 900,
            partial: Some((2, 5))
        })
    );
    assert!(
        matches!(count("Bad", Kind::Invocations).await, Err(QueryError::Refused(m)) if m.contains("unknown query"))
    );
    assert!(matches!(
        count("Busy", Kind::Invocations).await,
        Err(QueryError::Unavailable(_))
    ));
    assert_eq!(
        count("Slow", Kind::Invocations).await,
        Err(QueryError::Unavailable(
            "the log search did not answer in time".to_owned()
        ))
    );

    let elsewhere =
        LogCounts::new(&url, "gitaly-2026.11.26", key, Duration::from_millis(500)).unwrap();
    let missing = elsewhere
        .count("FindCommit", Kind::Invocations, &hosts, from, until)
        .await;
    assert!(matches!(missing, Err(QueryError::Refused(m)) if m.contains("no such index")));
}
