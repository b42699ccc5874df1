import { expect, test } from '@playwright/test';
import { DEMO_URL } from '../playwright.config';
import { hydrated, signIn } from './sign-in';

/** RFC 4180 CSV: quoted fields may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field), rows.push(row), (row = []), (field = ''), i++;
    } else field += c;
  }
  return rows;
}

test('the history table, its chart, and its CSV download hold the same rows', async ({ page }) => {
  await signIn(page, 'mona');
  await page.goto('/history?sort=lead_time');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'History' })).toBeVisible();
  await expect(page.getByRole('img', { name: /Lead times: / })).toBeVisible();

  const table = await page.locator('table.history').evaluate((table) => {
    const cell = (td: Element) => td.getAttribute('data-value') ?? (td as HTMLElement).innerText.trim();
    const head = [...table.querySelectorAll('thead th')].map((th) => (th as HTMLElement).innerText.trim());
    const body = [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map(cell));
    return [head, ...body];
  });
  expect(table.length).toBe(7);

  const download = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Download CSV' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('rampart-history.csv');
  const csv = parseCsv(await (await page.request.get(`${DEMO_URL}/history.csv?sort=lead_time`)).text());
  expect(csv).toEqual(table);
});
