//! Single sign-on with OpenID Connect: GitLab (or any provider) signs people in, and its `groups`
//! claim decides their Rampart roles.
//!
//! The authorization-code flow with PKCE. `state` and `nonce` are random per attempt and kept in
//! the session between the two legs; the ID token is checked for issuer, audience, expiry, nonce
//! and signature against the provider's JWKS. The provider's metadata and keys are read afresh
//! for every sign-in, so a provider that rotates its keys is followed at once.

use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
        CoreTokenIntrospectionResponse, CoreTokenType,
    },
};
use rollout::{Role, Roles};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The `groups` claim, which GitLab puts in its ID tokens.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupsClaims {
    #[serde(default)]
    pub groups: Vec<String>,
}

impl AdditionalClaims for GroupsClaims {}

type GroupsTokenResponse = StandardTokenResponse<
    IdTokenFields<
        GroupsClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type SsoClient = Client<
    GroupsClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    GroupsTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider and how its groups map to roles, from the configuration.
#[derive(Clone, Debug)]
pub struct SsoConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Where the provider sends people back: `RAMPART_PUBLIC_URL` + `/auth/oidc/callback`.
    pub redirect_url: String,
    /// Group → roles, in configuration order. A person gets the roles of every group they are in.
    pub group_roles: Vec<(String, Roles)>,
    /// The provider's name on the sign-in page: "Sign in with GitLab".
    pub name: String,
    /// Scopes asked for besides `openid`: whatever makes the provider send `groups`.
    pub scopes: Vec<String>,
}

impl SsoConfig {
    /// The roles a person in `groups` gets; empty when no group is mapped, and then Rampart does
    /// not admit them.
    pub fn roles_for(&self, groups: &[String]) -> Roles {
        self.group_roles
            .iter()
            .filter(|(group, _)| groups.iter().any(|g| g == group))
            .flat_map(|(_, roles)| roles.iter())
            .collect()
    }
}

/// `group=role,role;group=role`, e.g.
/// `gitlab-org/release-managers=release_manager;gitlab-org/gitaly=engineer`.
pub fn parse_group_roles(text: &str) -> Result<Vec<(String, Roles)>, String> {
    text.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (group, roles) = entry
                .split_once('=')
                .ok_or_else(|| format!("{entry:?} is not group=role[,role…]"))?;
            let roles = roles
                .split(',')
                .map(|name| {
                    Role::parse(name).ok_or_else(|| format!("{name:?} in {entry:?} is not a role"))
                })
                .collect::<Result<Roles, String>>()?;
            let group = group.trim();
            if group.is_empty() {
                return Err(format!("{entry:?} names no group"));
            }
            Ok((group.to_owned(), roles))
        })
        .collect()
}

/// One sign-in under way: what the callback must check, kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go afterwards: a local path.
    pub next: String,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoIdentity {
    /// `issuer|subject`: stable, unlike names.
    pub subject: String,
    pub username: String,
    pub display_name: String,
    pub groups: Vec<String>,
}

/// Why a single sign-on failed; the message is for the person, and names no secret.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("the identity provider could not be reached or answered unexpectedly")]
    Provider(String),
    #[error("this sign-in was not started here, or has expired; start it again")]
    StateMismatch,
    #[error("the provider refused the sign-in: {0}")]
    Refused(String),
    /// The provider would not trade the code for tokens. The detail (its error code and text, or
    /// why its answer could not be read) is for the log, never the page.
    #[error("the provider did not accept this sign-in; start it again")]
    ExchangeFailed(String),
    #[error("the provider's ID token was not accepted: {0}")]
    InvalidIdToken(String),
    #[error(
        "the provider's username {0:?} cannot be a Rampart username (a letter or digit, then letters, digits, '.', '_' and '-', at most 64); ask an admin"
    )]
    UnusableUsername(String),
}

/// The OpenID client: one HTTP client, which follows no redirects (the library's advice against
/// server-side request forgery).
pub struct Sso {
    pub config: SsoConfig,
    http: openidconnect::reqwest::Client,
}

impl Sso {
    pub fn new(config: SsoConfig) -> Result<Self, String> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Self { config, http })
    }

    async fn client(&self) -> Result<SsoClient, SsoError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|error| SsoError::Provider(error.to_string()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| SsoError::Provider(error.to_string()))?;
        let redirect = RedirectUrl::new(self.config.redirect_url.clone())
            .map_err(|error| SsoError::Provider(error.to_string()))?;
        Ok(SsoClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new sign-in, and what to keep until it returns.
    pub async fn start(
        &self,
        next: &str,
        login_hint: Option<&str>,
    ) -> Result<(String, PendingLogin), SsoError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                next: next.to_owned(),
            },
        ))
    }

    /// The second leg: the provider came back with `code` and `state`.
    pub async fn finish(
        &self,
        pending: PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<SsoIdentity, SsoError> {
        // One discovery of the provider for both legs.
        let client = self.client().await?;
        let nonce = pending.nonce.clone();
        let id_token = self.exchange_with(&client, pending, code, state).await?;
        verify_with(&client, &id_token, &nonce)
    }

    /// Trades the code for the provider's tokens (with the PKCE verifier); the raw ID token.
    pub async fn exchange(
        &self,
        pending: PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<String, SsoError> {
        let client = self.client().await?;
        self.exchange_with(&client, pending, code, state).await
    }

    async fn exchange_with(
        &self,
        client: &SsoClient,
        pending: PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<String, SsoError> {
        if pending.state.as_bytes() != state.as_bytes() {
            return Err(SsoError::StateMismatch);
        }
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| SsoError::Provider(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|error| SsoError::ExchangeFailed(token_error(&error)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| SsoError::InvalidIdToken("the provider sent none".to_owned()))?;
        Ok(id_token.to_string())
    }

    /// Checks a raw ID token: issuer, audience, expiry, signature against the provider's
    /// current keys, and `nonce`.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<SsoIdentity, SsoError> {
        verify_with(&self.client().await?, id_token, nonce)
    }
}

fn verify_with(client: &SsoClient, id_token: &str, nonce: &str) -> Result<SsoIdentity, SsoError> {
    let token: openidconnect::IdToken<
        GroupsClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    > = id_token
        .parse()
        .map_err(|error: serde_json::Error| SsoError::InvalidIdToken(error.to_string()))?;
    identity_of(client, &token, nonce)
}

fn identity_of(
    client: &SsoClient,
    id_token: &openidconnect::IdToken<
        GroupsClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    nonce: &str,
) -> Result<SsoIdentity, SsoError> {
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_owned()))
        .map_err(|error| SsoError::InvalidIdToken(error.to_string()))?;
    let subject = claims.subject().as_str();
    let username = claims
        .preferred_username()
        .map_or(subject, |name| name.as_str())
        .to_owned();
    if super::users::check_username(&username).is_err() {
        return Err(SsoError::UnusableUsername(username));
    }
    let name = claims.name().and_then(|name| name.get(None));
    let display_name = display_name(name.map(|name| name.as_str()), &username);
    Ok(SsoIdentity {
        subject: format!("{}|{subject}", claims.issuer().as_str()),
        username,
        display_name,
        groups: claims.additional_claims().groups.clone(),
    })
}

/// Longer names are cut here: the accounts table keeps at most this many characters.
const DISPLAY_NAME_CHARS: usize = 200;

/// The provider's name for the person as Rampart keeps it: trimmed, cut to
/// [`DISPLAY_NAME_CHARS`], and the username when the provider sends no name (or a blank one).
fn display_name(name: Option<&str>, username: &str) -> String {
    let name = name
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or(username);
    name.chars().take(DISPLAY_NAME_CHARS).collect()
}

/// The provider's own words for a refused code exchange, and the cause, for the log.
fn token_error<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    if let Some(source) = error.source() {
        text.push_str(": ");
        text.push_str(&source.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_the_accounts_table_cannot_hold_is_made_one_it_can() {
        assert_eq!(display_name(Some("  Ana Kovač "), "ana"), "Ana Kovač");
        assert_eq!(display_name(Some("   "), "ana"), "ana");
        assert_eq!(display_name(None, "ana"), "ana");
        let long = "é".repeat(300);
        assert_eq!(
            display_name(Some(&long), "ana").chars().count(),
            DISPLAY_NAME_CHARS
        );
    }

    #[test]
    fn a_failed_code_exchange_keeps_its_detail_off_the_page() {
        let error = SsoError::ExchangeFailed("invalid_grant: {\"id_token\":\"eyJ…\"}".to_owned());
        let page = error.to_string();
        assert!(
            !page.contains("invalid_grant") && !page.contains("eyJ"),
            "{page}"
        );
        assert!(format!("{error:?}").contains("invalid_grant"));
    }

    #[test]
    fn group_roles_read_from_the_configuration() {
        let mapping = parse_group_roles(
            "gitlab-org/release-managers=release_manager,engineer; gitlab-org/gitaly=engineer;",
        )
        .unwrap();
        assert_eq!(mapping.len(), 2);
        let config = SsoConfig {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: SecretString::from("x"),
            redirect_url: String::new(),
            group_roles: mapping,
            name: "GitLab".into(),
            scopes: vec![],
        };
        assert_eq!(
            config.roles_for(&["gitlab-org/gitaly".into(), "elsewhere".into()]),
            Roles::new([Role::Engineer])
        );
        assert_eq!(
            config.roles_for(&["gitlab-org/release-managers".into()]),
            Roles::new([Role::Engineer, Role::ReleaseManager])
        );
        assert!(config.roles_for(&["elsewhere".into()]).is_empty());
        for bad in ["gitaly", "g=wizard", "=viewer"] {
            assert!(parse_group_roles(bad).is_err(), "{bad}");
        }
    }
}
