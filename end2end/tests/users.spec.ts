import { expect, test } from '@playwright/test';
import { DEMO_URL } from '../playwright.config';
import { hydrated, signIn } from './sign-in';

test('an admin adds a user, who signs in with the password shown once', async ({ page, browser }) => {
  await signIn(page, 'adam');
  await page.goto('/');
  await hydrated(page);
  await page.getByRole('banner').getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
  // Others can be deactivated; the admin's own row offers no such button.
  await expect(page.getByRole('row', { name: /Erin Engineer/ }).getByRole('button', { name: 'Deactivate' })).toBeVisible();
  await expect(page.getByRole('row', { name: /Adam Admin/ }).getByRole('button', { name: 'Deactivate' })).toHaveCount(0);
  const form = page.locator('.new-user');
  await form.getByLabel('Username').fill('zoe');
  await form.getByLabel('Name', { exact: true }).fill('Zoe Newcomer');
  await form.getByLabel('Engineer').check();
  await form.getByRole('button', { name: 'Add user' }).click();
  const shown = page.getByRole('status');
  await expect(shown).toContainText('Added zoe');
  const password = (await shown.locator('code').textContent()) ?? '';
  expect(password.length).toBeGreaterThanOrEqual(12);
  await expect(page.getByRole('row', { name: /Zoe Newcomer/ })).toBeVisible();

  // Zoe, in a browser of her own.
  const zoe = await browser.newPage();
  await zoe.goto(`${DEMO_URL}/sign-in`);
  await hydrated(zoe);
  await zoe.getByLabel('Username').fill('zoe');
  await zoe.getByLabel('Password').fill(password);
  await zoe.getByRole('button', { name: 'Sign in' }).click();
  await expect(zoe.getByRole('banner').getByText('Zoe Newcomer')).toBeVisible();
  await expect(zoe.getByRole('banner').getByText('Viewer, Engineer')).toBeVisible();
  await zoe.close();
});

test('a viewer sees no admin actions, and a forged request from them is refused with 403', async ({ page }) => {
  await signIn(page, 'vera');
  await page.goto('/');
  await hydrated(page);
  await expect(page.getByRole('banner').getByRole('link', { name: 'Users' })).toHaveCount(0);
  // Typing the address does not help: the page's data is refused.
  await page.goto('/users');
  await expect(page.getByRole('alert')).toContainText('You are not allowed to do this.');
  await expect(page.getByRole('button', { name: 'Deactivate' })).toHaveCount(0);
  // A request made by hand, from the viewer's own signed-in browser.
  const forged = await page.request.post('/api/deactivate_user', {
    form: { username: 'adam' },
    headers: { origin: DEMO_URL, accept: 'application/json' },
  });
  expect(forged.status()).toBe(403);
});
