//! The guardrail's judgement: whether a running trial has regressed, from measurements alone.
//! The template's rule is "on unexpectedly high call rates, error rates, CPU activity, etc,
//! disable trial immediately"; this is that rule made into tests with numbers.
//!
//! Each signal is compared two ways, whichever the data allows: the flag-on cohort against the
//! flag-off cohort over the same window (where the series tell the two apart), or the stage's
//! window against the same length of time before the stage began (the baseline).
//!
//! The tests, and why:
//! - **Error rate**: a one-sided two-proportion z-test on the error counts. Errors are counts of
//!   calls, so the ratio is a binomial proportion and at the traffic a trial needs before it can
//!   be judged (see [`Thresholds::min_calls`]) the normal approximation is sound; one-sided,
//!   because only a rise is a regression. A difference must also be at least the threshold (one
//!   percentage point by default): at millions of calls a tiny, harmless difference is
//!   "significant", and rolling back for it would be wrong.
//! - **Latency, CPU and call rate**: a one-sided Mann–Whitney U (rank) test between the points of
//!   the stage's window and the baseline's. These series are skewed, noisy and full of spikes; a
//!   rank test assumes no distribution and one spike moves it by one rank. Here too the median
//!   must have moved by at least the threshold's ratio.
//!
//! Each verdict is tri-state: pass, fail (the regression exceeds the threshold and the test backs
//! it), or inconclusive (too few calls, too few points, or no data) — which never passes a stage.
//! A fail acts only after [`Thresholds::consecutive`] failing evaluations in a row, so one noisy
//! window does not roll a rollout back.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the guardrail watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    ErrorRate,
    LatencyP95,
    LatencyP99,
    CallRate,
    Cpu,
}

impl Signal {
    pub fn label(self) -> &'static str {
        match self {
            Signal::ErrorRate => "error rate",
            Signal::LatencyP95 => "latency p95",
            Signal::LatencyP99 => "latency p99",
            Signal::CallRate => "call rate",
            Signal::Cpu => "CPU",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Inconclusive,
    Fail,
}

impl Verdict {
    /// Whether the evaluation had the data to judge: what counts as a look at the stage.
    pub fn had_data(self) -> bool {
        self != Verdict::Inconclusive
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Fail => "fail",
        })
    }
}

/// What a signal's subject was compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Flag-on against flag-off, over the same window.
    Cohorts,
    /// The stage's window against the time before the stage began.
    Baseline,
}

/// When a signal counts as regressed. The defaults are deliberately loose: the guardrail is
/// there for the regression a person would call obvious, at any hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// The error rate may rise by this many percentage points.
    pub error_rate_points: f64,
    /// Latency (p95, p99) may grow by this factor.
    pub latency_ratio: f64,
    /// CPU may grow by this factor.
    pub cpu_ratio: f64,
    /// The call rate may grow by this factor (an unexpected rise: retries, loops).
    pub call_rate_ratio: f64,
    /// The tests' significance level.
    pub significance: f64,
    /// Fewer calls than this in either cohort (or window) is too little traffic to judge.
    pub min_calls: f64,
    /// Fewer points than this per window is too little to rank.
    pub min_points: usize,
    /// Failing evaluations in a row before the guardrail acts.
    pub consecutive: u32,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            error_rate_points: 1.0,
            latency_ratio: 1.5,
            cpu_ratio: 1.5,
            call_rate_ratio: 2.0,
            significance: 0.01,
            min_calls: 500.0,
            min_points: 6,
            consecutive: 2,
        }
    }
}

/// Calls, and how many of them failed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calls {
    pub calls: f64,
    pub errors: f64,
}

impl Calls {
    pub fn ratio(self) -> Option<f64> {
        (self.calls > 0.0).then(|| (self.errors / self.calls).clamp(0.0, 1.0))
    }
}

/// One signal's judgement, with what backs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReport {
    pub signal: Signal,
    pub comparison: Comparison,
    /// The trial's value (flag-on, or the stage's window): a ratio, seconds, cores or calls/s.
    pub subject: Option<f64>,
    /// What it is compared with (flag-off, or the baseline).
    pub reference: Option<f64>,
    /// "+1 pp", "×1.5".
    pub threshold: String,
    /// The test and its outcome: "two-proportion z-test, z = 8.31, p < 0.0001".
    pub test: String,
    pub verdict: Verdict,
    /// Why it is inconclusive, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SignalReport {
    fn inconclusive(
        signal: Signal,
        comparison: Comparison,
        threshold: String,
        reason: String,
    ) -> SignalReport {
        SignalReport {
            signal,
            comparison,
            subject: None,
            reference: None,
            threshold,
            test: "not run".to_owned(),
            verdict: Verdict::Inconclusive,
            reason: Some(reason),
        }
    }

    /// "error rate flag-on 4.10 % vs flag-off 0.30 %, threshold +1 pp".
    pub fn sentence(&self) -> String {
        let (subject, reference) = match self.comparison {
            Comparison::Cohorts => ("flag-on", "flag-off"),
            Comparison::Baseline => ("this stage", "before it"),
        };
        let value = |v: Option<f64>| match (v, self.signal) {
            (None, _) => "no data".to_owned(),
            (Some(v), Signal::ErrorRate) => format!("{:.2} %", v * 100.0),
            (Some(v), Signal::LatencyP95 | Signal::LatencyP99) => format!("{:.1} ms", v * 1000.0),
            (Some(v), Signal::Cpu) => format!("{v:.2} cores"),
            (Some(v), Signal::CallRate) => format!("{v:.1}/s"),
        };
        let mut sentence = format!(
            "{} {subject} {} vs {reference} {}, threshold {}",
            self.signal.label(),
            value(self.subject),
            value(self.reference),
            self.threshold
        );
        if let Some(reason) = &self.reason {
            sentence.push_str(&format!(" ({reason})"));
        }
        sentence
    }
}

/// The error rate of `subject` against `reference`.
pub fn judge_errors(
    subject: Calls,
    reference: Calls,
    comparison: Comparison,
    thresholds: &Thresholds,
) -> SignalReport {
    let threshold = format!("+{} pp", thresholds.error_rate_points);
    // A NaN count is too little too.
    let thin = [subject, reference]
        .into_iter()
        .find(|c| c.calls.is_nan() || c.calls < thresholds.min_calls);
    if let Some(thin) = thin {
        return SignalReport {
            subject: subject.ratio(),
            reference: reference.ratio(),
            ..SignalReport::inconclusive(
                Signal::ErrorRate,
                comparison,
                threshold,
                format!(
                    "too little traffic: {:.0} calls, {:.0} needed",
                    thin.calls.max(0.0),
                    thresholds.min_calls
                ),
            )
        };
    }
    let (p1, p2) = (
        subject.errors / subject.calls,
        reference.errors / reference.calls,
    );
    let pooled = (subject.errors + reference.errors) / (subject.calls + reference.calls);
    let spread = (pooled * (1.0 - pooled) * (1.0 / subject.calls + 1.0 / reference.calls)).sqrt();
    let z = if spread > 0.0 {
        (p1 - p2) / spread
    } else {
        0.0
    };
    let p = upper_tail(z);
    let regressed =
        (p1 - p2) * 100.0 >= thresholds.error_rate_points && p < thresholds.significance;
    SignalReport {
        signal: Signal::ErrorRate,
        comparison,
        subject: Some(p1),
        reference: Some(p2),
        threshold,
        test: format!("two-proportion z-test, z = {z:.2}, {}", p_value(p)),
        verdict: if regressed {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        reason: None,
    }
}

/// A level (latency, CPU, call rate) in the stage's window against the baseline's points.
pub fn judge_level(
    signal: Signal,
    subject: &[f64],
    reference: &[f64],
    thresholds: &Thresholds,
) -> SignalReport {
    let ratio = match signal {
        Signal::LatencyP95 | Signal::LatencyP99 => thresholds.latency_ratio,
        Signal::Cpu => thresholds.cpu_ratio,
        Signal::CallRate | Signal::ErrorRate => thresholds.call_rate_ratio,
    };
    let threshold = format!("×{ratio}");
    let clean =
        |points: &[f64]| -> Vec<f64> { points.iter().copied().filter(|v| v.is_finite()).collect() };
    let (subject, reference) = (clean(subject), clean(reference));
    if subject.len() < thresholds.min_points || reference.len() < thresholds.min_points {
        return SignalReport::inconclusive(
            signal,
            Comparison::Baseline,
            threshold,
            format!(
                "too few points: {} and {}, {} needed",
                subject.len(),
                reference.len(),
                thresholds.min_points
            ),
        );
    }
    let (now, before) = (median(&subject), median(&reference));
    let p = mann_whitney_greater(&subject, &reference);
    let grown = if before > 0.0 {
        now / before >= ratio
    } else {
        now > 0.0
    };
    SignalReport {
        signal,
        comparison: Comparison::Baseline,
        subject: Some(now),
        reference: Some(before),
        threshold,
        test: format!("Mann–Whitney U, medians compared, {}", p_value(p)),
        verdict: if grown && p < thresholds.significance {
            Verdict::Fail
        } else {
            Verdict::Pass
        },
        reason: None,
    }
}

/// The evaluation's verdict: fail if any signal fails; otherwise inconclusive if the error rate
/// could not be judged (the signal the template cares most about) or nothing could; else pass.
pub fn overall(reports: &[SignalReport]) -> Verdict {
    if reports.iter().any(|r| r.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if reports
        .iter()
        .any(|r| r.signal == Signal::ErrorRate && r.verdict == Verdict::Inconclusive)
        || reports.iter().all(|r| r.verdict == Verdict::Inconclusive)
    {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// Failing evaluations in a row, counting this one.
pub fn streak(previous: u32, verdict: Verdict) -> u32 {
    match verdict {
        Verdict::Fail => previous.saturating_add(1),
        Verdict::Pass | Verdict::Inconclusive => 0,
    }
}

/// Whether a streak is long enough to act on.
pub fn acts(streak: u32, thresholds: &Thresholds) -> bool {
    streak >= thresholds.consecutive.max(1)
}

/// What the guardrail does about a regression it is sure of. In production the template says
/// "disable trial immediately"; a trial elsewhere is paused, which holds it for a person without
/// touching a flag nobody depends on yet. Observing only, it records what it would have done.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
pub enum Response {
    Disabled,
    Paused,
    WouldDisable,
    WouldPause,
}

impl Response {
    /// The response to this evaluation, if any: a fail, enough of them in a row, and a trial that
    /// is running (a paused or disabled one has been stopped already).
    pub fn to(
        verdict: Verdict,
        streak: u32,
        thresholds: &Thresholds,
        running: bool,
        production: bool,
        observe_only: bool,
    ) -> Option<Response> {
        let sure = verdict == Verdict::Fail && acts(streak, thresholds) && running;
        sure.then_some(match (production, observe_only) {
            (true, false) => Response::Disabled,
            (false, false) => Response::Paused,
            (true, true) => Response::WouldDisable,
            (false, true) => Response::WouldPause,
        })
    }

    /// Its stored name: "disabled", "would_pause", ….
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What it did, for the migration's page.
    pub fn describe(self) -> &'static str {
        match self {
            Response::Disabled => "disabled the flag",
            Response::Paused => "paused the trial",
            Response::WouldDisable => "would have disabled the flag (observe only)",
            Response::WouldPause => "would have paused the trial (observe only)",
        }
    }
}

/// Why the guardrail acted (or would have), in one line for the page: the failing signals, and
/// how many evaluations in a row.
pub fn summary(reports: &[SignalReport], streak: u32) -> String {
    let failing: Vec<String> = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .map(SignalReport::sentence)
        .collect();
    let evaluations = if streak == 1 {
        "1 evaluation".to_owned()
    } else {
        format!("{streak} consecutive evaluations")
    };
    if failing.is_empty() {
        reports
            .iter()
            .find(|r| r.verdict == Verdict::Inconclusive)
            .map_or_else(
                || "all signals within their thresholds".to_owned(),
                |r| r.sentence(),
            )
    } else {
        format!("{}; {evaluations}", failing.join("; "))
    }
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "p < 0.0001".to_owned()
    } else {
        format!("p = {p:.4}")
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// P(X ≥ x) for `subject` stochastically greater than `reference`: the one-sided Mann–Whitney U
/// test with the normal approximation, corrected for ties and for continuity.
fn mann_whitney_greater(subject: &[f64], reference: &[f64]) -> f64 {
    let (n1, n2) = (subject.len() as f64, reference.len() as f64);
    let mut all: Vec<(f64, bool)> = subject
        .iter()
        .map(|v| (*v, true))
        .chain(reference.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Average ranks for ties; the tie correction's sum of t³ − t.
    let mut rank_sum = 0.0;
    let mut ties = 0.0;
    let mut start = 0;
    while start < all.len() {
        let mut end = start + 1;
        while end < all.len() && all[end].0 == all[start].0 {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        let t = (end - start) as f64;
        ties += t * t * t - t;
        rank_sum += all[start..end].iter().filter(|(_, s)| *s).count() as f64 * rank;
        start = end;
    }
    let u = rank_sum - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    upper_tail((u - mean - 0.5) / variance.sqrt())
}

/// P(Z ≥ z) for a standard normal Z.
fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to about 1e-7 (Numerical Recipes' Chebyshev fit), enough
/// for comparing a p-value with a significance level.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let tail = t * poly.exp();
    if x >= 0.0 { tail } else { 2.0 - tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_is_disabled_elsewhere_paused_and_observing_only_records_it() {
        let t = Thresholds::default();
        let sure = t.consecutive.max(1);
        let respond = |production, observe_only| {
            Response::to(Verdict::Fail, sure, &t, true, production, observe_only)
        };
        assert_eq!(respond(true, false), Some(Response::Disabled));
        assert_eq!(respond(false, false), Some(Response::Paused));
        assert_eq!(respond(true, true), Some(Response::WouldDisable));
        assert_eq!(respond(false, true), Some(Response::WouldPause));
    }

    #[test]
    fn no_response_without_a_sure_fail_on_a_running_trial() {
        let t = Thresholds {
            consecutive: 2,
            ..Thresholds::default()
        };
        assert_eq!(Response::to(Verdict::Fail, 1, &t, true, true, false), None);
        assert_eq!(Response::to(Verdict::Fail, 2, &t, false, true, false), None);
        assert_eq!(
            Response::to(Verdict::Inconclusive, 5, &t, true, true, false),
            None
        );
        assert_eq!(Response::to(Verdict::Pass, 5, &t, true, true, false), None);
    }

    #[test]
    fn responses_are_stored_by_name() {
        use strum::IntoEnumIterator;
        for response in Response::iter() {
            assert_eq!(response.as_str().parse::<Response>(), Ok(response));
        }
        assert_eq!(Response::WouldPause.as_str(), "would_pause");
    }

    fn calls(calls: f64, errors: f64) -> Calls {
        Calls { calls, errors }
    }

    #[test]
    fn the_normal_tail_matches_its_table() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((upper_tail(2.326_348) - 0.01).abs() < 1e-6);
        assert!((upper_tail(-1.644_854) - 0.95).abs() < 1e-6);
    }

    #[test]
    fn a_clear_rise_in_the_flag_on_error_rate_fails() {
        let t = Thresholds::default();
        let report = judge_errors(
            calls(6000.0, 246.0),
            calls(114_000.0, 342.0),
            Comparison::Cohorts,
            &t,
        );
        assert_eq!(report.verdict, Verdict::Fail, "{report:?}");
        assert_eq!(
            report.sentence(),
            "error rate flag-on 4.10 % vs flag-off 0.30 %, threshold +1 pp"
        );
        assert!(
            report.test.starts_with("two-proportion z-test, z = "),
            "{}",
            report.test
        );
    }

    #[test]
    fn a_rise_below_the_threshold_or_without_evidence_passes() {
        let t = Thresholds::default();
        // Half a point more, at huge traffic: significant, but under the threshold.
        let small = judge_errors(calls(1e7, 8e4), calls(1e7, 3e4), Comparison::Cohorts, &t);
        assert_eq!(small.verdict, Verdict::Pass);
        // 1.4 points more on 500 calls against a 5 % base: within what chance gives.
        let noisy = judge_errors(
            calls(500.0, 32.0),
            calls(60_000.0, 3000.0),
            Comparison::Cohorts,
            &t,
        );
        assert_eq!(noisy.verdict, Verdict::Pass, "{noisy:?}");
    }

    #[test]
    fn thin_traffic_is_inconclusive_and_says_why() {
        let report = judge_errors(
            calls(40.0, 10.0),
            calls(9000.0, 9.0),
            Comparison::Cohorts,
            &Thresholds::default(),
        );
        assert_eq!(report.verdict, Verdict::Inconclusive);
        assert_eq!(
            report.reason.as_deref(),
            Some("too little traffic: 40 calls, 500 needed")
        );
        assert_eq!(overall(&[report]), Verdict::Inconclusive);
    }

    #[test]
    fn a_level_fails_on_a_consistent_rise_and_not_on_one_spike() {
        let t = Thresholds::default();
        let before: Vec<f64> = (0..20).map(|i| 0.040 + 0.002 * f64::from(i % 5)).collect();
        let doubled: Vec<f64> = before.iter().map(|v| v * 2.0).collect();
        let report = judge_level(Signal::LatencyP99, &doubled, &before, &t);
        assert_eq!(report.verdict, Verdict::Fail, "{report:?}");
        let mut spiky = before.clone();
        spiky[7] = 5.0;
        assert_eq!(
            judge_level(Signal::LatencyP99, &spiky, &before, &t).verdict,
            Verdict::Pass
        );
        assert_eq!(
            judge_level(Signal::Cpu, &before[..3], &before, &t).verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn a_fail_acts_only_after_enough_failures_in_a_row() {
        let t = Thresholds::default();
        let once = streak(0, Verdict::Fail);
        assert!(!acts(once, &t));
        assert!(acts(streak(once, Verdict::Fail), &t));
        assert_eq!(streak(once, Verdict::Inconclusive), 0);
        assert_eq!(streak(5, Verdict::Pass), 0);
    }

    #[test]
    fn the_summary_names_the_failing_signals_and_the_streak() {
        let t = Thresholds::default();
        let failing = judge_errors(
            calls(6000.0, 246.0),
            calls(114_000.0, 342.0),
            Comparison::Cohorts,
            &t,
        );
        assert_eq!(
            summary(&[failing], 3),
            "error rate flag-on 4.10 % vs flag-off 0.30 %, threshold +1 pp; 3 consecutive evaluations"
        );
    }
}
