// Each tenant's theme: validated before it is stored (hex colours with enough contrast, fonts that
// are family names only, logos that are https or small data: images, templates naming only known
// variables), served by Host with an ETag, and worn by the weekly report.
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml, type WeeklyReport } from '../../src/insights/report.js';
import { contrast, DEFAULT_THEME, renderTemplate, reportBrand, themeSchema, type Theme } from '../../src/tenants/branding.js';
import { call, claimDomain, startTokenServer } from '../helpers/domains.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Problem = { status: number; detail: string; errors?: { path: string; message: string }[] };

const labelTheme: Theme = {
  name: 'Label A Records',
  logo: `data:image/png;base64,${Buffer.from('not really a png').toString('base64')}`,
  colours: { background: '#fdf6e3', surface: '#eee8d5', text: '#073642', muted: '#586e75', accent: '#b58900', accentText: '#000000' },
  fonts: { body: '"Inter", Arial, sans-serif', heading: 'Georgia, serif' },
  templates: { emailSubject: 'News from {{tenant}}', emailBody: 'Hello {{recipient}}, see {{ link }}', reportHeader: 'For {{creator}} <with love>', reportFooter: '{{tenant}} · {{from}} to {{to}}' },
};

describe('tenant branding', () => {
  let server: TestServer;
  let tokens: { server: Server; port: number };
  const served = new Map<string, string>();
  const api = (method: string, path: string, options: Parameters<typeof call>[3] = {}) => call(server.url, method, path, options);
  const sign = (sub: string, tenant: string, admin = false) => server.veza.auth.sign({ sub, tenant, admin });

  beforeAll(async () => {
    tokens = await startTokenServer(served);
    server = await startTestServer({ 'domain-verify-port': String(tokens.port), 'domain-verify-private': 'true' });
    const operator = await server.veza.auth.sign({ sub: 'ops', operator: true });
    for (const id of ['label-a', 'label-b']) expect((await api('POST', '/api/v1/platform/tenants', { token: operator, body: { id, name: id } })).status).toBe(201);
    await claimDomain(server.url, served, 'label-a', 'label-a.localhost', await sign('ann', 'label-a', true));
  });
  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => tokens?.server.close(resolve));
  });

  it('serves the platform theme on unknown hosts and a tenant theme on its domain, with an ETag', async () => {
    const platform = await api('GET', '/api/v1/branding', { host: 'elsewhere.example' });
    expect(platform.status).toBe(200);
    expect(platform.body).toEqual({ tenantId: 'default', custom: false, theme: DEFAULT_THEME });
    const etag = platform.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(platform.headers['cache-control']).toBe('public, max-age=60');
    expect((await api('GET', '/api/v1/branding', { host: 'elsewhere.example', headers: { 'if-none-match': etag } })).status).toBe(304);

    const admin = await sign('ann', 'label-a', true);
    const put = await api('PUT', '/api/v1/branding', { token: admin, host: 'label-a.localhost', body: labelTheme });
    expect(put.status).toBe(200);
    const mine = await api('GET', '/api/v1/branding', { host: 'label-a.localhost', headers: { 'if-none-match': etag } });
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual({ tenantId: 'label-a', custom: true, theme: labelTheme });
    expect(mine.headers.etag).not.toBe(etag);
    expect((await api('GET', '/api/v1/branding', { host: 'label-a.localhost', headers: { 'if-none-match': mine.headers.etag as string } })).status).toBe(304);
    // The platform's look is unchanged.
    expect((await api('GET', '/api/v1/branding', { host: 'elsewhere.example' })).body.theme).toEqual(DEFAULT_THEME);
  });

  it('lets only the tenant admin change the theme, and never from another tenant\'s domain', async () => {
    const plain = await api('PUT', '/api/v1/branding', { token: await sign('cat', 'label-a'), body: labelTheme });
    expect(plain.status).toBe(403);
    const foreign = await api('PUT', '/api/v1/branding', { token: await sign('bob', 'label-b', true), host: 'label-a.localhost', body: { ...labelTheme, name: 'Hijacked' } });
    expect(foreign.status).toBe(403);
    expect((foreign.body as Problem).detail).toBe('a token of tenant label-b is not accepted on label-a.localhost, a domain of tenant label-a');
    expect((await api('GET', '/api/v1/branding', { host: 'label-a.localhost' })).body.theme).toMatchObject({ name: 'Label A Records' });
  });

  it('refuses a theme with a problem body naming each field that is wrong', async () => {
    const admin = await sign('ann', 'label-a', true);
    const refused = async (theme: unknown) => {
      const answer = await api('PUT', '/api/v1/branding', { token: admin, body: theme });
      expect(answer.status).toBe(400);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      return (answer.body as Problem).errors ?? [];
    };
    const colours = labelTheme.colours;
    expect(await refused({ ...labelTheme, colours: { ...colours, background: 'red' } })).toEqual([{ path: 'colours.background', message: 'a colour is #rgb or #rrggbb' }]);
    const low = await refused({ ...labelTheme, colours: { ...colours, text: '#eeeeee', background: '#ffffff' } });
    // Too faint on the background and on the surface alike.
    expect(low.map((e) => e.path)).toEqual(['colours.text', 'colours.text']);
    expect(low[0]!.message).toMatch(/^text #eeeeee on background #ffffff has a contrast of 1\.\d\d:1; at least 4.5:1 is needed$/);
    expect(low[1]!.message).toMatch(/^text #eeeeee on surface #eee8d5 has a contrast of 1\.\d\d:1/);
    const button = await refused({ ...labelTheme, colours: { ...colours, accentText: '#ffffff', accent: '#ffd700' } });
    expect(button.map((e) => e.path)).toEqual(['colours.accentText']);
    const variable = await refused({ ...labelTheme, templates: { emailBody: 'Hi {{recipient}}, your password is {{password}}' } });
    expect(variable).toEqual([{ path: 'templates.emailBody', message: 'unknown template variable {{password}}; known: {{tenant}}, {{recipient}}, {{link}}' }]);
    expect((await refused({ ...labelTheme, templates: { reportFooter: 'broken {{tenant' } }))[0]!.path).toBe('templates.reportFooter');
    const script = await refused({ ...labelTheme, fonts: { body: 'Arial; } body { background: url(javascript:alert(1)) }', heading: '</style><script>alert(1)</script>' } });
    expect(script.map((e) => e.path)).toEqual(['fonts.body', 'fonts.heading']);
    expect((await refused({ ...labelTheme, logo: 'javascript:alert(1)' }))[0]!.path).toBe('logo');
    expect((await refused({ ...labelTheme, logo: 'http://cdn.example/logo.png' }))[0]!.path).toBe('logo');
    const big = await refused({ ...labelTheme, logo: `data:image/png;base64,${Buffer.alloc(65_600).toString('base64')}` });
    expect(big[0]!.message).toBe('a data: logo is at most 65536 bytes; this one is 65600');
    expect((await refused({ ...labelTheme, css: 'body{}' }))[0]!.message).toContain('css');
    // None of it was stored.
    expect((await api('GET', '/api/v1/branding', { host: 'label-a.localhost' })).body.theme).toEqual(labelTheme);
  });
});

describe('themes on reports', () => {
  const report: WeeklyReport = {
    creatorId: 'cre-1',
    tenantId: 'label-a',
    from: '2026-11-16',
    to: '2026-11-23',
    generatedAt: '2026-11-23T06:00:00Z',
    totals: { plays: 0, listeners: 0, listenHours: 0, likes: 0, shares: 0, purchases: 0, revenueMinor: 0, currency: null },
    previousTotals: null,
    daily: [],
    topTracks: [],
    funnel: [],
    heatmap: null,
    churn: null,
    alerts: [],
  };

  it('puts the tenant name, colours, logo and filled templates on the report, escaped', () => {
    const html = renderReportHtml(report, reportBrand(labelTheme, { creator: 'cre-1', from: report.from, to: report.to }));
    expect(html).toContain('<title>Label A Records · Weekly report');
    expect(html).toContain('header.brand { background: #fdf6e3; color: #073642;');
    expect(html).toContain(`<img src="${labelTheme.logo}" alt="">`);
    expect(html).toContain('For cre-1 &lt;with love&gt;');
    expect(html).toContain('Label A Records · 2026-11-16 to 2026-11-23');
    expect(html).toContain('font-family: "Inter", Arial, sans-serif');
    // Without a theme the report keeps its plain look.
    expect(renderReportHtml(report)).not.toContain('header.brand');
  });

  it('checks contrast and fills templates as documented', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777', '#fff')).toBeCloseTo(4.48, 2);
    expect(renderTemplate('Hi {{ recipient }} & {{tenant}}', { recipient: '<b>', tenant: 'X' }, (t) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;'))).toBe('Hi &lt;b> &amp; X');
    expect(themeSchema.safeParse(DEFAULT_THEME).success).toBe(true);
  });
});
