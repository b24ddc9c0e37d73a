// The shipped Prometheus config, recording and alerting rules (docker/prometheus/). promtool
// checks the syntax and runs the fixtures; this file checks what promtool cannot know: that every
// metric, label and code the rules name is one hopwatch exports, that the 5xx list is the
// catalogue's, that runbooks resolve, and that every alert has a firing and a quiet fixture.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { CATALOGUE, CODES, codeForUpstreamStatus } from '../../src/classify/catalogue.ts';
import { createPrimaryMetrics } from '../../src/cluster/metrics.ts';
import { PROTOCOLS } from '../../src/exchange/hops.ts';
import { ConnectionGate } from '../../src/front/connections.ts';
import { createMetrics } from '../../src/observe/metrics.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const DIR = 'docker/prometheus';
const ymlIn = (sub: string): string[] =>
  readdirSync(join(ROOT, DIR, sub)).filter((f) => f.endsWith('.yml')).sort().map((f) => `${DIR}/${sub}/${f}`);
const RULE_FILES = ymlIn('rules');
const TEST_FILES = ymlIn('tests');
const RUNBOOK_BASE = 'https://github.com/hopwatch/hopwatch/blob/main/docs/errors.md#';

// ── the YAML shapes, narrowed without `any` ─────────────────────────────────

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} is a mapping`);
  return v;
}
function list(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} is a list`);
  return v;
}
function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what} is a string`);
  return v as string;
}
function strMap(v: unknown, what: string): Record<string, string> {
  const o = obj(v ?? {}, what);
  for (const [k, x] of Object.entries(o)) str(x, `${what}.${k}`);
  return o as Record<string, string>;
}
const load = (path: string): Obj => obj(parseYaml(readFileSync(join(ROOT, path), 'utf8')), path);

interface Rule {
  readonly file: string;
  readonly record: string | null;
  readonly alert: string | null;
  readonly expr: string;
  readonly for: string | null;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

const RULES: Rule[] = RULE_FILES.flatMap((file) =>
  list(load(file).groups, `${file} groups`).flatMap((g, gi) =>
    list(obj(g, `${file} group ${gi}`).rules, `${file} group ${gi} rules`).map((r, ri): Rule => {
      const o = obj(r, `${file} group ${gi} rule ${ri}`);
      return {
        file,
        record: o.record === undefined ? null : str(o.record, 'record'),
        alert: o.alert === undefined ? null : str(o.alert, 'alert'),
        expr: str(o.expr, 'expr'),
        for: o.for === undefined ? null : str(o.for, 'for'),
        labels: strMap(o.labels, 'labels'),
        annotations: strMap(o.annotations, 'annotations'),
      };
    })));
const RECORDINGS = RULES.filter((r) => r.record !== null);
const ALERTS = RULES.filter((r) => r.alert !== null);
const recordingNamed = (name: string): Rule => {
  const r = RECORDINGS.find((x) => x.record === name);
  assert.ok(r, `recording rule ${name} exists`);
  return r;
};

// ── what hopwatch exports: names, label names and label values ──────────────

interface Exported {
  readonly labels: Set<string>;
}
/** A process's families, and with workers > 1 the cluster primary's own (hopwatch_workers, …). */
async function exported(): Promise<{ metrics: Map<string, Exported>; values: Map<string, Set<string>> }> {
  const { registry } = createMetrics(new ConnectionGate({ maxConnections: 1, maxConnectionsPerClient: 1 }), PROTOCOLS, '0');
  const primary = createPrimaryMetrics(() => 0).registry;
  const metrics = new Map<string, Exported>();
  const values = new Map<string, Set<string>>();
  for (const m of [...await registry.getMetricsAsJSON(), ...await primary.getMetricsAsJSON()]) {
    const type = String(m.type);
    const series = m.values as ReadonlyArray<{ metricName?: string; labels: Record<string, string | number> }>;
    const names = type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => m.name + s)
      : type === 'summary' ? [m.name, `${m.name}_sum`, `${m.name}_count`] : [m.name];
    for (const name of names) if (!metrics.has(name)) metrics.set(name, { labels: new Set(type === 'histogram' && name.endsWith('_bucket') ? ['le'] : []) });
    for (const s of series) {
      for (const [k, v] of Object.entries(s.labels)) {
        for (const name of names) if (k !== 'le' || name.endsWith('_bucket')) metrics.get(name)?.labels.add(k);
        if (!values.has(k)) values.set(k, new Set());
        values.get(k)?.add(String(v));
      }
    }
  }
  return { metrics, values };
}

// ── PromQL, as far as these rules use it ────────────────────────────────────

const KEYWORDS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk',
  'quantile', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right',
]);

interface Matcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}
interface Selector {
  readonly name: string;
  readonly matchers: Matcher[];
}

function parseMatchers(text: string): Matcher[] {
  const out: Matcher[] = [];
  for (const m of text.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)) {
    out.push({ label: m[1] ?? '', op: (m[2] ?? '=') as Matcher['op'], value: m[3] ?? '' });
  }
  return out;
}

/** Metric names (with their matchers) an expression reads; functions and keywords left out. */
function selectors(expr: string): Selector[] {
  const text = expr
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const out: Selector[] = [];
  const token = /\{[^}]*\}|\d+(?:\.\d+)?(?:e[+-]?\d+)?|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\{[^}]*\})?(\s*\()?/gi;
  for (const m of text.matchAll(token)) {
    const name = m[1];
    if (name === undefined || m[3] !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    out.push({ name, matchers: parseMatchers(m[2] ?? '') });
  }
  return out;
}

/** The labels a recording rule's series carry: its `by (...)` list, without `le`. */
function recordedLabels(rule: Rule): Set<string> {
  const by = /\bby\s*\(([^)]*)\)/.exec(rule.expr);
  assert.ok(by, `${rule.record} aggregates by a label list`);
  return new Set((by[1] ?? '').split(',').map((l) => l.trim()).filter((l) => l && l !== 'le'));
}

/** A PromQL regex matches whole label values. */
const fullMatch = (pattern: string, value: string): boolean => new RegExp(`^(?:${pattern})$`).test(value);

function parseDuration(d: string): number {
  let seconds = 0;
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  const re = /(\d+)(ms|s|m|h|d)/g;
  let consumed = '';
  for (const m of d.matchAll(re)) {
    seconds += Number(m[1]) * (units[m[2] ?? 's'] ?? 1);
    consumed += m[0];
  }
  assert.equal(consumed, d, `duration ${d}`);
  return seconds;
}

/** GitHub's heading anchors: lower case, punctuation other than - and _ dropped, spaces to -. */
function anchors(markdown: string): Set<string> {
  return new Set(markdown.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) =>
    l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')));
}

/** The codes a 5xx ratio counts: the proxy's own 5xx answers and the origin's 5xx passed through. */
function fivexxCodes(): string[] {
  const own = CODES.filter((c) => {
    const status: number | null = CATALOGUE[c].status;
    return status !== null && status >= 500;
  });
  const upstream = new Set<string>();
  for (let s = 500; s <= 599; s++) upstream.add(codeForUpstreamStatus(s));
  return [...own, ...upstream].sort();
}

// ── promtool ────────────────────────────────────────────────────────────────

const havePromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

describe('docker/prometheus with promtool', () => {
  const run = (args: string[]) => (t: { skip: (why: string) => void }) => {
    if (!havePromtool) {
      if (process.env.REQUIRE_TEST_TOOLS) assert.fail('promtool is required: REQUIRE_TEST_TOOLS is set (install Debian\'s prometheus)');
      t.skip('promtool not installed');
      return;
    }
    const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  };
  it('`promtool check config` accepts prometheus.yml', run(['check', 'config', `${DIR}/prometheus.yml`]));
  it('`promtool check rules` accepts every rule file', run(['check', 'rules', ...RULE_FILES]));
  it('`promtool test rules` passes every fixture', run(['test', 'rules', ...TEST_FILES]));
});

describe('docker/prometheus/prometheus.yml', () => {
  it('scrapes hopwatch:9464 every 15 s as job hopwatch and loads rules/*.yml', () => {
    const config = load(`${DIR}/prometheus.yml`);
    assert.deepEqual(config.rule_files, ['rules/*.yml']);
    const jobs = list(config.scrape_configs, 'scrape_configs').map((j) => obj(j, 'scrape config'));
    const job = jobs.find((j) => j.job_name === 'hopwatch');
    assert.ok(job, 'a scrape job named hopwatch (HopwatchDown matches up{job="hopwatch"})');
    assert.equal(job.scrape_interval, '15s');
    const targets = list(job.static_configs, 'static_configs').flatMap((s) => list(obj(s, 'static config').targets, 'targets'));
    assert.deepEqual(targets, ['hopwatch:9464']);
  });
});

describe('docker/prometheus/rules', () => {
  it('has the recording rules the dashboard queries, under these exact names', () => {
    const names = RECORDINGS.map((r) => r.record);
    for (const name of [
      'hopwatch:requests:rate5m', 'hopwatch:errors:rate5m', 'hopwatch:http_5xx:ratio_rate5m',
      'hopwatch:request_duration_seconds:avg_rate5m', 'hopwatch:request_duration_seconds:p50_rate5m',
      'hopwatch:request_duration_seconds:p95_rate5m', 'hopwatch:request_duration_seconds:p99_rate5m',
      'hopwatch:hop_duration_seconds:p50_rate5m', 'hopwatch:hop_duration_seconds:p95_rate5m',
      'hopwatch:hop_duration_seconds:p99_rate5m', 'hopwatch:auth_failures:rate5m',
    ]) assert.ok(names.includes(name), name);
    assert.equal(new Set(names).size, names.length, 'no recording rule defined twice');
    const flat = (s: string) => s.replace(/\s+/g, ' ').trim();
    assert.equal(flat(recordingNamed('hopwatch:requests:rate5m').expr),
      'sum by (job, instance, protocol, code, category, hop, source) (rate(hopwatch_requests_total[5m]))');
    assert.equal(flat(recordingNamed('hopwatch:errors:rate5m').expr),
      'sum by (job, instance, protocol, code, hop, proxy_status, temporary) (rate(hopwatch_errors_total[5m]))');
    assert.deepEqual([...recordedLabels(recordingNamed('hopwatch:http_5xx:ratio_rate5m'))], ['job', 'instance']);
  });

  it('counts exactly the catalogue\'s 5xx codes in the HTTP 5xx ratio, over HTTP requests only', () => {
    const rule = recordingNamed('hopwatch:http_5xx:ratio_rate5m');
    const [numerator, denominator, ...rest] = selectors(rule.expr);
    assert.equal(rest.length, 0);
    assert.ok(numerator && denominator);
    const code = numerator.matchers.find((m) => m.label === 'code');
    assert.ok(code && code.op === '=~', 'the numerator selects codes with =~');
    const listed = code.value.split('|');
    assert.equal(new Set(listed).size, listed.length, 'no code listed twice');
    assert.deepEqual([...listed].sort(), fivexxCodes());
    for (const s of [numerator, denominator]) {
      assert.equal(s.name, 'hopwatch_requests_total');
      assert.ok(s.matchers.some((m) => m.label === 'protocol' && m.op === '=' && m.value === 'http'), 'protocol="http"');
    }
    assert.equal(denominator.matchers.length, 1, 'the denominator is all HTTP requests');
    assert.match(rule.expr, /\/\s*\(\s*sum by \(job, instance\) \(.*\)\s*>\s*0\s*\)\s*$/s, 'denominator guarded with > 0');
  });

  it('reads only metrics hopwatch exports, its own recording rules or up, with real labels and values', async () => {
    const { metrics, values } = await exported();
    const recorded = new Map(RECORDINGS.map((r) => [r.record ?? '', recordedLabels(r)]));
    const problems: string[] = [];
    for (const rule of RULES) {
      const where = `${rule.record ?? rule.alert} (${rule.file})`;
      for (const s of selectors(rule.expr)) {
        const labels = s.name === 'up' ? new Set(['job', 'instance'])
          : metrics.get(s.name)?.labels ?? recorded.get(s.name);
        if (!labels) {
          problems.push(`${where}: ${s.name} is neither exported by hopwatch nor recorded here`);
          continue;
        }
        for (const m of s.matchers) {
          if (m.label === 'job' || m.label === 'instance') continue;
          if (!labels.has(m.label)) problems.push(`${where}: ${s.name} has no label ${m.label}`);
          const known = [...(values.get(m.label) ?? [])];
          const alternatives = m.op.endsWith('~') ? m.value.split('|') : [m.value];
          for (const a of alternatives.filter((x) => /^[a-z0-9_]+$/.test(x))) {
            if (!known.includes(a)) problems.push(`${where}: ${m.label}="${a}" is not a value hopwatch exports`);
          }
          if (m.op.endsWith('~') && !known.some((v) => fullMatch(m.value, v))) {
            problems.push(`${where}: ${m.label}=~"${m.value}" matches no value hopwatch exports`);
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('gives every alert a mixin-style name, severity, summary, description and runbook that resolves', () => {
    const docAnchors = anchors(readFileSync(join(ROOT, 'docs/errors.md'), 'utf8'));
    assert.ok(ALERTS.length >= 12);
    for (const a of ALERTS) {
      const name = a.alert ?? '';
      assert.match(name, /^Hopwatch[A-Z][A-Za-z0-9]*$/, name);
      assert.ok(['critical', 'warning', 'info'].includes(a.labels.severity ?? ''), `${name} severity`);
      assert.ok(a.for !== null && parseDuration(a.for) > 0, `${name} has a for: duration`);
      assert.match(a.annotations.summary ?? '', /^\S.*\.$/, `${name} summary is a sentence ending with a period`);
      const description = a.annotations.description ?? '';
      assert.match(description, /\{\{ \$labels\.instance \}\}/, `${name} description names the instance`);
      assert.match(description, /\{\{ \$value \| humanize(Duration|Percentage)? \}\}/, `${name} description shows the humanized value`);
      const runbook = a.annotations.runbook_url ?? '';
      assert.ok(runbook.startsWith(RUNBOOK_BASE), `${name} runbook_url points into docs/errors.md`);
      const anchor = runbook.slice(RUNBOOK_BASE.length);
      assert.ok(docAnchors.has(anchor), `${name}: docs/errors.md has no heading for #${anchor}`);
    }
    // A name may come at two severities (warning, then critical at a higher threshold), never twice at one.
    const keys = ALERTS.map((a) => `${a.alert}/${a.labels.severity}`);
    assert.equal(new Set(keys).size, keys.length, 'no alert name and severity twice');
  });

  it('has an alert for each of the guide\'s risk indicators and failure classes', () => {
    const exprOf = (name: string) => ALERTS.filter((a) => a.alert === name).map((a) => a.expr.replace(/\s+/g, ' '));
    const expect = (name: string, ...patterns: RegExp[]) => {
      const exprs = exprOf(name);
      assert.ok(exprs.length > 0, `alert ${name} exists`);
      for (const p of patterns) assert.ok(exprs.some((e) => p.test(e)), `${name}: ${p}`);
    };
    expect('HopwatchDown', /^up\{job="hopwatch"\} == 0$/);
    expect('HopwatchHttpLatencyAverageHigh', /avg_rate5m\{protocol="http"\} > 2$/);
    expect('HopwatchHttpLatencyP99High', /p99_rate5m\{protocol="http"\} > 5$/);
    expect('HopwatchConnectionUtilizationHigh', /^hopwatch_connection_utilization_ratio > 0\.8$/);
    expect('HopwatchDnsLatencyHigh', /hop_duration_seconds:p95_rate5m\{hop="dns"\} > 0\.2$/);
    expect('HopwatchTlsHandshakeLatencyHigh', /hop_duration_seconds:p95_rate5m\{hop="tls"\} > 0\.5$/);
    expect('HopwatchHttp5xxRatioHigh', /^hopwatch:http_5xx:ratio_rate5m > 0\.05$/, /^hopwatch:http_5xx:ratio_rate5m > 0\.2$/);
    expect('HopwatchDnsFailuresHigh', /code=~"dns_\.\*"/);
    expect('HopwatchConnectFailuresHigh', /code=~"connect_refused\|connect_timeout\|net_unreachable\|host_unreachable"/);
    expect('HopwatchTlsFailuresHigh', /code=~"tls_\.\*"/);
    expect('HopwatchAuthFailuresHigh', /hopwatch:auth_failures:rate5m/);
    // Multi-core: any worker restart warns, a crash loop is critical; fewer workers than the
    // instance had warns, none is critical.
    expect('HopwatchWorkerRestarting', /increase\(hopwatch_worker_restarts_total\[15m\]\)\)\) > 0$/,
      /increase\(hopwatch_worker_restarts_total\[15m\]\)\)\) > 5$/);
    expect('HopwatchWorkersDown', /^hopwatch_workers < max_over_time\(hopwatch_workers\[1h\]\)$/, /^hopwatch_workers == 0$/);
    // Ratios divide by a denominator filtered with > 0: no traffic, no sample, no alert.
    for (const a of ALERTS.filter((x) => x.expr.includes('/'))) {
      assert.match(a.expr, /\/\s*\(.*>\s*0\s*\)/s, `${a.alert} guards its denominator with > 0`);
    }
  });
});

describe('docker/prometheus/tests', () => {
  interface AlertCase {
    readonly group: string;
    readonly alertname: string;
    readonly at: number;
    readonly fired: Array<Record<string, string>>;
  }

  const cases: AlertCase[] = [];
  const seriesNames: string[] = [];
  for (const file of TEST_FILES) {
    const doc = load(file);
    for (const f of list(doc.rule_files, `${file} rule_files`)) {
      assert.ok(RULE_FILES.includes(join(DIR, 'tests', str(f, 'rule file'))), `${file} loads ${f} from rules/`);
    }
    for (const [i, t] of list(doc.tests, `${file} tests`).entries()) {
      const test = obj(t, `${file} test ${i}`);
      const group = `${file}#${i}`;
      for (const s of list(test.input_series, `${group} input_series`)) {
        seriesNames.push(str(obj(s, 'input series').series, 'series').split('{')[0] ?? '');
      }
      for (const c of list(test.alert_rule_test ?? [], `${group} alert_rule_test`)) {
        const o = obj(c, `${group} alert test`);
        cases.push({
          group,
          alertname: str(o.alertname, 'alertname'),
          at: parseDuration(str(o.eval_time, 'eval_time')),
          fired: list(o.exp_alerts ?? [], 'exp_alerts').map((e) => strMap(obj(e, 'exp_alert').exp_labels, 'exp_labels')),
        });
      }
    }
  }

  it('feed only series hopwatch exports (or up)', async () => {
    const { metrics } = await exported();
    assert.deepEqual([...new Set(seriesNames)].filter((n) => n !== 'up' && !metrics.has(n)), []);
  });

  it('fire every alert at each of its severities', () => {
    for (const a of ALERTS) {
      assert.ok(cases.some((c) => c.alertname === a.alert && c.fired.some((l) => l.severity === a.labels.severity)),
        `no fixture fires ${a.alert} at severity ${a.labels.severity}`);
    }
  });

  it('keep every alert quiet in a series set of its own, after its for: duration', () => {
    for (const a of ALERTS) {
      const name = a.alert ?? '';
      const longestFor = Math.max(...ALERTS.filter((x) => x.alert === name).map((x) => parseDuration(x.for ?? '0s')));
      const firingGroups = new Set(cases.filter((c) => c.alertname === name && c.fired.length > 0).map((c) => c.group));
      const quiet = cases.filter((c) => c.alertname === name && c.fired.length === 0 && c.at >= longestFor && !firingGroups.has(c.group));
      assert.ok(quiet.length > 0, `no fixture expects ${name} to stay quiet (exp_alerts: []) past its for: duration`);
    }
  });
});
