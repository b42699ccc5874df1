import { expect, test, type Page } from '@playwright/test';
import { CLOCK_URL } from '../playwright.config';
import { hydrated, signIn } from './sign-in';

/** Moves the clock server's time forward: the soak passes without anyone waiting. */
async function advanceClock(page: Page, minutes: number) {
  const response = await page.request.post(`${CLOCK_URL}/test/clock?minutes=${minutes}`);
  expect(response.status()).toBe(200);
}

async function fillForm(page: Page, flag: string, method: string) {
  await page.getByLabel('Feature flag').fill(flag);
  await page.getByLabel('gRPC method').fill(method);
  await page.getByLabel('Required Gitaly version').fill('v16.3.2');
  await page.getByLabel('Required GitLab version').fill('v16.3');
  await page.getByLabel('Acceptance issue').fill('https://gitlab.com/gitlab-org/gitaly/-/issues/4821');
  await page.getByLabel('Conversation issue').fill('#567');
  await page.getByLabel('Routes').fill('GET /api/v4/projects/:id/repository/commits/:sha');
}

/** Ticks every item of the current stage's checklist that is still open. */
async function tickAll(page: Page) {
  const open = page.locator('.checklist').getByRole('button', { name: /^Checked/ });
  while ((await open.count()) > 0) {
    const before = await open.count();
    await open.first().click();
    await expect(open).toHaveCount(before - 1);
  }
}

/** Clicks a stage action's button and waits until it is recorded and the page shows the
 *  migration as the action left it: its forms carry the new version, which the next action
 *  sends. The form's answer sends the browser back to the page; a refused action's answer says
 *  why in the address it sends it to (`__err`), a done one does not. */
async function act(page: Page, button: string, endpoint: string) {
  const version = page.locator('input[name="version"]').first();
  const before = await version.inputValue();
  const recorded = page.waitForResponse((r) => r.url().endsWith(`/api/${endpoint}`));
  await page.getByRole('button', { name: button, exact: true }).click();
  const answer = await recorded;
  expect(answer.status()).toBe(302);
  expect(answer.headers()['location']).not.toContain('__err');
  await expect(version).not.toHaveValue(before);
}

async function answerContinue(page: Page) {
  await act(page, 'Continue', 'decide');
  await expect(page.locator('.decision')).toContainText('Answered continue by erin');
}

async function advanceWithVersions(page: Page, next: string) {
  await page.getByLabel('Gitaly', { exact: true }).fill('v16.3.2');
  await page.getByLabel('GitLab', { exact: true }).fill('16.3.0-ee');
  await page.getByRole('button', { name: `Advance to ${next}` }).click();
  await expect(page.getByRole('heading', { name: new RegExp(`^${next}`) })).toBeVisible();
}

async function confirmFlagChange(page: Page, command: string) {
  await expect(page.locator('.flag-change .command__line')).toHaveText(command);
  await page.getByRole('button', { name: 'Done: I ran it' }).click();
  await expect(page.locator('.flag-change')).toHaveCount(0);
  // Confirming ticks the stage's flag item for whoever ran the line.
  await expect(page.locator('.checklist__item--done', { hasText: 'Flag enabled' })).toContainText('erin');
}

test('a migration is added through the form, walked to production by the rules, and audited', async ({ page }) => {
  test.setTimeout(90_000);
  const flag = 'gitaly_e2e_walk';
  await signIn(page, 'erin', CLOCK_URL);
  await page.goto(`${CLOCK_URL}/migrations/new`);
  await hydrated(page);

  // One bad field first: its message appears beside it, and nothing is saved.
  await fillForm(page, flag, 'FindCommit');
  await page.getByRole('button', { name: 'Add migration' }).click();
  const methodError = page.locator('#field-grpc_method-error');
  await expect(methodError).toContainText('gRPC method');
  await expect(page.getByLabel('gRPC method')).toHaveAttribute('aria-invalid', 'true');
  await expect(page).toHaveURL(`${CLOCK_URL}/migrations/new`);
  await page.getByLabel('gRPC method').fill('CommitService::FindCommit');
  await page.getByRole('button', { name: 'Add migration' }).click();
  await expect(page).toHaveURL(`${CLOCK_URL}/migrations/${flag}`);

  // On the portfolio, and from there to its page.
  await page.goto(CLOCK_URL);
  const row = page.locator('tbody tr', { hasText: flag });
  await expect(row).toContainText('Not started');
  await row.getByRole('link', { name: flag }).click();
  await expect(page.getByRole('heading', { name: flag })).toBeVisible();
  await hydrated(page);

  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.getByRole('heading', { name: /^Preparation/ })).toBeVisible();
  await tickAll(page);
  await advanceWithVersions(page, 'Development trial');
  await confirmFlagChange(page, `!feature-set ${flag} true`);

  await tickAll(page);
  await answerContinue(page);
  await advanceWithVersions(page, 'Staging trial');
  await confirmFlagChange(page, `!feature-set ${flag} true`);

  // Staging soaks 15 minutes: advancing now is refused, in words.
  await tickAll(page);
  await answerContinue(page);
  await page.getByRole('button', { name: 'Advance to Production version check' }).click();
  await expect(page.getByRole('alert')).toContainText('15 min left');

  // Watch it through, a look every 4 minutes, then decide again: now it goes.
  for (let look = 0; look < 4; look++) {
    await advanceClock(page, 4);
    // Each look must be recorded before the clock moves again, or the gap between looks grows.
    await act(page, 'I looked at the dashboards', 'record_check_in');
  }
  await page.reload();
  await hydrated(page);
  await answerContinue(page);
  await page.getByRole('button', { name: 'Advance to Production version check' }).click();
  await expect(page.getByRole('heading', { name: /^Production version check/ })).toBeVisible();

  // The timeline says who ran staging and for how long; the trail says what happened.
  const staging = page.locator('.timeline__stage', { hasText: 'Staging trial' });
  await expect(staging).toContainText(/ran 1[67] min/);
  await expect(staging).toContainText('by erin');
  await expect(page.locator('.audit')).toContainText('advanced from Staging trial to Production version check');

  // The audit export holds every step taken here.
  const exported = await (await page.request.get(`${CLOCK_URL}/audit.json?migration=${flag}`)).json();
  const actions: string[] = exported.map((entry: { action: string }) => entry.action);
  for (const action of [
    'migration.created',
    'migration.started',
    'migration.checked_in',
    'migration.advanced',
    'migration.flag_change',
    'flag_change.applied',
  ]) {
    expect(actions).toContain(action);
  }
  expect(actions.filter((a) => a === 'migration.advanced')).toHaveLength(3);
  expect(actions.filter((a) => a === 'flag_change.applied')).toHaveLength(2);
});

test('two people editing one migration: the second save is refused, and keeps what they typed', async ({ browser }) => {
  const flag = 'gitaly_e2e_conflict';
  const first = await browser.newPage();
  const second = await browser.newPage();
  await signIn(first, 'erin', CLOCK_URL);
  await signIn(second, 'erin', CLOCK_URL);
  await first.goto(`${CLOCK_URL}/migrations/new`);
  await hydrated(first);
  await fillForm(first, flag, 'RefService::FindBranch');
  await first.getByRole('button', { name: 'Add migration' }).click();
  await expect(first).toHaveURL(`${CLOCK_URL}/migrations/${flag}`);

  for (const page of [first, second]) {
    await page.goto(`${CLOCK_URL}/migrations/${flag}/edit`);
    await hydrated(page);
  }
  await first.getByLabel('Required Gitaly version').fill('v16.4.0');
  await first.getByRole('button', { name: 'Save changes' }).click();
  await expect(first).toHaveURL(`${CLOCK_URL}/migrations/${flag}`);
  await expect(first.locator('.detail-head__sub')).toContainText('requires Gitaly v16.4.0');

  await second.getByLabel('Required GitLab version').fill('v16.5');
  await second.getByRole('button', { name: 'Save changes' }).click();
  await expect(second.getByRole('alert').filter({ hasText: 'changed by erin' })).toContainText('reload');
  await expect(second.getByLabel('Required GitLab version')).toHaveValue('v16.5');
  await expect(second).toHaveURL(`${CLOCK_URL}/migrations/${flag}/edit`);

  await second.reload();
  await expect(second.getByLabel('Required Gitaly version')).toHaveValue('v16.4.0');
  await expect(second.getByLabel('Required GitLab version')).toHaveValue('v16.3');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the form adds a migration, and a bad field comes back with its message', async ({ page }) => {
    const flag = 'gitaly_e2e_no_script';
    await signIn(page, 'erin', CLOCK_URL);
    await page.goto(`${CLOCK_URL}/migrations/new`);
    await fillForm(page, flag, 'not a method');
    await page.getByRole('button', { name: 'Add migration' }).click();
    await expect(page.locator('#field-grpc_method-error')).toContainText('gRPC method');
    await expect(page).toHaveURL(/\/migrations\/new/);

    await fillForm(page, flag, 'CommitService::FindCommit');
    await page.getByRole('button', { name: 'Add migration' }).click();
    await expect(page).toHaveURL(`${CLOCK_URL}/migrations/${flag}`);
    await expect(page.getByRole('heading', { name: flag })).toBeVisible();
    await expect(page.locator('.timeline')).toContainText('Preparation');
  });
});
