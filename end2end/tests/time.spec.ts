import { expect, test } from '@playwright/test';
import { hydrated, signIn } from './sign-in';

// UTC+5:30: no viewer's zone is mistaken for UTC, nor a whole hour away from it.
test.use({ timezoneId: 'Asia/Kolkata' });

/** chrono's "%d %b %H:%M" of `iso`, in UTC+5:30. */
function inKolkata(iso: string): string {
  const local = new Date(new Date(iso).getTime() + 330 * 60_000);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(local.getUTCDate())} ${months[local.getUTCMonth()]} ${two(local.getUTCHours())}:${two(local.getUTCMinutes())}`;
}

test("times read in the viewer's zone and keep ticking while the page stays open", async ({ page }) => {
  // The browser's clock runs as usual until the test moves it on.
  await page.clock.install();
  await signIn(page, 'vera');
  // The server does not know the zone: its HTML says UTC (read as sent, before any script runs).
  const sent = await (await page.request.get('/')).text();
  expect(sent).toMatch(/<time[^>]*data-tick="due"[^>]*title="\d\d \w{3} \d\d:\d\d UTC"/);
  await page.goto('/');
  const due = page.locator('time[data-tick="due"]').first();
  const at = (await due.getAttribute('datetime'))!;
  await hydrated(page);
  await expect(due).toHaveAttribute('title', inKolkata(at));

  // An hour past the look's time, by the clock the page read on the server.
  const serverNow = (await page.locator('[data-now]').first().getAttribute('data-now'))!;
  const untilDue = Math.max(new Date(at).getTime() - new Date(serverNow).getTime(), 0);
  const before = (await due.textContent())!;
  await page.clock.fastForward(untilDue + 61 * 60_000);
  await expect(due).not.toHaveText(before);
  await expect(due).toHaveText(/^overdue by /);
  await expect(due).toHaveClass(/next--bad/);
});
