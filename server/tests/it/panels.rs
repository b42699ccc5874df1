//! The panels against a real Prometheus (the Debian package `make test` installs; the test starts
//! it on a free port over data backfilled with `promtool`): each panel's query gives what the
//! backfilled series imply, worked out here from the same rates; a hostile method name matches
//! only its own series. Then the page's side: panels read through Rampart, a Prometheus that
//! stops leaves "unavailable" panels (never an error page), and a hundred viewers at once cost
//! one query per panel.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Form, Json, Router, routing::post};
use chrono::{TimeDelta, Utc};
use reqwest::StatusCode;
use rollout::{Environment, FlagValue};
use serde_json::{Value, json};
use server::observability::{
    prometheus::Prometheus,
    promql::Metric,
    sources::{MetricsSource, Span, Watched},
};
use server::rollouts::deployments::GitalyBuildInfo;

use crate::drive::Driver;
use crate::helpers::{Spawn, spawn_app_with};
use crate::real_prometheus::{RealPrometheus, SCRAPE, escaped};

const JOB: &str = "gitaly";
const FLAG: &str = "gitaly_find_commit_v2";
const METHOD: &str = "FindCommit";
/// A method name that tries to close the matcher and add a query of its own.
const HOSTILE: &str = r#"FindCommit"} or vector(1) or up{a="\"#;

/// Calls per second of each series the test writes.
const OK_RATE: f64 = 10.0;
const ERROR_RATE: f64 = 0.5;
const HOSTILE_RATE: f64 = 3.0;
const FLAG_ON_RATE: f64 = 1.0;
const FLAG_OFF_RATE: f64 = 9.0;
const CPU_RATES: [f64; 2] = [0.8, 1.2];
/// The handling-time histogram: calls per scrape falling at or under each bound.
const BUCKETS: [(f64, f64); 5] = [
    (0.005, 30.0),
    (0.01, 90.0),
    (0.025, 135.0),
    (0.05, 147.0),
    (0.1, 150.0),
];

/// The `quantile` of a histogram given as cumulative counts per upper bound, interpolated
/// linearly within the bucket it falls in (what `histogram_quantile` promises).
fn quantile(buckets: &[(f64, f64)], quantile: f64) -> f64 {
    let total = buckets.last().unwrap().1;
    let rank = quantile * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, count) in buckets {
        if *count >= rank {
            return lower + (bound - lower) * (rank - below) / (count - below);
        }
        (lower, below) = (*bound, *count);
    }
    unreachable!()
}

/// The backfill: every series from `from` to `until`, a sample every [`SCRAPE`] seconds, each
/// counter growing at its rate. Decoys — another method, another job, another flag — carry
/// larger numbers, so a query that matched them would show it.
fn openmetrics(from: i64, until: i64) -> String {
    let times: Vec<i64> = (from..=until).step_by(SCRAPE as usize).collect();
    let mut out = String::new();
    let counter = |out: &mut String, family: &str, series: &[(String, f64)], suffix: &str| {
        writeln!(out, "# TYPE {family} counter").unwrap();
        for (labels, rate) in series {
            for at in &times {
                let value = rate * (at - from) as f64;
                writeln!(out, "{family}{suffix}{{{labels}}} {value} {at}").unwrap();
            }
        }
    };
    let handled = |method: &str, code: &str, job: &str| {
        format!(
            r#"job="{job}",grpc_service="gitaly.CommitService",grpc_method="{}",grpc_code="{code}""#,
            escaped(method)
        )
    };
    counter(
        &mut out,
        "grpc_server_handled",
        &[
            (handled(METHOD, "OK", JOB), OK_RATE),
            (handled(METHOD, "Internal", JOB), ERROR_RATE),
            (handled(HOSTILE, "OK", JOB), HOSTILE_RATE),
            (handled("ListCommits", "OK", JOB), 500.0),
            (handled(METHOD, "OK", "gitaly-canary"), 700.0),
        ],
        "_total",
    );
    counter(
        &mut out,
        "process_cpu_seconds",
        &[
            (format!(r#"job="{JOB}",instance="a""#), CPU_RATES[0]),
            (format!(r#"job="{JOB}",instance="b""#), CPU_RATES[1]),
            (r#"job="node",instance="a""#.to_owned(), 30.0),
        ],
        "_total",
    );
    let check =
        |flag: &str, enabled: bool| format!(r#"job="{JOB}",flag="{flag}",enabled="{enabled}""#);
    counter(
        &mut out,
        "gitaly_feature_flag_checks",
        &[
            (check(FLAG, true), FLAG_ON_RATE),
            (check(FLAG, false), FLAG_OFF_RATE),
            (check("gitaly_other_flag", true), 100.0),
        ],
        "_total",
    );
    // Two Gitaly nodes mid-deploy: the version gate takes the lower.
    writeln!(out, "# TYPE gitaly_build_info gauge").unwrap();
    for (instance, version) in [("a", "v16.4.0"), ("b", "v16.3.2")] {
        for at in &times {
            writeln!(
                out,
                r#"gitaly_build_info{{job="{JOB}",instance="{instance}",version="{version}"}} 1 {at}"#
            )
            .unwrap();
        }
    }
    writeln!(out, "# TYPE grpc_server_handling_seconds histogram").unwrap();
    let labels =
        format!(r#"job="{JOB}",grpc_service="gitaly.CommitService",grpc_method="{METHOD}""#);
    let per_scrape = |count: f64| count / SCRAPE as f64;
    for (bound, count) in BUCKETS
        .iter()
        .map(|(b, c)| (b.to_string(), *c))
        .chain([("+Inf".to_owned(), BUCKETS[BUCKETS.len() - 1].1)])
    {
        for at in &times {
            let value = per_scrape(count) * (at - from) as f64;
            writeln!(
                out,
                r#"grpc_server_handling_seconds_bucket{{{labels},le="{bound}"}} {value} {at}"#
            )
            .unwrap();
        }
    }
    for at in &times {
        let calls = per_scrape(BUCKETS[BUCKETS.len() - 1].1) * (at - from) as f64;
        writeln!(
            out,
            "grpc_server_handling_seconds_count{{{labels}}} {calls} {at}"
        )
        .unwrap();
        writeln!(
            out,
            "grpc_server_handling_seconds_sum{{{labels}}} {} {at}",
            calls * 0.01
        )
        .unwrap();
    }
    out.push_str("# EOF\n");
    out
}

fn watched(method: &str) -> Watched {
    Watched {
        flag: FLAG.to_owned(),
        service: "gitaly.CommitService".to_owned(),
        method: method.to_owned(),
        full_method: format!("/gitaly.CommitService/{method}"),
        environment: Environment::Production,
        serving: FlagValue::Percent(10),
        changed_at: None,
    }
}

/// Every point of every series of `panel`, by the series' `enabled` label (empty without one).
async fn values(
    source: &MetricsSource,
    panel: Metric,
    method: &str,
    span: &Span,
) -> HashMap<String, Vec<f64>> {
    let query = source.query(panel, &watched(method), span);
    let answer = source
        .prometheus
        .query_range(&query, span.from, span.until, span.step)
        .await
        .unwrap_or_else(|error| panic!("{panel:?}: {error}\n{query}"));
    answer
        .series
        .into_iter()
        .map(|series| {
            let key = series.labels.get("enabled").cloned().unwrap_or_default();
            (key, series.points.into_iter().map(|(_, v)| v).collect())
        })
        .collect()
}

fn assert_all_near(panel: Metric, got: &[f64], expected: f64) {
    assert!(got.len() >= 30, "{panel:?}: only {} points", got.len());
    for value in got {
        assert!(
            (value - expected).abs() <= expected.abs() * 1e-6 + 1e-9,
            "{panel:?}: {value} where the series imply {expected}"
        );
    }
}

#[tokio::test]
async fn each_panel_asks_real_prometheus_what_the_series_imply() {
    let prometheus = RealPrometheus::start(openmetrics).await;
    let source = MetricsSource {
        prometheus: Prometheus::new(&prometheus.url, Duration::from_secs(5)).unwrap(),
        job: JOB.to_owned(),
        templates: Vec::new(),
    };
    let now = Utc::now();
    // Well inside the backfill: rates need a minute of samples behind each point.
    let span = Span {
        from: now - TimeDelta::hours(2),
        until: now - TimeDelta::minutes(5),
        step: Duration::from_secs(60),
    };
    let single = |answer: HashMap<String, Vec<f64>>, panel: Metric| -> Vec<f64> {
        assert_eq!(answer.len(), 1, "{panel:?}: one series, got {answer:?}");
        answer.into_values().next().unwrap()
    };
    let calls = OK_RATE + ERROR_RATE;
    for (panel, expected) in [
        (Metric::CallRate, calls),
        (Metric::ErrorRate, ERROR_RATE / calls),
        (Metric::LatencyP50, quantile(&BUCKETS, 0.5)),
        (Metric::LatencyP95, quantile(&BUCKETS, 0.95)),
        (Metric::LatencyP99, quantile(&BUCKETS, 0.99)),
        (Metric::Cpu, CPU_RATES.iter().sum()),
    ] {
        let got = single(values(&source, panel, METHOD, &span).await, panel);
        assert_all_near(panel, &got, expected);
    }
    let split = values(&source, Metric::FlagSplit, METHOD, &span).await;
    assert_eq!(split.len(), 2, "flag on and off: {split:?}");
    assert_all_near(Metric::FlagSplit, &split["true"], FLAG_ON_RATE);
    assert_all_near(Metric::FlagSplit, &split["false"], FLAG_OFF_RATE);

    // The hostile name is a value to match: it finds its own series and nothing more.
    let hostile = single(
        values(&source, Metric::CallRate, HOSTILE, &span).await,
        Metric::CallRate,
    );
    assert_all_near(Metric::CallRate, &hostile, HOSTILE_RATE);
    let nothing = values(&source, Metric::CallRate, "FindCommit\"}", &span).await;
    assert!(nothing.is_empty(), "{nothing:?}");

    // The same Prometheus answers the version gate's instant query.
    let deployed =
        GitalyBuildInfo::new(&prometheus.url, "gitaly_build_info", Duration::from_secs(5))
            .unwrap()
            .lowest()
            .await;
    assert_eq!(deployed, rollout::Version::parse("v16.3.2").ok());
}

/// The panels of `driver`'s migration, as its page asks for them.
async fn panels(driver: &Driver<'_>) -> Value {
    let (status, panels) = driver
        .call(
            &driver.engineer,
            "migration_panels",
            &[("flag", &driver.flag), ("window", "Hour")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{panels}");
    panels
}

fn chart<'a>(panels: &'a Value, key: &str) -> &'a Value {
    panels["charts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no {key} chart in {panels}"))
}

#[tokio::test]
async fn the_page_reads_prometheus_and_says_unavailable_once_it_stops() {
    let mut prometheus = RealPrometheus::start(openmetrics).await;
    let app = spawn_app_with(Spawn {
        env: vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned()),
            ("RAMPART_PROMETHEUS_DEVELOPMENT_URL", prometheus.url.clone()),
            ("RAMPART_PROMETHEUS_DEVELOPMENT_JOB", JOB.to_owned()),
            ("RAMPART_OBSERVABILITY_TIMEOUT_MS", "1000".to_owned()),
            ("RAMPART_OBSERVABILITY_REFRESH_SECONDS", "1".to_owned()),
        ],
        ..Spawn::default()
    })
    .await;
    let driver = Driver::new(&app, FLAG).await;
    driver.create_and_start().await;
    driver.step().await;
    assert_eq!(driver.stage().await, "development");

    let live = panels(&driver).await;
    assert_eq!(live["environment"], "development");
    let call_rate = chart(&live, "call_rate");
    assert_eq!(
        call_rate["title"], "Call rate, flag on vs off",
        "{call_rate}"
    );
    let flag_on: Vec<f64> = call_rate["lines"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert!(!flag_on.is_empty(), "{call_rate}");
    // The latest minute may be at the backfill's edge; the rest is the rate written.
    assert_all_near(
        Metric::FlagSplit,
        &flag_on[..flag_on.len() - 2],
        FLAG_ON_RATE,
    );
    let counts = live["counts"].as_array().unwrap();
    assert!(
        counts.iter().all(|c| c["unavailable"]
            .as_str()
            .unwrap()
            .contains("configured for Dev (set RAMPART_")),
        "no log search or Sentry here: {counts:?}"
    );

    prometheus.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let down = panels(&driver).await;
    for chart in down["charts"].as_array().unwrap() {
        assert_eq!(
            chart["unavailable"], "unavailable: Prometheus could not be reached",
            "{chart}"
        );
        assert_eq!(chart["link"]["kind"], "feature_status_dashboard", "{chart}");
    }
    // The page itself: whole, with the panels saying why they are empty.
    let http = driver.engineer.clone();
    let page = http
        .get(format!("{}/migrations/{FLAG}", app.address))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Low impact") || html.contains("Development"),
        "the migration is on the page"
    );
    assert!(
        html.contains("unavailable: Prometheus could not be reached"),
        "the panels stream in, unavailable"
    );
}

/// A Prometheus that counts each question it is asked.
async fn counting_prometheus() -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let asked: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counts = asked.clone();
    let router = Router::new().route(
        "/api/v1/query_range",
        post(move |Form(form): Form<HashMap<String, String>>| {
            let counts = counts.clone();
            async move {
                let key = format!(
                    "{} {} {} {}",
                    form["query"], form["start"], form["end"], form["step"]
                );
                *counts.lock().unwrap().entry(key).or_default() += 1;
                // Slow enough that every viewer asks while the first question is in flight.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let start: i64 = form["start"].parse().unwrap();
                Json(
                    json!({"status": "success", "data": {"resultType": "matrix", "result": [
                        {"metric": {}, "values": [[start, "1"], [start + 60, "2"]]}
                    ]}}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, asked)
}

#[tokio::test]
async fn a_hundred_viewers_cost_one_query_per_panel() {
    let (url, asked) = counting_prometheus().await;
    let app = spawn_app_with(Spawn {
        env: vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned()),
            ("RAMPART_PROMETHEUS_DEVELOPMENT_URL", url),
            ("RAMPART_OBSERVABILITY_REFRESH_SECONDS", "3600".to_owned()),
        ],
        ..Spawn::default()
    })
    .await;
    let driver = Driver::new(&app, FLAG).await;
    driver.create_and_start().await;
    driver.step().await;
    let viewers = (0..100).map(|_| {
        driver.call(
            &driver.engineer,
            "migration_panels",
            &[("flag", FLAG), ("window", "Stage")],
        )
    });
    for (status, body) in futures_util::future::join_all(viewers).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.values().all(|times| *times == 1),
        "each question asked once: {asked:#?}"
    );
    // Seven panels; twice as many only if the burst straddled the refresh interval's edge.
    let panels = 7;
    assert!(
        asked.len() == panels || asked.len() == 2 * panels,
        "{} questions: {asked:#?}",
        asked.len()
    );
}
