/**
 * The status page in a real headless Chromium: what a person opening it sees, live, from a
 * source fed with snapshots around plans the optimizer solved. The screenshot goes to
 * out/telemetry/status-page.png.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/optimizer/index.ts';
import { MOVE_BLOCKED_STEP_HOURS } from '../../src/optimizer/synthetic.ts';
import { createStatusSource, startStatusPage, type StatusPage, type StatusSource, type StatusUpdate } from '../../src/telemetry/index.ts';
import { CAPACITY_KWH, committedTrades, hourRecord, PLAN_START_MS, snapshotAt, solvedPlan } from './fixtures.ts';

const MS_PER_HOUR = 3_600_000;
const OUT_DIR = fileURLToPath(new URL('../../out/telemetry/', import.meta.url));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let previousPlan: Plan;
let plan: Plan;
let source: StatusSource;
let statusPage: StatusPage;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
const nowMs = PLAN_START_MS + 20 * 60_000;

beforeAll(async () => {
  // The plan solved an hour earlier was in force until the current one replaced it.
  previousPlan = await solvedPlan({ startMs: PLAN_START_MS - MS_PER_HOUR, stepHours: MOVE_BLOCKED_STEP_HOURS, initialEnergyKwh: 4.2 });
  plan = await solvedPlan({ stepHours: MOVE_BLOCKED_STEP_HOURS, initialEnergyKwh: 5 });
  source = createStatusSource({ measurementSpacingMs: 60_000 });
  for (let atMs = previousPlan.startMs; atMs < plan.startMs; atMs += 30_000) source.publishSnapshot(snapshotAt(previousPlan, atMs));
  for (let atMs = plan.startMs; atMs <= nowMs; atMs += 30_000) source.publishSnapshot(snapshotAt(plan, atMs));
  source.publishHour(hourRecord(PLAN_START_MS - MS_PER_HOUR));
  statusPage = await startStatusPage({ port: 0, source });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.goto(statusPage.url);
  await page.waitForFunction(() => document.getElementById('soc')?.textContent !== '–');
}, 120_000);

afterEach(() => {
  expect(consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await statusPage?.close();
});

const text = (selector: string) => page.locator(selector).textContent();
const pointCount = (series: string) => page.$$eval(`polyline[data-series="${series}"]`, (lines) => lines.map((l) => l.getAttribute('points')!.trim().split(/\s+/).length));

describe('the status page in headless Chromium', () => {
  it('loads without console errors and shows the snapshot’s SoC, mode, PV and grid power', async () => {
    const latest = snapshotAt(plan, nowMs);
    expect(await text('#soc')).toBe(`${(Math.round(latest.measurement.socFraction! * 1000) / 10).toFixed(1)} %`);
    expect(await text('#mode')).toBe('plan');
    expect(await text('#pv')).toBe(`${latest.measurement.pvKw!.toFixed(2)} kW`);
    expect(await text('#grid')).toBe(`${latest.measurement.gridKw!.toFixed(2)} kW`);
    expect(await text('#broker')).toBe('online');
    expect(await page.title()).toBe('prosumer-edge · gw-test');
  });

  it('plots one step per plan step for grid, battery and P2P, a stored-energy point per step boundary, and a bar per committed trade slot', async () => {
    const steps = plan.stepHours.length;
    expect(await pointCount('plan-grid')).toEqual([2 * steps]);
    expect(await pointCount('plan-battery')).toEqual([2 * steps]);
    expect(await pointCount('plan-p2p')).toEqual([2 * steps]);
    expect(await pointCount('plan-energy')).toEqual([steps + 1]);
    // The earlier plan was in force for the hour before: its four 15-minute steps.
    expect(await pointCount('plan-grid-history')).toEqual([2 * 4]);
    // One measurement a minute for 80 minutes (the source's spacing), plus the latest snapshot.
    const measured = await pointCount('measured-grid');
    expect(measured).toHaveLength(1);
    expect(measured[0]).toBeGreaterThanOrEqual(80);
    const slots = new Set(committedTrades(plan).map((t) => t.slotStartMs));
    expect(await page.locator('rect[data-series="trades"]').count()).toBe(slots.size);
  });

  it('shows a new snapshot pushed through the source without a reload', async () => {
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    const next = snapshotAt(plan, nowMs + 60_000);
    const energyKwh = 0.873 * CAPACITY_KWH;
    source.publishSnapshot({ ...next, measurement: { ...next.measurement, socFraction: 0.873, energyKwh }, brokerConnected: false });
    await page.waitForFunction(() => document.getElementById('soc')?.textContent === '87.3 %');
    expect(await text('#broker')).toBe('offline');
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
  });

  it('shows a safety event with its reason, and its detail as text even when it looks like markup', async () => {
    const detail = '<img src=x onerror="window.pwned=1">lost the broker';
    source.publishSafetyEvent({ atMs: nowMs + 90_000, reason: 'broker-lost', action: 'enter', detail });
    const safe = snapshotAt(plan, nowMs + 120_000, { mode: 'safe', reasons: ['broker-lost'], brokerConnected: false });
    source.publishSnapshot(safe);
    const row = page.locator('#safety-rows tr').first();
    await row.locator('td.reason', { hasText: 'broker-lost' }).waitFor();
    expect(await row.locator('td.detail').textContent()).toBe(detail);
    expect(await page.locator('#safety-rows img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    await page.waitForFunction(() => document.getElementById('mode')?.textContent === 'SAFE');
    expect(await text('#reasons')).toBe('broker-lost');
  });

  it('is legible in a screenshot', async () => {
    source.publishHour(hourRecord(PLAN_START_MS));
    await page.locator('#hour-rows tr').nth(1).waitFor();
    mkdirSync(OUT_DIR, { recursive: true });
    const png = await page.screenshot({ path: `${OUT_DIR}status-page.png`, fullPage: true });
    expect(png.length).toBeGreaterThan(10_000);
  });
});

describe('the status page over plain HTTP', () => {
  it('binds 127.0.0.1 unless told otherwise', () => {
    expect(statusPage.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('serves the state as JSON, the page with a policy that allows only its own script, and 404/405 for the rest', async () => {
    const state = (await (await fetch(new URL('api/state', statusPage.url))).json()) as StatusUpdate;
    expect(state.current?.state.gatewayId).toBe('gw-test');
    expect(state.current?.plan?.stepStartsMs).toHaveLength(plan.stepHours.length);
    expect(state.hours.length).toBeGreaterThan(0);
    const html = await fetch(statusPage.url);
    expect(html.headers.get('content-security-policy')).toMatch(/script-src 'sha256-[^']+'/);
    expect((await fetch(new URL('nowhere', statusPage.url))).status).toBe(404);
    expect((await fetch(statusPage.url, { method: 'POST' })).status).toBe(405);
  });
});
