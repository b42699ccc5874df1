//! The portfolio's health word, from status and check-ins.

use chrono::TimeDelta;
use rollout::{Action, CheckItem, CheckOutcome, Health, Plan, health};

use crate::common::{Run, alice};

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
