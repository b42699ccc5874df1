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
    await expect(rows).toHaveCount(12);
    await expect(rows.filter({ hasText: 'gitaly_find_commit_v2' })).toContainText('CommitService::FindCommit');
    await expect(page.getByText(/^12 in flight/)).toBeVisible();
  });

  test('the filter is a form whose link shares the view', async ({ page }) => {
    await signIn(page, 'vera');
    await page.goto('/?environment=production&sort=flag');
    const rows = page.locator('tbody tr');
    await expect(rows).toHaveCount(5);
    await expect(rows.first()).toContainText('gitaly_diff_stats_large');
    await page.getByRole('combobox', { name: 'Health' }).selectOption('attention');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect(page).toHaveURL(/health=attention/);
    await expect(rows).toHaveCount(2);
  });
});

test('the filter narrows the list as you type and keeps the view in the address', async ({ page }) => {
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

  const search = page.getByRole('searchbox', { name: 'Search' });
  const rows = page.locator('tbody tr');
  await expect(rows).toHaveCount(12);

  await search.pressSequentially('FindCommit');
  await expect(rows).toHaveCount(1);
  // The filter is read again with the table, but not while it is being typed into.
  await expect(search).toBeFocused();
  await expect(search).toHaveValue('FindCommit');
  await expect(rows).toContainText('gitaly_find_commit_v2');
  await expect(page.getByText('1 of 12 match the filter.')).toBeVisible();
  // The view is in the address, so a link shares it.
  await expect(page).toHaveURL(/\?q=FindCommit$/);

  await search.fill('refservice::');
  await expect(rows).toHaveCount(2);

  await page.getByRole('combobox', { name: 'Environment' }).selectOption('production');
  await expect(page).toHaveURL(/q=refservice%3A%3A&environment=production/);
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('gitaly_list_refs_pagination');

  await search.fill('no_such_flag');
  await expect(rows).toHaveCount(0);
  await expect(page.getByText('No migration matches this filter.')).toBeVisible();

  await page.getByRole('link', { name: 'Show all' }).click();
  await expect(rows).toHaveCount(12);
  expect(errors).toEqual([]);
});

test('an empty portfolio says so and says how to add a migration', async ({ page }) => {
  await signIn(page, 'erin', EMPTY_URL);
  await page.goto(EMPTY_URL);
  await expect(page.getByRole('heading', { name: 'No migrations in flight' })).toBeVisible();
  await page.getByRole('link', { name: 'New migration' }).first().click();
  await expect(page.getByRole('heading', { name: 'New migration' })).toBeVisible();
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
