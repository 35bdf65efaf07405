import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricNamesIn, substituteGrafanaVariables } from './promql.js';

test('metric names of a PromQL expression: no functions, labels, keywords, strings or numbers', () => {
  const names = (q: string) => [...metricNamesIn(substituteGrafanaVariables(q))].sort();
  assert.deepEqual(names('sum by (instance) (rate(a_total{job="$job", x=~"y|z"}[$__rate_interval])) * 60'), ['a_total']);
  assert.deepEqual(names('increase(b_total[15m]) > on (job, instance) 2 * count by (job, instance) (c)'), ['b_total', 'c']);
  assert.deepEqual(names('(d < 100 * 1024 * 1024) and (e < f) unless ignoring(le) g offset 5m'), ['d', 'e', 'f', 'g']);
  assert.deepEqual(names('histogram_quantile(0.9, sum by (instance, le) (rate(h_bucket[1m])))'), ['h_bucket']);
  assert.deepEqual(names('time() - i > 5 * j + 30'), ['i', 'j']);
  assert.deepEqual(names('label_values(k{job="$job"}, instance)'), ['k']);
  assert.deepEqual(names('label_values({__name__=~"l|m", job="$job"}, domain)'), ['l', 'm']);
  assert.deepEqual(names('1 - n{a="b c"} / 1e6'), ['n']);
});
