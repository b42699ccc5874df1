import { expect, test, type APIRequestContext, type Page } from '@playwright/test';
import { CLOCK_URL } from '../playwright.config';
import { hydrated, signIn } from './sign-in';
import { newMigrationFields } from './migration-fields';

// On the clock server, development and staging flags are set by hand (the manual backend) and
// production's by Rampart (the local store): the production steps here happen without anyone
// at a ChatOps prompt.

type Detail = {
  version: number;
  current: {
    key: string;
    checklist: { item: string; done: unknown }[];
    decision_question: string | null;
    blockers: { code: string }[];
  };
  pending_changes: { id: number; progress: unknown }[];
};

/** Calls a server function as the page's signed-in person, and insists it went through. */
async function call(request: APIRequestContext, endpoint: string, form: Record<string, string | number>) {
  const response = await request.post(`${CLOCK_URL}/api/${endpoint}`, {
    form,
    headers: { origin: CLOCK_URL, accept: 'application/json' },
  });
  expect(response.status(), `${endpoint}: ${await response.text()}`).toBe(200);
  return response.json().catch(() => null);
}

async function detail(request: APIRequestContext, flag: string): Promise<Detail> {
  return call(request, 'get_migration', { flag });
}

/** Everything the current stage asks of the engineer, and for a soak the release manager's
 *  override; then, unless the next stage is production's, the advance. */
async function finishStage(engineer: APIRequestContext, manager: APIRequestContext, flag: string) {
  let now = await detail(engineer, flag);
  for (const row of now.current.checklist) {
    if (!row.done) await call(engineer, 'record_check_in', { flag, item: row.item });
  }
  now = await detail(engineer, flag);
  if (now.current.blockers.some((b) => b.code.startsWith('soak'))) {
    await call(manager, 'override_soak', { flag, version: now.version, reason: 'watched in the test' });
    now = await detail(engineer, flag);
  }
  if (now.current.decision_question) {
    await call(engineer, 'decide', { flag, version: now.version, decision: 'continue' });
  }
}

async function advance(engineer: APIRequestContext, flag: string) {
  const now = await detail(engineer, flag);
  await call(engineer, 'advance_stage', {
    flag,
    version: now.version,
    gitaly_version: 'v16.3.2',
    gitlab_version: '16.3.0-ee',
  });
  for (const change of (await detail(engineer, flag)).pending_changes) {
    if (change.progress === 'ByHand') await call(engineer, 'confirm_flag_change', { flag, change: change.id });
  }
}

/** Adds a migration and walks it to production at 1 %, through the server functions. */
async function walkToOnePercent(engineer: APIRequestContext, manager: APIRequestContext, flag: string) {
  await call(engineer, 'create_migration', newMigrationFields(flag));
  await call(engineer, 'start_migration', { flag, version: (await detail(engineer, flag)).version });
  // Preparation, development and staging; then production_check, left by the approval.
  for (let stage = 0; stage < 3; stage++) {
    await finishStage(engineer, manager, flag);
    await advance(engineer, flag);
  }
  await finishStage(engineer, manager, flag);
  const now = await detail(engineer, flag);
  await call(engineer, 'request_production_change', {
    flag,
    version: now.version,
    reason: 'staging was quiet',
    infrastructure_issue: 'https://gitlab.com/gitlab-com/gl-infra/production/-/issues/17001',
    gitaly_version: 'v16.3.2',
    gitlab_version: '16.3.0-ee',
  });
  await call(manager, 'approve_production_change', {
    flag,
    version: (await detail(engineer, flag)).version,
    typed_flag: flag,
  });
  expect((await detail(engineer, flag)).current.key).toBe('production_1');
}

async function signedInPage(browser: import('@playwright/test').Browser, username: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await signIn(page, username, CLOCK_URL);
  return page;
}

test('an engineer asks for 5 %, another release manager approves by typing the flag, and the kill switch stops it', async ({
  browser,
}) => {
  test.setTimeout(90_000);
  const flag = 'gitaly_e2e_production';
  const erin = await signedInPage(browser, 'erin');
  const rita = await signedInPage(browser, 'rita');
  await walkToOnePercent(erin.request, rita.request, flag);
  await finishStage(erin.request, rita.request, flag);

  // Erin asks, with her reason; the page shows her request and waits for someone else.
  await erin.goto(`${CLOCK_URL}/migrations/${flag}`);
  await hydrated(erin);
  await erin.getByLabel('Why now').fill('1 % has been quiet for a day');
  await erin.getByLabel('Gitaly', { exact: true }).fill('v16.3.2');
  await erin.getByLabel('GitLab', { exact: true }).fill('16.3.0-ee');
  await erin.getByRole('button', { name: 'Ask a release manager for 5 %' }).click();
  const request = erin.getByLabel('Production change request');
  await expect(request).toContainText('erin asked for 5 %');
  await expect(request).toContainText('1 % has been quiet for a day');
  await expect(request).toContainText('Waiting for a release manager other than erin');
  await expect(erin.getByRole('button', { name: /^Approve/ })).toHaveCount(0);

  // Rita, in her own browser, sees the evidence and approves by typing the flag's name.
  await rita.goto(`${CLOCK_URL}/migrations/${flag}`);
  await hydrated(rita);
  await expect(rita.getByLabel('Production change request')).toContainText('Deployed: Gitaly 16.3.2, GitLab 16.3.0-ee');
  await rita.getByLabel(`Type ${flag} to approve 5 % in production`).fill('gitaly_something_else');
  // A name that is not the flag's does not approve (the browser holds the form back; the server
  // would refuse it too).
  await rita.getByRole('button', { name: 'Approve 5 %' }).click();
  await expect(rita.locator('input[name=typed_flag]:invalid')).toHaveCount(1);
  await expect(rita.getByRole('heading', { name: /^Initial impact 1 %/ })).toBeVisible();
  await rita.getByLabel(`Type ${flag} to approve 5 % in production`).fill(flag);
  await rita.getByRole('button', { name: 'Approve 5 %' }).click();
  await expect(rita.getByRole('heading', { name: /^Low impact 5 %/ })).toBeVisible();

  // Rampart sets production itself; the portfolio shows 5 %.
  await expect
    .poll(async () => (await detail(erin.request, flag)).pending_changes.length, { timeout: 10_000 })
    .toBe(0);
  await erin.goto(CLOCK_URL);
  const row = erin.locator('tbody tr', { hasText: flag });
  await expect(row).toContainText('5 %');

  // The kill switch, from the page: a reason, one press, and the flag is off by the next read.
  await erin.goto(`${CLOCK_URL}/migrations/${flag}`);
  await hydrated(erin);
  await erin.getByText('Kill switch').click();
  await erin.getByLabel('Why (for the review)').fill('error rate 4 % on the new path');
  await erin.getByRole('button', { name: 'Disable the flag now' }).click();
  await expect(erin.locator('.detail-head__sub')).toContainText('disabled');
  await expect
    .poll(async () => (await detail(erin.request, flag)).pending_changes.length, { timeout: 10_000 })
    .toBe(0);
  await erin.reload();
  await expect(erin.locator('.audit')).toContainText('error rate 4 % on the new path');
});
