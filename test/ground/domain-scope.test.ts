import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeScope, everyDomain, scopeMatcher, splitPatterns } from '../../src/ground/domain-scope.js';

const d = (name: string, uuid = '00000000-0000-0000-0000-000000000000') => ({ name, uuid });
const WEB1 = d('web1', '6695eb01-f6a4-8304-79aa-97f2502e193f');

test('no scope: every domain', () => {
  assert.ok(scopeMatcher(everyDomain)(WEB1));
});

test('only: exact names, globs and UUIDs (any case); nothing else', () => {
  const m = scopeMatcher({ ...everyDomain, only: ['db.prod', 'web?', 'vm[13]*', '6695EB01-F6A4-8304-79AA-97F2502E193F'] });
  assert.ok(m(d('db.prod')));
  assert.ok(!m(d('dbxprod')), 'a dot in a name is a dot, not any character');
  assert.ok(m(d('web2')));
  assert.ok(!m(d('web10')));
  assert.ok(m(d('vm1')) && m(d('vm3-big')));
  assert.ok(!m(d('vm2')));
  assert.ok(m(d('renamed', WEB1.uuid)), 'by UUID whatever its name');
  assert.ok(!m(d('other')));
});

test('exclude wins over only; manage: false wins over both', () => {
  const m = scopeMatcher({ only: ['vm*'], exclude: ['vm2', '*-test'], unmanaged: ['vm3'] });
  assert.deepEqual(['vm1', 'vm2', 'vm3', 'vm4-test', 'vm5', 'web1'].filter((n) => m(d(n))), ['vm1', 'vm5']);
  assert.ok(scopeMatcher({ ...everyDomain, exclude: ['[!v]*'] })(d('vm1')));
  assert.ok(!scopeMatcher({ ...everyDomain, exclude: ['[!v]*'] })(d('web1')));
});

test('patterns from repeated flags and comma lists', () => {
  assert.deepEqual(splitPatterns(['a,b', ' c ', ',']), ['a', 'b', 'c']);
  assert.deepEqual(splitPatterns(undefined), []);
  assert.equal(describeScope(everyDomain), 'every domain');
  assert.equal(describeScope({ only: ['vm*'], exclude: ['vm2'], unmanaged: ['db'] }), 'only vm*; excluding vm2; not db (manage: false)');
});
