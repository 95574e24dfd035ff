// The README's tour, done the way a newcomer does it: wagate as `npm start` runs it (no API keys, the
// in-process sandbox), the tour's own requests (read from README.md, so the test follows the text: the
// customer writes, then the reply of step 3), and then only the browser: open the address the README
// gives, find the message on the Messages page by the customer's number, read its decision with every
// check, and watch its statuses arrive up to "read" without a reload.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http } from '../delivery/harness.ts';
import { axeViolations, CHROMIUM, type DashboardHarness, shot, startDashboard } from './harness.ts';

const noChromium = !existsSync(CHROMIUM);

/** The tour's section of the README and its curl requests (port, path, JSON body), in order. */
function tour(): { text: string; requests: { port: number; path: string; body: unknown }[] } {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('## A five-minute tour');
  const text = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const requests = [...text.matchAll(/curl -s localhost:(\d+)(\/\S+)[^\n]*(?:\\\n[^\n]*)*?-d '([^']+)'/g)].map((m) => ({
    port: Number(m[1]),
    path: m[2],
    body: JSON.parse(m[3]),
  }));
  return { text, requests };
}

let h: DashboardHarness;
beforeAll(async () => {
  if (noChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt-get install -y chromium`);
  if (!noChromium) h = await startDashboard({ keys: false });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe.skipIf(noChromium)("the README's tour in the dashboard", () => {
  it('sends the reply of step 3 and finds it, its decision and its statuses on the Messages page, without curl', async () => {
    const { text, requests } = tour();
    // Where to open it and with what key: the tour says both.
    expect(text).toContain('<http://localhost:8080/dashboard>');
    expect(text).toMatch(/no (API )?key/i);
    const inbound = requests.find((r) => r.port === 8081 && r.path === '/_sandbox/inbound');
    const send = requests.find((r) => r.port === 8080 && r.path === '/v1/messages');
    expect(inbound, 'step 2 of the tour').toBeDefined();
    expect(send, 'step 3 of the tour').toBeDefined();
    // The tour's own requests, as its curl lines send them (8080 is wagate, 8081 its sandbox).
    const wrote = await http('POST', `${h.sandboxUrl}${inbound!.path}`, inbound!.body);
    expect(wrote.status, JSON.stringify(wrote.json)).toBeLessThan(300);
    const to = String((send!.body as { to: string }).to);
    const { page } = await h.page();
    await page.goto('/dashboard');
    await page.getByTestId('open-banner').waitFor(); // no key to type with the default config
    const sent = await http('POST', `${h.base}${send!.path}`, send!.body);
    expect(sent.status, JSON.stringify(sent.json)).toBe(202);

    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    await page.getByLabel(/Message id, wamid/).fill(to);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: sent.json.id }).click();
    const detail = page.getByTestId('message-detail');
    await expect(detail.getByTestId('decision').textContent()).resolves.toContain('allowed');
    expect(await detail.getByTestId('check').count()).toBe(sent.json.decision.checks.length);
    // The window the customer's message opened is among the checks that passed.
    await expect(detail.textContent()).resolves.toMatch(/window/i);
    const timeline = detail.getByTestId('status-timeline');
    await timeline.getByText('read', { exact: true }).waitFor({ timeout: 20_000 }); // arrives by polling
    const statuses = (await timeline.locator('li .badge').allTextContents()).map((s) => s.trim());
    expect(statuses).toEqual(['queued', 'accepted', 'sent', 'delivered', 'read']);
    expect(await axeViolations(page)).toEqual([]);
    await shot(page, 'tour-message-1280');
    const { page: phone } = await h.page({ width: 390, height: 844 });
    await phone.goto(`/dashboard#/messages?q=${encodeURIComponent(to)}&id=${sent.json.id}`);
    await phone.getByTestId('status-timeline').getByText('read', { exact: true }).waitFor();
    await shot(phone, 'tour-message-390');
  });
});
