import { expect, type Page } from '@playwright/test';
import { DEMO_URL, PASSWORD } from '../playwright.config';

/** Signs the page's browser context in through the sign-in server function, as the sign-in form
 *  does; the session cookie lands in the context. (auth.spec.ts drives the form itself.) */
export async function signIn(page: Page, username: string, baseUrl: string = DEMO_URL) {
  const response = await page.request.post(`${baseUrl}/api/sign_in`, {
    form: { username, password: PASSWORD, next: '/' },
    headers: { origin: baseUrl, accept: 'application/json' },
  });
  expect(response.status(), await response.text()).toBe(200);
}

/** The app marks the document once the browser has taken over from the server's HTML. */
export async function hydrated(page: Page) {
  // The debug wasm compiles and hydrates in a few seconds, more while the other worker and three
  // servers share the two cores: wait for it longer than for an element. It must still happen.
  await expect(page.locator('body[data-hydrated]')).toHaveCount(1, { timeout: 20_000 });
}
