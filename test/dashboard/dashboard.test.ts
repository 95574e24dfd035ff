// The operator dashboard in a real browser (Debian's Chromium through playwright-core) against a real
// wagate and its in-process Meta sandbox: log in, watch a sender go halted when the sandbox revokes
// its token and come back when a new token is set from the page, find a message and read its
// decision, replay a dead letter, and check accessibility with axe-core. Each test saves a screenshot
// (test-output/dashboard/*.png).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PHONE_NUMBER_ID } from '../delivery/harness.ts';
import {
  ADMIN_KEY,
  axeViolations,
  CHROMIUM,
  type DashboardHarness,
  login,
  orderUpdate,
  READ_KEY,
  recipient,
  SHOP_KEY,
  shot,
  startDashboard,
  waitFor,
} from './harness.ts';

const noChromium = !existsSync(CHROMIUM);
if (noChromium) console.warn(`test/dashboard: ${CHROMIUM} is missing (apt-get install -y chromium); the browser tests are skipped`);

let h: DashboardHarness;
beforeAll(async () => {
  // Under CI a missing browser fails the run (as a missing service does) instead of skipping quietly;
  // a check here, not a test of its own, so a run with Chromium counts no skipped test.
  if (noChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt-get install -y chromium`);
  if (!noChromium) h = await startDashboard();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe.skipIf(noChromium)('dashboard in Chromium', () => {
  it('serves the page and its files from wagate itself, compressed, with a strict CSP; nothing else is requested', async () => {
    const res = await fetch(`${h.base}/dashboard`, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-encoding')).toBe('br');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const body = await res.text();
    expect(body).not.toMatch(/https?:\/\//); // no CDN, no external asset
    const { page } = await h.page();
    const requested: string[] = [];
    const failed: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    page.on('requestfailed', (r) => failed.push(r.url()));
    await login(page, ADMIN_KEY);
    expect(requested.length).toBeGreaterThan(5);
    expect(requested.filter((u) => !u.startsWith(h.base))).toEqual([]);
    expect(failed).toEqual([]);
  });

  it('reaches every page from the navigation on a 390 px phone screen and at 1280x800, every link in sight', async () => {
    for (const size of [
      { width: 390, height: 844 },
      { width: 1280, height: 800 },
    ]) {
      const { page } = await h.page(size);
      await login(page, ADMIN_KEY);
      const nav = page.getByRole('navigation', { name: 'Dashboard' });
      const links = nav.getByRole('link');
      const names = await links.allTextContents();
      expect(names).toEqual(['Overview', 'Messages', 'Customers', 'Dead letters', 'Campaigns', 'Templates', 'Alerts']);
      for (const name of names) {
        const link = nav.getByRole('link', { name, exact: true });
        const box = await link.boundingBox();
        // Wholly inside the screen, without scrolling anything sideways.
        expect(box, name).not.toBeNull();
        expect(box!.x, name).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width, name).toBeLessThanOrEqual(size.width);
        await link.click();
        await page.getByRole('heading', { name, exact: true }).waitFor();
        expect(await link.getAttribute('aria-current')).toBe('page');
      }
      await page.getByRole('link', { name: 'Overview', exact: true }).click();
      await page.getByTestId('sender-main').waitFor();
      await shot(page, `nav-${size.width}`);
    }
  });

  it('logs in with an API key for an httpOnly SameSite=Strict cookie; a wrong key is refused; sign-out ends the session', async () => {
    const { context, page } = await h.page();
    await page.goto('/dashboard');
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not known');
    await login(page, ADMIN_KEY);
    const [cookie] = await context.cookies();
    expect(cookie.name).toBe('wagate_session');
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Strict');
    expect(cookie.value).not.toContain(ADMIN_KEY);
    await expect(page.getByTestId('who').textContent()).resolves.toBe('ops-admin · admin');
    await page.getByTestId('sender-main').getByTestId('sender-state').getByText('active').waitFor();
    await shot(page, 'overview-1280');
    // A state-changing call with the cookie but without the page's CSRF token is refused.
    const forged = await page.evaluate(async () => {
      const r = await fetch('/v1/senders/main/pause', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      return { status: r.status, body: (await r.json()) as any };
    });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('CSRF_REJECTED');
    expect(h.app.ctx.senders.status('main').state).toBe('active');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    const after = await page.evaluate(async () => (await fetch('/v1/overview')).status);
    expect(after).toBe(401);
  });

  it('a read key sees without acting and without full numbers; a key limited to a sender sees only that sender', async () => {
    const sent = await h.api('POST', '/v1/messages', orderUpdate(recipient(7101), 1));
    expect(sent.status).toBe(202);
    const { page } = await h.page({ width: 390, height: 844 });
    await login(page, READ_KEY);
    await page.getByTestId('sender-main').waitFor();
    expect(await page.getByRole('button', { name: 'Pause' }).count()).toBe(0);
    await page.goto(`/dashboard#/messages?q=${sent.json.id}&id=${sent.json.id}`);
    await page.getByTestId('message-detail').waitFor();
    const text = await page.getByTestId('message-detail').textContent();
    expect(text).not.toContain(recipient(7101));
    expect(text).toContain(`${recipient(7101).slice(0, 4)}•••${recipient(7101).slice(-4)}`);
    await shot(page, 'message-390-read-key');
    const { page: shopPage } = await h.page();
    await login(shopPage, SHOP_KEY);
    await shopPage.getByTestId('sender-shop').waitFor();
    expect(await shopPage.getByTestId('sender-main').count()).toBe(0);
    const search = await shopPage.evaluate(
      async (id) => ((await (await fetch(`/v1/messages/search?q=${id}`)).json()) as any).messages.length,
      sent.json.id,
    );
    expect(search).toBe(0); // main's message is not shop's to see
  });

  it("finds a message by its id and by the customer's number and shows its statuses and the gate's decision with every check", async () => {
    const to = recipient(7202);
    const sent = await h.api('POST', '/v1/messages', orderUpdate(to, 2));
    expect(sent.status).toBe(202);
    const { page } = await h.page();
    await login(page, ADMIN_KEY);
    await page.getByRole('navigation').getByRole('link', { name: 'Messages' }).click();
    await page.getByLabel(/Message id, wamid/).fill(`+${to}`);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: sent.json.id }).click();
    const detail = page.getByTestId('message-detail');
    await detail.getByTestId('decision').waitFor();
    await expect(detail.getByTestId('decision').textContent()).resolves.toContain('allowed');
    const checks = await detail.getByTestId('check').count();
    expect(checks).toBe(sent.json.decision.checks.length);
    expect(checks).toBeGreaterThan(2);
    // The status timeline moves on by itself (polling) as the sandbox's webhooks arrive.
    await detail.getByTestId('status-timeline').getByText('delivered').waitFor({ timeout: 15_000 });
    await shot(page, 'message-decision-1280');
  });

  it('shows a sender halted after the sandbox revokes its token, and active again after a new token is set from the page', async () => {
    const { page } = await h.page();
    await login(page, ADMIN_KEY);
    const card = page.getByTestId('sender-main');
    await card.getByTestId('sender-state').getByText('active').waitFor();
    await h.sandbox('POST', '/_sandbox/tokens', { token: 'sandbox-token-main', state: 'revoked', subcode: 460 });
    const r = await h.api('POST', '/v1/messages', orderUpdate(recipient(7303), 3));
    expect(r.status).toBe(202);
    await card.getByTestId('sender-state').getByText('halted').waitFor({ timeout: 15_000 }); // no reload: the page polls
    await expect(card.textContent()).resolves.toContain('META_190');
    // The token agrees with the state: a sender halted for 190 has no valid token (the gate answers
    // CREDENTIALS_INVALID for it), the other sender halted with it neither, until a check confirms it.
    await expect(card.getByTestId('sender-token').textContent()).resolves.toMatch(/^\s*not valid the sender is halted for META_190/);
    const shop = page.getByTestId('sender-shop');
    await shop.getByTestId('sender-state').getByText('halted').waitFor();
    await expect(shop.getByTestId('sender-token').textContent()).resolves.toContain('not valid');
    expect(await page.getByText('valid', { exact: true }).count()).toBe(0);
    await shot(page, 'sender-halted-1280');
    await h.sandbox('POST', '/_sandbox/tokens', { token: 'dashboard-new-token', state: 'valid' });
    await card.getByLabel('New access token for main').fill('dashboard-new-token');
    await card.getByRole('button', { name: 'Set token' }).click();
    await card.getByTestId('sender-state').getByText('active').waitFor({ timeout: 15_000 });
    expect(h.app.ctx.senders.status('main').state).toBe('active');
    expect(await page.content()).not.toContain('dashboard-new-token'); // the secret is never rendered back
    // The message held while halted goes out once the sender is active again.
    await waitFor('held message accepted', async () => {
      const m = await h.app.ctx.store.getMessage(r.json.id);
      return m && ['accepted', 'sent', 'delivered', 'read'].includes(m.status);
    });
    await expect(card.getByTestId('sender-token').textContent()).resolves.toMatch(/^\s*valid/);
    // Meta says when the new token expires (debug_token): a check from the page shows the countdown.
    const expires = new Date(Date.now() + 3 * 86_400_000 + 3_600_000).toISOString();
    await h.sandbox('POST', '/_sandbox/tokens', { token: 'dashboard-new-token', state: 'expiring', expires_at: expires });
    await card.getByRole('button', { name: 'Check now' }).click();
    await card
      .getByTestId('token-countdown')
      .getByText(/^expires in 3d [01]h$/)
      .waitFor();
    await h.sandbox('POST', '/_sandbox/tokens', { token: 'dashboard-new-token', state: 'valid' });
    await shot(page, 'sender-restored-1280');
  });

  it('inspects a dead letter (Meta error, explanation, fix) and replays it through the gate', async () => {
    await h.sandbox('POST', '/_sandbox/faults', { status: 400, code: 131053, count: 1 });
    const r = await h.api('POST', '/v1/messages', orderUpdate(recipient(7404), 4));
    expect(r.status).toBe(202);
    const dl = await waitFor('dead letter', async () =>
      (await h.app.ctx.store.listDeadLetters({ state: 'open' })).find((d) => d.message_id === r.json.id),
    );
    const { page } = await h.page();
    await login(page, ADMIN_KEY);
    await page.getByRole('navigation').getByRole('link', { name: 'Dead letters' }).click();
    const row = page.getByTestId(`dl-${dl.id}`);
    await row.getByRole('button', { name: dl.id }).click();
    await expect(row.getByTestId('dl-detail').textContent()).resolves.toContain(dl.fix ?? '');
    await expect(row.textContent()).resolves.toContain('131053');
    await shot(page, 'dead-letter-1280');
    const { page: phone } = await h.page({ width: 390, height: 844 });
    await login(phone, ADMIN_KEY);
    await phone.goto('/dashboard#/dead-letters');
    await phone.getByTestId(`dl-${dl.id}`).getByRole('button', { name: dl.id }).click();
    await phone.getByTestId('dl-detail').waitFor();
    expect(await phone.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number)).toBeLessThanOrEqual(390);
    await shot(phone, 'dead-letter-390');
    await row.getByRole('button', { name: 'Replay' }).click();
    await page
      .getByRole('status')
      .getByText(/Replayed as msg_/)
      .waitFor();
    expect((await h.app.ctx.store.getDeadLetter(dl.id))?.state).toBe('replayed');
    await page.getByTestId(`dl-${dl.id}`).waitFor({ state: 'detached' }); // gone from the open list without a reload
  });

  it('previews, starts, pauses and resumes a campaign from the page, its progress moving without a reload', async () => {
    const recipients = Array.from({ length: 40 }, (_, i) => ({ to: `+${recipient(7600 + i)}`, variables: ['Ana', `C-${i}`] }));
    const created = await h.api('POST', '/v1/campaigns', {
      name: 'Dashboard spring notice',
      template: { name: 'order_update', language: 'en_US' },
      audience: { recipients },
      options: { rate_mps: 4 },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const id = created.json.id as string;
    const { page } = await h.page();
    await login(page, ADMIN_KEY);
    await page.getByRole('navigation').getByRole('link', { name: 'Campaigns' }).click();
    const card = page.getByTestId(`campaign-${id}`);
    await card.getByRole('button', { name: 'Preview' }).click();
    await expect(card.getByTestId('campaign-preview').textContent()).resolves.toContain('40 of 40 would pass the gate');
    await card.getByRole('button', { name: 'Start' }).click();
    await card.getByTestId('campaign-status').getByText('running').waitFor();
    await card.getByRole('button', { name: 'Pause' }).click();
    await card.getByTestId('campaign-status').getByText('paused').waitFor();
    const paused = await h.api('GET', `/v1/campaigns/${id}`);
    expect(paused.json.status).toBe('paused');
    expect(paused.json.progress.done).toBeLessThan(40);
    await shot(page, 'campaign-paused-1280');
    await card.getByRole('button', { name: 'Resume' }).click();
    await card
      .getByTestId('campaign-status')
      .getByText(/running|completed/)
      .waitFor();
    await waitFor(
      'more sent after resume',
      async () => (await h.api('GET', `/v1/campaigns/${id}`)).json.progress.done > paused.json.progress.done,
      20_000,
    );
    await card
      .getByRole('button', { name: 'Cancel' })
      .click()
      .catch(() => {}); // ends it (if still running) so the run stays short
  });

  it('has no serious or critical accessibility violation (axe-core) on each page, at 1280 and 390 px, and nothing wider than the screen', async () => {
    const found: Record<string, unknown[]> = {};
    const wide: Record<string, number> = {};
    for (const width of [1280, 390]) {
      const { page } = await h.page(width === 390 ? { width, height: 844 } : { width, height: 800 });
      await login(page, ADMIN_KEY);
      for (const [hash, ready] of [
        ['#/overview', 'Overview'],
        ['#/messages', 'Messages'],
        ['#/customers?id=' + recipient(7202), 'Customers'],
        ['#/dead-letters', 'Dead letters'],
        ['#/templates', 'Templates'],
        ['#/campaigns', 'Campaigns'],
        ['#/alerts', 'Alerts'],
      ]) {
        await page.goto(`/dashboard${hash}`);
        await page.getByRole('heading', { name: ready, exact: true }).waitFor();
        await page.waitForTimeout(300);
        const v = await axeViolations(page);
        if (v.length) found[`${hash} at ${width}px`] = v;
        const scroll = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number);
        if (scroll > width) wide[`${hash} at ${width}px`] = scroll;
        await shot(page, `page-${hash.slice(2).replace(/\?.*/, '')}-${width}`);
      }
    }
    expect(found).toEqual({});
    expect(wide).toEqual({});
  });
  // Last: the restriction holds business-initiated sends for a day (the tests above send templates).
  it("shows a sender restricted by Meta's account_update with Meta's remediation, and its quality after a check from the page", async () => {
    const { page } = await h.page();
    await login(page, ADMIN_KEY);
    const card = page.getByTestId('sender-main');
    await card.getByTestId('sender-state').getByText('active').waitFor();
    await h.sandbox('POST', `/_sandbox/numbers/${PHONE_NUMBER_ID}`, {
      quality_rating: 'YELLOW',
      restriction: { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', remediation: 'Review the policy violation in Business Support Home.' },
    });
    await card.getByTestId('sender-state').getByText('restricted').waitFor({ timeout: 15_000 }); // no reload: the page polls
    await expect(card.textContent()).resolves.toContain('Review the policy violation in Business Support Home.');
    await expect(card.textContent()).resolves.toContain('RESTRICTED_BIZ_INITIATED_MESSAGING');
    // Quality is read from Meta by a health check: "Check now" asks for one.
    await card.getByRole('button', { name: 'Check now' }).click();
    await card.getByText('YELLOW').waitFor();
    await shot(page, 'sender-restricted-1280');
  });
});
