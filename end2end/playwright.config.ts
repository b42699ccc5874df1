import { defineConfig } from '@playwright/test';

// Two servers from the one build: one with the demo migrations, one with an empty database.
// `make test` builds the server and creates both databases, then passes their locations here.
const server = process.env.RAMPART_SERVER ?? '../target/debug/server';
const siteRoot = process.env.RAMPART_SITE_ROOT ?? '../target/site';
const databaseBase = process.env.RAMPART_E2E_DATABASE_BASE ?? 'postgres://postgres@127.0.0.1:55433';

export const DEMO_URL = 'http://127.0.0.1:3200';
export const EMPTY_URL = 'http://127.0.0.1:3201';
/** A server of its own whose clock tests move forward (`POST /test/clock`), so no other test's
 *  times shift under it. */
export const CLOCK_URL = 'http://127.0.0.1:3202';
/** Two replicas over one database of their own, for live updates between them. */
export const LIVE_URL = 'http://127.0.0.1:3203';
export const LIVE_REPLICA_URL = 'http://127.0.0.1:3204';
/** The demo users' password on the demo server, and the one user's on the empty server (made by
 *  `make test` with `server add-user`). */
export const PASSWORD = 'e2e-password-not-secret';
const OIDC_ISSUER = process.env.RAMPART_TEST_OIDC_ISSUER;

function rampart(url: string, database: string, demoData: boolean, testClock = false, env: Record<string, string> = {}) {
  return {
    command: server,
    url: `${url}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
    env: {
      DATABASE_URL: `${databaseBase}/${database}`,
      RAMPART_ADDR: url.replace('http://', ''),
      RAMPART_SITE_ROOT: siteRoot,
      RAMPART_DEMO_DATA: String(demoData),
      RAMPART_TEST_CLOCK: String(testClock),
      RAMPART_DEMO_PASSWORD: PASSWORD,
      RAMPART_PUBLIC_URL: url,
      // Single sign-on through the test OpenID provider `make test` starts, as GitLab would be.
      ...(OIDC_ISSUER && {
        RAMPART_OIDC_ISSUER: OIDC_ISSUER,
        RAMPART_OIDC_CLIENT_ID: 'rampart',
        RAMPART_OIDC_CLIENT_SECRET: 'rampart-test-secret',
        RAMPART_OIDC_GROUP_ROLES: 'gitlab-org/release-managers=release_manager;gitlab-org/gitaly=engineer',
        RAMPART_OIDC_SCOPES: 'profile groups',
      }),
      RUST_LOG: 'warn',
      ...env,
    },
  };
}

export default defineConfig({
  testDir: './tests',
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 2,
  reporter: [['list']],
  use: {
    baseURL: DEMO_URL,
    trace: 'retain-on-failure',
    launchOptions: {
      // Debian's Chromium; Playwright never downloads a browser here.
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    // The demo as loaded: its guardrail would start watching (and looking for people) a minute
    // in, changing the health the tests check.
    rampart(DEMO_URL, 'rampart_e2e_demo', true, false, { RAMPART_GUARDRAIL_INTERVAL_SECONDS: '3600' }),
    rampart(EMPTY_URL, 'rampart_e2e_empty', false),
    // Development and staging flags by hand, production's by Rampart itself.
    rampart(CLOCK_URL, 'rampart_e2e_clock', false, true, { RAMPART_FLAGS_PRODUCTION: 'local' }),
    rampart(LIVE_URL, 'rampart_e2e_live', false),
    rampart(LIVE_REPLICA_URL, 'rampart_e2e_live', false),
  ],
});
