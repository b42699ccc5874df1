//! The stage machine, walked by hand: the whole default plan, a customised plan, the kill switch,
//! and one provocation of every refusal it can give.

mod common;

use std::collections::BTreeSet;

use chrono::TimeDelta;
use common::{Run, alice, bob, carol, dave, good_versions, old_versions, victor};
use rollout::{
    Action, Actor, CheckItem, CheckOutcome, Environment, Event, FlagValue, MigrationState, Plan,
    Refusal, Role, Status, apply, serving_percentage,
};

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
        infrastructure_issue: issue.map(str::to_owned),
    }
}

const INFRA: &str = "https://gitlab.com/gitlab-com/infrastructure/issues/99";

fn disable() -> Action {
    Action::Disable {
        reason: Some("kill".into()),
    }
}

fn flags(run: &Run) -> [u8; 3] {
    Environment::ALL.map(|e| serving_percentage(&run.state, e))
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
    assert_eq!(start.events, [Event::Started { stage: 0 }]);
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
        Event::CheckedIn { stage: 4, check_in } if check_in.item == CheckItem::InfrastructureIssueCreated
            && check_in.note.as_deref() == Some(INFRA)
    )));

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
    assert!(run.now - common::t0() > TimeDelta::days(8));
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
fn the_kill_switch_is_never_blocked() {
    // Disable from every kind of situation; none of the advance rules may get in the way.
    let situations: Vec<(&str, Setup)> = vec![
        ("not started", Box::new(|_| {})),
        ("preparation", Box::new(|r| r.drive_to(0))),
        ("soak running at 5 %", Box::new(|r| r.drive_to(5))),
        (
            "overdue at 5 %",
            Box::new(|r| {
                r.drive_to(5);
                r.wait(TimeDelta::hours(5));
            }),
        ),
        (
            "after a stop",
            Box::new(|r| {
                r.drive_to(5);
                r.ok(&alice(), stop());
            }),
        ),
        (
            "approved change pending",
            Box::new(|r| {
                r.drive_to(5);
                r.soak_and_check(&alice());
                r.ok(&alice(), request(None));
                r.ok(&carol(), Action::Approve);
            }),
        ),
        (
            "paused",
            Box::new(|r| {
                r.drive_to(6);
                r.ok(&alice(), Action::Pause { reason: None });
            }),
        ),
        (
            "already disabled",
            Box::new(|r| {
                r.drive_to(2);
                r.ok(&bob(), disable());
            }),
        ),
        (
            "completed",
            Box::new(|r| {
                r.drive_to(8);
                r.check_everything(&alice());
                r.ok(&alice(), Action::Complete);
            }),
        ),
    ];
    for (name, setup) in situations {
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
            assert_eq!(attempt.state.status(), Status::Disabled, "{name}");
            assert_eq!(flags(&attempt), [0, 0, 0], "{name}");
            assert_eq!(
                attempt.state.production_change(),
                None,
                "{name}: approval forgotten"
            );
            let offs = transition
                .events
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        Event::FlagChange {
                            value: FlagValue::Off,
                            ..
                        }
                    )
                })
                .count();
            assert_eq!(offs, 3, "{name}: every environment is switched off");
        }
        assert!(matches!(
            run.refused(&victor(), disable()),
            Refusal::RoleRequired { .. }
        ));
    }
}

#[test]
fn restart_after_disable_goes_back_to_the_first_stage() {
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.soak_and_check(&alice());
    run.ok(&alice(), request(None));
    run.ok(&carol(), Action::Approve);
    run.ok(&bob(), disable());
    for action in [
        advance(),
        check_in(CheckItem::GrafanaChecked),
        Action::Resume,
    ] {
        assert!(matches!(
            run.refused(&alice(), action),
            Refusal::NotAllowedInStatus {
                status: Status::Disabled,
                ..
            }
        ));
    }
    let restart = run.ok(
        &alice(),
        Action::Start {
            deployed: Some(good_versions()),
        },
    );
    assert_eq!(restart.events, [Event::Restarted { stage: 0 }]);
    assert_eq!(run.state.stage_index(), Some(0));
    assert_eq!(run.state.check_ins(), []);
    assert_eq!(flags(&run), [0, 0, 0]);
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
    run.ok(&alice(), Action::Resume);
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
        Refusal::SoakNotElapsed { .. }
    ));
    run.ok(
        &dave(),
        Action::OverrideSoak {
            reason: "same change soaked a week on a canary".into(),
        },
    );
    run.ok(&alice(), advance());
    assert_eq!(serving_percentage(&run.state, Environment::Production), 50);
    // The override was for that stage only.
    run.check_everything(&alice());
    run.ok(&alice(), request(None));
    run.ok(&carol(), Action::Approve);
    assert!(matches!(
        run.refused(&alice(), advance()),
        Refusal::SoakNotElapsed { .. }
    ));
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
    let mut run = Run::new(Plan::gitaly_default());
    run.drive_to(5);
    run.wait(TimeDelta::minutes(40));
    run.check_everything(&alice());
    run.wait(TimeDelta::minutes(8));
    let refusal = run.refused(&alice(), advance());
    assert_eq!(
        refusal.to_string(),
        "Stage ‘Low impact 5 %’ needs 2 h of soak; 1 h 12 min remain. A release manager may override the soak with a reason."
    );
}

/// Every refusal code. The exhaustive `match` in [`code_of`] fails to compile when a variant is
/// added, which leads here: add its code and a provocation below.
const ALL_CODES: [&str; 24] = [
    "role_required",
    "actor_unnamed",
    "not_allowed_in_status",
    "state_does_not_fit_plan",
    "soak_not_elapsed",
    "continue_said_stop",
    "check_overdue",
    "checklist_incomplete",
    "production_change_not_requested",
    "production_change_not_approved",
    "self_approval",
    "no_pending_request",
    "request_already_pending",
    "already_approved",
    "no_production_change_ahead",
    "infrastructure_issue_required",
    "reason_required",
    "deployed_versions_unknown",
    "versions_below_required",
    "no_next_stage",
    "not_at_final_stage",
    "item_not_in_stage",
    "outcome_does_not_fit_item",
    "no_routes_listed",
];

fn code_of(refusal: &Refusal) -> &'static str {
    // No wildcard on purpose.
    match refusal {
        Refusal::RoleRequired { .. } => "role_required",
        Refusal::ActorUnnamed { .. } => "actor_unnamed",
        Refusal::NotAllowedInStatus { .. } => "not_allowed_in_status",
        Refusal::StateDoesNotFitPlan { .. } => "state_does_not_fit_plan",
        Refusal::SoakNotElapsed { .. } => "soak_not_elapsed",
        Refusal::ContinueSaidStop { .. } => "continue_said_stop",
        Refusal::CheckOverdue { .. } => "check_overdue",
        Refusal::ChecklistIncomplete { .. } => "checklist_incomplete",
        Refusal::ProductionChangeNotRequested { .. } => "production_change_not_requested",
        Refusal::ProductionChangeNotApproved { .. } => "production_change_not_approved",
        Refusal::SelfApproval { .. } => "self_approval",
        Refusal::NoPendingRequest { .. } => "no_pending_request",
        Refusal::RequestAlreadyPending { .. } => "request_already_pending",
        Refusal::AlreadyApproved { .. } => "already_approved",
        Refusal::NoProductionChangeAhead { .. } => "no_production_change_ahead",
        Refusal::InfrastructureIssueRequired { .. } => "infrastructure_issue_required",
        Refusal::ReasonRequired { .. } => "reason_required",
        Refusal::DeployedVersionsUnknown { .. } => "deployed_versions_unknown",
        Refusal::VersionsBelowRequired { .. } => "versions_below_required",
        Refusal::NoNextStage { .. } => "no_next_stage",
        Refusal::NotAtFinalStage { .. } => "not_at_final_stage",
        Refusal::ItemNotInStage { .. } => "item_not_in_stage",
        Refusal::OutcomeDoesNotFitItem { .. } => "outcome_does_not_fit_item",
        Refusal::NoRoutesListed => "no_routes_listed",
    }
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
            let mut json = serde_json::to_value(&run.state).unwrap_or_else(|e| panic!("{e}"));
            json["position"]["index"] = 42.into();
            run.state =
                serde_json::from_value::<MigrationState>(json).unwrap_or_else(|e| panic!("{e}"));
            run.refused(&alice(), check_in(CheckItem::GrafanaChecked))
        },
        "stage 43 but its plan has only 9 stages",
    );
    push(
        "soak_not_elapsed",
        {
            let mut run = at(2);
            run.check_everything(&alice());
            run.refused(&alice(), advance())
        },
        "Stage ‘Staging trial’ needs 15 min of soak; 15 min remain.",
    );
    push(
        "continue_said_stop",
        {
            let mut run = at(1);
            run.check_everything(&alice());
            run.ok(&bob(), stop());
            run.refused(&alice(), advance())
        },
        "said stop (bob, 2024-03-04",
    );
    push(
        "check_overdue",
        {
            let mut run = at(2);
            run.check_everything(&alice());
            run.wait(TimeDelta::minutes(16));
            run.refused(&alice(), advance())
        },
        "must be checked every 5 min and its next check is 11 min overdue",
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
        "infrastructure_issue_required",
        at(3).refused(&alice(), request(Some("infra#99"))),
        "https:// link",
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
        "Stage ‘Development trial’ cannot start in development: Gitaly 16.3.2-rc1 is deployed but v16.3.2 is required; GitLab 16.2.5-ee is deployed but v16.3 is required.",
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
            rolled_back.gitaly = common::version("v16.3.1");
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
        "only “Continue?” is answered with stop",
    );
    push(
        "no_routes_listed",
        {
            let mut run = fresh();
            let mut raw = common::raw_identity();
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
        let code = code_of(refusal);
        assert_eq!(code, *expected, "{refusal}");
        assert_eq!(refusal.code(), code);
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
    let all: BTreeSet<&str> = ALL_CODES.into_iter().collect();
    assert_eq!(all.len(), ALL_CODES.len(), "codes are unique");
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
        Action::Resume,
        disable(),
        Action::Complete,
    ];
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
    assert_eq!(action, Action::Disable { reason: None });
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
    assert!(
        !clock.blocks_advance,
        "late by exactly one interval does not block yet"
    );
}
