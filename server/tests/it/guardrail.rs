//! The guardrail replayed against a real Prometheus: eleven migrations at 5 % in production over
//! backfilled traffic. One has a regression injected into its flag-on cohort (errors from 0.3 %
//! to 5 % half an hour ago): it is found, and its flag disabled at the second evaluation. Ten are
//! healthy, with noise, three of them with too little traffic: none is rolled back, and the thin
//! ones are reported inconclusive. The walk to 5 % is made on one replica whose guardrail is idle;
//! a second replica over the same database does the watching.

use std::{fmt::Write as _, time::Duration};

use serde_json::Value;

use crate::drive::Driver;
use crate::helpers::{Spawn, spawn_app_with};
use crate::real_prometheus::{RealPrometheus, SCRAPE};

const REGRESSING: &str = "gitaly_replay_regressing";
/// Flag-on calls per second of each healthy replay; the last three are too few to judge.
const HEALTHY: [f64; 10] = [12.0, 8.0, 20.0, 5.0, 15.0, 9.0, 30.0, 0.2, 0.3, 0.1];
const OFF_RATE: f64 = 190.0;
const BASE_ERRORS: f64 = 0.003;

fn healthy_flag(index: usize) -> String {
    format!("gitaly_replay_healthy_{index}")
}

/// A number in [0, 1) from the inputs, the same on every run.
fn jitter(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// One flag's four handled counters (flag on and off, OK and failed), each growing by its rate
/// at every scrape; `error_ratio` of the flag-on cohort may change over time.
fn cohorts(
    out: &mut String,
    flag: &str,
    seed: u64,
    on_rate: f64,
    from: i64,
    until: i64,
    error_ratio: impl Fn(i64) -> f64,
) {
    for (enabled, rate) in [("true", on_rate), ("false", OFF_RATE)] {
        for failed in [false, true] {
            let code = if failed { "Internal" } else { "OK" };
            let mut value = 0.0;
            for (n, at) in (from..=until).step_by(SCRAPE as usize).enumerate() {
                // ±20 % of noise on the traffic, and on the error ratio, scrape by scrape.
                let noise = |salt: u64| 0.8 + 0.4 * jitter(seed * 1_000_003 + n as u64 * 7 + salt);
                let calls = rate * noise(1) * SCRAPE as f64;
                let ratio = if enabled == "true" {
                    error_ratio(at)
                } else {
                    BASE_ERRORS
                } * noise(2);
                value += if failed {
                    calls * ratio
                } else {
                    calls * (1.0 - ratio)
                };
                writeln!(
                    out,
                    r#"grpc_server_handled_total{{job="gitaly",grpc_service="gitaly.CommitService",grpc_method="FindCommit",flag="{flag}",enabled="{enabled}",grpc_code="{code}"}} {value} {at}"#
                )
                .unwrap();
            }
        }
    }
}

fn replay(from: i64, until: i64) -> String {
    let mut out = String::from("# TYPE grpc_server_handled counter\n");
    let regression_from = until - 30 * 60;
    cohorts(&mut out, REGRESSING, 1, 10.0, from, until, |at| {
        if at >= regression_from {
            0.05
        } else {
            BASE_ERRORS
        }
    });
    for (index, rate) in HEALTHY.iter().enumerate() {
        cohorts(
            &mut out,
            &healthy_flag(index),
            index as u64 + 2,
            *rate,
            from,
            until,
            |_| BASE_ERRORS,
        );
    }
    out.push_str("# EOF\n");
    out
}

/// The evaluations of `flag`'s migration, oldest first: (verdict, streak, action, evidence).
async fn evaluations(pool: &sqlx::PgPool, flag: &str) -> Vec<(String, i32, Option<String>, Value)> {
    sqlx::query_as(
        "SELECT e.verdict, e.failing_streak, e.action, e.evidence FROM guardrail_evaluations e
         JOIN migrations m ON m.id = e.migration_id
         WHERE m.flag_name = $1 AND e.evaluated_at IS NOT NULL ORDER BY e.evaluated_at",
    )
    .bind(flag)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_regression_is_rolled_back_and_healthy_or_thin_replays_are_not() {
    let prometheus = RealPrometheus::start(replay).await;
    let flags_local = || {
        vec![
            ("RAMPART_FLAGS_DEVELOPMENT", "local".to_owned()),
            ("RAMPART_FLAGS_STAGING", "local".to_owned()),
            ("RAMPART_FLAGS_PRODUCTION", "local".to_owned()),
        ]
    };
    // The walk: this replica's guardrail looks once at start-up, at nothing, and not again.
    let walker = spawn_app_with(Spawn {
        env: [
            flags_local(),
            vec![("RAMPART_GUARDRAIL_INTERVAL_SECONDS", "3600".to_owned())],
        ]
        .concat(),
        ..Spawn::default()
    })
    .await;
    let first = Driver::new(&walker, REGRESSING).await;
    let mut flags = vec![REGRESSING.to_owned()];
    flags.extend((0..HEALTHY.len()).map(healthy_flag));
    for flag in &flags {
        let driver = first.other(&walker, flag);
        driver.create_and_start().await;
        while driver.stage().await != "production_5" {
            driver.step().await;
        }
    }

    // The watcher: another replica over the same database, evaluating every second.
    let _watcher = spawn_app_with(Spawn {
        env: [
            flags_local(),
            vec![
                ("RAMPART_PROMETHEUS_PRODUCTION_URL", prometheus.url.clone()),
                ("RAMPART_PROMETHEUS_PRODUCTION_JOB", "gitaly".to_owned()),
                ("RAMPART_GUARDRAIL_INTERVAL_SECONDS", "1".to_owned()),
            ],
        ]
        .concat(),
        replica_of: Some((walker.database.clone(), walker.database_url.clone())),
        ..Spawn::default()
    })
    .await;
    let pool = &walker.pool;
    let mut settled = false;
    for _ in 0..300 {
        let killed = evaluations(pool, REGRESSING)
            .await
            .iter()
            .any(|(_, _, action, _)| action.as_deref() == Some("disabled"));
        let mut judged_twice = true;
        for flag in &flags[1..] {
            judged_twice &= evaluations(pool, flag).await.len() >= 2;
        }
        if killed && judged_twice {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "the watcher judged every migration twice and acted"
    );

    // The regression: failing at once, disabled at the second failure in a row.
    let regressing = evaluations(pool, REGRESSING).await;
    let verdicts: Vec<_> = regressing
        .iter()
        .map(|(v, s, a, _)| (v.as_str(), *s, a.as_deref()))
        .take(2)
        .collect();
    assert_eq!(
        verdicts,
        [("fail", 1, None), ("fail", 2, Some("disabled"))],
        "within two poll intervals"
    );
    let evidence = &regressing[1].3;
    let error_rate = &evidence["reports"][0];
    assert_eq!(error_rate["signal"], "error_rate");
    assert_eq!(error_rate["comparison"], "cohorts");
    assert_eq!(error_rate["threshold"], "+1 pp");
    let (on, off) = (
        error_rate["subject"].as_f64().unwrap(),
        error_rate["reference"].as_f64().unwrap(),
    );
    assert!((0.04..0.06).contains(&on), "flag-on {on}");
    assert!((0.002..0.004).contains(&off), "flag-off {off}");
    assert!(
        error_rate["test"]
            .as_str()
            .unwrap()
            .starts_with("two-proportion z-test"),
        "{error_rate}"
    );
    assert_eq!(evidence["thresholds"]["error_rate_points"], 1.0);
    let asked = evidence["queries"].as_array().unwrap();
    assert!(
        asked.iter().any(|q| q["query"]
            .as_str()
            .unwrap()
            .contains(r#"flag="gitaly_replay_regressing""#)),
        "the evidence names the query: {asked:?}"
    );
    let regressing_driver = first.other(&walker, REGRESSING);
    let detail = regressing_driver.detail().await;
    assert_eq!(detail["status"], "disabled");
    // The page says why, beside what was done.
    let acted = if detail["guardrail"]["acted"].is_null() {
        &detail["guardrail"]["latest"]
    } else {
        &detail["guardrail"]["acted"]
    };
    assert_eq!(acted["action"], "disabled the flag", "{acted}");
    assert!(
        acted["signals"][0]
            .as_str()
            .unwrap()
            .starts_with("fail: error rate flag-on "),
        "{acted}"
    );
    assert!(
        detail["kills"][0]["by"] == "[guardrail]",
        "killed by the guardrail: {}",
        detail["kills"]
    );

    // The healthy replays: never rolled back, never failing; thin traffic is inconclusive.
    for (index, rate) in HEALTHY.iter().enumerate() {
        let flag = healthy_flag(index);
        for (verdict, _, action, evidence) in evaluations(pool, &flag).await {
            assert_eq!(action, None, "{flag} was acted on: {evidence}");
            let expected = if rate * 600.0 < 500.0 {
                "inconclusive"
            } else {
                "pass"
            };
            assert_eq!(verdict, expected, "{flag}: {evidence}");
            if expected == "inconclusive" {
                assert!(
                    evidence["reports"][0]["reason"]
                        .as_str()
                        .unwrap()
                        .starts_with("too little traffic"),
                    "{evidence}"
                );
            }
        }
        let detail = first.other(&walker, &flag).detail().await;
        assert_eq!(detail["status"], "active", "{flag}");
    }
}

#[tokio::test]
async fn observe_only_is_a_release_managers_switch_and_audited() {
    let app = spawn_app_with(Spawn::default()).await;
    let driver = Driver::new(&app, "gitaly_observe_switch").await;
    driver.create_and_start().await;
    let set = |who: &reqwest::Client, observe_only: &'static str| {
        let flag = driver.flag.clone();
        let who = who.clone();
        let driver = &driver;
        async move {
            driver
                .call(
                    &who,
                    "set_guardrail_mode",
                    &[("flag", flag.as_str()), ("observe_only", observe_only)],
                )
                .await
        }
    };
    let (status, _) = set(&driver.engineer, "true").await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    let (status, body) = set(&driver.release_manager, "true").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let detail = driver.detail().await;
    assert_eq!(detail["guardrail"]["observe_only"], true);
    assert!(
        detail["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["summary"]
                == "set the guardrail to observe only: it judges and tells, never acts"
                && entry["actor"] == "rita"),
        "{}",
        detail["audit"]
    );
    set(&driver.release_manager, "false").await;
    assert_eq!(driver.detail().await["guardrail"]["observe_only"], false);
}
