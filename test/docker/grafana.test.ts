// The shipped Grafana dashboard and its provisioning. The point of the metric check: a query that
// names a metric hopwatch does not export (a typo, a renamed counter, a recording rule nobody
// wrote) shows "No data" forever and nobody notices until an incident, so every name in every
// query must be exported by createMetrics() (or, with workers > 1, the cluster primary's
// createPrimaryMetrics()) or recorded by docker/prometheus/rules.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { createPrimaryMetrics } from '../../src/cluster/metrics.ts';
import { ConnectionGate } from '../../src/front/connections.ts';
import { createMetrics } from '../../src/observe/metrics.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const GRAFANA = join(ROOT, 'docker/grafana');
const DASHBOARDS = join(GRAFANA, 'dashboards');
const RULES = join(ROOT, 'docker/prometheus/rules');
const COMPOSE = join(ROOT, 'docker/compose.yaml');

const DS_VAR = '${datasource}';
const UID = 'hopwatch-overview';

/** The recording rules the dashboard was written against; used only until the rules exist. */
const PLANNED_RULES = [
  'hopwatch:requests:rate5m', 'hopwatch:errors:rate5m', 'hopwatch:http_5xx:ratio_rate5m',
  'hopwatch:request_duration_seconds:avg_rate5m', 'hopwatch:request_duration_seconds:p50_rate5m',
  'hopwatch:request_duration_seconds:p95_rate5m', 'hopwatch:request_duration_seconds:p99_rate5m',
  'hopwatch:hop_duration_seconds:p50_rate5m', 'hopwatch:hop_duration_seconds:p95_rate5m',
  'hopwatch:hop_duration_seconds:p99_rate5m', 'hopwatch:auth_failures:rate5m',
];

// ── narrowing JSON and YAML without `any` ───────────────────────────────────

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: unknown, what: string): Obj {
  assert.ok(isObj(v), `${what} is an object`);
  return v;
}
function arr(v: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(v), `${what} is an array`);
  return v;
}
function str(v: unknown, what: string): string {
  assert.equal(typeof v, 'string', `${what} is a string`);
  return v as string;
}
function num(v: unknown, what: string): number {
  assert.equal(typeof v, 'number', `${what} is a number`);
  return v as number;
}

// ── PromQL: metric names and selectors ──────────────────────────────────────

/** Aggregation operators, binary operators and modifiers: words that are never metric names. */
const KEYWORDS = new Set([
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk',
  'quantile', 'limitk', 'limit_ratio', 'and', 'or', 'unless', 'atan2', 'bool', 'offset', 'inf', 'nan',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'start', 'end',
]);
/** Modifiers whose parenthesised argument is a list of label names, not an expression. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

interface Selector {
  readonly name: string;
  /** The text between the braces after the name, or null when it has none. */
  readonly matchers: string | null;
}

/** Index just past the quote that closes the string starting at `i`. */
function skipString(expr: string, i: number): number {
  const quote = expr[i];
  let j = i + 1;
  while (j < expr.length && expr[j] !== quote) j += expr[j] === '\\' ? 2 : 1;
  return j + 1;
}

/** Index just past the bracket closing the one at `i`, stepping over strings inside. */
function skipGroup(expr: string, i: number, open: string, close: string): number {
  let depth = 0;
  let j = i;
  while (j < expr.length) {
    const c = expr[j];
    if (c === '"' || c === "'" || c === '`') { j = skipString(expr, j); continue; }
    if (c === open) depth++;
    else if (c === close && --depth === 0) return j + 1;
    j++;
  }
  throw new Error(`unbalanced ${open} in ${expr}`);
}

/**
 * Every vector selector of a PromQL expression, with its label matchers. A scanner rather than
 * regexes over the whole text, so that label values ("tls_.*"), label lists (by (le)), Grafana
 * variables ($__rate_interval) and durations ([5m]) can never be taken for metric names.
 */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"' || c === "'" || c === '`') { i = skipString(expr, i); continue; }
    if (c === '[') { i = skipGroup(expr, i, '[', ']'); continue; }
    if (c === '{') {
      // A selector with no name ({__name__=~"…"}) would hide its metric from this check.
      throw new Error(`selector without a metric name in ${expr}`);
    }
    if (c === '$') {
      const m = /^\$(\{[^}]*\}|\w+)/.exec(expr.slice(i));
      i += m ? m[0].length : 1;
      continue;
    }
    const number = /^(0x[0-9a-f]+|(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?[a-z0-9]*)/i.exec(expr.slice(i));
    if (number) { i += number[0].length; continue; }
    const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i));
    if (!ident) { i++; continue; }
    const word = ident[0];
    i += word.length;
    let j = i;
    while (j < expr.length && /\s/.test(expr[j]!)) j++;
    if (LABEL_LISTS.has(word)) {
      if (expr[j] === '(') i = skipGroup(expr, j, '(', ')');
      continue;
    }
    if (KEYWORDS.has(word.toLowerCase()) || expr[j] === '(') continue; // an operator or a function
    if (expr[j] === '{') {
      const end = skipGroup(expr, j, '{', '}');
      out.push({ name: word, matchers: expr.slice(j + 1, end - 1) });
      i = end;
    } else {
      out.push({ name: word, matchers: null });
    }
  }
  return out;
}

/** The expression inside a Grafana `label_values(expr, label)` variable query. */
function labelValuesExpr(query: string): string {
  const m = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/s.exec(query);
  assert.ok(m, `variable query ${query} is label_values(…, label)`);
  return m[1]!;
}

// ── the names that may appear ───────────────────────────────────────────────

/** Every series name hopwatch's /metrics carries (a cluster primary's own families included), histograms expanded to their series. */
async function exportedNames(): Promise<Set<string>> {
  const { registry } = createMetrics(new ConnectionGate({ maxConnections: 1, maxConnectionsPerClient: 1 }), ['http', 'connect', 'socks5'], '0');
  const primary = createPrimaryMetrics(() => 0).registry;
  const names = new Set<string>();
  for (const metric of [...await registry.getMetricsAsJSON(), ...await primary.getMetricsAsJSON()]) {
    const type = String(metric.type);
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    } else if (type === 'summary') {
      names.add(metric.name);
      for (const suffix of ['_sum', '_count']) names.add(metric.name + suffix);
    } else {
      names.add(metric.name);
    }
  }
  return names;
}

function ruleFiles(): string[] {
  if (!existsSync(RULES)) return [];
  return readdirSync(RULES).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(RULES, f));
}

/** Names recorded by docker/prometheus/rules/*.yml, or null while that folder has no rules. */
function recordedNames(): Set<string> | null {
  const files = ruleFiles();
  if (files.length === 0) return null;
  const names = new Set<string>();
  for (const file of files) {
    const doc = obj(parseYaml(readFileSync(file, 'utf8')), file);
    for (const group of arr(doc['groups'], `${file} groups`)) {
      for (const rule of arr(obj(group, `${file} group`)['rules'], `${file} rules`)) {
        const record = obj(rule, `${file} rule`)['record'];
        if (record !== undefined) names.add(str(record, `${file} record`));
      }
    }
  }
  return names;
}

// ── the dashboard ───────────────────────────────────────────────────────────

interface Target { readonly panel: string; readonly expr: string }

const dashboard = obj(JSON.parse(readFileSync(join(DASHBOARDS, 'hopwatch.json'), 'utf8')), 'dashboard');
const variables = arr(obj(dashboard['templating'], 'templating')['list'], 'templating.list').map((v) => obj(v, 'variable'));
const variable = (name: string): Obj => {
  const v = variables.find((x) => x['name'] === name);
  assert.ok(v, `variable ${name} exists`);
  return v;
};

/** Top-level panels and those nested in collapsed rows. */
function allPanels(): Obj[] {
  const out: Obj[] = [];
  for (const p of arr(dashboard['panels'], 'panels')) {
    const panel = obj(p, 'panel');
    out.push(panel);
    if (Array.isArray(panel['panels'])) out.push(...panel['panels'].map((q) => obj(q, 'nested panel')));
  }
  return out;
}
const panels = allPanels();
const visualisations = panels.filter((p) => p['type'] !== 'row');

function targets(): Target[] {
  return visualisations.flatMap((p) => arr(p['targets'], `${String(p['title'])} targets`).map((t) => ({
    panel: str(p['title'], 'title'),
    expr: str(obj(t, 'target')['expr'], `${String(p['title'])} expr`),
  })));
}

function datasourceUid(v: unknown, what: string): string {
  return str(obj(v, `${what} datasource`)['uid'], `${what} datasource uid`);
}

describe('Grafana dashboard', () => {
  it('has the fixed uid, title and a schema Grafana 10/11 reads', () => {
    assert.equal(dashboard['uid'], UID);
    assert.equal(dashboard['title'], 'hopwatch');
    assert.ok(num(dashboard['schemaVersion'], 'schemaVersion') >= 36);
  });

  it('has a Prometheus datasource variable and job/instance variables that use it', () => {
    const ds = variable('datasource');
    assert.equal(ds['type'], 'datasource');
    assert.equal(ds['query'], 'prometheus');
    for (const name of ['job', 'instance']) {
      const v = variable(name);
      assert.equal(v['type'], 'query');
      assert.equal(datasourceUid(v['datasource'], name), DS_VAR);
      assert.match(str(v['definition'], `${name} definition`), new RegExp(`^label_values\\(.*, ${name}\\)$`));
    }
    // The instance list follows the chosen job, so it never offers instances of another job.
    assert.match(str(variable('instance')['definition'], 'instance'), /job=~"\$job"/);
  });

  it('uses the datasource variable in every panel and every target', () => {
    assert.ok(visualisations.length > 20, 'has its panels');
    for (const p of visualisations) {
      const title = str(p['title'], 'title');
      assert.equal(datasourceUid(p['datasource'], title), DS_VAR, title);
      for (const t of arr(p['targets'], `${title} targets`)) {
        assert.equal(datasourceUid(obj(t, 'target')['datasource'], title), DS_VAR, `${title} target`);
      }
    }
  });

  it('has unique panel ids, a description on every panel, and valid panel types', () => {
    const ids = panels.map((p) => num(p['id'], 'id'));
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of visualisations) {
      const title = str(p['title'], 'title');
      assert.ok(['timeseries', 'stat', 'bargauge'].includes(str(p['type'], title)), `${title} type`);
      assert.ok(str(p['description'], `${title} description`).length > 80, `${title} says what it shows and what to do`);
    }
  });

  it('lays panels out inside the 24-column grid without overlaps', () => {
    const boxes = panels.map((p) => {
      const g = obj(p['gridPos'], `${String(p['title'])} gridPos`);
      return { title: String(p['title']), x: num(g['x'], 'x'), y: num(g['y'], 'y'), w: num(g['w'], 'w'), h: num(g['h'], 'h') };
    });
    for (const b of boxes) {
      assert.ok(b.x >= 0 && b.w > 0 && b.h > 0 && b.x + b.w <= 24, `${b.title} fits the grid`);
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i]!;
        const b = boxes[j]!;
        const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
        assert.ok(apart, `${a.title} and ${b.title} overlap`);
      }
    }
  });

  it('has the request lifecycle rows in order', () => {
    const rows = panels.filter((p) => p['type'] === 'row').map((p) => p['title']);
    assert.deepEqual(rows, [
      'Traffic', 'Failures by hop and code', 'Hop latencies', 'Auth failures',
      'Connections and utilisation', 'Bytes', 'Runtime',
    ]);
  });

  it('filters every selector of every query on $job and $instance', () => {
    for (const { panel, expr } of targets()) {
      const found = selectors(expr);
      assert.ok(found.length > 0, `${panel}: ${expr} names a metric`);
      for (const s of found) {
        assert.match(s.matchers ?? '', /\bjob=~"\$job"/, `${panel}: ${s.name} filters job`);
        assert.match(s.matchers ?? '', /\binstance=~"\$instance"/, `${panel}: ${s.name} filters instance`);
      }
    }
  });

  it('draws the guide\'s risk thresholds', () => {
    const steps = (title: string): number[] => {
      const p = visualisations.find((x) => x['title'] === title);
      assert.ok(p, title);
      const defaults = obj(obj(p['fieldConfig'], 'fieldConfig')['defaults'], 'defaults');
      return arr(obj(defaults['thresholds'], 'thresholds')['steps'], 'steps')
        .map((s) => obj(s, 'step')['value']).filter((v): v is number => typeof v === 'number');
    };
    assert.deepEqual(steps('HTTP response time: avg, P50, P95, P99'), [2, 5]);
    assert.deepEqual(steps('DNS resolution: P50, P95, P99'), [0.2]);
    assert.deepEqual(steps('TLS handshake: P50, P95, P99'), [0.5]);
    assert.deepEqual(steps('Connection utilisation by instance'), [0.8]);
    // HopwatchWorkerRestarting: any restart warns (> 0), more than 5 in 15 minutes is critical.
    assert.deepEqual(steps('Worker restarts in the last 15 min'), [1, 6]);
  });

  it('queries only metrics hopwatch exports or recording rules define', async () => {
    const exported = await exportedNames();
    const recorded = recordedNames();
    const allowed = new Set([...exported, ...(recorded ?? PLANNED_RULES)]);
    const queries = [
      ...targets(),
      ...['job', 'instance'].map((name) => ({ panel: `variable ${name}`, expr: labelValuesExpr(str(variable(name)['definition'], name)) })),
    ];
    const used = new Set<string>();
    for (const { panel, expr } of queries) {
      for (const s of selectors(expr)) {
        used.add(s.name);
        assert.ok(allowed.has(s.name), `${panel}: ${s.name} is neither exported by hopwatch nor a recording rule`);
      }
    }
    // Guards against a tokenizer that finds nothing and so passes everything.
    for (const name of ['hopwatch:errors:rate5m', 'hopwatch_transferred_bytes_total', 'process_open_fds', 'nodejs_gc_duration_seconds_sum',
      'hopwatch_workers', 'hopwatch_worker_restarts_total']) {
      assert.ok(used.has(name), `the dashboard uses ${name}`);
    }
    if (recorded) {
      for (const name of used) {
        if (name.includes(':')) assert.ok(recorded.has(name), `recording rule ${name} is defined in docker/prometheus/rules`);
      }
    }
  });
});

describe('PromQL selector scanner', () => {
  it('finds metric names and their matchers, and nothing else', () => {
    const expr = 'histogram_quantile(0.95, sum by (le, hop) (rate(hopwatch_hop_duration_seconds_bucket{job=~"$job", hop="dns"}[$__rate_interval] offset 5m)))'
      + ' / on (instance) group_left (version) hopwatch_build_info > bool 1e-3 and topk(3, x:y:z) unless count without (code) (up{a="b{c}"})';
    assert.deepEqual(selectors(expr), [
      { name: 'hopwatch_hop_duration_seconds_bucket', matchers: 'job=~"$job", hop="dns"' },
      { name: 'hopwatch_build_info', matchers: null },
      { name: 'x:y:z', matchers: null },
      { name: 'up', matchers: 'a="b{c}"' },
    ]);
  });
});

describe('Grafana provisioning', () => {
  const datasources = obj(parseYaml(readFileSync(join(GRAFANA, 'provisioning/datasources/prometheus.yml'), 'utf8')), 'datasources file');
  const providers = obj(parseYaml(readFileSync(join(GRAFANA, 'provisioning/dashboards/hopwatch.yml'), 'utf8')), 'providers file');
  const source = obj(arr(datasources['datasources'], 'datasources')[0], 'datasource');
  const provider = obj(arr(providers['providers'], 'providers')[0], 'provider');
  const providerPath = str(obj(provider['options'], 'provider options')['path'], 'provider path');

  it('provisions a Prometheus datasource whose uid the dashboard defaults to', () => {
    assert.equal(datasources['apiVersion'], 1);
    assert.equal(source['type'], 'prometheus');
    assert.equal(source['url'], 'http://prometheus:9090');
    const uid = str(source['uid'], 'datasource uid');
    const current = obj(variable('datasource')['current'], 'datasource variable current');
    assert.equal(current['value'], uid);
  });

  it('provisions the dashboards folder through a file provider', () => {
    assert.equal(providers['apiVersion'], 1);
    assert.equal(provider['type'], 'file');
    assert.ok(providerPath.startsWith('/'), 'a path inside the container');
    assert.equal(providerPath.split('/').at(-1), 'dashboards', 'named like docker/grafana/dashboards, which is mounted there');
    const files = readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'));
    assert.deepEqual(files, ['hopwatch.json']);
  });

  it('matches the compose stack\'s mounts, when docker/compose.yaml exists', (t) => {
    if (!existsSync(COMPOSE)) {
      t.skip('docker/compose.yaml not written yet');
      return;
    }
    const compose = obj(parseYaml(readFileSync(COMPOSE, 'utf8')), 'compose');
    const services = obj(compose['services'], 'services');
    const grafana = Object.values(services).map((s) => obj(s, 'service'))
      .find((s) => typeof s['image'] === 'string' && s['image'].includes('grafana'));
    assert.ok(grafana, 'compose has a Grafana service');
    // Short-syntax volumes "source:target[:mode]" or long-syntax { source, target }.
    const mounts = arr(grafana['volumes'] ?? [], 'grafana volumes').map((v) => {
      if (typeof v === 'string') {
        const [from = '', to = ''] = v.split(':');
        return { from, to };
      }
      const m = obj(v, 'volume');
      return { from: String(m['source'] ?? ''), to: String(m['target'] ?? '') };
    });
    // Whole folders or single files may be mounted: each must land where Grafana looks for it.
    const expected: Record<string, string> = { dashboards: providerPath, provisioning: '/etc/grafana/provisioning' };
    const covered = new Set<string>();
    for (const { from, to } of mounts) {
      const m = /(?:^|\/)grafana\/(dashboards|provisioning)(\/.*)?$/.exec(from.replace(/\/$/, ''));
      if (!m) continue;
      const folder = m[1]!;
      covered.add(folder);
      assert.equal(to.replace(/\/$/, ''), expected[folder] + (m[2] ?? ''), `${from} is mounted where Grafana reads it`);
    }
    assert.deepEqual([...covered].sort(), ['dashboards', 'provisioning'], 'compose mounts the dashboards and the provisioning');
  });
});
