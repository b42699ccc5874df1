import { expect, test } from '@playwright/test';
import { expectNoViolations } from './axe';
import { hydrated, signIn } from './sign-in';

// The demo's regressing migration: its error rate climbs after its last flag change.
const REGRESSING = '/migrations/gitaly_list_refs_pagination';

test('the charts are in the HTML the server sends, before the browser takes over', async ({ page }) => {
  await signIn(page, 'erin');
  const html = await (await page.request.get(REGRESSING)).text();
  // In place, in document order: no fragment waits for a script to put it there.
  expect(html).not.toContain('<template');
  expect(html).toContain('data-chart="error_rate"');
  expect(html).toMatch(/<polyline points="[\d., ]{100,}" class="chart__line chart__line--0"/);

  // Without the wasm the page never hydrates, and the charts are shown all the same.
  await page.route('**/*.wasm', (route) => route.abort());
  await page.goto(REGRESSING);
  await expect(page.locator('[data-chart=error_rate] polyline').first()).toBeVisible();
  await expect(page.locator('[data-chart=call_rate] .chart__title')).toHaveText('Call rate, flag on vs off');
  await expect(page.locator('body[data-hydrated]')).toHaveCount(0);
});

test('pointing at a chart reads its values, and the window is chosen in the address', async ({ page }) => {
  await signIn(page, 'erin');
  await page.goto(REGRESSING);
  await hydrated(page);
  const chart = page.locator('[data-chart=error_rate]');
  const readout = chart.locator('.chart__readout');
  await expect(readout).toHaveText(/^latest: errors [\d.]+ %$/);
  // The regression shows: well above the fraction of a percent the other demos fail at.
  const latest = Number((await readout.textContent())!.match(/errors ([\d.]+) %/)![1]);
  expect(latest).toBeGreaterThan(3);

  const plot = chart.locator('svg');
  const box = (await plot.boundingBox())!;
  await plot.hover({ position: { x: box.width * 0.3, y: box.height / 2 } });
  await expect(readout).toHaveText(/ ago: errors [\d.]+ %$/);
  await expect(chart.locator('.chart__cursor')).toHaveCount(1);
  await page.mouse.move(0, 0);
  await expect(chart.locator('.chart__cursor')).toHaveCount(0);
  // The keyboard reads it too: Home is the window's start, before the regression.
  await plot.focus();
  await page.keyboard.press('Home');
  await expect(readout).toHaveText(/ ago: errors 0\.\d+ %$/);
  await page.keyboard.press('ArrowRight');
  await expect(chart.locator('.chart__cursor')).toHaveCount(1);

  await expect(page.locator('[data-count=gitaly_sentry] .count__value')).toHaveText('3');
  await expect(page.locator('[data-count=invocations] .count__value')).toHaveText(/^[\d,]+$/);

  await page.getByRole('link', { name: '24 h', exact: true }).click();
  await expect(page).toHaveURL(/[?&]window=24h/);
  await expect(page.getByRole('link', { name: '24 h', exact: true })).toHaveAttribute('aria-current', 'page');
  await expect(chart.locator('.chart__label').first()).toBeVisible();
  await expect(page.locator('.chart__label', { hasText: '1 d ago' }).first()).toBeVisible();
  await expectNoViolations(page);
});

test('each row of the portfolio has its error rate of the last day', async ({ page }) => {
  await signIn(page, 'erin');
  await page.goto('/');
  await hydrated(page);
  const row = (flag: string) => page.locator('.migrations__row', { hasText: flag });
  const regressing = row('gitaly_list_refs_pagination').locator('.sparkline');
  await expect(regressing.locator('path')).toHaveCount(1);
  const latest = Number((await regressing.locator('.sparkline__value').textContent())!.replace(' %', ''));
  expect(latest).toBeGreaterThan(3);
  await expect(regressing.getByRole('img')).toHaveAttribute('aria-label', /^Error rate in Production, last 24 h, latest [\d.]+ %$/);
  const healthy = Number(
    (await row('gitaly_find_commit_v2').locator('.sparkline__value').textContent())!.replace(' %', ''),
  );
  expect(healthy).toBeLessThan(1);
  // Not started: no environment, no line.
  await expect(row('gitaly_list_commits_by_oid_batch').locator('.sparkline')).toHaveCount(0);
});
