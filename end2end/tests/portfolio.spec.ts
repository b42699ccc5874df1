import { expect, test, type Page } from '@playwright/test';
import { EMPTY_URL } from '../playwright.config';
import { hydrated, signIn } from './sign-in';

/** Collects console errors, uncaught exceptions (CSP violations included) and failed requests. */
function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) errors.push(`${response.status()} ${new URL(response.url()).pathname}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the server-rendered page lists the demo migrations', async ({ page }) => {
    await signIn(page, 'vera');
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'In-flight migrations' })).toBeVisible();
    const rows = page.locator('tbody tr');
    await expect(rows).toHaveCount(10);
    await expect(rows.filter({ hasText: 'gitaly_find_commit_v2' })).toContainText('CommitService::FindCommit');
    await expect(page.getByText('10 in flight')).toBeVisible();
  });
});

test('the filter narrows the list as you type, once the page has hydrated', async ({ page }) => {
  const errors = watchForErrors(page);
  await signIn(page, 'vera');
  const wasm = page.waitForResponse((response) => /\.wasm$/.test(new URL(response.url()).pathname));
  await page.goto('/');
  const wasmResponse = await wasm;
  expect(wasmResponse.ok()).toBeTruthy();
  // Hashed file names: the browser may keep the file for a year.
  expect(wasmResponse.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
  // The app marks the document once the browser has taken over from the server's HTML.
  await hydrated(page);

  const filter = page.getByRole('searchbox', { name: /Filter migrations/ });
  const visibleRows = page.locator('tbody tr:visible');
  await expect(visibleRows).toHaveCount(10);

  await filter.pressSequentially('FindCommit');
  await expect(visibleRows).toHaveCount(1);
  await expect(visibleRows).toContainText('gitaly_find_commit_v2');
  await expect(page.getByText('1 of 10 in flight match the filter')).toBeVisible();

  await filter.fill('refservice::');
  await expect(visibleRows).toHaveCount(2);

  await filter.fill('no_such_flag');
  await expect(visibleRows).toHaveCount(0);
  await expect(page.getByText('No migration matches this filter.')).toBeVisible();

  await filter.fill('');
  await expect(visibleRows).toHaveCount(10);
  expect(errors).toEqual([]);
});

test('an empty portfolio says so and says how to add a migration', async ({ page }) => {
  await signIn(page, 'erin', EMPTY_URL);
  await page.goto(EMPTY_URL);
  await expect(page.getByRole('heading', { name: 'No migrations in flight' })).toBeVisible();
  await expect(page.getByText('server add-migration')).toBeVisible();
});

test('an unknown address shows the 404 page with status 404', async ({ page }) => {
  await signIn(page, 'vera');
  const errors = watchForErrors(page);
  const response = await page.goto('/nope');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Back to the in-flight migrations' }).click();
  await expect(page.getByRole('heading', { name: 'In-flight migrations' })).toBeVisible();
  // The page itself is the one expected 404.
  expect(errors).toEqual([
    '404 /nope',
    'Failed to load resource: the server responded with a status of 404 (Not Found)',
  ]);
});
