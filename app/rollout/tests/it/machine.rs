//! The stage machine, walked by hand: the whole default plan, a customised plan, the kill switch
//! and resuming after it, the watched soak, the version gates, and one provocation of every
//! refusal it can give.

use std::collections::BTreeSet;

use crate::common::{Run, alice, bob, carol, dave, good_versions, old_versions, victor};
use chrono::{TimeDelta, TimeZone, Utc};
use rollout::guardrail::Verdict;
use rollout::refusal::RefusalCode;
use rollout::{
    Action, ActionKind, Actor, CheckItem, CheckOutcome, Environment, Event, FlagValue,
    MigrationState, Plan, Refusal, Role, StageRef, StateError, Status, VersionGate,
    advance_blockers, apply, raises_exposure, reentry_stage, serving_percentage,
};
use strum::IntoEnumIterator;

fn check_in(item: CheckItem) -> Action {
    let outcome = if item == CheckItem::ContinueDecision {
        CheckOutcome::Continue
    } else {
        CheckOutcome::Checked
    };
    Action::CheckIn {
        item,
        outcome,
        note: None,
    }
}

fn stop() -> Action {
    Action::CheckIn {
        item: CheckItem::ContinueDecision,
        outcome: CheckOutcome::Stop,
        note: Some("error rate doubled".into()),
    }
}

fn advance() -> Action {
    Action::Advance {
        deployed: Some(good_versions()),
    }
}

fn request(issue: Option<&str>) -> Action {
    Action::RequestProductionChange {
        reason: "the dashboards are quiet".to_owned(),
        infrastructure_issue: issue.map(str::to_owned),
        deployed: None,
    }
}

const INFRA: &str = "https://gitlab.com/gitlab-com/infrastructure/issues/99";

fn disable() -> Action {
    Action::Disable {
        reason: Some("kill".into()),
        everywhere: false,
    }
}

fn kill_everywhere() -> Action {
    Action::Disable {
        reason: Some("kill".into()),
        everywhere: true,
    }
}

fn resume() -> Action {
    Action::Resume {
        deployed: Some(good_versions()),
    }
}

fn resume_at_last_healthy(reason: &str) -> Action {
    Action::ResumeAtLastHealthy {
        reason: reason.into(),
        deployed: Some(good_versions()),
    }
}

/// The flag writes among `events`, in order.
fn flag_writes(events: &[Event]) -> Vec<(Environment, FlagValue)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::FlagChange { environment, value } => Some((*environment, *value)),
            _ => None,
        })
        .collect()
}

fn stage_ref(run: &Run, index: usize) -> StageRef {
    run.migration
        .plan
        .stage_ref(index)
        .unwrap_or_else(|| panic!("stage {index}"))
}

/// Codes of everything that keeps the current stage from ending.
fn blocker_codes(run: &Run) -> Vec<&'static str> {
    advance_blockers(&run.state, &run.migration, run.now)
        .iter()
        .map(Refusal::code)
        .collect()
}

/// Rewrite the stored state through its JSON, as a hand edit of the database row would.
fn edit_state(run: &mut Run, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut json = serde_json::to_value(&run.state).unwrap_or_else(|e| panic!("{e}"));
    edit(&mut json);
    run.state = serde_json::from_value::<MigrationState>(json).unwrap_or_else(|e| panic!("{e}"));
}

fn flags(run: &Run) -> [u8; 3] {
    Environment::all()
        .map(|e| serving_percentage(&run.state, e))
        .collect::<Vec<_>>()
        .try_into()
        .expect("three environments")
}

#[test]
fn the_default_plan_end_to_end() {
    let mut run = Run::new(Plan::gitaly_default());
    let start = run.ok(
        &alice(),
        Action::Start {
            deployed: Some(good_versions()),
        },
    );
    assert_eq!(
        start.events,
        [Event::Started {
            stage: stage_ref(&run, 0)
        }]
    );
    assert_eq!(flags(&run), [0, 0, 0]);

    let expected_flags = [
        [100, 0, 0],
        [100, 100, 0],
        [100, 100, 0],
        [100, 100, 1],
        [100, 100, 5],
        [100, 100, 50],
        [100, 100, 100],
        [100, 100, 100],
    ];
    for (index, expected) in expected_flags.iter().enumerate() {
        run.advance_properly();
        assert_eq!(run.state.stage_index(), Some(index + 1));
        assert_eq!(&flags(&run), expected, "after entering stage {}", index + 1);
    }
    // The initial production step enters with its infrastructure issue already checked.
    let flag_changes: Vec<Event> = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::FlagChange { .. }))
        .cloned()
        .collect();
    assert_eq!(
        flag_changes,
        [
            Event::FlagChange {
                environment: Environment::Development,
                value: FlagValue::On
            },
            Event::FlagChange {
                environment: Environment::Staging,
                value: FlagValue::On
            },
            Event::FlagChange {
                environment: Environment::Production,
                value: FlagValue::Percent(1)
            },
            Event::FlagChange {
                environment: Environment::Production,
                value: FlagValue::Percent(5)
            },
            Event::FlagChange {
                environment: Environment::Production,
                value: FlagValue::Percent(50)
            },
            Event::FlagChange {
                environment: Environment::Production,
                value: FlagValue::Percent(100)
            },
        ]
    );
    assert!(run.events.iter().any(|e| matches!(
        e,
        Event::CheckedIn { stage, check_in } if stage.key.as_str() == "production_1"
            && check_in.item == CheckItem::InfrastructureIssueCreated
            && check_in.note.as_deref() == Some(INFRA)
    )));
    // Every advance names both stages by index and key.
    let advances: Vec<(usize, String)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Advanced { from, to } => {
                assert_eq!(from.index + 1, to.index);
                Some((to.index, to.key.to_string()))
            }
            _ => None,
        })
        .collect();
    let keys: Vec<(usize, String)> = run
        .migration
        .plan
        .stages()
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, s)| (i, s.key.to_string()))
        .collect();
    assert_eq!(advances, keys);

    // Done: close the issue, label the Conversation, complete.
    assert!(
        run.state
            .current_stage(&run.migration.plan)
            .is_some_and(|s| s.is_done())
    );
    run.check_everything(&bob());
    let done = run.ok(&bob(), Action::Complete);
    assert_eq!(done.events, [Event::Completed]);
    assert_eq!(run.state.status(), Status::Completed);
    assert_eq!(flags(&run), [100, 100, 100]);
    // At least a week and a day went by, all of it simulated.
    assert!(run.now - crate::common::t0() > TimeDelta::days(8));
}

#[test]
fn a_custom_plan_end_to_end() {
    let plan =
        Plan::gitaly_with_percentages(&[1, 10, 25, 50, 75, 100]).unwrap_or_else(|e| panic!("{e}"));
    let last = plan.len() - 1;
    let mut run = Run::new(plan);
    let mut production = Vec::new();
    run.drive_to(0);
    while run.state.stage_index() != Some(last) {
        run.advance_properly();
        production.push(serving_percentage(&run.state, Environment::Production));
    }
    production.dedup();
    assert_eq!(production, [0, 1, 10, 25, 50, 75, 100]);
}

/// Brings a fresh run into some situation.
type Setup = Box<dyn Fn(&mut Run)>;

#[test]
fn the_kill_switch_is_never_blocked_and_stops_the_trial_where_it_runs() {
    // Disable from every kind of situation; none of the advance rules may get in the way. The
    // flag goes off where the trial runs — the furthest environment whose flag is on — and the
    // other environments keep theirs.
    type Expect = (Status, [u8; 3], Vec<Environment>);
    let situations: Vec<(&str, Setup, Expect)> = vec![
        (
            "not started: nothing is held, every environment written off to be sure",
            Box::new(|_| {}),
            (
                Status::NotStarted,
                [0, 0, 0],
                Environment::all().collect::<Vec<_>>(),
            ),
        ),
        (
            "preparation: nothing runs anywhere",
            Box::new(|r| r.drive_to(0)),
            (
                Status::Disabled,
                [0, 0, 0],
                Environment::all().collect::<Vec<_>>(),
            ),
        ),
        (
            "development trial",
            Box::new(|r| r.drive_to(1)),
            (Status::Disabled, [0, 0, 0], vec![Environment::Development]),
        ),
        (
            "staging trial: development keeps its flag",
            Box::new(|r| r.drive_to(2)),
            (Status::Disabled, [100, 0, 0], vec![Environment::Staging]),
        ),
        (
            "production version check: staging still runs the trial",
            Box::new(|r| r.drive_to(3)),
            (Status::Disabled, [100, 0, 0], vec![Environment::Staging]),
        ),
        (
            "soak running at 5 %",
            Box::new(|r| r.drive_to(5)),
            (
                Status::Disabled,
                [100, 100, 0],
                vec![Environment::Production],
            ),
        ),
        (
            "overdue at 5 %",
            Box::new(|r| {
                r.drive_to(5);
                r.wait(TimeDelta::hours(5));
            }),
            (
                Status::Disabled,
                [100, 100, 0],
                vec![Environment::Production],
            ),
        ),
        (
            "approved change pending",
            Box::new(|r| {
                r.drive_to(5);
                r.soak_and_check(&alice());
                r.ok(&alice(), request(None));
                r.ok(&carol(), Action::Approve);
            }),
            (
                Status::Disabled,
                [100, 100, 0],
                vec![Environment::Production],
            ),
        ),
        (
            "paused at 50 %",
            Box::new(|r| {
                r.drive_to(6);
                r.ok(&alice(), Action::Pause { reason: None });
            }),
            (
                Status::Disabled,
                [100, 100, 0],
                vec![Environment::Production],
            ),
        ),
        (
            "already killed in staging: the same write again",
            Box::new(|r| {
                r.drive_to(2);
                r.ok(&bob(), disable());
            }),
            (Status::Disabled, [100, 0, 0], vec![Environment::Staging]),
        ),
        (
            "after a stop at 5 %",
            Box::new(|r| {
                r.drive_to(5);
                r.ok(&alice(), stop());
            }),
            (
                Status::Disabled,
                [100, 100, 0],
                vec![Environment::Production],
            ),
        ),
        (
            "completed",
            Box::new(|r| {
                r.drive_to(8);
                r.check_everything(&alice());
                r.ok(&alice(), Action::Complete);
            }),
            (
                Status::Disabled,
                [100, 100, 0],
                vec![Environment::Production],
            ),
        ),
    ];
    for (name, setup, (status, expected_flags, environments)) in situations {
        let mut run = Run::new(Plan::gitaly_default());
        setup(&mut run);
        // Even an actor with no name (broken session) may pull the switch.
        for actor in [bob(), dave(), Actor::new("", Role::Engineer)] {
            let mut attempt = Run {
                migration: run.migration.clone(),
                state: run.state.clone(),
                now: run.now,
                events: Vec::new(),
            };
            let transition = attempt.ok(&actor, disable());
            assert_eq!(attempt.state.status(), status, "{name}");
            assert_eq!(flags(&attempt), expected_flags, "{name}");
            assert_eq!(
                attempt.state.production_change(),
                None,
                "{name}: approval forgotten"
            );
            let writes: Vec<(Environment, FlagValue)> =
                environments.iter().map(|e| (*e, FlagValue::Off)).collect();
            assert_eq!(flag_writes(&transition.events), writes, "{name}");
            assert!(
                matches!(
                    transition.events.first(),
                    Some(Event::Disabled { environments: e, .. }) if *e == environments
                ),
                "{name}: {:?}",
                transition.events
            );
            if status == Status::Disabled {
                assert!(
                    attempt.state.stage_index().is_some(),
                    "{name}: held at its stage, not sent back"
                );
            }

            // "Everywhere" turns every environment off, whatever ran where.
            let mut everywhere = Run {
                migration: run.migration.clone(),
                state: run.state.clone(),
                now: run.now,
                events: Vec::new(),
            };
            let transition = everywhere.ok(&actor, kill_everywhere());
            assert_eq!(flags(&everywhere), [0, 0, 0], "{name}");
            assert_eq!(flag_writes(&transition.events).len(), 3, "{name}");
        }
        assert!(matches!(
            run.refused(&victor(), disable()),
            Refusal::RoleRequired { .. }
        ));
    }
}

#[test]
fn the_kill_line_is_the_templates_for_the_environment() {
    let config = rollout::LinkConfig::default();
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(2);
    let killed = run.ok(&bob(), disable());
    let lines: Vec<(String, String)> = flag_writes(&killed.events)
        .into_iter()
        .map(|(environment, value)| {
            let command = rollout::flag_command(
                &run.migration.identity.feature_flag,
                environment,
                value,
                &config,
            );
            (command.command, command.channel.name)
        })
        .collect();
    assert_eq!(
        lines,
        [(
            "!feature-set gitaly_find_commit_v2 false".to_owned(),
            "#development".to_owned()
        )]
    );
}

#[test]
fn answering_continue_with_no_is_the_kill_switch() {
    for stage in [1, 2, 4, 6, 7] {
        let mut by_answer = Run::new(Plan::gitaly_default());
        by_answer.drive_to(stage);
        let mut by_switch = Run {
            migration: by_answer.migration.clone(),
            state: by_answer.state.clone(),
            now: by_answer.now,
            events: Vec::new(),
        };
        let answered = by_answer.ok(&alice(), stop());
        let switched = by_switch.ok(
            &alice(),
            Action::Disable {
                reason: Some("error rate doubled".into()),
                everywhere: false,
            },
        );
        let Some((Event::CheckedIn { check_in, .. }, rest)) = answered.events.split_first() else {
            panic!("{:?}", answered.events)
        };
        assert_eq!(check_in.outcome, CheckOutcome::Stop);
        assert_eq!(
            rest,
            switched.events.as_slice(),
            "stage {stage}: same events"
        );
        assert_eq!(by_answer.state.status(), Status::Disabled);
        assert_eq!(by_answer.state.flags(), by_switch.state.flags());
        assert_eq!(by_answer.state.kill(), by_switch.state.kill());
    }
}

#[test]
fn resuming_after_a_kill_reenters_the_stopped_trial() {
    let killed_at = |stage: usize, action: Action| {
        let mut run = Run::new(Plan::gitaly_default());
        run.drive_to(stage);
        run.wait(TimeDelta::minutes(3));
        run.ok(&bob(), action);
        run
    };

    // In production: back to the first step by default, with a fresh stage.
    let mut run = killed_at(6, disable());
    for action in [
        advance(),
        check_in(CheckItem::GrafanaChecked),
        Action::Start { deployed: None },
    ] {
        assert!(matches!(
            run.refused(&alice(), action),
            Refusal::NotAllowedInStatus {
                status: Status::Disabled,
                ..
            }
        ));
    }
    assert_eq!(
        reentry_stage(&run.state, &run.migration, false).map(|s| s.key.to_string()),
        Ok("production_1".to_owned())
    );
    // Back into production is a production change: requested, then approved by someone else.
    assert!(matches!(
        run.refused(&alice(), resume()),
        Refusal::ProductionChangeNotRequested { percent: 1, .. }
    ));
    assert!(matches!(
        run.refused(&alice(), request(None)),
        Refusal::InfrastructureIssueRequired { .. }
    ));
    run.ok(&alice(), request(Some(INFRA)));
    assert!(matches!(
        run.refused(&alice(), resume()),
        Refusal::ProductionChangeNotApproved { percent: 1, .. }
    ));
    assert!(matches!(
        run.refused(&Actor::new("alice", Role::ReleaseManager), Action::Approve),
        Refusal::SelfApproval { .. }
    ));
    run.ok(&carol(), Action::Approve);
    assert_eq!(
        run.state.status(),
        Status::Disabled,
        "approving resumes nothing"
    );
    let resumed = run.ok(&alice(), resume());
    assert!(matches!(
        resumed.events.as_slice(),
        [
            Event::Reentered { stage, reason: None },
            Event::CheckedIn { check_in, .. },
            Event::FlagChange {
                environment: Environment::Production,
                value: FlagValue::Percent(1)
            }
        ] if *stage == stage_ref(&run, 4) && check_in.item == CheckItem::InfrastructureIssueCreated
    ));
    assert_eq!(run.state.status(), Status::Active);
    assert_eq!(run.state.stage_index(), Some(4));
    assert_eq!(flags(&run), [100, 100, 1]);
    assert_eq!(
        run.state.check_ins().len(),
        1,
        "only the carried infrastructure issue"
    );
    assert_eq!(
        run.state.production_change(),
        None,
        "the request was used up"
    );
    assert_eq!(run.state.kill(), None);
    assert_eq!(
        run.state.position().map(|p| p.started_at),
        Some(run.now),
        "the soak starts over"
    );

    // At the last healthy percentage: a release manager, with a reason.
    let mut run = killed_at(6, disable());
    assert!(matches!(
        run.refused(&alice(), resume_at_last_healthy("5 % ran clean for 2 h")),
        Refusal::RoleRequired {
            required: Role::ReleaseManager,
            ..
        }
    ));
    assert!(matches!(
        run.refused(&carol(), resume_at_last_healthy(" ")),
        Refusal::ReasonRequired { .. }
    ));
    // The release manager decides on someone else's request to resume; not on their own.
    assert!(matches!(
        run.refused(&carol(), resume_at_last_healthy("5 % ran clean for 2 h")),
        Refusal::ProductionChangeNotRequested { percent: 5, .. }
    ));
    run.ok(&carol(), request(Some(INFRA)));
    assert!(matches!(
        run.refused(&carol(), resume_at_last_healthy("5 % ran clean for 2 h")),
        Refusal::SelfApproval { .. }
    ));
    let resumed = run.ok(&dave(), resume_at_last_healthy("5 % ran clean for 2 h"));
    assert!(matches!(
        resumed.events.first(),
        Some(Event::Reentered { stage, reason: Some(reason) })
            if stage.key.as_str() == "production_5" && reason == "5 % ran clean for 2 h"
    ));
    assert_eq!(flags(&run), [100, 100, 5]);

    // Killed at the first step, nothing lower was healthy.
    let mut run = killed_at(4, disable());
    assert_eq!(
        run.refused(&carol(), resume_at_last_healthy("x")),
        Refusal::NoHealthyPercentage {
            killed_percent: Some(1)
        }
    );
    // Killed after 100 %: the last healthy percentage is 50 %.
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(8);
    run.ok(&bob(), disable());
    run.ok(&bob(), request(Some(INFRA)));
    run.ok(&carol(), resume_at_last_healthy("50 % held a day"));
    assert_eq!(
        run.state.stage_key().map(|k| k.as_str()),
        Some("production_50")
    );

    // In staging: the staging trial again; development never stopped. Not a production change.
    let mut run = killed_at(2, disable());
    assert_eq!(flags(&run), [100, 0, 0]);
    assert_eq!(
        run.refused(&carol(), resume_at_last_healthy("x")),
        Refusal::NoHealthyPercentage {
            killed_percent: None
        }
    );
    assert!(matches!(
        run.refused(&alice(), request(Some(INFRA))),
        Refusal::NoProductionChangeAhead { .. }
    ));
    let resumed = run.ok(&alice(), resume());
    assert_eq!(run.state.stage_key().map(|k| k.as_str()), Some("staging"));
    assert_eq!(
        flag_writes(&resumed.events),
        [(Environment::Staging, FlagValue::On)]
    );

    // Killed at the production version check, where staging still served: back to the check
    // with staging on; the staging trial was over and is not run again.
    let mut run = killed_at(3, disable());
    assert_eq!(flags(&run), [100, 0, 0]);
    let resumed = run.ok(&alice(), resume());
    assert_eq!(
        run.state.stage_key().map(|k| k.as_str()),
        Some("production_check")
    );
    assert_eq!(
        flag_writes(&resumed.events),
        [(Environment::Staging, FlagValue::On)]
    );

    // Killed everywhere at 50 %: resuming at 1 % turns dev and staging back on as well.
    let mut run = killed_at(6, kill_everywhere());
    assert_eq!(flags(&run), [0, 0, 0]);
    run.ok(&alice(), request(Some(INFRA)));
    run.ok(&carol(), Action::Approve);
    let resumed = run.ok(&alice(), resume());
    assert_eq!(
        flag_writes(&resumed.events),
        [
            (Environment::Production, FlagValue::Percent(1)),
            (Environment::Development, FlagValue::On),
            (Environment::Staging, FlagValue::On),
        ]
    );
    assert_eq!(flags(&run), [100, 100, 1]);

    // A new implementation (higher required versions): development and staging again.
    let mut run = killed_at(6, disable());
    let mut raw = crate::common::raw_identity();
    raw.gitaly_version = "v16.3.3".into();
    run.migration.identity =
        rollout::MigrationIdentity::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        run.refused(&carol(), resume_at_last_healthy("x")),
        Refusal::RequirementsChanged {
            restart: stage_ref(&run, 1)
        }
    );
    let mut newer = good_versions();
    newer.gitaly = crate::common::version("16.3.3");
    // Re-entering a trial checks the versions where it runs.
    assert!(matches!(
        run.refused(&alice(), resume()),
        Refusal::VersionsBelowRequired {
            gate: VersionGate::Enter,
            environment: Environment::Development,
            ..
        }
    ));
    let resumed = run.ok(
        &alice(),
        Action::Resume {
            deployed: Some(newer),
        },
    );
    assert_eq!(
        run.state.stage_key().map(|k| k.as_str()),
        Some("development")
    );
    assert_eq!(
        flag_writes(&resumed.events),
        [(Environment::Staging, FlagValue::Off)],
        "development is still on; staging waits for its trial"
    );
    assert_eq!(flags(&run), [100, 0, 0]);

    // Killed while nothing ran: it carries on where it was, checks kept.
    let mut run = {
        let mut fresh = Run::new(Plan::gitaly_default());
        fresh.drive_to(0);
        fresh.ok(&alice(), check_in(CheckItem::RoutesListed));
        fresh.ok(&bob(), disable());
        fresh
    };
    assert_eq!(run.ok(&alice(), resume()).events, [Event::Resumed]);
    assert_eq!(run.state.stage_index(), Some(0));
    assert_eq!(run.state.check_ins().len(), 1);
}

#[test]
fn pause_holds_the_stage_but_keeps_the_flag_and_the_checks() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.ok(
        &alice(),
        Action::Pause {
            reason: Some("freeze".into()),
        },
    );
    assert_eq!(flags(&run), [100, 100, 5]);
    run.soak_and_check(&alice());
    run.ok(&alice(), request(None));
    run.ok(&carol(), Action::Approve);
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::NotAllowedInStatus {
            status: Status::Paused,
            ..
        }
    ));
    assert_eq!(run.ok(&alice(), resume()).events, [Event::Resumed]);
    run.ok(&alice(), advance());
    assert_eq!(flags(&run), [100, 100, 50]);
}

#[test]
fn soak_override_lets_a_stage_end_early() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.check_everything(&alice());
    run.ok(&alice(), request(None));
    run.ok(&carol(), Action::Approve);
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::SoakNotWatched { .. }
    ));
    run.wait(TimeDelta::minutes(10));
    run.ok(
        &dave(),
        Action::OverrideSoak {
            reason: "same change soaked a week on a canary".into(),
        },
    );
    // "Continue?" was answered before the override: it judged less than the override did.
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::DecisionBeforeSoakEnd { .. }
    ));
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    // The override judged what was watched until then; the watching goes on after it.
    let mut late = Run {
        migration: run.migration.clone(),
        state: run.state.clone(),
        now: run.now,
        events: Vec::new(),
    };
    late.wait(TimeDelta::minutes(25));
    assert!(matches!(
        late.refused(&alice(), advance()),
        Refusal::SoakNotWatched { shortfall, .. } if shortfall.lapses.len() == 1
    ));
    run.ok(&alice(), advance());
    assert_eq!(serving_percentage(&run.state, Environment::Production), 50);
    // The override was for that stage only.
    run.check_everything(&alice());
    run.ok(&alice(), request(None));
    run.ok(&carol(), Action::Approve);
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::SoakNotWatched { .. }
    ));
}

#[test]
fn a_production_change_request_says_why() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.soak_and_check(&alice());
    let unexplained = Action::RequestProductionChange {
        reason: "  ".to_owned(),
        infrastructure_issue: None,
        deployed: None,
    };
    assert!(matches!(
        run.refused(&alice(), unexplained),
        Refusal::ReasonRequired {
            action: ActionKind::RequestProductionChange
        }
    ));
    let requested = run.ok(&alice(), request(None));
    assert!(matches!(
        requested.events.as_slice(),
        [Event::ProductionChangeRequested { reason, percent: 50, .. }] if reason == "the dashboards are quiet"
    ));
    let request = run.state.production_change().unwrap();
    assert_eq!(request.reason, "the dashboards are quiet");
    assert!(request.outstanding.is_empty(), "{:?}", request.outstanding);
}

#[test]
fn a_request_made_early_records_what_the_stage_still_asked() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.ok(&alice(), request(None));
    let outstanding = &run.state.production_change().unwrap().outstanding;
    assert!(
        outstanding.iter().any(|o| o.contains("unchecked items")),
        "{outstanding:?}"
    );
}

#[test]
fn a_request_checks_the_versions_it_shows_and_its_advance_uses_them() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.soak_and_check(&alice());
    let with = |deployed| Action::RequestProductionChange {
        reason: "quiet".to_owned(),
        infrastructure_issue: None,
        deployed: Some(deployed),
    };
    assert!(matches!(
        run.refused(&alice(), with(old_versions())),
        Refusal::VersionsBelowRequired { .. }
    ));
    run.ok(&alice(), with(good_versions()));
    run.ok(&carol(), Action::Approve);
    // The approver brings no versions: the request's serve.
    run.ok(&carol(), Action::Advance { deployed: None });
    assert_eq!(
        run.state.stage_key().map(|k| k.as_str().to_owned()),
        Some("production_50".to_owned())
    );
}

#[test]
fn a_rejected_request_must_be_made_again() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.soak_and_check(&alice());
    run.ok(&alice(), request(None));
    let rejected = run.ok(
        &carol(),
        Action::Reject {
            reason: "not during the deploy freeze".into(),
        },
    );
    assert!(matches!(
        rejected.events.as_slice(),
        [Event::ProductionChangeRejected { percent: 50, .. }]
    ));
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::ProductionChangeNotRequested { percent: 50, .. }
    ));
    run.ok(&bob(), request(None));
    run.ok(&dave(), Action::Approve);
    run.ok(&alice(), advance());
}

#[test]
fn the_soak_refusal_reads_as_a_sentence() {
    // Watched so far, nothing lapsed: how much is watched.
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    for _ in 0..2 {
        run.wait(TimeDelta::minutes(20));
        run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    }
    run.check_everything(&alice());
    run.wait(TimeDelta::minutes(8));
    let refusal = run.refused(&alice(), advance());
    assert_eq!(
        refusal.to_string(),
        "Stage ‘Low impact 5 %’ needs 2 h of soak watched every 20 min; 40 min is watched so far, 1 h 20 min left. A release manager may override the soak with a reason."
    );
}

/// The issue's own example: a staging soak started at 10:00, looked at 10:05, then not until
/// 10:45.
#[test]
fn a_lapse_is_named_with_how_long_and_when() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(2);
    // The stage began at 10:00 (moved there through storage, as a stage begun then would be).
    let ten = Utc.with_ymd_and_hms(2024, 3, 4, 10, 0, 0).single();
    let ten = ten.unwrap_or_else(|| panic!("a time"));
    edit_state(&mut run, |json| {
        json["position"]["started_at"] = serde_json::to_value(ten).unwrap_or_default();
    });
    run.now = ten;
    run.wait(TimeDelta::minutes(5));
    run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    run.wait(TimeDelta::minutes(40));
    run.check_everything(&alice());
    run.wait(TimeDelta::minutes(5));
    run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    let refusal = run.refused(&alice(), advance());
    assert_eq!(
        refusal.to_string(),
        "Stage ‘Staging trial’ needs 15 min of soak watched every 5 min, looks at most 6 min apart; 40 min unwatched, 10:05–10:45 UTC. Watching longer does not make up for it. A release manager may override the soak with a reason."
    );
    let Refusal::SoakNotWatched { shortfall, .. } = &refusal else {
        panic!("{refusal:?}")
    };
    assert_eq!(
        (shortfall.watched, shortfall.lapses.len()),
        (TimeDelta::minutes(10), 1)
    );
    let json = serde_json::to_value(&refusal).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (&json["watched"], &json["lapses"][0]["open"]),
        (&serde_json::json!(600), &serde_json::json!(false)),
        "the shortfall reads flat in JSON"
    );

    // Hours of proper looks later, the lapse still stands; a release manager's override ends it.
    for _ in 0..24 {
        run.wait(TimeDelta::minutes(5));
        run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    }
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::SoakNotWatched { .. }
    ));
    run.ok(
        &carol(),
        Action::OverrideSoak {
            reason: "dashboards were on the wall screen the whole time".into(),
        },
    );
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    run.ok(&alice(), advance());
    assert_eq!(
        run.state.stage_key().map(|k| k.as_str()),
        Some("production_check")
    );
}

/// A look from automation counts exactly like a person's.
#[test]
fn automated_looks_watch_a_soak() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(2);
    run.check_everything(&alice());
    let guardrail = Actor::new("guardrail", Role::Engineer);
    for _ in 0..3 {
        run.wait(TimeDelta::minutes(6));
        let looked = run.ok(
            &guardrail,
            Action::AutomatedLook {
                note: Some("error rate 0.1 % vs 0.1 %".into()),
            },
        );
        assert!(matches!(
            looked.events.as_slice(),
            [Event::AutomatedLook { look, .. }] if look.source == rollout::LookSource::Automation
                && look.by == "guardrail"
        ));
    }
    // The decision was given at the start, before the soak ended: the one blocker left.
    assert_eq!(blocker_codes(&run), ["decision_before_soak_end"]);
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    run.ok(&alice(), advance());
    assert!(matches!(
        Run::new(Plan::gitaly_default()).refused(&guardrail, Action::AutomatedLook { note: None }),
        Refusal::NotAllowedInStatus { .. }
    ));
}

/// A stage the guardrail could not judge, or found regressed, is not left on its word alone:
/// a later clear verdict, or a release manager's override given after it, lets it go on.
#[test]
fn the_guardrails_doubt_keeps_the_stage_until_it_clears_or_is_overridden() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(2);
    run.check_everything(&alice());
    let guardrail = Actor::new("[guardrail]", Role::Engineer);
    for _ in 0..3 {
        run.wait(TimeDelta::minutes(5));
        run.ok(&guardrail, Action::AutomatedLook { note: None });
    }
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    let thin = "error rate flag-on no data vs flag-off 0.30 %, threshold +1 pp (too little traffic: 40 calls, 500 needed)";
    let judged = run.ok(
        &guardrail,
        Action::GuardrailVerdict {
            verdict: Verdict::Inconclusive,
            summary: thin.into(),
        },
    );
    assert!(matches!(
        judged.events.as_slice(),
        [Event::GuardrailVerdict {
            verdict: Verdict::Inconclusive,
            ..
        }]
    ));
    assert_eq!(blocker_codes(&run), ["guardrail_not_clear"]);
    let refused = run.refused(&alice(), advance());
    assert!(refused.to_string().contains("could not judge"), "{refused}");
    assert!(refused.to_string().contains(thin), "{refused}");
    // Clear again: the stage may be left.
    run.ok(
        &guardrail,
        Action::GuardrailVerdict {
            verdict: Verdict::Pass,
            summary: "all signals within their thresholds".into(),
        },
    );
    assert!(blocker_codes(&run).is_empty());
    // A regression keeps it again, until a release manager overrides after the verdict.
    run.ok(
        &guardrail,
        Action::GuardrailVerdict {
            verdict: Verdict::Fail,
            summary: "error rate flag-on 4.10 % vs flag-off 0.30 %".into(),
        },
    );
    assert_eq!(blocker_codes(&run), ["guardrail_not_clear"]);
    run.wait(TimeDelta::minutes(1));
    run.ok(
        &carol(),
        Action::OverrideSoak {
            reason: "the errors are a known client bug, not the new path".into(),
        },
    );
    assert!(blocker_codes(&run).is_empty(), "{:?}", blocker_codes(&run));
    run.ok(&alice(), advance());
}

#[test]
fn the_production_version_check_is_left_not_entered_with_the_versions() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(2);
    run.soak_and_check(&alice());
    // Entering the check needs no production versions: checking them is its job.
    run.ok(&alice(), Action::Advance { deployed: None });
    assert_eq!(
        run.state.stage_key().map(|k| k.as_str()),
        Some("production_check")
    );
    run.check_everything(&alice());
    run.ok(&alice(), request(Some(INFRA)));
    run.ok(&carol(), Action::Approve);
    assert_eq!(
        run.refused(&alice(), Action::Advance { deployed: None })
            .to_string(),
        "Stage ‘Production version check’ checks the versions of production; the Gitaly and GitLab versions deployed there are needed to check them against the requirements."
    );
    assert_eq!(
        run.refused(
            &alice(),
            Action::Advance {
                deployed: Some(old_versions())
            }
        )
        .to_string(),
        "Stage ‘Production version check’ cannot end until production runs the required versions: Gitaly 16.3.1 is deployed but v16.3.2 is required; GitLab 16.2.5-ee is deployed but v16.3 is required."
    );
    // GitLab.com's pre-release and auto-deploy builds of the required release leave it.
    let gitlab_com = rollout::DeployedVersions {
        gitaly: crate::common::version("16.3.2-rc42-12-gabcdef0"),
        gitlab: crate::common::version("16.3.202308150906-0123456789a.bcdef012345"),
    };
    run.ok(
        &alice(),
        Action::Advance {
            deployed: Some(gitlab_com),
        },
    );
    assert_eq!(flags(&run), [100, 100, 1]);
}

/// One scenario per rule: `(expected code, refusal the machine gave, words the message must hold)`.
fn provoke_every_refusal() -> Vec<(&'static str, Refusal, &'static str)> {
    let fresh = || Run::new(Plan::gitaly_default());
    let at = |stage: usize| {
        let mut run = fresh();
        run.drive_to(stage);
        run
    };
    let mut out = Vec::new();
    let mut push = |code, refusal, words| out.push((code, refusal, words));

    push(
        "role_required",
        fresh().refused(&victor(), Action::Start { deployed: None }),
        "A viewer cannot start the migration; that takes an engineer or a release manager.",
    );
    push(
        "role_required",
        at(3).refused(&alice(), Action::Approve),
        "An engineer cannot approve a production change; that takes a release manager.",
    );
    push(
        "role_required",
        at(5).refused(&bob(), Action::OverrideSoak { reason: "x".into() }),
        "that takes a release manager",
    );
    push(
        "actor_unnamed",
        fresh().refused(
            &Actor::new("  ", Role::Engineer),
            Action::Start { deployed: None },
        ),
        "no username",
    );
    push(
        "not_allowed_in_status",
        fresh().refused(&alice(), advance()),
        "while the migration is not started. Start it first.",
    );
    push(
        "not_allowed_in_status",
        at(1).refused(&alice(), Action::Start { deployed: None }),
        "Cannot start the migration while the migration is active.",
    );
    push(
        "state_does_not_fit_plan",
        {
            let mut run = at(1);
            edit_state(&mut run, |json| json["position"]["index"] = 42.into());
            run.refused(&alice(), check_in(CheckItem::GrafanaChecked))
        },
        "stage 43 but its plan has only 9 stages",
    );
    push(
        "state_does_not_fit_plan",
        {
            // A stage inserted before the running one: same index, another stage.
            let mut run = at(5);
            run.migration.plan = Plan::gitaly_with_percentages(&[1, 2, 5, 50, 100])
                .unwrap_or_else(|e| panic!("{e}"));
            run.refused(&alice(), check_in(CheckItem::GrafanaChecked))
        },
        "The migration is at stage 6 (‘production_5’) but that stage of its plan is now ‘production_2’; the plan was changed under a running migration.",
    );
    push(
        "soak_not_watched",
        {
            let mut run = at(2);
            run.check_everything(&alice());
            run.wait(TimeDelta::minutes(4));
            run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
            run.refused(&alice(), advance())
        },
        "Stage ‘Staging trial’ needs 15 min of soak watched every 5 min; 4 min is watched so far, 11 min left.",
    );
    push(
        "soak_not_watched",
        {
            // One look at the end of a staging soak watched nothing.
            let mut run = at(2);
            run.wait(TimeDelta::minutes(15));
            run.check_everything(&alice());
            run.refused(&alice(), advance())
        },
        "looks at most 6 min apart; 15 min unwatched, 09:00–09:15 UTC.",
    );
    push(
        "soak_not_watched",
        {
            let mut run = at(2);
            run.wait(TimeDelta::minutes(16));
            advance_blockers(&run.state, &run.migration, run.now)
                .into_iter()
                .find(|r| r.code() == "soak_not_watched")
                .unwrap_or_else(|| panic!("a lapse"))
        },
        "16 min unwatched, 09:00–09:16 UTC (no look since).",
    );
    push(
        "decision_before_soak_end",
        {
            let mut run = at(2);
            run.check_everything(&alice());
            for _ in 0..3 {
                run.wait(TimeDelta::minutes(5));
                run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
            }
            run.refused(&alice(), advance())
        },
        "“Continue?” in stage ‘Staging trial’ was answered at 2024-03-04 09:00 UTC, before the soak ended at 2024-03-04 09:15 UTC; it is asked after watching the stage for its whole soak, so answer it again.",
    );
    push(
        "soak_not_watched",
        {
            // Watched in full, then nobody looked: the lapse since the last look counts too.
            let mut run = at(2);
            run.soak_and_check(&alice());
            run.wait(TimeDelta::minutes(7));
            run.refused(&alice(), advance())
        },
        "7 min unwatched, 09:15–09:22 UTC (no look since). Watching longer does not make up for it.",
    );
    push(
        "soak_not_watched",
        {
            let mut run = at(2);
            for minutes in [7, 7, 7, 7] {
                run.wait(TimeDelta::minutes(minutes));
                run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
            }
            advance_blockers(&run.state, &run.migration, run.now)
                .into_iter()
                .find(|r| r.code() == "soak_not_watched")
                .unwrap_or_else(|| panic!("lapses"))
        },
        "7 min unwatched, 09:00–09:07 UTC, 7 min unwatched, 09:07–09:14 UTC, 7 min unwatched, 09:14–09:21 UTC and 1 more lapses. Watching longer does not make up for them.",
    );
    push(
        "soak_not_watched",
        {
            // A week-long stage dates its lapses.
            let mut run = at(7);
            run.wait(TimeDelta::days(2));
            run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
            advance_blockers(&run.state, &run.migration, run.now)
                .into_iter()
                .find(|r| r.code() == "soak_not_watched")
                .unwrap_or_else(|| panic!("a lapse"))
        },
        "looks at most 1 d 4 h apart; 2 d unwatched, 2024-03-05 11:30–2024-03-07 11:30 UTC.",
    );
    push(
        "checklist_incomplete",
        {
            let mut run = at(1);
            run.ok(&alice(), check_in(CheckItem::GitalyVersionChecked));
            run.refused(&alice(), advance())
        },
        "‘Deployed GitLab version checked’, ‘Flag enabled’",
    );
    push(
        "checklist_incomplete",
        at(8).refused(&alice(), Action::Complete),
        "‘Acceptance issue closed’, ‘Conversation labelled Migration:Opt-In’",
    );
    push(
        "production_change_not_requested",
        {
            let mut run = at(3);
            run.check_everything(&alice());
            run.refused(&alice(), advance())
        },
        "Moving production to 1 % (stage ‘Initial impact 1 %’) needs a change request",
    );
    push(
        "production_change_not_approved",
        {
            let mut run = at(3);
            run.check_everything(&alice());
            run.ok(&alice(), request(Some(INFRA)));
            run.refused(&alice(), advance())
        },
        "requested by alice and is waiting for a release manager's approval",
    );
    push(
        "self_approval",
        {
            let mut run = at(3);
            run.ok(&carol(), request(Some(INFRA)));
            run.refused(&carol(), Action::Approve)
        },
        "requested by carol, who cannot also approve it",
    );
    push(
        "self_approval",
        {
            let mut run = at(3);
            run.ok(&carol(), request(Some(INFRA)));
            run.refused(&Actor::new("Carol ", Role::ReleaseManager), Action::Approve)
        },
        "cannot also approve it",
    );
    push(
        "approver_not_release_manager",
        {
            let mut run = at(3);
            run.check_everything(&alice());
            run.ok(&alice(), request(Some(INFRA)));
            run.ok(&carol(), Action::Approve);
            edit_state(&mut run, |json| {
                json["position"]["production_change"]["approval"]["role"] = "engineer".into();
            });
            run.refused(&alice(), advance())
        },
        "This production change was approved by carol, an engineer; only a release manager's approval counts.",
    );
    push(
        "self_approval",
        {
            // Edited by hand so that the requester approved: caught again when advancing.
            let mut run = at(3);
            run.check_everything(&alice());
            run.ok(&dave(), request(Some(INFRA)));
            run.ok(&carol(), Action::Approve);
            edit_state(&mut run, |json| {
                json["position"]["production_change"]["approval"]["by"] = "Dave".into();
            });
            run.refused(&alice(), advance())
        },
        "requested by Dave, who cannot also approve it",
    );
    push(
        "no_pending_request",
        at(3).refused(&carol(), Action::Approve),
        "Cannot approve a production change: there is no pending production change request.",
    );
    push(
        "no_pending_request",
        at(3).refused(
            &carol(),
            Action::Reject {
                reason: "no".into(),
            },
        ),
        "Cannot reject a production change",
    );
    push(
        "request_already_pending",
        {
            let mut run = at(3);
            run.ok(&alice(), request(Some(INFRA)));
            run.refused(&bob(), request(Some(INFRA)))
        },
        "Moving production to 1 % was already requested by alice",
    );
    push(
        "request_outdated",
        {
            let mut run = at(3);
            run.ok(&alice(), request(Some(INFRA)));
            let mut raw = crate::common::raw_identity();
            raw.gitaly_version = "v16.3.3".into();
            run.migration.identity =
                rollout::MigrationIdentity::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
            let refused = run.refused(&carol(), Action::Approve);
            // Asked again, the new request stands in for the void one.
            run.ok(&bob(), request(Some(INFRA)));
            run.ok(&carol(), Action::Approve);
            refused
        },
        "the old one, so it is void",
    );
    push(
        "already_approved",
        {
            let mut run = at(3);
            run.ok(&alice(), request(Some(INFRA)));
            run.ok(&carol(), Action::Approve);
            run.refused(&dave(), Action::Approve)
        },
        "already approved by carol",
    );
    push(
        "no_production_change_ahead",
        at(1).refused(&alice(), request(None)),
        "The next stage, ‘Staging trial’, does not change production",
    );
    push(
        "no_production_change_ahead",
        at(8).refused(&alice(), request(None)),
        "There is no next stage",
    );
    push(
        "infrastructure_issue_required",
        at(3).refused(&alice(), request(None)),
        "Stage ‘Initial impact 1 %’ needs an issue in the infrastructure tracker",
    );
    push(
        "infrastructure_issue_invalid",
        at(3).refused(&alice(), request(Some("infra#99"))),
        "The infrastructure issue 'infra#99' must be an https:// URL.",
    );
    push(
        "infrastructure_issue_invalid",
        at(3).refused(
            &alice(),
            request(Some("https://gitlab.com/gitlab-com/infrastructure")),
        ),
        "does not end in /issues/NUMBER.",
    );
    push(
        "reason_required",
        at(5).refused(
            &carol(),
            Action::OverrideSoak {
                reason: "  ".into(),
            },
        ),
        "To override the soak, give a reason.",
    );
    push(
        "reason_required",
        {
            let mut run = at(5);
            run.ok(&alice(), request(None));
            run.refused(
                &carol(),
                Action::Reject {
                    reason: String::new(),
                },
            )
        },
        "To reject a production change, give a reason.",
    );
    push(
        "deployed_versions_unknown",
        {
            let mut run = at(0);
            run.check_everything(&alice());
            run.refused(&alice(), Action::Advance { deployed: None })
        },
        "Stage ‘Development trial’ runs in development; the Gitaly and GitLab versions deployed there are needed",
    );
    push(
        "deployed_versions_unknown",
        {
            let mut run = at(3);
            run.check_everything(&alice());
            run.ok(&alice(), request(Some(INFRA)));
            run.ok(&carol(), Action::Approve);
            run.refused(&alice(), Action::Advance { deployed: None })
        },
        "Stage ‘Production version check’ checks the versions of production;",
    );
    push(
        "versions_below_required",
        {
            let mut run = at(0);
            run.check_everything(&alice());
            run.refused(
                &alice(),
                Action::Advance {
                    deployed: Some(old_versions()),
                },
            )
        },
        "Stage ‘Development trial’ cannot start in development: Gitaly 16.3.1 is deployed but v16.3.2 is required; GitLab 16.2.5-ee is deployed but v16.3 is required.",
    );
    push(
        "versions_below_required",
        {
            // Production is checked again at every production stage: a rollback is caught.
            let mut run = at(5);
            run.soak_and_check(&alice());
            run.ok(&alice(), request(None));
            run.ok(&carol(), Action::Approve);
            let mut rolled_back = good_versions();
            rolled_back.gitaly = crate::common::version("v16.3.1");
            run.refused(
                &alice(),
                Action::Advance {
                    deployed: Some(rolled_back),
                },
            )
        },
        "Gitaly 16.3.1 is deployed but v16.3.2 is required",
    );
    push(
        "no_healthy_percentage",
        {
            let mut run = at(4);
            run.ok(&bob(), disable());
            run.refused(&carol(), resume_at_last_healthy("looked fine"))
        },
        "Production was killed at 1 %, its first step, so no lower percentage was healthy; resume at the first step instead.",
    );
    push(
        "no_healthy_percentage",
        {
            let mut run = at(2);
            run.ok(&bob(), stop());
            run.refused(&carol(), resume_at_last_healthy("looked fine"))
        },
        "The trial was not killed in production",
    );
    push(
        "requirements_changed",
        {
            let mut run = at(6);
            run.ok(&bob(), disable());
            let mut raw = crate::common::raw_identity();
            raw.gitlab_version = "v16.4".into();
            run.migration.identity =
                rollout::MigrationIdentity::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
            run.refused(&carol(), resume_at_last_healthy("looked fine"))
        },
        "The required versions changed since the kill, so this is a new implementation: it starts again at ‘Development trial’",
    );
    push(
        "reason_required",
        {
            let mut run = at(6);
            run.ok(&bob(), disable());
            run.refused(&carol(), resume_at_last_healthy(""))
        },
        "To resume at the last healthy percentage, give a reason.",
    );
    push(
        "not_allowed_in_status",
        {
            let mut run = at(6);
            run.ok(&bob(), disable());
            run.refused(&alice(), Action::Start { deployed: None })
        },
        "while the migration is disabled. Resume it to run the stopped trial again.",
    );
    push(
        "no_next_stage",
        {
            let mut run = at(8);
            run.check_everything(&alice());
            run.refused(&alice(), advance())
        },
        "Stage ‘Done’ is the last one; complete the migration instead.",
    );
    push(
        "not_at_final_stage",
        at(1).refused(&alice(), Action::Complete),
        "it is at ‘Development trial’",
    );
    push(
        "item_not_in_stage",
        at(0).refused(&alice(), check_in(CheckItem::GrafanaChecked)),
        "‘Grafana feature status dashboard checked’ is not on the checklist of stage ‘Preparation’.",
    );
    push(
        "outcome_does_not_fit_item",
        at(1).refused(
            &alice(),
            Action::CheckIn {
                item: CheckItem::ContinueDecision,
                outcome: CheckOutcome::Checked,
                note: None,
            },
        ),
        "“Continue?” is answered with continue or stop, not checked.",
    );
    push(
        "outcome_does_not_fit_item",
        at(1).refused(
            &alice(),
            Action::CheckIn {
                item: CheckItem::GrafanaChecked,
                outcome: CheckOutcome::Stop,
                note: None,
            },
        ),
        "‘Grafana feature status dashboard checked’ is recorded as checked; only “Continue?” (“Success?” at 100 %) is answered with stop.",
    );
    push(
        "guardrail_not_clear",
        {
            let mut run = Run::new(Plan::gitaly_default());
            run.drive_to(2);
            run.check_everything(&alice());
            let guardrail = Actor::new("[guardrail]", Role::Engineer);
            for _ in 0..3 {
                run.wait(TimeDelta::minutes(5));
                run.ok(&guardrail, Action::AutomatedLook { note: None });
            }
            run.ok(&alice(), check_in(CheckItem::ContinueDecision));
            run.ok(
                &guardrail,
                Action::GuardrailVerdict {
                    verdict: Verdict::Inconclusive,
                    summary: "too little traffic".into(),
                },
            );
            run.refused(&alice(), advance())
        },
        "could not judge",
    );
    push(
        "no_routes_listed",
        {
            let mut run = fresh();
            let mut raw = crate::common::raw_identity();
            raw.routes.clear();
            run.migration.identity =
                rollout::MigrationIdentity::parse(&raw).unwrap_or_else(|e| panic!("{e}"));
            run.ok(&alice(), Action::Start { deployed: None });
            run.refused(&alice(), check_in(CheckItem::RoutesListed))
        },
        "lists no routes yet",
    );
    out
}

#[test]
fn every_refusal_is_provoked_and_explains_itself() {
    let provoked = provoke_every_refusal();
    let mut seen = BTreeSet::new();
    for (expected, refusal, words) in &provoked {
        let code = refusal.code();
        assert_eq!(code, *expected, "{refusal}");
        assert_eq!(code, <&str>::from(RefusalCode::from(refusal)));
        let message = refusal.to_string();
        assert!(
            message.contains(words),
            "{expected}: message {message:?} lacks {words:?}"
        );
        assert!(message.ends_with('.'), "a full sentence: {message}");
        assert!(
            message.starts_with(|c: char| c.is_uppercase() || c == '‘' || c == '“'),
            "{message}"
        );
        let json = serde_json::to_value(refusal).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["code"], code, "serde tag is the code");
        let back: Refusal = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&back, refusal);
        seen.insert(code);
    }
    // Every variant, derived from the enum: a new refusal fails here until it is provoked above.
    let all: BTreeSet<&str> = RefusalCode::iter().map(<&str>::from).collect();
    assert_eq!(all.len(), RefusalCode::iter().count(), "codes are unique");
    assert_eq!(seen, all, "every refusal has a provoking test");
}

#[test]
fn viewers_change_nothing() {
    let run = {
        let mut run = Run::new(Plan::gitaly_default());
        run.drive_to(5);
        run
    };
    let actions = [
        Action::Start { deployed: None },
        check_in(CheckItem::GrafanaChecked),
        advance(),
        request(None),
        Action::Approve,
        Action::Reject { reason: "r".into() },
        Action::OverrideSoak { reason: "r".into() },
        Action::Pause { reason: None },
        resume(),
        resume_at_last_healthy("r"),
        Action::AutomatedLook { note: None },
        Action::GuardrailVerdict {
            verdict: Verdict::Pass,
            summary: "s".into(),
        },
        disable(),
        kill_everywhere(),
        Action::Complete,
    ];
    assert_eq!(
        actions
            .iter()
            .map(Action::kind)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        rollout::ActionKind::all().count(),
        "every kind of action is tried"
    );
    for action in actions {
        let refusal = apply(&run.state, &run.migration, &victor(), &action, run.now)
            .expect_err("viewers are refused");
        assert!(
            matches!(
                refusal,
                Refusal::RoleRequired {
                    actual: Role::Viewer,
                    ..
                }
            ),
            "{refusal}"
        );
    }
}

#[test]
fn state_and_events_round_trip_through_json() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.ok(&alice(), request(None));
    run.ok(&carol(), Action::Approve);
    let json = serde_json::to_string(&run.state).unwrap_or_else(|e| panic!("{e}"));
    let back: MigrationState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, run.state);
    let events = serde_json::to_value(&run.events).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(events[0]["type"], "started");
    let back: Vec<Event> = serde_json::from_value(events).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, run.events);
    let action: Action =
        serde_json::from_str(r#"{"action":"disable"}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        action,
        Action::Disable {
            reason: None,
            everywhere: false
        }
    );
    let action: Action =
        serde_json::from_str(r#"{"action":"resume"}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(action, Action::Resume { deployed: None });

    // A killed state, with its kill record, survives storage too.
    run.ok(&bob(), disable());
    let json = serde_json::to_string(&run.state).unwrap_or_else(|e| panic!("{e}"));
    let back: MigrationState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, run.state);
    assert!(back.kill().is_some());
}

#[test]
fn the_clock_of_the_current_stage() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(6);
    run.wait(TimeDelta::hours(6));
    let clock = run
        .state
        .clock(&run.migration.plan, run.now)
        .unwrap_or_else(|| panic!("started"));
    assert_eq!(clock.soak_remaining, TimeDelta::hours(18));
    assert!((clock.soak_progress - 0.25).abs() < 1e-9);
    assert_eq!(clock.overdue_by, Some(TimeDelta::hours(3)));
    assert_eq!(clock.watch.watched, TimeDelta::zero());
    assert_eq!(
        clock.watch.lapses.len(),
        1,
        "6 h without a look is more than every 3 h with 36 min of grace"
    );
}

#[test]
fn advance_blockers_list_everything_and_advance_refuses_with_the_first() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    assert_eq!(
        blocker_codes(&run),
        [
            "checklist_incomplete",
            "soak_not_watched",
            "production_change_not_requested"
        ]
    );
    let first = advance_blockers(&run.state, &run.migration, run.now).remove(0);
    assert_eq!(run.refused(&alice(), advance()), first);

    run.ok(&alice(), request(None));
    run.ok(&alice(), Action::Pause { reason: None });
    run.wait(TimeDelta::hours(1));
    assert_eq!(
        blocker_codes(&run),
        [
            "not_allowed_in_status",
            "checklist_incomplete",
            "soak_not_watched",
            "production_change_not_approved"
        ]
    );
    let blockers = advance_blockers(&run.state, &run.migration, run.now);
    assert!(blockers.iter().all(|b| b.to_string().ends_with('.')));
    assert_eq!(run.refused(&alice(), advance()), blockers[0]);

    // Refusals name the stage by key; their sentences by name.
    let Some(Refusal::SoakNotWatched { stage, .. }) = blockers.get(2) else {
        panic!("{blockers:?}")
    };
    assert_eq!(
        (stage.index, stage.key.as_str(), stage.name.as_str()),
        (5, "production_5", "Low impact 5 %")
    );
    assert!(
        blockers[2]
            .to_string()
            .starts_with("Stage ‘Low impact 5 %’ needs 2 h")
    );

    // The hour without looks lapsed the soak for good: it restarts only with a new stage, or a
    // release manager accepts it.
    run.ok(&alice(), resume());
    run.soak_and_check(&alice());
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    run.ok(&carol(), Action::Approve);
    assert_eq!(blocker_codes(&run), ["soak_not_watched"]);
    run.ok(
        &dave(),
        Action::OverrideSoak {
            reason: "the hour without looks was a deploy freeze with no traffic".into(),
        },
    );
    assert_eq!(blocker_codes(&run), Vec::<&str>::new());
    run.ok(&alice(), advance());

    // Not started, completed: one blocker, the status.
    let fresh = Run::new(Plan::gitaly_default());
    assert_eq!(blocker_codes(&fresh), ["not_allowed_in_status"]);
    let mut done = Run::new(Plan::gitaly_default());
    done.drive_to(8);
    assert_eq!(blocker_codes(&done), ["no_next_stage"]);
}

/// Staging: 15 min soak, a look every 5 min. Returns a run in staging with looks at +5 and +10
/// and the clock at +10.
fn staging_with_looks() -> Run {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(2);
    for item in [
        CheckItem::GitalyVersionChecked,
        CheckItem::GitlabVersionChecked,
        CheckItem::FlagEnabled,
        CheckItem::KibanaInvocationsInspected,
        CheckItem::KibanaErrorsInspected,
        CheckItem::GitalySentryChecked,
        CheckItem::GitlabSentryChecked,
    ] {
        run.ok(&alice(), check_in(item));
    }
    for _ in 0..2 {
        run.wait(TimeDelta::minutes(5));
        run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    }
    run
}

#[test]
fn soak_and_decision_boundaries_are_exact_to_the_second() {
    let second = TimeDelta::seconds(1);

    // Soak: watched to one second before its end, refused; a look at its end completes it.
    let mut run = staging_with_looks();
    run.wait(TimeDelta::minutes(5) - second);
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::ChecklistIncomplete { .. }
    ));
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    let before_end = run.refused(&alice(), advance());
    assert!(
        matches!(&before_end, Refusal::SoakNotWatched { shortfall, .. }
            if shortfall.watched == TimeDelta::minutes(15) - second),
        "{before_end}"
    );
    // The decision at 14:59 was one second early, and the last look: answering again at 15:00
    // completes the watched soak and counts as the decision.
    run.wait(second);
    assert_eq!(
        blocker_codes(&run),
        ["soak_not_watched", "decision_before_soak_end"]
    );
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    assert_eq!(blocker_codes(&run), Vec::<&str>::new());
    run.ok(&alice(), advance());

    // A decision exactly at the soak's end counts.
    let mut run = staging_with_looks();
    run.wait(TimeDelta::minutes(5));
    run.ok(&alice(), check_in(CheckItem::ContinueDecision));
    run.ok(&alice(), advance());
    assert_eq!(run.state.stage_index(), Some(3));

    // Looks a whole grace late still watch the soak; one second more is a lapse.
    for (gap, watched) in [
        (TimeDelta::minutes(6), true),
        (TimeDelta::minutes(6) + second, false),
    ] {
        let mut run = Run::new(Plan::gitaly_default());
        run.drive_to(2);
        run.check_everything(&alice());
        for _ in 0..3 {
            run.wait(gap);
            run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
        }
        run.ok(&alice(), check_in(CheckItem::ContinueDecision));
        assert_eq!(
            run.try_apply(&alice(), advance()).is_ok(),
            watched,
            "{gap:?}"
        );
    }
}

#[test]
fn nobody_looking_for_longer_than_the_grace_is_a_lapse() {
    let second = TimeDelta::seconds(1);
    let ready = || {
        let mut run = staging_with_looks();
        run.wait(TimeDelta::minutes(5));
        run.ok(&alice(), check_in(CheckItem::ContinueDecision)); // the last look, at 15:00
        run
    };
    // Next look due at 20:00; late by exactly the grace (1 min) at 21:00 is still watched.
    let mut run = ready();
    run.wait(TimeDelta::minutes(6));
    assert_eq!(
        run.state
            .clock(&run.migration.plan, run.now)
            .and_then(|c| c.overdue_by),
        Some(TimeDelta::minutes(1))
    );
    run.ok(&alice(), advance());

    // One second later it is a lapse, and a fresh look does not undo it.
    let mut run = ready();
    run.wait(TimeDelta::minutes(6) + second);
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::SoakNotWatched { shortfall, .. } if shortfall.lapses.len() == 1 && shortfall.lapses[0].open
    ));
    run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::SoakNotWatched { shortfall, .. } if !shortfall.lapses[0].open
    ));
}

#[test]
fn the_dev_trial_looks_once_and_is_never_overdue() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(1);
    run.wait(TimeDelta::days(3));
    let clock = run
        .state
        .clock(&run.migration.plan, run.now)
        .unwrap_or_else(|| panic!("started"));
    assert_eq!(clock.next_look_due, Some(crate::common::t0()));
    assert_eq!(clock.overdue_by, None);
    assert!(!blocker_codes(&run).contains(&"soak_not_watched"));
    run.check_everything(&alice());
    run.ok(&alice(), advance());
}

#[test]
fn an_edited_plan_never_moves_a_running_migration() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    let key = run.state.stage_key().cloned();
    assert_eq!(key.as_ref().map(|k| k.as_str()), Some("production_5"));

    // Same stages, reworded: still fits.
    let mut reworded = Plan::gitaly_default().into_stages();
    reworded[5].name = "Five per cent".into();
    run.migration.plan = Plan::new(reworded).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.state.validate(&run.migration.plan), Ok(()));

    // A step inserted before it: the index now points at another stage; refused, not moved.
    run.migration.plan =
        Plan::gitaly_with_percentages(&[1, 2, 5, 50, 100]).unwrap_or_else(|e| panic!("{e}"));
    let expected = StateError::StageKeyMismatch {
        index: 5,
        stored: key.clone().unwrap_or_else(|| panic!("key")),
        planned: run.migration.plan.stages()[5].key.clone(),
    };
    assert_eq!(
        run.state.validate(&run.migration.plan),
        Err(expected.clone())
    );
    assert_eq!(
        advance_blockers(&run.state, &run.migration, run.now),
        [Refusal::StateDoesNotFitPlan {
            problem: expected.clone()
        }]
    );
    assert_eq!(run.state.current_stage(&run.migration.plan), None);
    assert_eq!(
        run.migration
            .plan
            .stage_by_key("production_5")
            .map(|(i, _)| i),
        Some(6),
        "where the migration's stage went"
    );
    for action in [Action::Pause { reason: None }, request(None), advance()] {
        assert_eq!(
            run.refused(&alice(), action),
            Refusal::StateDoesNotFitPlan {
                problem: expected.clone()
            }
        );
    }
    // The kill switch still works, and the resume finds its way in the edited plan: its first
    // production step, approved as every production change is.
    run.ok(&bob(), disable());
    assert_eq!(flags(&run), [100, 100, 0]);
    assert_eq!(run.state.validate(&run.migration.plan), Ok(()));
    run.ok(&alice(), request(Some(INFRA)));
    run.ok(&carol(), Action::Approve);
    run.ok(&alice(), resume());
    assert_eq!(
        (
            run.state.stage_index(),
            run.state.stage_key().map(|k| k.as_str())
        ),
        (Some(4), Some("production_1"))
    );
    assert_eq!(run.state.validate(&run.migration.plan), Ok(()));
    // Changing the plan back leaves it where it is: 1 % is stage 5 in both.
    run.migration.plan = Plan::gitaly_default();
    assert_eq!(run.state.validate(&run.migration.plan), Ok(()));
}

#[test]
fn validate_catches_states_that_cannot_happen() {
    let plan = Plan::gitaly_default();
    let at = |stage: usize| {
        let mut run = Run::new(plan.clone());
        run.drive_to(stage);
        run
    };
    let problem = |run: &Run| run.state.validate(&run.migration.plan).err();

    let mut run = at(5);
    assert_eq!(problem(&run), None);
    edit_state(&mut run, |json| {
        json["flags"]["production"] = serde_json::json!({"percent": 50})
    });
    assert!(matches!(
        problem(&run),
        Some(StateError::FlagDoesNotMatchStage {
            environment: Environment::Production,
            expected: FlagValue::Percent(5),
            found: FlagValue::Percent(50),
            ..
        })
    ));

    let mut run = at(2);
    edit_state(&mut run, |json| json["flags"]["staging"] = "off".into());
    assert!(matches!(
        problem(&run),
        Some(StateError::FlagDoesNotMatchStage { .. })
    ));

    let mut run = at(5);
    run.ok(&bob(), disable());
    assert_eq!(problem(&run), None);
    edit_state(&mut run, |json| {
        json["flags"]["production"] = serde_json::json!({"percent": 5})
    });
    assert_eq!(
        problem(&run),
        Some(StateError::FlagOnWhereKilled {
            environment: Environment::Production,
            value: FlagValue::Percent(5)
        })
    );
    // Anything but the kill switch is refused on it; the kill switch repairs it.
    assert!(matches!(
        run.refused(&alice(), resume()),
        Refusal::StateDoesNotFitPlan { .. }
    ));
    run.ok(&bob(), disable());
    assert_eq!(problem(&run), None);

    let mut run = at(5);
    run.ok(&bob(), disable());
    edit_state(&mut run, |json| json["kill"] = serde_json::Value::Null);
    assert_eq!(problem(&run), Some(StateError::KillNotRecorded));

    let mut run = at(2);
    edit_state(&mut run, |json| json["flags"]["development"] = "off".into());
    assert!(matches!(
        problem(&run),
        Some(StateError::FlagDoesNotMatchStage { .. })
    ));

    let mut run = at(5);
    run.ok(&alice(), check_in(CheckItem::GrafanaChecked));
    edit_state(&mut run, |json| {
        json["position"]["check_ins"][0]["item"] = "continue_decision".into();
        json["position"]["check_ins"][0]["outcome"] = "stop".into();
    });
    assert!(matches!(
        problem(&run),
        Some(StateError::StopNotActedOn { .. })
    ));

    let mut run = at(3);
    edit_state(&mut run, |json| {
        json["position"]["key"] = "production_1".into()
    });
    assert!(matches!(
        problem(&run),
        Some(StateError::StageKeyMismatch { index: 3, .. })
    ));

    let mut run = at(3);
    edit_state(&mut run, |json| json["status"] = "completed".into());
    assert!(matches!(
        problem(&run),
        Some(StateError::CompletedBeforeLastStage { .. })
    ));

    let mut run = at(3);
    edit_state(&mut run, |json| json["status"] = "not_started".into());
    assert_eq!(problem(&run), Some(StateError::PositionBeforeStart));

    let mut run = at(3);
    edit_state(&mut run, |json| json["position"] = serde_json::Value::Null);
    assert_eq!(
        problem(&run),
        Some(StateError::NoCurrentStage {
            status: Status::Active
        })
    );
    let message = problem(&run).map(|p| p.to_string()).unwrap_or_default();
    assert_eq!(
        message,
        "The migration is marked as active but has no current stage; its stored state is damaged."
    );
}

#[test]
fn the_infrastructure_issue_is_parsed_and_the_approver_role_recorded() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(3);
    run.check_everything(&alice());
    let requested = run.ok(
        &alice(),
        request(Some(
            " https://gitlab.com/gitlab-com/infrastructure/issues/99/ ",
        )),
    );
    let Some(Event::ProductionChangeRequested {
        infrastructure_issue: Some(issue),
        stage,
        ..
    }) = requested.events.first()
    else {
        panic!("{:?}", requested.events)
    };
    assert_eq!((issue.url(), issue.number()), (INFRA, 99));
    assert_eq!(stage.key.as_str(), "production_1");
    run.ok(&carol(), Action::Approve);
    let approval = run
        .state
        .production_change()
        .and_then(|r| r.approval.clone())
        .unwrap_or_else(|| panic!("approved"));
    assert_eq!(
        (approval.by.as_str(), approval.role),
        ("carol", Role::ReleaseManager)
    );
    let json = serde_json::to_value(&run.state).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        json["position"]["production_change"]["infrastructure_issue"],
        INFRA
    );
    // A stored request cannot smuggle in a loose link.
    let mut bad = json;
    bad["position"]["production_change"]["infrastructure_issue"] = "https://x".into();
    assert!(serde_json::from_value::<MigrationState>(bad).is_err());
}

#[test]
fn raising_a_flag_is_what_a_change_lock_forbids_and_turning_it_off_is_not() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(4);
    let before = run.state.flags();
    let up = run.ok(&alice(), request(None));
    assert!(
        !raises_exposure(before, &up.events),
        "a request changes no flag"
    );
    run.soak_and_check(&alice());
    let before = run.state.flags();
    let killed = run.ok(&alice(), disable());
    assert!(!raises_exposure(before, &killed.events));
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(1);
    let before = run.state.flags();
    run.check_everything(&alice());
    let advanced = run.ok(&alice(), advance());
    assert!(
        raises_exposure(before, &advanced.events),
        "{:?}",
        advanced.events
    );
}
