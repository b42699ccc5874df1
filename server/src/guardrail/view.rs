//! The guardrail's evaluations as the migration's page shows them: the verdict, why, what was
//! done, and the queries behind it.

use app::api::migration::{GuardrailEvaluation, GuardrailView};
use rollout::guardrail::{Response, SignalReport, Verdict};
use serde::Deserialize;

use crate::db::guardrail::EvaluationRow;

/// `rows`: the latest evaluation, then the latest that acted (see `db::guardrail::latest`).
pub fn view(rows: Vec<EvaluationRow>, observe_only: bool) -> GuardrailView {
    let mut evaluations = rows.into_iter().map(evaluation);
    let latest = evaluations.next();
    let acted = evaluations
        .next()
        .filter(|acted| Some(acted) != latest.as_ref());
    GuardrailView {
        observe_only,
        latest,
        acted,
    }
}

/// What the page shows of an evaluation's stored evidence (`measure::Evaluation`, as JSON). Read
/// leniently: evidence stored by an older Rampart still shows what it has.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Evidence {
    reports: Vec<SignalReport>,
    queries: Vec<Asked>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Asked {
    query: String,
    answer: String,
}

fn evaluation(row: EvaluationRow) -> GuardrailEvaluation {
    let Evidence { reports, queries } = serde_json::from_value(row.evidence).unwrap_or_default();
    let queries = queries
        .into_iter()
        .map(|asked| (asked.query, asked.answer))
        .collect();
    let verdict = match row.verdict.as_str() {
        "pass" => Verdict::Pass,
        "fail" => Verdict::Fail,
        _ => Verdict::Inconclusive,
    };
    GuardrailEvaluation {
        at: row.evaluated_at,
        stage: row.stage_key,
        verdict,
        streak: u32::try_from(row.failing_streak).unwrap_or(0),
        action: row.action.map(|action| match action.parse::<Response>() {
            Ok(response) => response.describe().to_owned(),
            Err(_) => action,
        }),
        signals: reports
            .iter()
            .map(|report| format!("{}: {}", report.verdict, report.sentence()))
            .collect(),
        queries,
    }
}
