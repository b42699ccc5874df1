import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { expectNoViolations } from './axe';
import { hydrated, signIn } from './sign-in';

test('the sign-in page is accessible', async ({ page }) => {
  await page.goto('/sign-in');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await expectNoViolations(page);
});

test('the check does find a violation when there is one', async ({ page }) => {
  await page.goto('/sign-in');
  await page.evaluate(() => document.querySelector('main')?.append(document.createElement('img')));
  const results = await new AxeBuilder({ page }).withTags(['wcag2a']).analyze();
  expect(results.violations.map((violation) => violation.id)).toContain('image-alt');
});

test('the sign-in page with an error message is accessible', async ({ page }) => {
  await page.goto('/sign-in');
  // An unknown name: a wrong password for a demo user would count towards that user's lockout.
  await page.getByLabel('Username').fill('nobody');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toBeVisible();
  await expectNoViolations(page);
});

for (const [user, path, heading] of [
  ['adam', '/', 'In-flight migrations'],
  ['adam', '/users', 'Users'],
  ['adam', '/profile', 'Your account'],
  ['adam', '/no-such-page', 'Page not found'],
  ['erin', '/migrations/gitaly_find_commit_v2', 'gitaly_find_commit_v2'],
  ['erin', '/migrations/gitaly_find_all_tags_lazy', 'gitaly_find_all_tags_lazy'],
  ['erin', '/migrations/new', 'New migration'],
  ['erin', '/migrations/gitaly_find_commit_v2/edit', 'Edit gitaly_find_commit_v2'],
  ['mona', '/history', 'History'],
  ['vera', '/audit', 'Audit log'],
]) {
  test(`${path} is accessible to ${user}`, async ({ page }) => {
    await signIn(page, user);
    await page.goto(path);
    await expect(page.getByRole('heading', { name: heading, exact: true })).toBeVisible();
    await hydrated(page);
    await expectNoViolations(page);
  });
}

test('the API reference is accessible and lists every operation with its answers', async ({ page }) => {
  // Open to anyone, like the document it is made from: it holds no data.
  await page.goto('/api/v1/docs');
  await expect(page.getByRole('heading', { name: 'Rampart API, version 1' })).toBeVisible();
  await expect(
    page.getByRole('heading', { name: 'POST /api/v1/change-requests/{id}/approve' }),
  ).toBeVisible();
  await expect(page.locator('.api-method')).toHaveCount(12);
  await expectNoViolations(page);
});
