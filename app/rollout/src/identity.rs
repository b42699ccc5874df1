//! A migration's identity — flag, gRPC method, required versions, routes, issues — parsed once
//! into types that cannot hold a bad value.
//!
//! Every type here deserialises through its parser (`serde(try_from = "String")`), so a value
//! read back from the database or a request body is exactly as trustworthy as one typed in.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::version::{VersionError, VersionRequirement, VersionRequirements};

/// GitLab's limit for a feature flag name.
pub const FLAG_NAME_MAX_BYTES: usize = 255;
/// A route longer than this is a paste accident, not a route.
pub const ROUTE_MAX_CHARS: usize = 500;

// ---------------------------------------------------------------------------------------------
// Feature flag name

/// A GitLab feature flag name: lowercase ASCII letters, digits and `_`, starting with a letter,
/// at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlagName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagNameError {
    #[error("is empty; expected a name such as gitaly_find_commit_v2")]
    Empty,
    #[error("is {len} bytes long; GitLab allows at most {FLAG_NAME_MAX_BYTES}")]
    TooLong { len: usize },
    #[error("must start with a lowercase letter, not '{found}'")]
    MustStartWithLetter { found: char },
    #[error(
        "may contain only lowercase letters, digits and underscores; '{found}' at position {position} is not allowed"
    )]
    InvalidCharacter { found: char, position: usize },
    #[error(
        "'{flag}' does not start with {GITALY_FLAG_PREFIX}: Gitaly flags start with {GITALY_FLAG_PREFIX}, the only flags GitLab passes on to Gitaly, so this one would never switch {method}"
    )]
    MissingGitalyPrefix { flag: String, method: String },
    #[error(
        "'{flag}' has nothing after the {GITALY_FLAG_PREFIX} prefix; name the feature, as in gitaly_find_commit_v2"
    )]
    OnlyGitalyPrefix { flag: String },
}

/// Gitaly's own rule (its doc/PROCESS.md): "All Gitaly feature flags must start with the
/// `gitaly_` prefix. Otherwise, they are not propagated to Gitaly." GitLab sends Gitaly only the
/// flags with this prefix, and Gitaly strips it.
pub const GITALY_FLAG_PREFIX: &str = "gitaly_";

impl FlagName {
    pub fn parse(input: &str) -> Result<FlagName, FlagNameError> {
        let name = input.trim();
        if name.is_empty() {
            return Err(FlagNameError::Empty);
        }
        if name.len() > FLAG_NAME_MAX_BYTES {
            return Err(FlagNameError::TooLong { len: name.len() });
        }
        match first_non_slug_char(name) {
            None => Ok(FlagName(name.to_owned())),
            Some((1, found)) => Err(FlagNameError::MustStartWithLetter { found }),
            Some((position, found)) => Err(FlagNameError::InvalidCharacter { found, position }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this flag can switch `method`. Every method Rampart migrates is Gitaly's (see
    /// [`GrpcMethod::parse`]), so its flag must carry [`GITALY_FLAG_PREFIX`] and a name after it.
    pub fn check_for(&self, method: &GrpcMethod) -> Result<(), FlagNameError> {
        self.check_gitaly_prefix(method.method())
    }

    /// As [`FlagName::check_for`], naming the method as `method` says (the method itself may not
    /// have parsed: the flag's rule does not depend on it).
    fn check_gitaly_prefix(&self, method: &str) -> Result<(), FlagNameError> {
        match self.0.strip_prefix(GITALY_FLAG_PREFIX) {
            Some("") => Err(FlagNameError::OnlyGitalyPrefix {
                flag: self.0.clone(),
            }),
            Some(_) => Ok(()),
            None => Err(FlagNameError::MissingGitalyPrefix {
                flag: self.0.clone(),
                method: method.to_owned(),
            }),
        }
    }
}

/// The first character, with its 1-based position, that breaks the rule "a lowercase ASCII
/// letter, then lowercase letters, digits and `_`". Flag names and stage keys follow it.
pub(crate) fn first_non_slug_char(name: &str) -> Option<(usize, char)> {
    name.chars()
        .enumerate()
        .find(|(i, c)| !(c.is_ascii_lowercase() || (*i > 0 && (c.is_ascii_digit() || *c == '_'))))
        .map(|(i, c)| (i + 1, c))
}

// ---------------------------------------------------------------------------------------------
// gRPC method

/// A Gitaly gRPC method, `Service::Method`. Also read from the wire form `/gitaly.Service/Method`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GrpcMethod {
    service: String,
    method: String,
}

/// Which half of `Service::Method` an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcPart {
    Service,
    Method,
}

impl fmt::Display for GrpcPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrpcPart::Service => "service",
            GrpcPart::Method => "method",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrpcMethodError {
    #[error("is empty; expected Service::Method such as CommitService::FindCommit")]
    Empty,
    #[error(
        "'{input}' is neither Service::Method nor /gitaly.Service/Method (e.g. CommitService::FindCommit)"
    )]
    Unrecognised { input: String },
    #[error(
        "'{input}' is in package '{package}'; only Gitaly methods (package gitaly) are migrated"
    )]
    WrongPackage { input: String, package: String },
    // Read after the field's label: "gRPC method has an invalid method name 'Find-Commit': …".
    #[error(
        "has an invalid {part} name '{name}': a name starts with a letter and contains only letters, digits and underscores"
    )]
    InvalidName { part: GrpcPart, name: String },
}

fn valid_grpc_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl GrpcMethod {
    /// `Service::Method`, `/gitaly.Service/Method` or `gitaly.Service/Method`.
    pub fn parse(input: &str) -> Result<GrpcMethod, GrpcMethodError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(GrpcMethodError::Empty);
        }
        let unrecognised = || GrpcMethodError::Unrecognised {
            input: trimmed.to_owned(),
        };
        let (service, method) = if let Some((service, method)) = trimmed.split_once("::") {
            (service, method)
        } else if let Some((qualified, method)) =
            trimmed.strip_prefix('/').unwrap_or(trimmed).split_once('/')
        {
            let (package, service) = qualified.rsplit_once('.').ok_or_else(unrecognised)?;
            if package != "gitaly" {
                return Err(GrpcMethodError::WrongPackage {
                    input: trimmed.to_owned(),
                    package: package.to_owned(),
                });
            }
            (service, method)
        } else {
            return Err(unrecognised());
        };
        for (part, name) in [(GrpcPart::Service, service), (GrpcPart::Method, method)] {
            if !valid_grpc_identifier(name) {
                return Err(GrpcMethodError::InvalidName {
                    part,
                    name: name.to_owned(),
                });
            }
        }
        Ok(GrpcMethod {
            service: service.to_owned(),
            method: method.to_owned(),
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The full wire name, `/gitaly.Service/Method`, as Sentry and logs record it.
    pub fn full_name(&self) -> String {
        format!("/gitaly.{}/{}", self.service, self.method)
    }
}

impl fmt::Display for GrpcMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.service, self.method)
    }
}

// ---------------------------------------------------------------------------------------------
// Required versions

/// The Gitaly release a migration needs: `vX.Y.Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequiredGitalyVersion(VersionRequirement);

impl RequiredGitalyVersion {
    pub fn parse(input: &str) -> Result<RequiredGitalyVersion, VersionError> {
        VersionRequirement::parse_full(input).map(RequiredGitalyVersion)
    }
    pub fn requirement(&self) -> VersionRequirement {
        self.0
    }
}

/// The GitLab release a migration needs: `vX.Y` or `vX.Y.Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequiredGitlabVersion(VersionRequirement);

impl RequiredGitlabVersion {
    pub fn parse(input: &str) -> Result<RequiredGitlabVersion, VersionError> {
        VersionRequirement::parse(input).map(RequiredGitlabVersion)
    }
    pub fn requirement(&self) -> VersionRequirement {
        self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

/// The routes known to call the endpoint (the Preparation step). May be empty until Preparation
/// is done; each route is non-empty, single-line and listed once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Routes(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("route {number} is empty")]
    Empty { number: usize },
    #[error("route {number} is {len} characters long; at most {ROUTE_MAX_CHARS} are allowed")]
    TooLong { number: usize, len: usize },
    #[error("route {number} must be on one line (it contains a control character)")]
    ControlCharacter { number: usize },
    #[error("route {number} ('{route}') is listed twice")]
    Duplicate { number: usize, route: String },
}

impl Routes {
    pub fn parse<S: AsRef<str>>(routes: &[S]) -> Result<Routes, RouteError> {
        let mut parsed: Vec<String> = Vec::with_capacity(routes.len());
        for (index, raw) in routes.iter().enumerate() {
            let number = index + 1;
            let route = raw.as_ref().trim();
            if route.is_empty() {
                return Err(RouteError::Empty { number });
            }
            let len = route.chars().count();
            if len > ROUTE_MAX_CHARS {
                return Err(RouteError::TooLong { number, len });
            }
            if route.chars().any(char::is_control) {
                return Err(RouteError::ControlCharacter { number });
            }
            if parsed.iter().any(|r| r == route) {
                return Err(RouteError::Duplicate {
                    number,
                    route: route.to_owned(),
                });
            }
            parsed.push(route.to_owned());
        }
        Ok(Routes(parsed))
    }

    /// One route per non-blank line, with Markdown list markers (`1.`, `-`, `*`) removed, as
    /// people paste them from the acceptance issue.
    pub fn parse_lines(text: &str) -> Result<Routes, RouteError> {
        Routes::parse(&Routes::lines(text))
    }

    /// The routes of pasted text, unchecked: one per non-blank line, list markers removed. What
    /// a form puts into [`RawIdentity::routes`].
    pub fn lines(text: &str) -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| strip_list_marker(l).to_owned())
            .collect()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

fn strip_list_marker(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return rest.trim_start();
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    match line[digits..].strip_prefix(". ") {
        Some(rest) if digits > 0 => rest.trim_start(),
        _ => line,
    }
}

impl TryFrom<Vec<String>> for Routes {
    type Error = RouteError;
    fn try_from(value: Vec<String>) -> Result<Routes, RouteError> {
        Routes::parse(&value)
    }
}

impl From<Routes> for Vec<String> {
    fn from(value: Routes) -> Vec<String> {
        value.0
    }
}

// ---------------------------------------------------------------------------------------------
// Issues

/// An `https://…/issues/N` (or `/-/issues/N`) URL, without a trailing `/`, and its number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct IssueUrl {
    url: String,
    number: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueUrlError {
    #[error(
        "is empty; expected an issue URL such as https://gitlab.com/gitlab-org/gitaly/issues/1234"
    )]
    Empty,
    #[error("'{input}' must be an https:// URL")]
    NotHttps { input: String },
    #[error("'{input}' must not contain spaces, quotes, angle brackets or control characters")]
    InvalidCharacter { input: String },
    #[error("'{input}' does not end in /issues/NUMBER")]
    NoIssueNumber { input: String },
}

impl IssueUrl {
    fn parse(input: &str) -> Result<IssueUrl, IssueUrlError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(IssueUrlError::Empty);
        }
        let url = trimmed.trim_end_matches('/');
        let Some(rest) = url.strip_prefix("https://") else {
            return Err(IssueUrlError::NotHttps {
                input: trimmed.to_owned(),
            });
        };
        if url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>'))
        {
            return Err(IssueUrlError::InvalidCharacter {
                input: trimmed.to_owned(),
            });
        }
        let no_number = || IssueUrlError::NoIssueNumber {
            input: trimmed.to_owned(),
        };
        let (path, number) = rest.rsplit_once('/').ok_or_else(no_number)?;
        let host_ok = path.split('/').next().is_some_and(|host| !host.is_empty());
        let number: u64 = match number.parse() {
            Ok(n) if n > 0 && number.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(no_number()),
        };
        if !host_ok || !path.ends_with("/issues") {
            return Err(no_number());
        }
        Ok(IssueUrl {
            url: url.to_owned(),
            number,
        })
    }
}

/// The acceptance-testing issue, as an `https://…/issues/N` (or `/-/issues/N`) URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AcceptanceIssue(IssueUrl);

impl AcceptanceIssue {
    pub fn parse(input: &str) -> Result<AcceptanceIssue, IssueUrlError> {
        IssueUrl::parse(input).map(AcceptanceIssue)
    }
    pub fn url(&self) -> &str {
        &self.0.url
    }
    pub fn number(&self) -> u64 {
        self.0.number
    }
}

/// The issue in the infrastructure tracker that announces the first production change, as an
/// `https://…/issues/N` URL. Which tracker is not checked: its address is the server's
/// configuration, not the domain's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InfrastructureIssue(IssueUrl);

impl InfrastructureIssue {
    pub fn parse(input: &str) -> Result<InfrastructureIssue, IssueUrlError> {
        IssueUrl::parse(input).map(InfrastructureIssue)
    }
    pub fn url(&self) -> &str {
        &self.0.url
    }
    pub fn number(&self) -> u64 {
        self.0.number
    }
}

// ---------------------------------------------------------------------------------------------
// Conversation issue

/// The migration's Conversation issue in the Gitaly tracker, kept as its number. Read from the
/// template's first line `~Conversation: #567`, from `#567` or `567`, or from the issue's URL
/// (`https://gitlab.com/gitlab-org/gitaly/issues/567`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationRef(u64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationRefError {
    #[error("is empty; expected an issue number such as #567")]
    Empty,
    #[error(
        "'{input}' is not an issue number; expected #N, N, ~Conversation: #N or the issue's URL, with N at least 1, such as #567"
    )]
    NotANumber { input: String },
    #[error(transparent)]
    Url(#[from] IssueUrlError),
}

const CONVERSATION_LABEL: &str = "~conversation:";

impl ConversationRef {
    pub fn parse(input: &str) -> Result<ConversationRef, ConversationRefError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ConversationRefError::Empty);
        }
        let body = trimmed
            .get(..CONVERSATION_LABEL.len())
            .filter(|label| label.eq_ignore_ascii_case(CONVERSATION_LABEL))
            .map_or(trimmed, |_| {
                trimmed[CONVERSATION_LABEL.len()..].trim_start()
            });
        if body.contains("://") {
            return Ok(ConversationRef(IssueUrl::parse(body)?.number));
        }
        let digits = body.strip_prefix('#').unwrap_or(body);
        match digits.parse::<u64>() {
            Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(ConversationRef(n)),
            _ => Err(ConversationRefError::NotANumber {
                input: trimmed.to_owned(),
            }),
        }
    }

    pub fn number(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConversationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// Display, and parsing from strings (serde reads every type here through its parser)

impl fmt::Display for FlagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AcceptanceIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

impl fmt::Display for InfrastructureIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

impl fmt::Display for RequiredGitalyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for RequiredGitlabVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

parsed_from_string! {
    FlagName => FlagNameError,
    GrpcMethod => GrpcMethodError,
    RequiredGitalyVersion => VersionError,
    RequiredGitlabVersion => VersionError,
    AcceptanceIssue => IssueUrlError,
    InfrastructureIssue => IssueUrlError,
    ConversationRef => ConversationRefError,
}

// ---------------------------------------------------------------------------------------------
// The whole identity

/// The identity as typed into a form or sent by a client: nothing checked yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawIdentity {
    pub feature_flag: String,
    pub grpc_method: String,
    pub gitaly_version: String,
    pub gitlab_version: String,
    #[serde(default)]
    pub routes: Vec<String>,
    pub acceptance_issue: String,
    pub conversation: String,
}

/// A migration's identity, every part parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationIdentity {
    pub feature_flag: FlagName,
    pub grpc_method: GrpcMethod,
    pub gitaly_version: RequiredGitalyVersion,
    pub gitlab_version: RequiredGitlabVersion,
    pub routes: Routes,
    pub acceptance_issue: AcceptanceIssue,
    pub conversation: ConversationRef,
}

/// The field of [`RawIdentity`] an error is about; `as_str` (and serde) is the form/JSON field
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityField {
    FeatureFlag,
    GrpcMethod,
    GitalyVersion,
    GitlabVersion,
    Routes,
    AcceptanceIssue,
    Conversation,
}

impl IdentityField {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityField::FeatureFlag => "feature_flag",
            IdentityField::GrpcMethod => "grpc_method",
            IdentityField::GitalyVersion => "gitaly_version",
            IdentityField::GitlabVersion => "gitlab_version",
            IdentityField::Routes => "routes",
            IdentityField::AcceptanceIssue => "acceptance_issue",
            IdentityField::Conversation => "conversation",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            IdentityField::FeatureFlag => "Feature flag",
            IdentityField::GrpcMethod => "gRPC method",
            IdentityField::GitalyVersion => "Required Gitaly version",
            IdentityField::GitlabVersion => "Required GitLab version",
            IdentityField::Routes => "Routes",
            IdentityField::AcceptanceIssue => "Acceptance issue",
            IdentityField::Conversation => "Conversation issue",
        }
    }
}

/// One bad field of a [`RawIdentity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("Feature flag {0}")]
    FeatureFlag(#[source] FlagNameError),
    #[error("gRPC method {0}")]
    GrpcMethod(#[source] GrpcMethodError),
    #[error("Required Gitaly version {0}")]
    GitalyVersion(#[source] VersionError),
    #[error("Required GitLab version {0}")]
    GitlabVersion(#[source] VersionError),
    #[error("Routes: {0}")]
    Routes(#[source] RouteError),
    #[error("Acceptance issue {0}")]
    AcceptanceIssue(#[source] IssueUrlError),
    #[error("Conversation issue {0}")]
    Conversation(#[source] ConversationRefError),
}

impl IdentityError {
    pub fn field(&self) -> IdentityField {
        match self {
            IdentityError::FeatureFlag(_) => IdentityField::FeatureFlag,
            IdentityError::GrpcMethod(_) => IdentityField::GrpcMethod,
            IdentityError::GitalyVersion(_) => IdentityField::GitalyVersion,
            IdentityError::GitlabVersion(_) => IdentityField::GitlabVersion,
            IdentityError::Routes(_) => IdentityField::Routes,
            IdentityError::AcceptanceIssue(_) => IdentityField::AcceptanceIssue,
            IdentityError::Conversation(_) => IdentityField::Conversation,
        }
    }
}

/// Serialised as `{"field": "grpc_method", "message": "gRPC method has an invalid …"}`: what a
/// form needs to put the message next to the field. The message is the `Display` text.
impl Serialize for IdentityError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut error = serializer.serialize_struct("IdentityError", 2)?;
        error.serialize_field("field", &self.field())?;
        error.serialize_field("message", &self.to_string())?;
        error.end()
    }
}

/// Every bad field at once, so a form can mark them all in one round trip. Serialised as the
/// list of its errors, in form order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IdentityErrors(Vec<IdentityError>);

impl IdentityErrors {
    pub fn errors(&self) -> &[IdentityError] {
        &self.0
    }
    /// `(field name, message)` pairs, ready for a `Validation { field → message }` error.
    pub fn by_field(&self) -> Vec<(&'static str, String)> {
        self.0
            .iter()
            .map(|e| (e.field().as_str(), e.to_string()))
            .collect()
    }
}

impl fmt::Display for IdentityErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for IdentityErrors {}

impl MigrationIdentity {
    /// Parse every field; on failure report every bad field, in form order.
    pub fn parse(raw: &RawIdentity) -> Result<MigrationIdentity, IdentityErrors> {
        let mut errors = Vec::new();
        let feature_flag = keep(
            &mut errors,
            FlagName::parse(&raw.feature_flag).map_err(IdentityError::FeatureFlag),
        );
        let grpc_method = keep(
            &mut errors,
            GrpcMethod::parse(&raw.grpc_method).map_err(IdentityError::GrpcMethod),
        );
        let gitaly_version = keep(
            &mut errors,
            RequiredGitalyVersion::parse(&raw.gitaly_version).map_err(IdentityError::GitalyVersion),
        );
        let gitlab_version = keep(
            &mut errors,
            RequiredGitlabVersion::parse(&raw.gitlab_version).map_err(IdentityError::GitlabVersion),
        );
        let routes = keep(
            &mut errors,
            Routes::parse(&raw.routes).map_err(IdentityError::Routes),
        );
        let acceptance_issue = keep(
            &mut errors,
            AcceptanceIssue::parse(&raw.acceptance_issue).map_err(IdentityError::AcceptanceIssue),
        );
        let conversation = keep(
            &mut errors,
            ConversationRef::parse(&raw.conversation).map_err(IdentityError::Conversation),
        );
        let method_name = grpc_method
            .as_ref()
            .map_or("its method", GrpcMethod::method);
        let feature_flag = match feature_flag.map(|flag| {
            let checked = flag.check_gitaly_prefix(method_name);
            (flag, checked)
        }) {
            Some((flag, Ok(()))) => Some(flag),
            Some((_, Err(error))) => {
                // In form order: the flag's error goes first.
                errors.insert(0, IdentityError::FeatureFlag(error));
                None
            }
            None => None,
        };
        match (
            feature_flag,
            grpc_method,
            gitaly_version,
            gitlab_version,
            routes,
            acceptance_issue,
            conversation,
        ) {
            (Some(f), Some(g), Some(gv), Some(lv), Some(r), Some(a), Some(c)) => {
                Ok(MigrationIdentity {
                    feature_flag: f,
                    grpc_method: g,
                    gitaly_version: gv,
                    gitlab_version: lv,
                    routes: r,
                    acceptance_issue: a,
                    conversation: c,
                })
            }
            _ => Err(IdentityErrors(errors)),
        }
    }

    pub fn requirements(&self) -> VersionRequirements {
        VersionRequirements {
            gitaly: self.gitaly_version.requirement(),
            gitlab: self.gitlab_version.requirement(),
        }
    }
}

fn keep<T>(errors: &mut Vec<IdentityError>, result: Result<T, IdentityError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_raw() -> RawIdentity {
        RawIdentity {
            feature_flag: "gitaly_find_commit_v2".into(),
            grpc_method: "CommitService::FindCommit".into(),
            gitaly_version: "v16.3.2".into(),
            gitlab_version: "v16.3".into(),
            routes: vec!["GET /api/v4/projects/:id/repository/commits/:sha".into()],
            acceptance_issue: "https://gitlab.com/gitlab-org/gitaly/issues/1234".into(),
            conversation: "#567".into(),
        }
    }

    #[test]
    fn parses_a_good_identity() {
        let identity = MigrationIdentity::parse(&sample_raw()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(identity.feature_flag.as_str(), "gitaly_find_commit_v2");
        assert_eq!(
            identity.grpc_method.to_string(),
            "CommitService::FindCommit"
        );
        assert_eq!(
            identity.grpc_method.full_name(),
            "/gitaly.CommitService/FindCommit"
        );
        assert_eq!(identity.gitaly_version.to_string(), "v16.3.2");
        assert_eq!(identity.gitlab_version.to_string(), "v16.3");
        assert_eq!(identity.acceptance_issue.number(), 1234);
        assert_eq!(identity.conversation.to_string(), "#567");
    }

    #[test]
    fn reports_every_bad_field_by_name() {
        let raw = RawIdentity {
            feature_flag: "Gitaly-Flag".into(),
            grpc_method: "FindCommit".into(),
            gitaly_version: "v16.3".into(),
            gitlab_version: "sixteen".into(),
            routes: vec!["GET /a".into(), " ".into()],
            acceptance_issue: "http://gitlab.com/gitlab-org/gitaly/issues/1".into(),
            conversation: "#0".into(),
        };
        let errors = MigrationIdentity::parse(&raw).expect_err("all fields are bad");
        let fields: Vec<&str> = errors.by_field().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "feature_flag",
                "grpc_method",
                "gitaly_version",
                "gitlab_version",
                "routes",
                "acceptance_issue",
                "conversation"
            ]
        );
        let text = errors.to_string();
        assert!(
            text.starts_with("Feature flag must start with a lowercase letter, not 'G'"),
            "{text}"
        );
        assert!(text.contains("Routes: route 2 is empty"), "{text}");
    }

    #[test]
    fn flag_names_follow_gitlab_rules() {
        assert!(FlagName::parse("a").is_ok());
        assert!(FlagName::parse("gitaly_v2_x9").is_ok());
        assert_eq!(FlagName::parse(""), Err(FlagNameError::Empty));
        assert_eq!(
            FlagName::parse("9lives"),
            Err(FlagNameError::MustStartWithLetter { found: '9' })
        );
        assert_eq!(
            FlagName::parse("_x"),
            Err(FlagNameError::MustStartWithLetter { found: '_' })
        );
        assert_eq!(
            FlagName::parse("gitaly-x"),
            Err(FlagNameError::InvalidCharacter {
                found: '-',
                position: 7
            })
        );
        assert!(matches!(
            FlagName::parse("gitalyX"),
            Err(FlagNameError::InvalidCharacter { found: 'X', .. })
        ));
        assert!(FlagName::parse(&"a".repeat(255)).is_ok());
        assert_eq!(
            FlagName::parse(&"a".repeat(256)),
            Err(FlagNameError::TooLong { len: 256 })
        );
    }

    /// Gitaly's rule, as a table: (flag, accepted, why).
    #[test]
    fn gitaly_flags_start_with_gitaly() {
        let method =
            GrpcMethod::parse("CommitService::FindCommit").unwrap_or_else(|e| panic!("{e}"));
        let rows: &[(&str, bool, &str)] = &[
            ("gitaly_find_commit_v2", true, "the prefix and a name"),
            ("gitaly_x", true, "a short name is still a name"),
            (
                "find_commit_v2",
                false,
                "GitLab would not pass it to Gitaly",
            ),
            (
                "gitalyfind_commit",
                false,
                "the prefix includes its underscore",
            ),
            ("gitlab_find_commit", false, "a Rails flag, not Gitaly's"),
            ("gitaly_", false, "nothing after the prefix"),
        ];
        for (flag, accepted, why) in rows {
            let parsed = FlagName::parse(flag).unwrap_or_else(|e| panic!("{flag}: {e}"));
            assert_eq!(
                parsed.check_for(&method).is_ok(),
                *accepted,
                "{flag}: {why}"
            );
            let raw = RawIdentity {
                feature_flag: (*flag).into(),
                ..sample_raw()
            };
            assert_eq!(
                MigrationIdentity::parse(&raw).is_ok(),
                *accepted,
                "{flag}: {why}"
            );
        }
        let raw = RawIdentity {
            feature_flag: "find_commit_v2".into(),
            ..sample_raw()
        };
        let errors = MigrationIdentity::parse(&raw).expect_err("refused");
        assert_eq!(
            errors.to_string(),
            "Feature flag 'find_commit_v2' does not start with gitaly_: Gitaly flags start with gitaly_, the only flags GitLab passes on to Gitaly, so this one would never switch FindCommit"
        );
        assert_eq!(errors.errors()[0].field(), IdentityField::FeatureFlag);
        // Reported together with other bad fields, first as the form orders them.
        let raw = RawIdentity {
            feature_flag: "find_commit_v2".into(),
            grpc_method: "FindCommit".into(),
            gitaly_version: "soon".into(),
            ..sample_raw()
        };
        let fields: Vec<IdentityField> = MigrationIdentity::parse(&raw)
            .expect_err("refused")
            .errors()
            .iter()
            .map(IdentityError::field)
            .collect();
        // Even when the method does not parse: the flag's rule does not wait for it.
        assert_eq!(
            fields,
            [
                IdentityField::FeatureFlag,
                IdentityField::GrpcMethod,
                IdentityField::GitalyVersion
            ]
        );
    }

    #[test]
    fn grpc_methods_accept_both_forms_and_normalise() {
        for input in [
            "CommitService::FindCommit",
            "/gitaly.CommitService/FindCommit",
            "gitaly.CommitService/FindCommit",
            "  CommitService::FindCommit ",
        ] {
            let parsed = GrpcMethod::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed.to_string(), "CommitService::FindCommit");
            assert_eq!(parsed.service(), "CommitService");
            assert_eq!(parsed.method(), "FindCommit");
        }
        assert!(matches!(
            GrpcMethod::parse("/grpc.health.v1.Health/Check"),
            Err(GrpcMethodError::WrongPackage { .. })
        ));
        assert!(matches!(
            GrpcMethod::parse("CommitService::Find-Commit"),
            Err(GrpcMethodError::InvalidName {
                part: GrpcPart::Method,
                ..
            })
        ));
        assert!(matches!(
            GrpcMethod::parse("::FindCommit"),
            Err(GrpcMethodError::InvalidName {
                part: GrpcPart::Service,
                ..
            })
        ));
        assert!(matches!(
            GrpcMethod::parse("FindCommit"),
            Err(GrpcMethodError::Unrecognised { .. })
        ));
        assert_eq!(GrpcMethod::parse(""), Err(GrpcMethodError::Empty));
    }

    #[test]
    fn issues_and_conversations() {
        let issue = AcceptanceIssue::parse("https://gitlab.com/gitlab-org/gitaly/-/issues/42/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            issue.url(),
            "https://gitlab.com/gitlab-org/gitaly/-/issues/42"
        );
        assert_eq!(issue.number(), 42);
        for bad in [
            "https://gitlab.com/gitlab-org/gitaly/merge_requests/42",
            "https://gitlab.com/gitlab-org/gitaly/issues/",
            "https://gitlab.com/gitlab-org/gitaly/issues/0",
            "https://gitlab.com/gitlab-org/gitaly/issues/+4",
            "https:///issues/4",
            "https://gitlab.com/a b/issues/4",
        ] {
            assert!(AcceptanceIssue::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            AcceptanceIssue::parse("gitlab.com/gitlab-org/gitaly/issues/4"),
            Err(IssueUrlError::NotHttps { .. })
        ));
        assert_eq!(ConversationRef::parse("567").map(|c| c.number()), Ok(567));
        assert_eq!(
            ConversationRef::parse(" #567 ").map(|c| c.number()),
            Ok(567)
        );
        assert!(ConversationRef::parse("#").is_err());
        assert!(ConversationRef::parse("#-3").is_err());
        assert_eq!(ConversationRef::parse(""), Err(ConversationRefError::Empty));
    }

    #[test]
    fn conversations_from_every_form_people_paste() {
        for input in [
            "~Conversation: #567",
            "~conversation:#567",
            "#567",
            "567",
            " 567 ",
            "https://gitlab.com/gitlab-org/gitaly/issues/567",
            "https://gitlab.com/gitlab-org/gitaly/-/issues/567/",
        ] {
            assert_eq!(
                ConversationRef::parse(input).map(|c| c.to_string()),
                Ok("#567".to_owned()),
                "{input}"
            );
        }
        for bad in [
            "~Conversation:",
            "~Conversation: #x",
            "Conversation #567",
            "#0",
            "https://gitlab.com/gitlab-org/gitaly/merge_requests/567",
            "http://gitlab.com/gitlab-org/gitaly/issues/567",
        ] {
            assert!(ConversationRef::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            ConversationRef::parse("https://gitlab.com/gitlab-org/gitaly/issues/x"),
            Err(ConversationRefError::Url(
                IssueUrlError::NoIssueNumber { .. }
            ))
        ));
    }

    #[test]
    fn infrastructure_issues_are_issue_urls() {
        let issue =
            InfrastructureIssue::parse(" https://gitlab.com/gitlab-com/infrastructure/issues/99 ")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            issue.url(),
            "https://gitlab.com/gitlab-com/infrastructure/issues/99"
        );
        assert_eq!(issue.number(), 99);
        for bad in [
            "infra#99",
            "https://gitlab.com/gitlab-com/infrastructure",
            "https://gitlab.com/gitlab-com/infrastructure/issues/new",
            "https://x",
        ] {
            assert!(InfrastructureIssue::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<InfrastructureIssue>("\"https://x\"").is_err());
    }

    /// Each message starts with its field's label, once, and reads as a phrase after it.
    #[test]
    fn messages_name_their_field_first_and_once() {
        let raw = RawIdentity {
            feature_flag: String::new(),
            grpc_method: "CommitService::Find-Commit".into(),
            gitaly_version: "16.3".into(),
            gitlab_version: String::new(),
            routes: vec!["a".into(), "a".into()],
            acceptance_issue: "https://gitlab.com/x/merge_requests/1".into(),
            conversation: "#x".into(),
        };
        let errors = MigrationIdentity::parse(&raw).expect_err("all bad");
        assert_eq!(errors.errors().len(), 7);
        for error in errors.errors() {
            let label = error.field().label();
            let message = error.to_string();
            assert!(message.starts_with(label), "{message}");
            assert_eq!(message.matches(label).count(), 1, "{message}");
        }
        assert_eq!(
            errors.errors()[1].to_string(),
            "gRPC method has an invalid method name 'Find-Commit': a name starts with a letter and contains only letters, digits and underscores"
        );
    }

    #[test]
    fn errors_serialise_as_field_and_message() {
        let mut raw = sample_raw();
        raw.grpc_method = "FindCommit".into();
        raw.conversation = String::new();
        let errors = MigrationIdentity::parse(&raw).expect_err("two bad fields");
        let json = serde_json::to_value(&errors).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json,
            serde_json::json!([
                {"field": "grpc_method", "message": errors.errors()[0].to_string()},
                {"field": "conversation", "message": "Conversation issue is empty; expected an issue number such as #567"},
            ])
        );
        assert_eq!(
            serde_json::to_value(IdentityField::GitlabVersion).unwrap_or_else(|e| panic!("{e}")),
            IdentityField::GitlabVersion.as_str()
        );
    }

    #[test]
    fn routes_from_pasted_lists() {
        let routes = Routes::parse_lines(
            "1. GET /api/v4/projects/:id\n\n  - Projects::CommitController#show\n* POST /x\n10. GET /y",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            routes.as_slice(),
            [
                "GET /api/v4/projects/:id",
                "Projects::CommitController#show",
                "POST /x",
                "GET /y"
            ]
        );
        assert!(matches!(
            Routes::parse(&["a", "a"]),
            Err(RouteError::Duplicate { number: 2, .. })
        ));
        assert!(matches!(
            Routes::parse(&["a\tb"]),
            Err(RouteError::ControlCharacter { number: 1 })
        ));
        assert!(matches!(
            Routes::parse(&["x".repeat(501)]),
            Err(RouteError::TooLong { .. })
        ));
        assert!(Routes::parse::<&str>(&[]).is_ok_and(|r| r.is_empty()));
    }

    #[test]
    fn deserialising_cannot_bypass_parsing() {
        let identity = MigrationIdentity::parse(&sample_raw()).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_value(&identity).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json["grpc_method"], "CommitService::FindCommit");
        assert_eq!(json["conversation"], "#567");
        let back: MigrationIdentity =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, identity);

        let mut bad = json;
        bad["feature_flag"] = "Not-A-Flag".into();
        assert!(serde_json::from_value::<MigrationIdentity>(bad).is_err());
        assert!(serde_json::from_str::<FlagName>("\"UPPER\"").is_err());
        assert!(serde_json::from_str::<Routes>("[\"a\", \"a\"]").is_err());
        assert!(serde_json::from_str::<RequiredGitalyVersion>("\"v16.3\"").is_err());
    }
}
