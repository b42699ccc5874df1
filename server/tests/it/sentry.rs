//! Error counts against a fake of Sentry's issues API (CONTRACTS.md): the total from `X-Hits`,
//! pages followed through `Link` where a server sends no total, counts sent as strings, the top
//! few issues, a refused search, a slow server.

use std::{collections::HashMap, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, Query},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::get,
};
use secrecy::SecretString;
use serde_json::json;
use server::observability::{
    QueryError,
    errors::{GITLAB_SEARCH, SentryErrors, method_search},
};

async fn issues(
    Path((org, project)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> axum::response::Response {
    assert_eq!(
        (org.as_str(), project.as_str()),
        ("gitlab", "gitaly-production")
    );
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer sntrys_test")
    );
    assert_eq!(query["statsPeriod"], "24h");
    match query["query"].as_str() {
        r#"is:unresolved grpc.method:"/gitaly.CommitService/FindCommit""# => {
            let page: Vec<_> = (1..=7)
                .map(|n| json!({
                    "id": n.to_string(), "shortId": format!("GITALY-{n}"), "title": format!("error {n}"),
                    "culprit": "FindCommit", "permalink": format!("https://sentry.example.com/issues/{n}/"),
                    "level": "error", "status": "unresolved", "count": (100 * n).to_string(),
                    "userCount": 0, "firstSeen": "2026-11-25T10:00:00Z", "lastSeen": "2026-11-26T10:00:00Z",
                }))
                .collect();
            ([("X-Hits", "23")], Json(page)).into_response()
        }
        // No X-Hits: 100 + 100 + 37 issues over three pages, linked by cursor.
        r#"is:unresolved grpc.method:"/gitaly.CommitService/Paged""# => {
            let (size, next) = match query.get("cursor").map(String::as_str) {
                None => (100, Some("0:100:0")),
                Some("0:100:0") => (100, Some("0:200:0")),
                Some("0:200:0") => (37, None),
                Some(other) => panic!("unknown cursor {other}"),
            };
            let page: Vec<_> = (0..size)
                .map(|n| json!({"title": format!("paged {n}"), "count": "1", "lastSeen": "2026-11-26T10:00:00Z", "permalink": format!("https://sentry.example.com/issues/p{n}/")}))
                .collect();
            let link = format!(
                r#"<{url}>; rel="previous"; results="false"; cursor="0:0:1", <{url}>; rel="next"; results="{more}"; cursor="{cursor}""#,
                url = "https://sentry.example.com/api/0/projects/gitlab/gitaly-production/issues/",
                more = next.is_some(),
                cursor = next.unwrap_or("0:300:0"),
            );
            ([("Link", link)], Json(page)).into_response()
        }
        r#"is:unresolved gitaly"# => ([("X-Hits", "2")], Json(json!([]))).into_response(),
        r#"is:unresolved grpc.method:"/gitaly.CommitService/Quiet""# => {
            ([("X-Hits", "0")], Json(json!([]))).into_response()
        }
        r#"is:unresolved grpc.method:"/gitaly.CommitService/Slow""# => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Json(json!([])).into_response()
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "Invalid query"})),
        )
            .into_response(),
    }
}

#[tokio::test]
async fn unresolved_issues_come_with_their_total_and_failures_say_why() {
    let router = Router::new().route("/api/0/projects/{org}/{project}/issues/", get(issues));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let sentry = SentryErrors::new(
        &url,
        "gitlab",
        SecretString::from("sntrys_test"),
        Duration::from_millis(500),
    )
    .unwrap();
    let sentry = &sentry;
    let unresolved = |method: &str| {
        let search = method_search(method);
        async move { sentry.unresolved("gitaly-production", &search, "24h").await }
    };

    let found = unresolved("/gitaly.CommitService/FindCommit")
        .await
        .unwrap();
    assert_eq!(found.issues, 23, "the total, not the page");
    assert_eq!(found.top.len(), 5);
    assert_eq!(found.top[0].count, 100);
    assert_eq!(
        found.top[0].permalink,
        "https://sentry.example.com/issues/1/"
    );
    let quiet = unresolved("/gitaly.CommitService/Quiet").await.unwrap();
    assert_eq!((quiet.issues, quiet.top.len()), (0, 0));
    let paged = unresolved("/gitaly.CommitService/Paged").await.unwrap();
    assert_eq!(
        (paged.issues, paged.top.len(), paged.more),
        (237, 5, false),
        "every page counted"
    );
    let gitlab = sentry
        .unresolved("gitaly-production", GITLAB_SEARCH, "24h")
        .await
        .unwrap();
    assert_eq!(gitlab.issues, 2);
    assert!(matches!(
        unresolved("bad\" query").await,
        Err(QueryError::Refused(m)) if m.contains("Invalid query")
    ));
    assert_eq!(
        unresolved("/gitaly.CommitService/Slow").await,
        Err(QueryError::Unavailable(
            "Sentry did not answer in time".to_owned()
        ))
    );
}
