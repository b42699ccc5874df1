import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { signIn } from './sign-in';

/** Runs axe-core against the page as the user sees it, after hydration, for WCAG 2.1 A and AA. */
async function expectNoViolations(page: Page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const found = results.violations.map(
    (violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(' ')).join(', ')})`,
  );
  expect(found).toEqual([]);
  // Rules did run: a check that looked at nothing would pass anything.
  expect(results.passes.length).toBeGreaterThan(10);
}

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

for (const [path, heading] of [
  ['/', 'In-flight migrations'],
  ['/users', 'Users'],
  ['/profile', 'Your account'],
  ['/no-such-page', 'Page not found'],
]) {
  test(`${path} is accessible to an admin`, async ({ page }) => {
    await signIn(page, 'adam');
    await page.goto(path);
    await expect(page.getByRole('heading', { name: heading, exact: true })).toBeVisible();
    await expectNoViolations(page);
  });
}
