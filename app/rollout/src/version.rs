//! Gitaly and GitLab version strings as they appear in the wild, their order, and whether a
//! deployed version satisfies a migration's requirement.
//!
//! Accepted forms: `v16.3.2`, `16.3.2`, `16.3.2-ee`, `16.4.0-rc42`, `16.4.0-pre`,
//! `v15.11.0-123-gabcdef0` (`git describe`, which is how Gitaly names its builds), combinations in
//! that order (`v16.4.0-rc42-5-g1234abc`, `16.4.0-rc42-ee`), and GitLab.com's auto-deploy form
//! `16.5.202310101206-abc1234def5.6789abcdef0` (`MAJOR.MINOR.TIMESTAMP-GITLABSHA.OMNIBUSSHA`,
//! also with `+` for the `-` as Omnibus tags it). Requirements are `vX.Y.Z` or `vX.Y`.
//!
//! Precedence: `X.Y.0-pre < X.Y.TIMESTAMP-… < X.Y.0-rc1 < … < X.Y.0 < X.Y.0-N-gHASH < X.Y.1…`.
//! `-pre` and auto-deploy builds are both builds of the default branch towards release `X.Y`:
//! auto-deploy builds sort among themselves by their timestamp, after `-pre` and before the
//! release candidates. `-ee` / `-ce` name the edition, not a different version: they do not change
//! precedence. A `git describe` suffix means "N commits after that tag", so it sorts after the tag
//! and before the next release.
//!
//! Satisfaction is not precedence. GitLab.com runs a release's code before the release is tagged:
//! its auto-deploy builds, then `X.Y.0-pre` and `X.Y.0-rcN` builds. A migration that needs `v16.5`
//! can therefore run on any build *of* 16.5 — `16.5.0-pre`, `16.5.0-rc42`, an auto-deploy
//! `16.5.2023…` — not only on the tagged `16.5.0` that self-managed users install weeks later. So
//! a deployed version satisfies a requirement when its release number (`MAJOR.MINOR.PATCH`, the
//! pre-release marker set aside) is at least the required one; see [`Version::satisfies`].

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a version or requirement string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("is empty; expected a version such as {example}")]
    Empty { example: &'static str },
    #[error("'{input}' is not a version: expected {expected}")]
    Malformed {
        input: String,
        expected: &'static str,
    },
    #[error("'{input}' has a number too large to be a version part")]
    NumberTooLarge { input: String },
    #[error(
        "'{input}' has an unknown suffix '{suffix}': expected -pre, -rcN, -N-gHASH, -ee or -ce, or an auto-deploy build such as 16.5.202310101206-abc1234def5.6789abcdef0"
    )]
    UnknownSuffix { input: String, suffix: String },
}

const AUTO_DEPLOY_FORM: &str = "an auto-deploy build MAJOR.MINOR.TIMESTAMP-GITLABSHA.OMNIBUSSHA such as 16.5.202310101206-abc1234def5.6789abcdef0";
const VERSION_FORM: &str = "MAJOR.MINOR.PATCH such as 16.3.2, v16.3.2, 16.3.2-ee or 16.4.0-rc42";
const FULL_REQUIREMENT_FORM: &str = "vMAJOR.MINOR.PATCH such as v16.3.2";
const REQUIREMENT_FORM: &str = "vMAJOR.MINOR or vMAJOR.MINOR.PATCH such as v16.3 or v16.3.2";

/// A pre-release marker. Declared in precedence order so the derived `Ord` is the right one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreRelease {
    /// `-pre`: a build of the default branch before any release candidate.
    Pre,
    /// GitLab.com's auto-deploy build of the default branch towards release `X.Y`.
    AutoDeploy(AutoDeploy),
    /// `-rcN`: release candidate N.
    Rc(u32),
}

/// The build part of an auto-deploy version `X.Y.TIMESTAMP-GITLABSHA.OMNIBUSSHA`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AutoDeploy {
    /// `YYYYMMDDHHMM` as a number, so that later builds sort later.
    pub timestamp: u64,
    /// The GitLab (Rails) commit, lowercase hex.
    pub gitlab_sha: String,
    /// The Omnibus commit, lowercase hex.
    pub omnibus_sha: String,
}

/// GitLab edition suffix. Ignored by precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Edition {
    Ee,
    Ce,
}

/// `-N-gHASH` from `git describe`: `commits` after the tag, at commit `hash`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Describe {
    pub commits: u32,
    pub hash: String,
}

/// A deployed version, parsed.
///
/// `Ord` sorts by precedence and breaks ties on the edition and the describe hash, so sorting is
/// deterministic; use [`Version::precedence_cmp`] when the question is "newer or older".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Version {
    major: u32,
    minor: u32,
    patch: u32,
    pre: Option<PreRelease>,
    describe: Option<Describe>,
    edition: Option<Edition>,
}

/// Release rank: every pre-release sorts below the final release of the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank<'a> {
    Pre(&'a PreRelease),
    Final,
}

impl Version {
    /// Parse any of the forms listed in the module documentation. Surrounding whitespace is ignored.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(VersionError::Empty { example: "16.3.2" });
        }
        let malformed = || VersionError::Malformed {
            input: trimmed.to_owned(),
            expected: VERSION_FORM,
        };
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        if let Some(version) = parse_auto_deploy(body) {
            return Ok(version);
        }
        if looks_like_auto_deploy(body) {
            return Err(VersionError::Malformed {
                input: trimmed.to_owned(),
                expected: AUTO_DEPLOY_FORM,
            });
        }
        let mut parts = body.split('-');
        let core = parts.next().ok_or_else(malformed)?;
        let numbers = parse_core(core, trimmed, VERSION_FORM)?;
        let [major, minor, patch] = match numbers.as_slice() {
            [a, b, c] => [*a, *b, *c],
            _ => return Err(malformed()),
        };
        let suffixes: Vec<&str> = parts.collect();
        let (pre, describe, edition) = parse_suffixes(&suffixes, trimmed)?;
        Ok(Version {
            major,
            minor,
            patch,
            pre,
            describe,
            edition,
        })
    }

    pub fn major(&self) -> u32 {
        self.major
    }
    pub fn minor(&self) -> u32 {
        self.minor
    }
    pub fn patch(&self) -> u32 {
        self.patch
    }
    pub fn pre_release(&self) -> Option<&PreRelease> {
        self.pre.as_ref()
    }
    pub fn describe(&self) -> Option<&Describe> {
        self.describe.as_ref()
    }
    pub fn edition(&self) -> Option<Edition> {
        self.edition
    }
    pub fn is_pre_release(&self) -> bool {
        self.pre.is_some()
    }

    fn rank(&self) -> Rank<'_> {
        self.pre.as_ref().map_or(Rank::Final, Rank::Pre)
    }

    fn commits_after_tag(&self) -> u32 {
        self.describe.as_ref().map_or(0, |d| d.commits)
    }

    /// Newer / older / same release, ignoring the edition and the describe hash.
    pub fn precedence_cmp(&self, other: &Version) -> Ordering {
        (
            self.major,
            self.minor,
            self.patch,
            self.rank(),
            self.commits_after_tag(),
        )
            .cmp(&(
                other.major,
                other.minor,
                other.patch,
                other.rank(),
                other.commits_after_tag(),
            ))
    }

    /// The release this build belongs to, `(MAJOR, MINOR, PATCH)`: `16.5.0-rc42` and the
    /// auto-deploy `16.5.202310101206-…` both belong to 16.5.0.
    pub fn release(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch)
    }

    /// Whether this deployed build carries the required release: its release number is at least
    /// the required one. A pre-release or auto-deploy build of the required release counts (see
    /// the module documentation for why); a build of an earlier release never does.
    pub fn satisfies(&self, requirement: &VersionRequirement) -> bool {
        self.release() >= requirement.as_version().release()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.precedence_cmp(other)
            .then_with(|| self.edition.cmp(&other.edition))
            .then_with(|| self.describe.cmp(&other.describe))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(PreRelease::AutoDeploy(build)) = &self.pre {
            return write!(
                f,
                "{}.{}.{}-{}.{}",
                self.major, self.minor, build.timestamp, build.gitlab_sha, build.omnibus_sha
            );
        }
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        match &self.pre {
            Some(PreRelease::Pre) => f.write_str("-pre")?,
            Some(PreRelease::Rc(n)) => write!(f, "-rc{n}")?,
            Some(PreRelease::AutoDeploy(_)) | None => {}
        }
        if let Some(d) = &self.describe {
            write!(f, "-{}-g{}", d.commits, d.hash)?;
        }
        match self.edition {
            Some(Edition::Ee) => f.write_str("-ee")?,
            Some(Edition::Ce) => f.write_str("-ce")?,
            None => {}
        }
        Ok(())
    }
}

/// A minimum release: `vX.Y.Z`, or `vX.Y` meaning `vX.Y.0`. Never a pre-release: a requirement
/// names a release that people can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VersionRequirement {
    major: u32,
    minor: u32,
    patch: Option<u32>,
}

impl VersionRequirement {
    /// `vX.Y` or `vX.Y.Z` (the leading `v` is optional).
    pub fn parse(input: &str) -> Result<VersionRequirement, VersionError> {
        Self::parse_with(input, false)
    }

    /// `vX.Y.Z` only (the leading `v` is optional).
    pub fn parse_full(input: &str) -> Result<VersionRequirement, VersionError> {
        Self::parse_with(input, true)
    }

    fn parse_with(input: &str, need_patch: bool) -> Result<VersionRequirement, VersionError> {
        let trimmed = input.trim();
        let (expected, example) = if need_patch {
            (FULL_REQUIREMENT_FORM, "v16.3.2")
        } else {
            (REQUIREMENT_FORM, "v16.3")
        };
        if trimmed.is_empty() {
            return Err(VersionError::Empty { example });
        }
        let body = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let numbers = parse_core(body, trimmed, expected)?;
        match (numbers.as_slice(), need_patch) {
            ([major, minor], false) => Ok(VersionRequirement {
                major: *major,
                minor: *minor,
                patch: None,
            }),
            ([major, minor, patch], _) => Ok(VersionRequirement {
                major: *major,
                minor: *minor,
                patch: Some(*patch),
            }),
            _ => Err(VersionError::Malformed {
                input: trimmed.to_owned(),
                expected,
            }),
        }
    }

    pub fn major(&self) -> u32 {
        self.major
    }
    pub fn minor(&self) -> u32 {
        self.minor
    }
    /// `None` for an `vX.Y` requirement.
    pub fn patch(&self) -> Option<u32> {
        self.patch
    }

    /// The final release this requirement names (`vX.Y` → `X.Y.0`).
    pub fn as_version(&self) -> Version {
        Version {
            major: self.major,
            minor: self.minor,
            patch: self.patch.unwrap_or(0),
            pre: None,
            describe: None,
            edition: None,
        }
    }

    pub fn is_satisfied_by(&self, deployed: &Version) -> bool {
        deployed.satisfies(self)
    }
}

impl fmt::Display for VersionRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(patch) => write!(f, "v{}.{}.{}", self.major, self.minor, patch),
            None => write!(f, "v{}.{}", self.major, self.minor),
        }
    }
}

parsed_from_string! {
    Version => VersionError,
    VersionRequirement => VersionError,
}

/// Which component a version belongs to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Component {
    Gitaly,
    Gitlab,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
    pub fn label(self) -> &'static str {
        match self {
            Component::Gitaly => "Gitaly",
            Component::Gitlab => "GitLab",
        }
    }
}

/// What one environment runs, as observed by the caller just before it asks to enter it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedVersions {
    pub gitaly: Version,
    pub gitlab: Version,
}

/// The versions a migration needs everywhere it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRequirements {
    pub gitaly: VersionRequirement,
    pub gitlab: VersionRequirement,
}

/// One component that is behind its requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shortfall {
    pub component: Component,
    pub deployed: Version,
    pub required: VersionRequirement,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} is deployed but {} is required",
            self.component.label(),
            self.deployed,
            self.required
        )
    }
}

impl VersionRequirements {
    /// Every component that is behind, Gitaly first; empty when the environment may be entered.
    pub fn shortfalls(&self, deployed: &DeployedVersions) -> Vec<Shortfall> {
        [
            (Component::Gitaly, &deployed.gitaly, self.gitaly),
            (Component::Gitlab, &deployed.gitlab, self.gitlab),
        ]
        .into_iter()
        .filter(|(_, version, required)| !version.satisfies(required))
        .map(|(component, version, required)| Shortfall {
            component,
            deployed: version.clone(),
            required,
        })
        .collect()
    }

    pub fn are_met_by(&self, deployed: &DeployedVersions) -> bool {
        self.shortfalls(deployed).is_empty()
    }
}

fn parse_number(digits: &str, input: &str, expected: &'static str) -> Result<u32, VersionError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VersionError::Malformed {
            input: input.to_owned(),
            expected,
        });
    }
    digits.parse().map_err(|_| VersionError::NumberTooLarge {
        input: input.to_owned(),
    })
}

fn parse_core(core: &str, input: &str, expected: &'static str) -> Result<Vec<u32>, VersionError> {
    core.split('.')
        .map(|part| parse_number(part, input, expected))
        .collect()
}

/// `X.Y.TIMESTAMP-GITLABSHA.OMNIBUSSHA` (or `+` for `-`), as release-tools names auto-deploy
/// builds: a 12-digit `YYYYMMDDHHMM` where the patch number would be, and two commits of at least
/// 11 hex digits. `None` when `body` is not of that form (it is then parsed as an ordinary
/// version); a patch number cannot have 12 digits, so the two forms never overlap.
fn parse_auto_deploy(body: &str) -> Option<Version> {
    let (core, build) = body.split_once(['-', '+'])?;
    let mut numbers = core.split('.');
    let (major, minor, timestamp) = (numbers.next()?, numbers.next()?, numbers.next()?);
    if numbers.next().is_some() || timestamp.len() != 12 {
        return None;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let commit = |s: &str| (11..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let (gitlab_sha, omnibus_sha) = build.split_once('.')?;
    if ![major, minor, timestamp].into_iter().all(all_digits)
        || !commit(gitlab_sha)
        || !commit(omnibus_sha)
    {
        return None;
    }
    Some(Version {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        patch: 0,
        pre: Some(PreRelease::AutoDeploy(AutoDeploy {
            timestamp: timestamp.parse().ok()?,
            gitlab_sha: gitlab_sha.to_ascii_lowercase(),
            omnibus_sha: omnibus_sha.to_ascii_lowercase(),
        })),
        describe: None,
        edition: None,
    })
}

/// A 12-digit third number is a timestamp: meant as an auto-deploy build, whatever follows.
fn looks_like_auto_deploy(body: &str) -> bool {
    let core = body.split(['-', '+']).next().unwrap_or(body);
    core.split('.')
        .nth(2)
        .is_some_and(|part| part.len() == 12 && part.bytes().all(|b| b.is_ascii_digit()))
}

type Suffixes = (Option<PreRelease>, Option<Describe>, Option<Edition>);

/// Suffixes come in a fixed order: pre-release, then describe, then edition; each at most once.
fn parse_suffixes(tokens: &[&str], input: &str) -> Result<Suffixes, VersionError> {
    let unknown = |suffix: &str| VersionError::UnknownSuffix {
        input: input.to_owned(),
        suffix: suffix.to_owned(),
    };
    let mut rest = tokens;
    let mut pre = None;
    let mut describe = None;
    let mut edition = None;

    if let Some((first, tail)) = rest.split_first() {
        if *first == "pre" {
            pre = Some(PreRelease::Pre);
            rest = tail;
        } else if let Some(n) = first.strip_prefix("rc") {
            pre = Some(PreRelease::Rc(parse_number(n, input, VERSION_FORM)?));
            rest = tail;
        }
    }
    if let [count, hash, tail @ ..] = rest
        && !count.is_empty()
        && count.bytes().all(|b| b.is_ascii_digit())
    {
        let hex = hash.strip_prefix('g').ok_or_else(|| unknown(hash))?;
        if !(4..=40).contains(&hex.len()) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown(hash));
        }
        describe = Some(Describe {
            commits: parse_number(count, input, VERSION_FORM)?,
            hash: hex.to_ascii_lowercase(),
        });
        rest = tail;
    }
    if let Some((first, tail)) = rest.split_first() {
        edition = match *first {
            "ee" => Some(Edition::Ee),
            "ce" => Some(Edition::Ce),
            other => return Err(unknown(other)),
        };
        rest = tail;
    }
    match rest.first() {
        Some(extra) => Err(unknown(extra)),
        None => Ok((pre, describe, edition)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Each row is strictly older than the next one.
    const ASCENDING: &[&str] = &[
        "v1.0.0",
        "1.0.1",
        "1.2.0",
        "1.10.0",
        "v15.11.0-pre",
        "15.11.0-rc1",
        "15.11.0-rc2",
        "15.11.0-rc10",
        "v15.11.0-rc10-3-gdeadbee",
        "15.11.0",
        "v15.11.0-1-g0000000",
        "v15.11.0-123-gabcdef0",
        "15.11.1",
        "16.0.0-pre",
        "16.0.202305150900-abc1234def5.6789abcdef0",
        "16.0.202305160900-0000000000a.0000000000b",
        "16.0.0-rc42",
        "16.0.0",
        "16.3.2",
        "16.4.0-pre",
        "16.4.0-rc9",
        "16.4.0-rc42",
        "16.4.0",
        "16.10.0",
        "17.0.0",
    ];

    #[test]
    fn versions_order_by_precedence() {
        for (i, a) in ASCENDING.iter().enumerate() {
            for (j, b) in ASCENDING.iter().enumerate() {
                assert_eq!(
                    v(a).precedence_cmp(&v(b)),
                    i.cmp(&j),
                    "{a} vs {b} should be {:?}",
                    i.cmp(&j)
                );
                assert_eq!(
                    v(a).cmp(&v(b)),
                    i.cmp(&j),
                    "Ord agrees with precedence: {a} {b}"
                );
            }
        }
    }

    #[test]
    fn equal_precedence_table() {
        let same: &[(&str, &str)] = &[
            ("v16.3.2", "16.3.2"),
            ("16.3.2-ee", "16.3.2"),
            ("16.3.2-ce", "16.3.2-ee"),
            ("16.4.0-rc42-ee", "v16.4.0-rc42"),
            ("v15.11.0-123-gabcdef0", "15.11.0-123-g1234567"),
        ];
        for (a, b) in same {
            assert_eq!(v(a).precedence_cmp(&v(b)), Ordering::Equal, "{a} vs {b}");
        }
        // `Ord` still tells them apart, so sorting is deterministic and consistent with `Eq`.
        assert_ne!(v("16.3.2-ee"), v("16.3.2"));
        assert_eq!(v("v16.3.2"), v("16.3.2"));
    }

    /// Real version strings against requirements, each with why it passes or fails. GitLab's
    /// come from `/api/v4/version` and `/help`; Gitaly's from the `version` label of its build
    /// info metric, which is `git describe` of the build without the leading `v`.
    #[test]
    fn satisfaction_table() {
        let rows: &[(&str, &str, bool, &str)] = &[
            ("16.5.0", "v16.5", true, "the tagged release itself"),
            (
                "16.5.1",
                "v16.5",
                true,
                "a patch release of the required minor",
            ),
            (
                "16.5.0-ee",
                "v16.5",
                true,
                "the edition does not change the release",
            ),
            (
                "16.5.0-rc42",
                "v16.5",
                true,
                "GitLab.com ran rc42 of 16.5 before the tag",
            ),
            (
                "16.5.0-pre",
                "v16.5",
                true,
                "a default-branch build of 16.5 carries its changes",
            ),
            (
                "16.5.202310101206-abc1234def5.6789abcdef0",
                "v16.5",
                true,
                "an auto-deploy build of the 16.5 milestone",
            ),
            (
                "16.5.202310101206+abc1234def5.6789abcdef0",
                "v16.5",
                true,
                "the auto-deploy build as Omnibus tags it",
            ),
            (
                "16.6.202311011200-0123456789a.bcdef012345",
                "v16.5",
                true,
                "a build of a later milestone",
            ),
            (
                "16.4.3",
                "v16.5",
                false,
                "a patch of the previous minor lacks 16.5's changes",
            ),
            (
                "16.4.0-rc42",
                "v16.5",
                false,
                "a candidate of the previous release",
            ),
            (
                "16.4.202309151206-abc1234def5.6789abcdef0",
                "v16.5",
                false,
                "an auto-deploy build of the previous milestone",
            ),
            (
                "16.10.0",
                "v16.9",
                true,
                "minor 10 is after 9, not before it",
            ),
            (
                "9.10.0",
                "v16.0",
                false,
                "major 9 is older whatever the minor",
            ),
            (
                "16.5.0",
                "v16.5.1",
                false,
                "the patch release is newer than .0",
            ),
            (
                "16.5.202310101206-abc1234def5.6789abcdef0",
                "v16.5.1",
                false,
                "auto-deploy builds of 16.5 come before its patch releases",
            ),
            (
                "16.5.1-rc1",
                "v16.5.1",
                true,
                "a candidate of the required patch release",
            ),
            // Gitaly, against a `vX.Y.Z` requirement, as its build info reports it.
            ("16.5.0", "v16.5.0", true, "Gitaly's tagged release"),
            ("v16.5.0", "v16.5.0", true, "with git's leading v"),
            (
                "16.5.0-rc42",
                "v16.5.0",
                true,
                "Gitaly's release candidate of 16.5.0",
            ),
            (
                "16.5.0-rc42-123-gabcdef0",
                "v16.5.0",
                true,
                "123 commits after rc42 of 16.5.0",
            ),
            (
                "16.5.0-12-g1234567",
                "v16.5.0",
                true,
                "12 commits after 16.5.0",
            ),
            (
                "16.4.2-41-g89abcde",
                "v16.5.0",
                false,
                "after 16.4.2 but before any 16.5",
            ),
            (
                "16.5.0-rc42",
                "v16.5.1",
                false,
                "a candidate of .0 lacks the .1 fix",
            ),
            ("16.3.2", "v16.3.2", true, "exactly the required release"),
            ("16.3.1", "v16.3.2", false, "an older patch"),
        ];
        for (deployed, required, expected, why) in rows {
            let requirement =
                VersionRequirement::parse(required).unwrap_or_else(|e| panic!("{required}: {e}"));
            assert_eq!(
                v(deployed).satisfies(&requirement),
                *expected,
                "{deployed} against {required}: expected {} because {why}",
                if *expected { "pass" } else { "fail" }
            );
        }
    }

    #[test]
    fn parses_every_form_seen_in_the_wild() {
        let cases: &[(&str, &str)] = &[
            ("v16.3.2", "16.3.2"),
            ("16.3.2", "16.3.2"),
            (" 16.3.2-ee\n", "16.3.2-ee"),
            ("16.4.0-rc42", "16.4.0-rc42"),
            ("16.4.0-pre", "16.4.0-pre"),
            ("v15.11.0-123-gABCDEF0", "15.11.0-123-gabcdef0"),
            ("v16.4.0-rc42-5-g1234abc-ee", "16.4.0-rc42-5-g1234abc-ee"),
            (
                "16.5.202310101206-ABC1234DEF5.6789abcdef0",
                "16.5.202310101206-abc1234def5.6789abcdef0",
            ),
            (
                "16.5.202310101206+abc1234def5.6789abcdef0",
                "16.5.202310101206-abc1234def5.6789abcdef0",
            ),
        ];
        for (input, shown) in cases {
            assert_eq!(v(input).to_string(), *shown);
        }
        let d = v("v15.11.0-123-gabcdef0");
        assert_eq!(
            d.describe(),
            Some(&Describe {
                commits: 123,
                hash: "abcdef0".into()
            })
        );
        assert_eq!(v("16.4.0-rc42").pre_release(), Some(&PreRelease::Rc(42)));
        let auto = v("16.5.202310101206-abc1234def5.6789abcdef0");
        assert_eq!(auto.release(), (16, 5, 0));
        assert!(matches!(
            auto.pre_release(),
            Some(PreRelease::AutoDeploy(AutoDeploy {
                timestamp: 202310101206,
                ..
            }))
        ));
        assert_eq!(v("16.3.2-ee").edition(), Some(Edition::Ee));
    }

    #[test]
    fn rejects_malformed_versions_with_a_reason() {
        let bad = [
            "",
            "16",
            "16.3",
            "16.3.2.1",
            "x16.3.2",
            "16.3.x",
            "16..2",
            "16.3.2-beta",
            "16.3.2-rc",
            "16.3.2-ee-rc1",
            "16.3.2-12-zzz",
            "16.3.2-12-gxyz",
            "16.3.2-ee-ee",
            "99999999999.0.0",
            // Auto-deploy look-alikes: a short timestamp, short or non-hex commits, one commit.
            "16.5.2023101012-abc1234def5.6789abcdef0",
            "16.5.202310101206-abc1234.6789abcdef0",
            "16.5.202310101206-xyz1234def5.6789abcdef0",
            "16.5.202310101206-abc1234def5",
            "16.5.202310101206-abc1234def5.6789abcdef0-ee",
        ];
        for input in bad {
            let error = Version::parse(input).expect_err(input);
            assert!(!error.to_string().is_empty());
        }
        assert!(matches!(
            Version::parse("16.3.2-beta"),
            Err(VersionError::UnknownSuffix { .. })
        ));
        // A timestamp where the patch goes: the error names the auto-deploy form, not the size.
        let error = Version::parse("16.5.202310101206-abc1234def5.6789abcdef0-ee")
            .expect_err("an edition is not part of the auto-deploy form");
        assert!(error.to_string().contains("auto-deploy build"), "{error}");
    }

    #[test]
    fn requirements_parse_and_display() {
        assert_eq!(
            VersionRequirement::parse("v16.3").map(|r| r.to_string()),
            Ok("v16.3".into())
        );
        assert_eq!(
            VersionRequirement::parse("16.3.2").map(|r| r.to_string()),
            Ok("v16.3.2".into())
        );
        assert_eq!(
            "v16.3".parse::<VersionRequirement>(),
            VersionRequirement::parse("v16.3")
        );
        assert!("v16".parse::<VersionRequirement>().is_err());
        assert_eq!(
            "16.4.0-rc9".parse::<Version>(),
            Version::parse("16.4.0-rc9")
        );
        assert!(VersionRequirement::parse_full("v16.3").is_err());
        assert!(VersionRequirement::parse("v16.3.2-rc1").is_err());
        assert!(VersionRequirement::parse("v16").is_err());
        assert!(matches!(
            VersionRequirement::parse("  "),
            Err(VersionError::Empty { .. })
        ));
    }

    #[test]
    fn shortfalls_name_each_component_behind() {
        let requirements = VersionRequirements {
            gitaly: VersionRequirement::parse_full("v16.3.2").unwrap_or_else(|e| panic!("{e}")),
            gitlab: VersionRequirement::parse("v16.3").unwrap_or_else(|e| panic!("{e}")),
        };
        let behind = DeployedVersions {
            gitaly: v("16.3.1"),
            gitlab: v("16.2.0-ee"),
        };
        let shortfalls = requirements.shortfalls(&behind);
        assert_eq!(shortfalls.len(), 2);
        assert_eq!(
            shortfalls[0].to_string(),
            "Gitaly 16.3.1 is deployed but v16.3.2 is required"
        );
        let ok = DeployedVersions {
            gitaly: v("v16.3.2"),
            gitlab: v("16.3.0-ee"),
        };
        assert!(requirements.are_met_by(&ok));
    }
}
