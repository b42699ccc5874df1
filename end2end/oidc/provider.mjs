// A real OpenID Connect provider on loopback for Rampart's tests: the npm package oidc-provider,
// with the clients and accounts the tests use. It stands in for GitLab, Rampart's identity
// provider: accounts carry a `groups` claim in the ID token, as GitLab's does.
//
// There is no login form: an interaction signs in the account named by `login_hint` (default
// "alice") and grants what the client asked for, so a test can run the whole code flow with a
// plain HTTP client or a browser.
//
//   node oidc/provider.mjs PORT
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 55480);
const issuer = `http://127.0.0.1:${port}`;

/** The people the tests sign in as, with their GitLab groups. */
const ACCOUNTS = {
  alice: { name: 'Alice SSO', groups: ['gitlab-org/release-managers', 'gitlab-org/gitaly'] },
  bob: { name: 'Bob SSO', groups: ['gitlab-org/gitaly'] },
  carl: { name: 'Carl Outsider', groups: ['somewhere-else'] },
};

const provider = new Provider(issuer, {
  clients: [
    // Rampart. Its tests' servers listen on ports the system picks, so every loopback
    // callback is accepted (see redirectUriAllowed below).
    {
      client_id: 'rampart',
      client_secret: 'rampart-test-secret',
      // (and 127.0.0.1:9, where a test collects a code without a browser)
      redirect_uris: ['http://127.0.0.1:3200/auth/oidc/callback', 'http://127.0.0.1:9/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    // Rampart as a client whose ID tokens live one second, to test expired ones.
    {
      client_id: 'rampart-short',
      client_secret: 'rampart-test-secret',
      redirect_uris: ['http://127.0.0.1:9/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    // Another application: its ID tokens are not meant for Rampart.
    {
      client_id: 'other-app',
      client_secret: 'other-app-secret',
      redirect_uris: ['http://127.0.0.1:9/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
  // Put the requested claims in the ID token itself, as GitLab does for `groups`.
  conformIdTokenClaims: false,
  scopes: ['openid', 'profile', 'groups'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      claims: () => ({ sub: id, name: account.name, preferred_username: id, groups: account.groups }),
    };
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: {
    IdToken: (_ctx, _token, client) => (client.clientId === 'rampart-short' ? 1 : 3600),
    AccessToken: 3600,
    AuthorizationCode: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});
provider.proxy = false;

// Any loopback callback path /auth/oidc/callback, on any port: the tests' servers pick theirs.
const { Client } = provider;
const allowed = Client.prototype.redirectUriAllowed;
Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
  if (this.clientId === 'rampart' && !allowed.call(this, uri)) {
    try {
      const url = new URL(uri);
      return url.hostname === '127.0.0.1' && url.pathname === '/auth/oidc/callback';
    } catch {
      return false;
    }
  }
  return allowed.call(this, uri);
};

// The interaction: sign in `login_hint`'s account and grant what was asked, at once.
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!match || ctx.method !== 'GET') return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const accountId = details.params.login_hint || 'alice';
  if (!ACCOUNTS[accountId]) {
    ctx.status = 400;
    ctx.body = `unknown test account ${accountId}`;
    return undefined;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  grant.addOIDCClaims(['groups', 'name', 'preferred_username']);
  const grantId = await grant.save();
  await provider.interactionFinished(
    ctx.req,
    ctx.res,
    { login: { accountId }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
  return undefined;
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
