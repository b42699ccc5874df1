//! Property tests of the stage machine over random action sequences.
//!
//! A sequence mixes random actions by random people (engineers, release managers, a viewer, a
//! case variant of a release manager's name, a nameless session), random waits, and "nudges": a
//! careful team doing the next proper thing until the stage changes, so that sequences also reach
//! the late production stages. After every step the invariants of the issue are checked:
//! - production's percentage never rises without an approval by a release manager who is not
//!   the requester, except when a resume re-enters a percentage approved before the kill; it
//!   falls only by the kill switch or a "Continue?" answered stop;
//! - a disabled migration serves nothing where it was killed, and only a resume leaves it, into
//!   the stopped trial: production's first step (or, by a release manager, the last percentage
//!   below the killed one), or the staging or development trial that was stopped;
//! - 100 % is never reached without passing every earlier stage, and no stage is ever left
//!   unless, just before, every rule of leaving it held: soak watched (no gap between looks over
//!   the cadence plus its grace until it was) or overridden, every item checked, the last
//!   "Continue?" not stop and given after the soak, no look overdue beyond the grace,
//!   production changes approved by another release manager. Those rules are restated here
//!   ([`rules_broken_by_leaving`]) rather than taken from the crate, so that dropping one from
//!   `apply` fails this test;
//! - only engineers and release managers change anything: viewers, managers and admins do not;
//! - every refusal has a message and a code;
//! - the flag events, replayed, give exactly the flags the state says.

use chrono::TimeDelta;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::FileFailurePersistence;
use proptest::test_runner::TestRunner;
use rollout::{
    Action, ActionKind, Actor, CheckItem, CheckOutcome, DeployedVersions, Environment, Event,
    FlagStates, FlagValue, Migration, MigrationState, Plan, Refusal, Role, Stage, StagePosition,
    Status, Transition, advance_blockers, apply, serving_percentage,
};

const PEOPLE: [(&str, Role); 10] = [
    ("alice", Role::Engineer),
    ("bob", Role::Engineer),
    ("carol", Role::ReleaseManager),
    ("dave", Role::ReleaseManager),
    ("victor", Role::Viewer),
    ("Carol", Role::ReleaseManager),
    ("", Role::Engineer),
    ("guardrail", Role::Engineer),
    // Beside the rollout ladder: they read, and act on nothing.
    ("mona", Role::Manager),
    ("adam", Role::Admin),
];

fn role_of(username: &str) -> Option<Role> {
    PEOPLE
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(username.trim()))
        .map(|(_, role)| *role)
}

fn same_person(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

#[derive(Debug, Clone, Copy)]
enum Versions {
    Missing,
    Good,
    Old,
    /// What GitLab.com runs before a release is tagged: the required release's candidate and an
    /// auto-deploy build of its milestone. They meet the requirements.
    GitlabComBuilds,
    GitalyCandidateOfOlderRelease,
    GitlabBehind,
}

impl Versions {
    fn deployed(self) -> Option<DeployedVersions> {
        let v = crate::common::version;
        let (gitaly, gitlab) = match self {
            Versions::Missing => return None,
            Versions::Good => ("v16.3.2", "16.3.0-ee"),
            Versions::Old => ("16.2.0", "16.2.0-ee"),
            Versions::GitlabComBuilds => (
                "16.3.2-rc42-17-gabcdef0",
                "16.3.202308150906-0123456789a.bcdef012345",
            ),
            Versions::GitalyCandidateOfOlderRelease => ("16.3.1-rc4", "16.4.1-ee"),
            Versions::GitlabBehind => ("v16.5.0-12-gabcdef0", "16.2.9-ee"),
        };
        Some(DeployedVersions {
            gitaly: v(gitaly),
            gitlab: v(gitlab),
        })
    }
}

#[derive(Debug, Clone)]
enum Gen {
    Start(Versions),
    CheckIn {
        pick: usize,
        from_stage: bool,
        stop: bool,
        wrong_outcome: bool,
    },
    Advance(Versions),
    Request {
        /// 0: no issue; 1: a bad link; otherwise a good one.
        infra: u8,
    },
    Approve,
    /// The requester of the pending change approves it, whoever is named in the op.
    ApproveOwn,
    Reject {
        reason: bool,
    },
    OverrideSoak {
        reason: bool,
    },
    Pause,
    Resume(Versions),
    ResumeAtLastHealthy {
        reason: bool,
    },
    AutomatedLook,
    Disable {
        everywhere: bool,
    },
    Complete,
}

#[derive(Debug, Clone)]
enum Op {
    Act {
        person: usize,
        action: Gen,
    },
    Wait(i64),
    /// Up to this many proper steps, stopping early when the stage or status changes.
    Nudge(usize),
    /// A hasty team: every missing item checked at once, "Continue?" included (answered stop
    /// if `stop`), then the soak waited out with looks if `wait`, then an advance.
    Hasty {
        stop: bool,
        wait: bool,
    },
    /// A late team: does everything properly up to the advance, then lets this many minutes
    /// pass without a look, then advances. Negative: the clock of whoever advances is behind
    /// (skew between servers), so the advance is dated before the last check-in.
    Late(i64),
}

fn versions() -> impl Strategy<Value = Versions> {
    prop_oneof![
        6 => Just(Versions::Good),
        1 => Just(Versions::Missing),
        1 => Just(Versions::Old),
        1 => Just(Versions::GitlabComBuilds),
        1 => Just(Versions::GitalyCandidateOfOlderRelease),
        1 => Just(Versions::GitlabBehind),
    ]
}

fn gen_action() -> impl Strategy<Value = Gen> {
    prop_oneof![
        1 => versions().prop_map(Gen::Start),
        6 => (0..16usize, prop::bool::weighted(0.85), prop::bool::weighted(0.3), prop::bool::weighted(0.05))
            .prop_map(|(pick, from_stage, stop, wrong_outcome)| Gen::CheckIn { pick, from_stage, stop, wrong_outcome }),
        3 => versions().prop_map(Gen::Advance),
        2 => prop_oneof![2 => Just(0u8), 1 => Just(1u8), 7 => Just(2u8)].prop_map(|infra| Gen::Request { infra }),
        2 => Just(Gen::Approve),
        3 => Just(Gen::ApproveOwn),
        1 => prop::bool::weighted(0.8).prop_map(|reason| Gen::Reject { reason }),
        1 => prop::bool::weighted(0.8).prop_map(|reason| Gen::OverrideSoak { reason }),
        1 => Just(Gen::Pause),
        1 => versions().prop_map(Gen::Resume),
        2 => prop::bool::weighted(0.8).prop_map(|reason| Gen::ResumeAtLastHealthy { reason }),
        2 => Just(Gen::AutomatedLook),
        2 => prop::bool::weighted(0.2).prop_map(|everywhere| Gen::Disable { everywhere }),
        1 => Just(Gen::Complete),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..PEOPLE.len(), gen_action()).prop_map(|(person, action)| Op::Act { person, action }),
        2 => prop_oneof![
            Just(1i64), Just(5), Just(20), Just(180), Just(24 * 60), Just(8 * 24 * 60), 0..600i64
        ].prop_map(Op::Wait),
        3 => prop_oneof![1 => 1..6usize, 2 => Just(500usize)].prop_map(Op::Nudge),
        1 => (prop::bool::weighted(0.3), prop::bool::weighted(0.6))
            .prop_map(|(stop, wait)| Op::Hasty { stop, wait }),
        1 => prop_oneof![Just(10i64), Just(45), Just(7 * 60), 0..600i64, -30..0i64].prop_map(Op::Late),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    let ok = |p: Result<Plan, rollout::PlanError>| p.unwrap_or_else(|e| panic!("{e}"));
    prop_oneof![
        Just(Plan::gitaly_default()),
        Just(ok(Plan::gitaly_with_percentages(&[1, 10, 25, 50, 75, 100]))),
        Just(ok(Plan::gitaly_with_percentages(&[100]))),
        Just(ok(Plan::gitaly_default_with_mid_impact_cadence(
            TimeDelta::hours(4)
        ))),
    ]
}

fn scenario() -> impl Strategy<Value = (Plan, Vec<Op>)> {
    (plan(), prop::collection::vec(op(), 1..60))
}

/// What a sequence got up to, to show the properties are not vacuous.
#[derive(Debug, Default)]
struct Stats {
    reached_full: bool,
    completed: bool,
    resumed_after_kill: bool,
    approvals: usize,
    refusal_codes: std::collections::BTreeSet<&'static str>,
}

struct World {
    migration: Migration,
    state: MigrationState,
    now: chrono::DateTime<chrono::Utc>,
    /// Stages passed on the way to the current one, in order: every stage up to it.
    visited: Vec<usize>,
    stats: Stats,
}

impl World {
    fn new(plan: Plan) -> World {
        World {
            migration: crate::common::migration(plan),
            state: MigrationState::new(),
            now: crate::common::t0(),
            visited: Vec::new(),
            stats: Stats::default(),
        }
    }

    fn full_stage(&self) -> usize {
        self.migration
            .plan
            .stages()
            .iter()
            .position(|s| s.production_percent() == Some(100))
            .unwrap_or_else(|| panic!("valid plans reach 100 %"))
    }

    fn build(&self, planned: &Gen) -> Action {
        match planned {
            Gen::Start(v) => Action::Start {
                deployed: v.deployed(),
            },
            Gen::CheckIn {
                pick,
                from_stage,
                stop,
                wrong_outcome,
            } => {
                let checklist = self
                    .state
                    .current_stage(&self.migration.plan)
                    .map(|s| s.checklist.clone())
                    .unwrap_or_default();
                let item = if *from_stage && !checklist.is_empty() {
                    checklist[pick % checklist.len()]
                } else {
                    CheckItem::all()
                        .nth(pick % CheckItem::all().count())
                        .unwrap_or(CheckItem::RoutesListed)
                };
                let decision = item == CheckItem::ContinueDecision;
                let outcome = match (decision != *wrong_outcome, stop) {
                    (true, true) => CheckOutcome::Stop,
                    (true, false) => CheckOutcome::Continue,
                    (false, _) => CheckOutcome::Checked,
                };
                let outcome = if decision || *wrong_outcome {
                    outcome
                } else {
                    CheckOutcome::Checked
                };
                Action::CheckIn {
                    item,
                    outcome,
                    note: None,
                }
            }
            Gen::Advance(v) => Action::Advance {
                deployed: v.deployed(),
            },
            Gen::Request { infra } => Action::RequestProductionChange {
                reason: "quiet".to_owned(),
                infrastructure_issue: match infra {
                    0 => None,
                    1 => Some("gitlab-com/infrastructure#7".to_owned()),
                    _ => Some("https://gitlab.com/gitlab-com/infrastructure/issues/7".to_owned()),
                },
                deployed: None,
            },
            Gen::Approve | Gen::ApproveOwn => Action::Approve,
            Gen::Reject { reason } => Action::Reject {
                reason: if *reason {
                    "not now".into()
                } else {
                    " ".into()
                },
            },
            Gen::OverrideSoak { reason } => Action::OverrideSoak {
                reason: if *reason {
                    "urgent fix".into()
                } else {
                    String::new()
                },
            },
            Gen::Pause => Action::Pause { reason: None },
            Gen::Resume(v) => Action::Resume {
                deployed: v.deployed(),
            },
            Gen::ResumeAtLastHealthy { reason } => Action::ResumeAtLastHealthy {
                reason: if *reason {
                    "5 % held for its whole soak".into()
                } else {
                    String::new()
                },
                deployed: Some(crate::common::good_versions()),
            },
            Gen::AutomatedLook => Action::AutomatedLook { note: None },
            Gen::Disable { everywhere } => Action::Disable {
                reason: Some("spike".into()),
                everywhere: *everywhere,
            },
            Gen::Complete => Action::Complete,
        }
    }

    /// Apply one action and check every invariant. Returns whether it was allowed.
    fn step(&mut self, actor: &Actor, action: &Action) -> bool {
        match apply(&self.state, &self.migration, actor, action, self.now) {
            Err(refusal) => {
                check_refusal(&refusal);
                self.stats.refusal_codes.insert(refusal.code());
                if matches!(
                    refusal,
                    Refusal::RoleRequired {
                        actual: Role::Viewer,
                        ..
                    }
                ) {
                    self.stats.refusal_codes.insert("role_required(viewer)");
                }
                false
            }
            Ok(transition) => {
                self.check(actor, action, &transition);
                self.state = transition.state;
                true
            }
        }
    }

    fn check(&mut self, actor: &Actor, action: &Action, transition: &Transition) {
        let before = &self.state;
        let after = &transition.state;
        let kind = action.kind();

        // Flag events replayed on the old flags give the new flags.
        let mut replayed: FlagStates = before.flags();
        for event in &transition.events {
            if let Event::FlagChange { environment, value } = event {
                match environment {
                    Environment::Development => replayed.development = *value,
                    Environment::Staging => replayed.staging = *value,
                    Environment::Production => replayed.production = *value,
                }
            }
        }
        assert_eq!(
            replayed,
            after.flags(),
            "events and state agree on the flags"
        );

        // Viewers, managers and admins change nothing: every allowed action is by an engineer
        // or a release manager.
        assert!(
            matches!(
                role_of(&actor.username),
                Some(Role::Engineer | Role::ReleaseManager)
            ),
            "{actor:?} was allowed {kind:?}"
        );
        let stopped = transition
            .events
            .iter()
            .any(|e| matches!(e, Event::Disabled { .. }));
        let said_stop = matches!(
            action,
            Action::CheckIn {
                outcome: CheckOutcome::Stop,
                ..
            }
        );
        assert_eq!(
            stopped,
            kind == ActionKind::Disable || said_stop,
            "only the kill switch and a stop disable, and both always do"
        );

        // Production rises only with another release manager's approval, or back to a
        // percentage approved before a kill; it falls only by a kill.
        let prod_before = serving_percentage(before, Environment::Production);
        let prod_after = serving_percentage(after, Environment::Production);
        if prod_after < prod_before {
            assert!(stopped, "production lowered by {kind:?}");
            assert_eq!(prod_after, 0, "a kill turns production off");
        }
        if prod_after > prod_before {
            match kind {
                ActionKind::Advance => {
                    let request = before.production_change().unwrap_or_else(|| {
                        panic!("production rose to {prod_after} % without a request")
                    });
                    let approval = request.approval.as_ref().unwrap_or_else(|| {
                        panic!("production rose to {prod_after} % without approval")
                    });
                    assert_eq!(request.percent, prod_after);
                    assert!(
                        !same_person(&approval.by, &request.requested_by),
                        "four eyes"
                    );
                    assert_eq!(role_of(&approval.by), Some(Role::ReleaseManager));
                    assert_eq!(approval.role, Role::ReleaseManager);
                    assert!(!same_person(&approval.by, ""), "named approver");
                }
                ActionKind::Resume | ActionKind::ResumeAtLastHealthy => {
                    let kill = before
                        .kill()
                        .unwrap_or_else(|| panic!("resumed without a kill"));
                    let killed = kill.flags_before.production.serving_percentage();
                    assert!(prod_after <= killed, "resumed above the killed {killed} %");
                    // Four eyes here too: requested by one person, agreed by a release manager
                    // who is someone else.
                    let request = before.production_change().unwrap_or_else(|| {
                        panic!("production back on at {prod_after} % without a request")
                    });
                    if kind == ActionKind::ResumeAtLastHealthy {
                        assert!(prod_after < killed, "the last healthy is below the killed");
                        assert_eq!(role_of(&actor.username), Some(Role::ReleaseManager));
                        assert!(!same_person(&actor.username, &request.requested_by));
                    } else {
                        let approval = request.approval.as_ref().unwrap_or_else(|| {
                            panic!("production back on at {prod_after} % without approval")
                        });
                        assert_eq!(request.percent, prod_after);
                        assert!(!same_person(&approval.by, &request.requested_by));
                        assert_eq!(role_of(&approval.by), Some(Role::ReleaseManager));
                    }
                }
                other => panic!("production rose to {prod_after} % by {other:?}"),
            }
        }
        if kind == ActionKind::Approve {
            assert_eq!(actor.roles.rollout_role(), Role::ReleaseManager);
            self.stats.approvals += 1;
        }

        // Disabled: off where it was killed, the rest no higher than the stage runs them; only a
        // resume leaves it, into the stopped trial.
        if after.status() == Status::Disabled {
            let kill = after
                .kill()
                .unwrap_or_else(|| panic!("disabled without a kill record"));
            for environment in &kill.environments {
                assert_eq!(
                    serving_percentage(after, *environment),
                    0,
                    "killed {environment}"
                );
            }
            let trial = rollout::trial_environment(kill.flags_before);
            match trial {
                Some(environment) => assert!(kill.environments.contains(&environment)),
                None => assert_eq!(kill.environments, Environment::all().collect::<Vec<_>>()),
            }
        }
        if before.status() == Status::Disabled && after.status() != Status::Disabled {
            assert!(
                matches!(kind, ActionKind::Resume | ActionKind::ResumeAtLastHealthy),
                "{kind:?} left Disabled"
            );
            assert_eq!(after.status(), Status::Active);
            self.check_reentry(before, after, kind);
            self.stats.resumed_after_kill = true;
        }

        // Stages are entered one by one from the first, or re-entered after a kill no further
        // than where it was; 100 % only after all of them.
        for event in &transition.events {
            match event {
                Event::Started { stage } => {
                    assert_eq!(stage.index, 0);
                    self.visited = vec![0];
                }
                Event::Reentered { stage, .. } => {
                    let was = before.stage_index().unwrap_or(0);
                    assert!(stage.index <= was, "re-entered ahead of the kill");
                    self.visited.retain(|i| *i < stage.index);
                    self.visited.push(stage.index);
                }
                Event::Advanced { from, to } => {
                    assert_eq!(
                        self.visited.last(),
                        Some(&from.index),
                        "advance from the current stage"
                    );
                    assert_eq!(to.index, from.index + 1, "one stage at a time");
                    assert_eq!(
                        Some(&to.key),
                        after.stage_key(),
                        "the key moves with the index"
                    );
                    let broken = rules_broken_by_leaving(before, &self.migration.plan, self.now);
                    assert!(
                        broken.is_empty(),
                        "left stage {} although: {broken:?}",
                        from.key
                    );
                    assert_eq!(
                        advance_blockers(before, &self.migration, self.now),
                        [],
                        "advance_blockers agrees"
                    );
                    self.visited.push(to.index);
                }
                _ => {}
            }
        }
        if let Some(index) = after.stage_index() {
            assert_eq!(self.visited.last(), Some(&index));
            assert_eq!(
                self.visited,
                (0..=index).collect::<Vec<_>>(),
                "every stage up to the current one passed"
            );
        }
        if prod_after == 100 {
            let full = self.full_stage();
            let index = after
                .stage_index()
                .unwrap_or_else(|| panic!("100 % while not started"));
            assert!(index >= full, "100 % before the 100 % stage");
            self.stats.reached_full = true;
        }
        if after.status() == Status::Completed {
            self.stats.completed = true;
        }
    }

    /// Where a resume went, restated from the issue: a new implementation (other required
    /// versions) starts at the first trial; a production kill re-enters the first production
    /// step, or at the last healthy percentage the step below the killed one; a staging or
    /// development kill re-enters that environment's trial; a kill while nothing ran resumes in
    /// place.
    fn check_reentry(&self, before: &MigrationState, after: &MigrationState, kind: ActionKind) {
        let plan = &self.migration.plan;
        let kill = before.kill().unwrap_or_else(|| panic!("a kill"));
        let index = after.stage_index().unwrap_or_else(|| panic!("a stage"));
        let stage = &plan.stages()[index];
        let trials: Vec<(usize, &Stage)> = plan
            .stages()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.flag().is_some())
            .collect();
        let killed_env = Environment::all()
            .rev()
            .find(|e| kill.flags_before.get(*e) != FlagValue::Off);
        if killed_env.is_none() {
            assert_eq!(before.stage_index(), Some(index), "resumed in place");
        } else if kill.requirements != self.migration.identity.requirements() {
            assert_eq!(
                index, trials[0].0,
                "a new implementation starts at the first trial"
            );
        } else if killed_env == Some(Environment::Production) {
            let killed = kill.flags_before.production.serving_percentage();
            let steps: Vec<u8> = trials
                .iter()
                .filter_map(|(_, s)| s.production_percent())
                .collect();
            let expected = if kind == ActionKind::ResumeAtLastHealthy {
                steps.iter().copied().filter(|p| *p < killed).max()
            } else {
                steps.first().copied()
            };
            assert_eq!(stage.production_percent(), expected);
        } else {
            // Staging or development: the stage it was stopped in, again.
            assert_eq!(before.stage_key(), Some(&stage.key));
        }
    }

    /// The next thing a careful team does, or how long it waits.
    fn next_proper(&self) -> Option<Result<(Actor, Action), TimeDelta>> {
        let alice = crate::common::alice();
        let resume = Action::Resume {
            deployed: Some(crate::common::good_versions()),
        };
        match self.state.status() {
            Status::Completed => return None,
            Status::NotStarted => {
                return Some(Ok((
                    alice,
                    Action::Start {
                        deployed: Some(crate::common::good_versions()),
                    },
                )));
            }
            Status::Paused => return Some(Ok((alice, resume))),
            Status::Disabled => {
                // Back into production needs a request approved by another release manager.
                let target = rollout::reentry_stage(&self.state, &self.migration, false).ok()?;
                let into_production = self.migration.plan.stages()[target.index]
                    .production_percent()
                    .is_some();
                return match self.state.production_change() {
                    _ if !into_production => Some(Ok((alice, resume))),
                    None => Some(Ok((
                        alice,
                        Action::RequestProductionChange {
                            reason: "quiet".to_owned(),
                            infrastructure_issue: Some(
                                "https://gitlab.com/gitlab-com/infrastructure/issues/7".into(),
                            ),
                            deployed: None,
                        },
                    ))),
                    Some(request) if request.approval.is_none() => {
                        let approver = if same_person(&request.requested_by, "carol") {
                            crate::common::dave()
                        } else {
                            crate::common::carol()
                        };
                        Some(Ok((approver, Action::Approve)))
                    }
                    Some(_) => Some(Ok((alice, resume))),
                };
            }
            Status::Active => {}
        }
        let plan = &self.migration.plan;
        let index = self.state.stage_index()?;
        let stage = plan.stage(index)?;
        let look = |item: CheckItem| {
            let outcome = if item == CheckItem::ContinueDecision {
                CheckOutcome::Continue
            } else {
                CheckOutcome::Checked
            };
            Some(Ok((
                crate::common::alice(),
                Action::CheckIn {
                    item,
                    outcome,
                    note: None,
                },
            )))
        };
        let clock = self.state.clock(plan, self.now)?;
        // A careful team looks as soon as a look is due.
        if clock.next_look_due.is_some_and(|due| due <= self.now) {
            let item = stage
                .checklist
                .iter()
                .copied()
                .find(|i| i.counts_for_cadence())?;
            return look(item);
        }
        if let Some(item) = self
            .state
            .missing_items(stage)
            .into_iter()
            .find(|i| *i != CheckItem::ContinueDecision)
        {
            return look(item);
        }
        if stage.is_done() {
            return Some(Ok((alice, Action::Complete)));
        }
        if !clock.watch.is_complete(stage.soak) && self.state.soak_override().is_none() {
            // A lapse is for a release manager to judge (random waits make them); otherwise the
            // soak is waited out, a look at a time.
            if !clock.watch.lapses.is_empty() {
                return Some(Ok((
                    crate::common::carol(),
                    Action::OverrideSoak {
                        reason: "looked again since; the gap was quiet".into(),
                    },
                )));
            }
            if clock.soak_remaining <= TimeDelta::zero() {
                // The soak's time is over but its last stretch not yet looked at: look now.
                let item = stage
                    .checklist
                    .iter()
                    .copied()
                    .find(|i| i.counts_for_cadence())?;
                return look(item);
            }
            let wait = clock
                .next_look_due
                .map_or(clock.soak_remaining, |due| due - self.now);
            return Some(Err(wait
                .min(clock.soak_remaining)
                .max(TimeDelta::seconds(1))));
        }
        // "Continue?" once the soak is over (or overridden), as the template asks it.
        let position = self.state.position()?;
        let ended = soak_ended_at(position, stage);
        if stage.checklist.contains(&CheckItem::ContinueDecision)
            && self.state.last_decision().is_none_or(|d| d.at < ended)
        {
            return look(CheckItem::ContinueDecision);
        }
        let next = plan.stage(index + 1)?;
        if next.production_percent().is_some() {
            match self.state.production_change() {
                None => {
                    // Release managers request changes too (and may then not approve them).
                    let requester = if index % 2 == 0 {
                        crate::common::carol()
                    } else {
                        alice
                    };
                    return Some(Ok((
                        requester,
                        Action::RequestProductionChange {
                            reason: "quiet".to_owned(),
                            infrastructure_issue: Some(
                                "https://gitlab.com/gitlab-com/infrastructure/issues/7".into(),
                            ),
                            deployed: None,
                        },
                    )));
                }
                Some(request) if request.approval.is_none() => {
                    let approver = if same_person(&request.requested_by, "carol") {
                        crate::common::dave()
                    } else {
                        crate::common::carol()
                    };
                    return Some(Ok((approver, Action::Approve)));
                }
                Some(_) => {}
            }
        }
        Some(Ok((
            alice,
            Action::Advance {
                deployed: Some(crate::common::good_versions()),
            },
        )))
    }

    /// Do the proper thing until the stage or status changes (or nothing more can be done), at
    /// most `steps` times. Short nudges leave the stage half done, which is where random
    /// actions (an advance before the approval, say) probe the rules.
    fn nudge(&mut self, steps: usize) {
        let start = (self.state.status(), self.state.stage_index());
        for _ in 0..steps {
            match self.next_proper() {
                None => return,
                Some(Err(wait)) => self.now += wait,
                Some(Ok((actor, action))) => {
                    if !self.step(&actor, &action) {
                        return;
                    }
                }
            }
            if (self.state.status(), self.state.stage_index()) != start {
                return;
            }
        }
        assert!(
            steps < 500,
            "a careful team could not move on from {start:?}"
        );
    }

    fn hasty(&mut self, stop: bool, wait: bool) {
        let alice = crate::common::alice();
        let plan = self.migration.plan.clone();
        let Some(stage) = self.state.current_stage(&plan) else {
            return;
        };
        for item in self.state.missing_items(stage) {
            let outcome = match (item == CheckItem::ContinueDecision, stop) {
                (true, true) => CheckOutcome::Stop,
                (true, false) => CheckOutcome::Continue,
                (false, _) => CheckOutcome::Checked,
            };
            let note = None;
            self.step(
                &alice,
                &Action::CheckIn {
                    item,
                    outcome,
                    note,
                },
            );
        }
        let look = Action::CheckIn {
            item: CheckItem::GrafanaChecked,
            outcome: CheckOutcome::Checked,
            note: None,
        };
        while let Some(clock) = self.state.clock(&plan, self.now)
            && wait
            && clock.soak_remaining > TimeDelta::zero()
            && self.state.soak_override().is_none()
        {
            let interval = stage.cadence.interval().unwrap_or(clock.soak_remaining);
            self.now += interval.min(clock.soak_remaining);
            self.step(&alice, &look);
        }
        let deployed = Some(crate::common::good_versions());
        self.step(&alice, &Action::Advance { deployed });
    }

    fn late(&mut self, minutes: i64) {
        for _ in 0..500 {
            match self.next_proper() {
                None => return,
                Some(Ok((actor, Action::Advance { deployed }))) => {
                    self.now += TimeDelta::minutes(minutes);
                    self.step(&actor, &Action::Advance { deployed });
                    return;
                }
                Some(Err(wait)) => self.now += wait,
                Some(Ok((actor, action))) => {
                    if !self.step(&actor, &action) {
                        return;
                    }
                }
            }
        }
    }

    fn run(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Wait(minutes) => self.now += TimeDelta::minutes(*minutes),
                Op::Nudge(steps) => self.nudge(*steps),
                Op::Hasty { stop, wait } => self.hasty(*stop, *wait),
                Op::Late(minutes) => self.late(*minutes),
                Op::Act { person, action } => {
                    let (name, role) = PEOPLE[*person];
                    let requester = self
                        .state
                        .production_change()
                        .map(|r| r.requested_by.clone())
                        .filter(|_| matches!(action, Gen::ApproveOwn));
                    let actor = match requester {
                        Some(name) => {
                            let role = role_of(&name).unwrap_or(Role::Viewer);
                            Actor::new(name, role)
                        }
                        None => Actor::new(name, role),
                    };
                    let action = self.build(action);
                    self.step(&actor, &action);
                }
            }
        }
        let json = serde_json::to_string(&self.state).unwrap_or_else(|e| panic!("{e}"));
        let back: MigrationState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, self.state, "state survives storage");
    }
}

/// When the soak of the current stage ended, or was overridden, whichever came first.
fn soak_ended_at(position: &rollout::StagePosition, stage: &rollout::Stage) -> DateTime<Utc> {
    let end = position.started_at + stage.soak;
    position
        .soak_override
        .as_ref()
        .map_or(end, |o| o.at.min(end))
}

/// When people and automation looked at the stage, up to `now`, oldest first: check-ins of the
/// dashboards and of "Continue?", and automated looks.
fn look_times(position: &StagePosition, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut times: Vec<DateTime<Utc>> = position
        .check_ins
        .iter()
        .filter(|c| {
            CheckItem::MONITORING.contains(&c.item) || c.item == CheckItem::ContinueDecision
        })
        .map(|c| c.at)
        .chain(position.automated_looks.iter().map(|l| l.at))
        .filter(|at| *at >= position.started_at && *at <= now)
        .collect();
    times.sort();
    times
}

/// The issue's rule, restated: the watched part of a soak is the time covered by looks, from the
/// stage's start to the first look and between consecutive looks; the stage may be left exactly
/// when no gap exceeds the interval plus the grace — the one since the last look included — and
/// the watched time reaches the soak. A stage looked at once (or never) has no cadence: its soak
/// is time.
fn soak_watched(position: &StagePosition, stage: &Stage, now: DateTime<Utc>) -> bool {
    let (Some(interval), Some(grace)) = (stage.cadence.interval(), stage.cadence.grace()) else {
        return (now - position.started_at).max(TimeDelta::zero()) >= stage.soak;
    };
    let mut watched = TimeDelta::zero();
    let mut previous = position.started_at;
    for at in look_times(position, now) {
        if at - previous > interval + grace {
            return false;
        }
        watched += at - previous;
        previous = at;
    }
    now - previous <= interval + grace && watched >= stage.soak
}

/// Whether a gap longer than the interval plus the grace lies between `since` and `now`.
fn lapsed_since(
    position: &StagePosition,
    stage: &Stage,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let (Some(interval), Some(grace)) = (stage.cadence.interval(), stage.cadence.grace()) else {
        return false;
    };
    let mut previous = since;
    for at in look_times(position, now)
        .into_iter()
        .filter(|at| *at >= since)
    {
        if at - previous > interval + grace {
            return true;
        }
        previous = at;
    }
    now - previous > interval + grace
}

/// The rules of leaving the current stage of `state` at `now`, restated from the issue without
/// the crate's help: the names of those that do not hold.
fn rules_broken_by_leaving(
    state: &MigrationState,
    plan: &Plan,
    now: DateTime<Utc>,
) -> Vec<&'static str> {
    let mut broken = Vec::new();
    if state.status() != Status::Active {
        broken.push("not active");
    }
    let Some(position) = state.position() else {
        return vec!["not started"];
    };
    let stage = &plan.stages()[position.index];
    if stage.key != position.key {
        broken.push("stage key differs from the plan's");
    }
    match &position.soak_override {
        None if !soak_watched(position, stage, now) => {
            broken.push("soak not watched and not overridden");
        }
        // Overridden: the watching goes on from the override, without a lapse.
        Some(done) if lapsed_since(position, stage, done.at.max(position.started_at), now) => {
            broken.push("a lapse since the soak was overridden");
        }
        _ => {}
    }
    if stage
        .checklist
        .iter()
        .any(|item| !position.check_ins.iter().any(|c| c.item == *item))
    {
        broken.push("an item is not checked");
    }
    let decision = position
        .check_ins
        .iter()
        .rfind(|c| c.item == CheckItem::ContinueDecision);
    if let Some(decision) = decision {
        if decision.outcome != CheckOutcome::Continue {
            broken.push("the last decision is stop");
        }
        if decision.at < soak_ended_at(position, stage) {
            broken.push("the last decision came before the soak ended");
        }
    }
    let next = &plan.stages()[position.index + 1];
    if let Some(percent) = next.production_percent() {
        match &position.production_change {
            None => broken.push("production change not requested"),
            Some(request) => {
                if request.percent != percent || request.stage.index != position.index + 1 {
                    broken.push("the request is for another stage");
                }
                match &request.approval {
                    None => broken.push("production change not approved"),
                    Some(approval) => {
                        if same_person(&approval.by, &request.requested_by) {
                            broken.push("approved by the requester");
                        }
                        if approval.role != Role::ReleaseManager
                            || role_of(&approval.by) != Some(Role::ReleaseManager)
                        {
                            broken.push("approved by someone who is not a release manager");
                        }
                    }
                }
                if next.requires_infrastructure_issue() && request.infrastructure_issue.is_none() {
                    broken.push("no infrastructure issue");
                }
            }
        }
    }
    broken
}

fn check_refusal(refusal: &Refusal) {
    let message = refusal.to_string();
    assert!(!message.trim().is_empty(), "{refusal:?} has no message");
    assert!(message.ends_with('.'), "not a sentence: {message}");
    let code = refusal.code();
    assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    let json = serde_json::to_value(refusal).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["code"], code);
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Integration tests have no lib.rs beside them: keep regressions next to this file.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn invariants_hold_over_random_sequences((plan, ops) in scenario()) {
        World::new(plan).run(&ops);
    }
}

/// The property above would pass vacuously if sequences never got far. Sample the same
/// strategy deterministically and show they reach 100 %, completion, restarts and many refusals.
#[test]
fn random_sequences_reach_the_interesting_states() {
    let mut runner = TestRunner::deterministic();
    let strategy = scenario();
    let (mut full, mut completed, mut resumed, mut approvals) = (0, 0, 0, 0);
    let mut codes = std::collections::BTreeSet::new();
    let samples = 400;
    for _ in 0..samples {
        let (plan, ops) = strategy
            .new_tree(&mut runner)
            .unwrap_or_else(|e| panic!("{e}"))
            .current();
        let mut world = World::new(plan);
        world.run(&ops);
        full += usize::from(world.stats.reached_full);
        completed += usize::from(world.stats.completed);
        resumed += usize::from(world.stats.resumed_after_kill);
        approvals += world.stats.approvals;
        codes.extend(world.stats.refusal_codes);
    }
    eprintln!(
        "of {samples}: {full} reached 100 %, {completed} completed, {resumed} resumed after a kill; {approvals} approvals; refusal codes seen: {codes:?}"
    );
    assert!(full >= samples / 20, "only {full} sequences reached 100 %");
    assert!(completed >= 1);
    assert!(resumed >= samples / 20);
    // The refusals the advance rules give must each be met, not just many refusals.
    for code in [
        "production_change_not_approved",
        "self_approval",
        "soak_not_watched",
        "decision_before_soak_end",
        "checklist_incomplete",
        "versions_below_required",
        "no_healthy_percentage",
        "infrastructure_issue_invalid",
        "role_required(viewer)",
    ] {
        assert!(
            codes.contains(code),
            "never refused with {code}; seen: {codes:?}"
        );
    }
}

/// One look of [`watched_soak_property`]: `permille` of the stage's interval after the previous
/// look (or the stage's start), by a person or by automation; 0 is a second look at the same
/// instant.
#[derive(Debug, Clone, Copy)]
struct PlacedLook {
    permille: i64,
    automated: bool,
}

fn placed_looks() -> impl Strategy<Value = Vec<PlacedLook>> {
    let gap = prop_oneof![
        // Within the cadence, a second look at the same time included.
        1 => Just(0i64),
        4 => 50..=1000i64,
        // Late, but within the default grace of a fifth.
        2 => 1001..=1200i64,
        // Beyond the grace.
        2 => 1201..=3000i64,
        // The edges: exactly interval + grace, and just past it.
        1 => Just(1200i64),
        1 => Just(1201i64),
    ];
    prop::collection::vec(
        (gap, prop::bool::weighted(0.3)).prop_map(|(permille, automated)| PlacedLook {
            permille,
            automated,
        }),
        1..14,
    )
}

proptest! {
    #![proptest_config(config(512))]

    /// The watched-soak rule on its own: every other rule of leaving is met (items checked,
    /// production change approved), looks are placed at random within and beyond the cadence,
    /// the last of them is the "Continue?" answer, and the advance comes with it. Advancing is
    /// allowed exactly when the looks reach the soak's end with no gap over the interval plus
    /// the grace on the way.
    #[test]
    fn watched_soak_property(
        stage_index in prop::sample::select(vec![2usize, 4, 5, 6, 7]),
        looks in placed_looks(),
    ) {
        let mut run = crate::common::Run::new(Plan::gitaly_default());
        run.drive_to(stage_index);
        let stage = run.migration.plan.stages()[stage_index].clone();
        let (Some(interval), Some(grace)) = (stage.cadence.interval(), stage.cadence.grace()) else {
            panic!("monitored stages have an interval")
        };
        let start = run.now;
        let alice = crate::common::alice();
        // Everything but the decision, at the stage's start: those looks are at zero gap.
        for item in stage.checklist.iter().filter(|i| **i != CheckItem::ContinueDecision) {
            run.ok(&alice, Action::CheckIn { item: *item, outcome: CheckOutcome::Checked, note: None });
        }
        if let Some(next) = run.migration.plan.stage(stage_index + 1)
            && next.production_percent().is_some()
        {
            run.ok(&alice, Action::RequestProductionChange { reason: "quiet".to_owned(), infrastructure_issue: None, deployed: None });
            run.ok(&crate::common::carol(), Action::Approve);
        }
        let guardrail = Actor::new("guardrail", Role::Engineer);
        let mut gaps = Vec::new();
        for (n, look) in looks.iter().enumerate() {
            let gap = TimeDelta::milliseconds(interval.num_milliseconds() * look.permille / 1000);
            gaps.push(gap);
            run.wait(gap);
            let action = if n + 1 == looks.len() {
                Action::CheckIn {
                    item: CheckItem::ContinueDecision,
                    outcome: CheckOutcome::Continue,
                    note: None,
                }
            } else if look.automated {
                Action::AutomatedLook { note: None }
            } else {
                Action::CheckIn { item: CheckItem::GrafanaChecked, outcome: CheckOutcome::Checked, note: None }
            };
            let actor = if look.automated && n + 1 < looks.len() { &guardrail } else { &alice };
            run.ok(actor, action);
        }

        // The rule, in the issue's words: advancing is allowed exactly when no gap exceeds the
        // interval plus the grace and the watched time (the sum of the gaps that do not) reaches
        // the soak. (The advance comes with the last look: no gap after it.)
        let every_gap_short = gaps.iter().all(|gap| *gap <= interval + grace);
        let watched: TimeDelta = gaps
            .iter()
            .filter(|gap| **gap <= interval + grace)
            .sum();
        let expected = every_gap_short && watched >= stage.soak;

        let result = run.try_apply(&alice, Action::Advance { deployed: Some(crate::common::good_versions()) });
        prop_assert_eq!(
            result.is_ok(),
            expected,
            "stage {} from {}: gaps {:?}, watched {:?}: {:?}",
            stage.key, start, gaps, watched, result.err().map(|r| r.to_string())
        );
        if let Err(refusal) = result {
            prop_assert_eq!(refusal.code(), "soak_not_watched");
        }
    }
}
