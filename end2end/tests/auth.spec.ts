import { expect, test } from '@playwright/test';
import { PASSWORD } from '../playwright.config';
import { hydrated, signIn } from './sign-in';

test('an anonymous visit is sent to sign in, and back after it', async ({ page }) => {
  await page.goto('/?filter=x');
  await expect(page).toHaveURL(/\/sign-in\?next=/);
  await expect(page.getByRole('heading', { name: 'Sign in to Rampart' })).toBeVisible();
  await expect(page.getByText('This is a demo.')).toBeVisible();
  await hydrated(page);
  await page.getByLabel('Username').fill('erin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/\?filter=x$/);
  await expect(page.getByRole('heading', { name: 'In-flight migrations' })).toBeVisible();
});

test('the header shows who is signed in and their roles; signing out ends the session', async ({ page }) => {
  await signIn(page, 'rita');
  await page.goto('/');
  await hydrated(page);
  const bar = page.getByRole('banner');
  await expect(bar.getByText('Rita Release-Manager')).toBeVisible();
  await expect(bar.getByText('Release manager')).toBeVisible();
  await bar.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in$/);
  // The session is gone: the portfolio asks to sign in again.
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in\?next=/);
});

test('a wrong password says so without saying whether the account exists', async ({ page }) => {
  await page.goto('/sign-in');
  await hydrated(page);
  const answers: string[] = [];
  for (const username of ['erin', 'nobody']) {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('not the password');
    // The form posts as a plain form: the answer sends the browser back to it, saying why.
    const answer = page.waitForResponse((response) => new URL(response.url()).pathname === '/api/sign_in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const response = await answer;
    expect(response.status()).toBe(302);
    answers.push(response.headers()['location']);
    await expect(page.getByRole('alert')).toHaveText('The username or the password is wrong.');
  }
  // An unknown name and a wrong password get the very same answer.
  expect(answers[0]).toMatch(/^\/sign-in\?failed=/);
  expect(answers[1]).toBe(answers[0]);
  await expect(page.getByRole('banner').getByText('Erin Engineer')).toHaveCount(0);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the sign-in form works, and says when the password is wrong', async ({ page }) => {
    await page.goto('/?filter=x');
    await expect(page).toHaveURL(/\/sign-in\?next=/);
    await page.getByLabel('Username').fill('erin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert')).toHaveText('The username or the password is wrong.');
    await page.getByLabel('Username').fill('erin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page).toHaveURL(/\/\?filter=x$/);
    await expect(page.getByRole('heading', { name: 'In-flight migrations' })).toBeVisible();
    await expect(page.getByRole('banner').getByText('Erin Engineer')).toBeVisible();
  });
});

test('single sign-on through the identity provider lands on the dashboard with the mapped role', async ({ page }) => {
  await page.goto('/sign-in');
  await page.getByRole('link', { name: 'Sign in with GitLab' }).click();
  // The test provider signs Alice in at once and sends her back.
  await expect(page).toHaveURL(/127\.0\.0\.1:3200\/$/);
  await expect(page.getByRole('heading', { name: 'In-flight migrations' })).toBeVisible();
  const bar = page.getByRole('banner');
  await expect(bar.getByText('Alice SSO')).toBeVisible();
  await expect(bar.getByText('Engineer, Release manager')).toBeVisible();
});
