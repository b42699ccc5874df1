//! Audit entries in words, for the pages and exports: "advanced from Staging trial to Production
//! version check".

use rollout::{CheckOutcome, Event};
use serde_json::Value;

/// What an audit entry says happened. Stage-machine events are stored as the event itself;
/// other changes by their action name.
pub fn summary(action: &str, after: Option<&Value>) -> String {
    if action.starts_with("migration.")
        && let Some(event) = after.and_then(|v| serde_json::from_value::<Event>(v.clone()).ok())
    {
        return describe(&event);
    }
    match action {
        "migration.created" => "added the migration".to_owned(),
        "migration.updated" => "edited the migration's details or plan".to_owned(),
        "flag_change.applied" => {
            let field = |name| after.and_then(|v| v.get(name)).and_then(Value::as_str);
            let command = field("command").unwrap_or("the flag change");
            match field("backend") {
                None | Some("manual") => format!("confirmed running {command}"),
                Some(backend) => format!("made {command} through {}", backend_name(backend)),
            }
        }
        "flag_change.failed" => {
            let error = after.and_then(|v| v.get("error")).and_then(Value::as_str);
            format!(
                "could not make a flag change: {}",
                error.unwrap_or("no reason given")
            )
        }
        "flag_change.retried" => "asked for a failed flag change to be tried again".to_owned(),
        "guardrail.mode_changed" => match after
            .and_then(|v| v.get("observe_only"))
            .and_then(Value::as_bool)
        {
            Some(true) => "set the guardrail to observe only: it judges and tells, never acts",
            _ => "let the guardrail act on a regression",
        }
        .to_owned(),
        "user.created" => "added the user".to_owned(),
        "user.roles_changed" => "changed the user's roles".to_owned(),
        "user.deactivated" => "deactivated the user".to_owned(),
        "token.created" => "made an API token".to_owned(),
        "token.revoked" => "revoked an API token".to_owned(),
        other => other.replace(['.', '_'], " "),
    }
}

/// How a flag backend is named to people.
pub fn backend_name(backend: &str) -> &str {
    match backend {
        "gitlab" => "GitLab",
        "unleash" => "Unleash",
        "local" => "Rampart's local flag store",
        "manual" => "ChatOps, by hand",
        other => other,
    }
}

fn with_reason(text: String, reason: Option<&str>) -> String {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => format!("{text}: {reason}"),
        None => text,
    }
}

pub fn describe(event: &Event) -> String {
    match event {
        Event::Started { stage } => format!("started at {}", stage.name),
        Event::CheckedIn { check_in, .. } => match check_in.outcome {
            CheckOutcome::Checked => format!("ticked “{}”", check_in.item.label()),
            CheckOutcome::Continue => with_reason(
                "answered “Continue?” with continue".to_owned(),
                check_in.note.as_deref(),
            ),
            CheckOutcome::Stop => with_reason(
                "answered “Continue?” with stop".to_owned(),
                check_in.note.as_deref(),
            ),
        },
        Event::AutomatedLook { stage, .. } => format!("looked at {} (automated)", stage.name),
        Event::GuardrailVerdict {
            stage,
            verdict,
            summary,
        } => format!("judged {} {verdict}: {summary}", stage.name),
        Event::Advanced { from, to } => format!("advanced from {} to {}", from.name, to.name),
        Event::ProductionChangeRequested {
            percent, reason, ..
        } => with_reason(
            format!("requested production {percent} %"),
            Some(reason.as_str()).filter(|r| !r.is_empty()),
        ),
        Event::ProductionChangeApproved {
            percent,
            requested_by,
            ..
        } => format!("approved production {percent} % requested by {requested_by}"),
        Event::ProductionChangeRejected {
            percent, reason, ..
        } => {
            format!("rejected production {percent} %: {reason}")
        }
        Event::SoakOverridden { stage, reason } => {
            format!("overrode the soak of {}: {reason}", stage.name)
        }
        Event::Paused { reason } => with_reason("paused".to_owned(), reason.as_deref()),
        Event::Resumed => "resumed".to_owned(),
        Event::Reentered { stage, reason } => {
            with_reason(format!("resumed at {}", stage.name), reason.as_deref())
        }
        Event::Disabled {
            reason,
            environments,
        } => {
            let places: Vec<&str> = environments.iter().map(|e| e.label()).collect();
            with_reason(
                format!("disabled the flag in {}", places.join(", ")),
                reason.as_deref(),
            )
        }
        Event::Completed => "completed the migration".to_owned(),
        Event::FlagChange { environment, value } => format!(
            "asked for the flag to be set {value} in {}",
            environment.label()
        ),
    }
}
