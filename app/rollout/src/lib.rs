//! The acceptance-testing process of a Gitaly feature-flag migration, as data and pure functions.
//!
//! Every page, server function and background job of Rampart asks the same questions about a
//! migration: which stage is it in, may it advance, when is the next check due, do the deployed
//! versions allow the next environment, which ChatOps line and dashboard links belong to this
//! stage. The answers live here, once, so the server and the browser can never disagree.
//!
//! Why a crate of its own rather than a module of `app`:
//! - **Pure by construction.** Its only dependencies are serde, chrono (without its clock
//!   feature) and thiserror: it *cannot* do I/O or read the time, so every function is a pure
//!   function of its arguments and `now` is always passed in.
//! - **Builds for `wasm32-unknown-unknown`** as well as natively, so the browser evaluates the same
//!   rules (e.g. to disable a button with the refusal as its tooltip) as the server enforces.
//! - **Fast to test.** It compiles and runs its unit, table and property tests in seconds,
//!   without Leptos, a database or a browser.
//!
//! Modules, one job each:
//! - [`access`]: roles and the rule of who may do what.
//! - [`identity`]: a migration's flag, gRPC method, required versions, routes and issues (and the
//!   infrastructure issue of a production request), parsed.
//! - [`version`]: version strings as deployed, their order, and requirement checks.
//! - [`plan`]: rollout plans (the template's default and customised ones), stage keys, and
//!   their validation.
//! - [`checklist`]: the template's checkboxes and recorded check-ins.
//! - [`health`]: how a migration is doing, in one word.
//! - [`timing`]: soak remaining and progress, how much of it was watched, next look due,
//!   overdue-by.
//! - [`machine`]: the stage machine — state, actions, events, and what blocks an advance.
//! - [`refusal`]: why the machine said no, as a sentence for people and a code for programs.
//! - [`links`]: dashboard links, ChatOps lines (the template's dialect or GitLab's) and the
//!   Details lines, in the template's exact forms.
//! - [`issue`]: the acceptance issue's whole text, the template filled in.
//! - [`duration`]: durations in words and as stored seconds.

/// `TryFrom<String>`, `FromStr` and `From<T> for String` for types that have
/// `fn parse(&str) -> Result<T, E>` and a `Display` that writes what `parse` reads back: what
/// `#[serde(try_from = "String", into = "String")]` needs so that deserialising goes through the
/// parser.
macro_rules! parsed_from_string {
    ($($ty:ty => $err:ty),+ $(,)?) => {$(
        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(value: String) -> Result<$ty, $err> {
                <$ty>::parse(&value)
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.to_string()
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<$ty, $err> {
                <$ty>::parse(s)
            }
        }
    )+};
}

pub mod access;
pub mod checklist;
pub mod duration;
pub mod guardrail;
pub mod health;
pub mod identity;
pub mod issue;
pub mod links;
pub mod machine;
pub mod plan;
pub mod refusal;
pub mod timing;
pub mod version;

pub use access::{Permission, Role, Roles};
pub use checklist::{CheckIn, CheckItem, CheckOutcome, Look, LookSource};
pub use health::{Health, health};
pub use identity::{
    AcceptanceIssue, ConversationRef, FlagName, GITALY_FLAG_PREFIX, GrpcMethod, IdentityError,
    IdentityErrors, IdentityField, InfrastructureIssue, MigrationIdentity, RawIdentity,
    RequiredGitalyVersion, RequiredGitlabVersion, Routes,
};
pub use issue::{ACCEPTANCE_TESTING_LABEL, acceptance_issue};
pub use links::{
    ChatChannel, ChatLine, ChatOps, ChatOpsCommand, Link, LinkConfig, LinkKind, StageCommands,
    cleanup_command, details_lines, flag_command, item_link, overview_links, plan_commands,
    plan_links, stage_commands, stage_links,
};
pub use machine::{
    Action, ActionKind, Actor, Approval, Event, FlagStates, Kill, Migration, MigrationState,
    ProductionChangeRequest, SoakOverride, StagePosition, Status, Transition, advance_blockers,
    apply, may_approve, raises_exposure, reentry_stage, serving_percentage, trial_environment,
    versions_needed_to_advance,
};
pub use plan::{
    Cadence, EmptyLogWindow, Environment, FlagValue, LogWindow, MID_IMPACT_CADENCE, Plan,
    PlanError, ProductionStep, Stage, StageKey, StageKeyError, StageKind, StageRef,
};
pub use refusal::{LabelledItem, Refusal, SoakShortfall, StateError, VersionGate};
pub use timing::{Lapse, SoakWatch, StageClock};
pub use version::{
    AutoDeploy, DeployedVersions, Version, VersionError, VersionRequirement, VersionRequirements,
};

#[cfg(test)]
mod names {
    use serde::Serialize;

    /// strum's name of each variant (as_str, key, code) is the one serde writes.
    fn agree<T: Serialize + Copy>(
        variants: impl Iterator<Item = T>,
        name: impl Fn(T) -> &'static str,
    ) {
        let mut count = 0;
        for variant in variants {
            let json = serde_json::to_value(variant).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(json, name(variant));
            count += 1;
        }
        assert!(count > 0);
    }

    #[test]
    fn strum_and_serde_name_every_variant_alike() {
        use strum::IntoEnumIterator;
        agree(crate::Role::all(), crate::Role::as_str);
        agree(crate::ActionKind::all(), crate::ActionKind::as_str);
        agree(crate::Environment::all(), crate::Environment::as_str);
        agree(crate::CheckItem::all(), crate::CheckItem::key);
        agree(crate::Status::iter(), crate::Status::as_str);
        agree(crate::Health::all(), crate::Health::as_str);
        agree(crate::CheckOutcome::iter(), crate::CheckOutcome::as_str);
        agree(
            crate::version::Component::iter(),
            crate::version::Component::as_str,
        );
    }
}
