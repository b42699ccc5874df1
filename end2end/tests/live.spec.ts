import { expect, test, type Browser, type Page } from '@playwright/test';
import { LIVE_REPLICA_URL, LIVE_URL } from '../playwright.config';
import { hydrated, signIn } from './sign-in';
import { newMigrationFields } from './migration-fields';

// The tests share the live servers' database and count its rows: one at a time, in order.
test.describe.configure({ mode: 'default' });

/** Adds a migration through `baseUrl`'s API, as the new-migration form does. */
async function addMigration(page: Page, baseUrl: string, flag: string, method?: string) {
  const fields = newMigrationFields(flag);
  if (method) fields['form[grpc_method]'] = method;
  const response = await page.request.post(`${baseUrl}/api/create_migration`, {
    form: fields,
    headers: { origin: baseUrl, accept: 'application/json' },
  });
  expect(response.status(), await response.text()).toBe(200);
}

/** One browser watching the portfolio on the first replica, listening for changes, and another
 *  signed in to the second replica to make them. `reloaded()` says whether the watching page
 *  was loaded again since. */
async function watchingAndActing(browser: Browser) {
  const watching = await (await browser.newContext()).newPage();
  const acting = await (await browser.newContext()).newPage();
  await signIn(watching, 'erin', LIVE_URL);
  await signIn(acting, 'erin', LIVE_REPLICA_URL);
  await watching.goto(LIVE_URL);
  await hydrated(watching);
  // Listening: what happens from now on reaches the page.
  await expect(watching.locator('body[data-live="open"]')).toHaveCount(1);
  let loads = 0;
  watching.on('load', () => (loads += 1));
  return { watching, acting, reloaded: () => loads > 0 };
}

test('a change in one browser appears in another without a reload, across replicas too', async ({ browser }) => {
  const { watching, acting, reloaded } = await watchingAndActing(browser);
  const rows = watching.locator('tbody tr');
  const before = await rows.count();

  // Through the other replica: its write reaches this one through Postgres.
  await addMigration(acting, LIVE_REPLICA_URL, 'gitaly_live_through_replica');
  await expect(rows.filter({ hasText: 'gitaly_live_through_replica' })).toHaveCount(1);
  // Through the same server.
  await addMigration(acting, LIVE_URL, 'gitaly_live_same_server');
  await expect(rows.filter({ hasText: 'gitaly_live_same_server' })).toHaveCount(1);
  await expect(rows).toHaveCount(before + 2);
  expect(reloaded()).toBe(false);
});

test("the filter's choices follow the migrations in flight, typing in it holds nothing up", async ({ browser }) => {
  const { watching, acting, reloaded } = await watchingAndActing(browser);
  const rows = watching.locator('tbody tr');
  const search = watching.getByRole('searchbox', { name: 'Search' });
  const services = watching.getByRole('combobox', { name: 'Service' });
  const newService = services.locator('option', { hasText: 'LiveFilterService' });
  await expect(newService).toHaveCount(0);
  await search.pressSequentially('gitaly_live_filter');
  await expect(rows).toHaveCount(0);

  // Someone is typing in the filter: the table follows all the same, and the filter stays.
  await addMigration(acting, LIVE_REPLICA_URL, 'gitaly_live_filter_choice', 'LiveFilterService::Follow');
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('gitaly_live_filter_choice');
  await expect(search).toBeFocused();
  await expect(search).toHaveValue('gitaly_live_filter');
  // Once they leave it, its choices are read again, and the new one works like the others.
  await search.blur();
  await expect(newService).toHaveCount(1);
  await search.fill('');
  await services.selectOption('LiveFilterService');
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('gitaly_live_filter_choice');
  expect(reloaded()).toBe(false);
});
