//! The portfolio's health word, from status, check-ins and the guardrail's verdict.

use chrono::TimeDelta;
use rollout::{
    Action, Actor, CheckItem, CheckOutcome, Health, Plan, Role, guardrail::Verdict, health,
};

use crate::common::{Run, alice, carol};

fn health_of(run: &Run) -> Health {
    health(&run.state, &run.migration.plan, run.now)
}

/// A run in the staging trial (every 5 minutes), just entered.
fn in_staging() -> Run {
    let mut run = Run::new(Plan::gitaly_default());
    run.ok(&alice(), Action::Start { deployed: None });
    while run
        .state
        .current_stage(&run.migration.plan)
        .map(|s| s.key.as_str())
        != Some("staging")
    {
        run.advance_properly();
    }
    run
}

fn look(run: &mut Run) {
    run.ok(
        &alice(),
        Action::CheckIn {
            item: CheckItem::GrafanaChecked,
            outcome: CheckOutcome::Checked,
            note: None,
        },
    );
}

#[test]
fn nothing_to_judge_before_the_start_or_before_the_first_look() {
    let mut run = Run::new(Plan::gitaly_default());
    assert_eq!(health_of(&run), Health::Unknown);
    run.ok(&alice(), Action::Start { deployed: None });
    assert_eq!(
        health_of(&run),
        Health::Unknown,
        "preparation is not watched"
    );
    let run = in_staging();
    assert_eq!(
        health_of(&run),
        Health::Unknown,
        "no look in this stage yet"
    );
}

#[test]
fn looked_at_on_time_is_healthy_and_an_overdue_look_needs_attention() {
    let mut run = in_staging();
    run.wait(TimeDelta::minutes(2));
    look(&mut run);
    assert_eq!(health_of(&run), Health::Healthy);
    run.wait(TimeDelta::minutes(5));
    assert_eq!(health_of(&run), Health::Healthy, "due now, not yet late");
    run.wait(TimeDelta::minutes(1));
    assert_eq!(health_of(&run), Health::Attention);
    look(&mut run);
    assert_eq!(health_of(&run), Health::Healthy);
}

#[test]
fn paused_needs_attention_and_killed_is_failing() {
    let mut run = in_staging();
    look(&mut run);
    run.ok(&alice(), Action::Pause { reason: None });
    assert_eq!(health_of(&run), Health::Attention);
    run.ok(&alice(), Action::Resume { deployed: None });
    assert_eq!(health_of(&run), Health::Healthy);
    run.ok(
        &alice(),
        Action::Disable {
            reason: Some("error rate".into()),
            everywhere: false,
        },
    );
    assert_eq!(health_of(&run), Health::Failing);
}

fn verdict(run: &mut Run, verdict: Verdict) {
    let guardrail = Actor::new("[guardrail]", Role::Engineer);
    run.ok(
        &guardrail,
        Action::GuardrailVerdict {
            verdict,
            summary: "error rate flag-on 4.10 % vs flag-off 0.30 %".into(),
        },
    );
}

#[test]
fn a_regression_the_guardrail_found_is_failing_until_it_finds_the_stage_clear() {
    let mut run = in_staging();
    look(&mut run);
    assert_eq!(health_of(&run), Health::Healthy);
    verdict(&mut run, Verdict::Inconclusive);
    assert_eq!(
        health_of(&run),
        Health::Healthy,
        "too little to judge is not a regression"
    );
    verdict(&mut run, Verdict::Fail);
    assert_eq!(
        health_of(&run),
        Health::Failing,
        "looked at on time, but regressed"
    );
    run.ok(&alice(), Action::Pause { reason: None });
    assert_eq!(
        health_of(&run),
        Health::Failing,
        "paused for it, still regressed"
    );
    run.ok(&alice(), Action::Resume { deployed: None });
    verdict(&mut run, Verdict::Pass);
    assert_eq!(health_of(&run), Health::Healthy);
    // A release manager's override lets the stage be left, but does not make it good; the next
    // stage starts without the last one's verdict.
    verdict(&mut run, Verdict::Fail);
    run.wait(TimeDelta::minutes(1));
    run.ok(
        &carol(),
        Action::OverrideSoak {
            reason: "judged by hand".into(),
        },
    );
    assert_eq!(health_of(&run), Health::Failing);
    run.advance_properly();
    assert_ne!(health_of(&run), Health::Failing);
}
