//! Adding a migration and editing one: the template's Details and Preparation fields, and the
//! plan's production steps. Every field is checked by the domain's parsers; on any error nothing
//! is saved and each message goes beside its field.

use std::collections::BTreeMap;

use leptos::prelude::*;
use rollout::{MigrationIdentity, Plan, RawIdentity, Routes};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The form as typed: nothing checked yet. A field the form leaves out is blank.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MigrationForm {
    pub feature_flag: String,
    pub grpc_method: String,
    pub gitaly_version: String,
    pub gitlab_version: String,
    /// One route per line, as pasted from the acceptance issue.
    pub routes: String,
    pub acceptance_issue: String,
    pub conversation: String,
    /// The engineer who answers for the rollout; the person adding it when blank.
    pub owner: String,
    /// The production percentages in order, e.g. "1, 5, 50, 100" (the template's) or
    /// "1, 10, 25, 50, 100"; blank for the template's.
    pub production_steps: String,
}

/// A migration's form as saved, to edit it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditableMigration {
    pub version: i64,
    pub form: MigrationForm,
}

impl MigrationForm {
    /// The identity and plan, or every bad field's message.
    pub fn parse(&self) -> Result<(MigrationIdentity, Plan), AppError> {
        let raw = RawIdentity {
            feature_flag: self.feature_flag.clone(),
            grpc_method: self.grpc_method.clone(),
            gitaly_version: self.gitaly_version.clone(),
            gitlab_version: self.gitlab_version.clone(),
            routes: Routes::lines(&self.routes),
            acceptance_issue: self.acceptance_issue.clone(),
            conversation: self.conversation.clone(),
        };
        let mut fields = BTreeMap::new();
        let identity = MigrationIdentity::parse(&raw)
            .map_err(|errors| {
                for (field, message) in errors.by_field() {
                    fields.entry(field.to_owned()).or_insert(message);
                }
            })
            .ok();
        let plan = self
            .plan()
            .map_err(|message| fields.insert("production_steps".to_owned(), message))
            .ok();
        match (identity, plan) {
            (Some(identity), Some(plan)) => Ok((identity, plan)),
            _ => Err(AppError::Validation { fields }),
        }
    }

    fn plan(&self) -> Result<Plan, String> {
        let text = self.production_steps.trim();
        if text.is_empty() {
            return Ok(Plan::gitaly_default());
        }
        let percentages = text
            .split([',', ' '])
            .map(|part| part.trim().trim_end_matches('%').trim())
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<u8>().map_err(|_| {
                    format!(
                        "'{part}' is not a percentage; list them in order, such as 1, 5, 50, 100"
                    )
                })
            })
            .collect::<Result<Vec<u8>, String>>()?;
        Plan::gitaly_with_percentages(&percentages).map_err(|error| error.to_string())
    }

    /// The production steps of `plan` as this form writes them.
    pub fn production_steps_of(plan: &Plan) -> String {
        plan.stages()
            .iter()
            .filter_map(rollout::Stage::production_percent)
            .map(|percent| percent.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The form's inputs are named `form[feature_flag]` and so on.
#[server(endpoint = "create_migration")]
pub async fn create_migration(form: MigrationForm) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::EditMigrations)?;
    let flag = services()?.migrations.create(&user, &form).await?;
    leptos_axum::redirect(&format!("/migrations/{flag}"));
    Ok(())
}

#[server(endpoint = "get_migration_form")]
pub async fn get_migration_form(flag: String) -> Result<EditableMigration, AppError> {
    use crate::api::{services::services, session::require};
    require(rollout::Permission::EditMigrations)?;
    services()?.migrations.form(&flag).await
}

/// Saves an edit made on `version`; refused with who changed it and when if that is no longer
/// the latest. The flag cannot change: it names the migration.
#[server(endpoint = "update_migration")]
pub async fn update_migration(
    flag: String,
    version: i64,
    form: MigrationForm,
) -> Result<(), AppError> {
    use crate::api::{services::services, session::require};
    let user = require(rollout::Permission::EditMigrations)?;
    let form = MigrationForm {
        feature_flag: flag.clone(),
        ..form
    };
    services()?
        .migrations
        .update(&user, &flag, version, &form)
        .await?;
    leptos_axum::redirect(&format!("/migrations/{flag}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> MigrationForm {
        MigrationForm {
            feature_flag: "gitaly_find_commit_v2".into(),
            grpc_method: "CommitService::FindCommit".into(),
            gitaly_version: "v16.3.2".into(),
            gitlab_version: "v16.3".into(),
            routes: "1. GET /api/v4/projects/:id/repository/commits/:sha\n\n".into(),
            acceptance_issue: "https://gitlab.com/gitlab-org/gitaly/issues/1234".into(),
            conversation: "#567".into(),
            owner: String::new(),
            production_steps: String::new(),
        }
    }

    fn fields(form: &MigrationForm) -> BTreeMap<String, String> {
        match form.parse() {
            Err(AppError::Validation { fields }) => fields,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_good_form_gives_the_template_plan_unless_steps_are_given() {
        let (identity, plan) = good().parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.feature_flag.as_str(), "gitaly_find_commit_v2");
        assert_eq!(
            identity.routes.as_slice(),
            ["GET /api/v4/projects/:id/repository/commits/:sha"]
        );
        assert_eq!(plan, Plan::gitaly_default());
        let custom = MigrationForm {
            production_steps: "1%, 10, 25 50 100".into(),
            ..good()
        };
        let (_, plan) = custom.parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            MigrationForm::production_steps_of(&plan),
            "1, 10, 25, 50, 100"
        );
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let bad = MigrationForm {
            feature_flag: "Find Commit".into(),
            gitaly_version: "sixteen".into(),
            production_steps: "1, 5, 50".into(),
            ..good()
        };
        let errors = fields(&bad);
        assert_eq!(
            errors.keys().map(String::as_str).collect::<Vec<_>>(),
            ["feature_flag", "gitaly_version", "production_steps"]
        );
        assert!(errors["production_steps"].contains("100"), "{errors:?}");
        let words = MigrationForm {
            production_steps: "1, five, 100".into(),
            ..good()
        };
        assert!(fields(&words)["production_steps"].contains("'five' is not a percentage"));
    }
}
