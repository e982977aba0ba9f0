/**
 * deploy/ holds a Grafana dashboard and Prometheus alert rules. Both must speak of metrics the code exports, with
 * labels those metrics have: a renamed metric or a misspelt label would leave a panel empty and an alert silent,
 * with nothing to say so. The rules are also run through `promtool check rules` where promtool is on the PATH
 * (Debian's prometheus package has it; .ci/run takes it out of that package when it is missing, so under CI a missing
 * promtool is a failure rather than a skip).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '@fleet/testing';
import {
  createHttpMetrics,
  createMetricsRegistry,
  createReconcilerMetrics,
  createWorkerMetrics,
} from '../src/index.ts';

const RULES = path.join(repoRoot(), 'deploy', 'prometheus', 'fleet-alerts.yml');
const DASHBOARD = path.join(repoRoot(), 'deploy', 'grafana', 'fleet-dashboard.json');

/** Every series name the three processes export, with the label names of each (histograms: their three series). */
function exportedSeries(): Map<string, Set<string>> {
  const registry = createMetricsRegistry();
  createWorkerMetrics(registry, {
    accountRate: async () => 0,
    globalSlotsInUse: async () => 0,
    databaseClock: () => null,
  });
  createReconcilerMetrics(registry, { snapshot: () => Promise.reject(new Error('names only')) });
  createHttpMetrics(registry);
  const series = new Map<string, Set<string>>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames = [] } = metric as unknown as { name: string; labelNames?: string[] };
    const histogram = (metric as unknown as { upperBounds?: unknown }).upperBounds !== undefined;
    for (const suffix of histogram ? ['_bucket', '_sum', '_count'] : ['']) {
      series.set(name + suffix, new Set(suffix === '_bucket' ? [...labelNames, 'le'] : labelNames));
    }
  }
  return series;
}

/** The metric names a PromQL expression selects (ours and the default ones), each with the label names it matches on. */
function selectors(expr: string): { name: string; labels: string[] }[] {
  return [...expr.matchAll(/\b((?:fleet|nodejs|process)_[a-z0-9_]+)(\{[^}]*\})?/g)].map((m) => ({
    name: m[1]!,
    labels: [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!),
  }));
}

/** What an expression gets wrong: names nobody exports, labels their metric does not have. */
function unknownReferences(expr: string, exported: Map<string, Set<string>>): string[] {
  return selectors(expr).flatMap(({ name, labels }) => {
    const known = exported.get(name);
    if (!known) return [`${name} is not exported`];
    return labels.filter((l) => !known.has(l)).map((l) => `${name} has no label ${l}`);
  });
}

type Rule = {
  alert?: string;
  expr?: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
};

describe('deploy/prometheus/fleet-alerts.yml', () => {
  const rules: Rule[] = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
    (g) => g.rules,
  );
  const exported = exportedSeries();

  it('has the alerts of issue 16 and of calls sent past their starts, each with an expression on exported metrics, a for, a severity and a summary', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'FleetCallsSentPastTheirStarts',
      'FleetInstallFailureRateHigh',
      'FleetReconcilerNotLeading',
      'FleetRolloutPausedByFleetWideError',
      'FleetThrottlingSustained',
    ]);
    for (const rule of rules) {
      expect(selectors(rule.expr ?? '').length, rule.alert).toBeGreaterThan(0);
      expect(unknownReferences(rule.expr!, exported), rule.alert).toEqual([]);
      expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
      expect(['page', 'warn'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
  });

  it('is found wrong when it names a metric or label that is not exported (the check itself works)', () => {
    expect(unknownReferences('sum(rate(fleet_install_call_total[5m]))', exported)).toEqual([
      'fleet_install_call_total is not exported',
    ]);
    expect(unknownReferences('max(fleet_rollouts_paused{kind="x"})', exported)).toEqual([
      'fleet_rollouts_paused has no label kind',
    ]);
    expect(
      unknownReferences(
        'histogram_quantile(0.9, rate(fleet_install_call_duration_seconds_bucket{le!=""}[1m]))',
        exported,
      ),
    ).toEqual([]);
  });

  const promtool = spawnSync('promtool', ['--version']).status === 0;
  it.skipIf(!promtool && process.env.CI !== 'true')('passes promtool check rules', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })).toMatch(/SUCCESS: 5 rules found/);
  });
});

describe('deploy/grafana/fleet-dashboard.json', () => {
  type Panel = { type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[] };
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[] };
  const exported = exportedSeries();

  it('queries only exported metrics and labels, from the chosen Prometheus data source, in every panel', () => {
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThan(10);
    for (const panel of graphs) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) {
        expect(selectors(target.expr).length, panel.title).toBeGreaterThan(0);
        expect(unknownReferences(target.expr, exported), panel.title).toEqual([]);
      }
    }
  });

  it('shows every fleet metric the processes export somewhere', () => {
    const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    const shown = new Set(
      dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => selectors(t.expr).map((s) => base(s.name)))),
    );
    const fleet = new Set([...exported.keys()].filter((name) => name.startsWith('fleet_')).map(base));
    expect([...fleet].filter((name) => !shown.has(name))).toEqual([]);
  });
});
