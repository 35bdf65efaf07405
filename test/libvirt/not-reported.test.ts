// A guest statistic of all ones means "not reported" (src/libvirt/values.ts), exactly as a bigint from the
// all-domain stats and as the double the per-domain memory-stats decoder makes of the same eight bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_ONES, ALL_ONES_KIB, guestStatNumber, isNotReported } from '../../src/libvirt/values.js';
import { XdrReader, XdrWriter } from '../../src/libvirt/xdr.js';

function asDouble(v: bigint): number {
  const w = new XdrWriter();
  w.uhyper(v);
  return new XdrReader(w.toBuffer()).uhyperNumber();
}

test('both sentinels, and only they, are not reported, whichever way they were decoded', () => {
  assert.equal(ALL_ONES_KIB, 18014398509481983n);
  for (const v of [ALL_ONES, ALL_ONES_KIB]) {
    assert.equal(isNotReported(v), true);
    assert.equal(isNotReported(asDouble(v)), true);
  }
  for (const v of [0n, 1n, 2n ** 53n, ALL_ONES_KIB - 1n, ALL_ONES_KIB + 1n, ALL_ONES - 1n]) assert.equal(isNotReported(v), false, String(v));
  for (const v of [0, 512 * 1024, 2 ** 53, 2 ** 40]) assert.equal(isNotReported(v), false, String(v));
});

test('guestStatNumber reads a figure, and absent for a sentinel or a missing key', () => {
  const params = new Map<string, number | bigint | string | boolean>([['balloon.unused', 524288], ['balloon.usable', ALL_ONES_KIB], ['balloon.available', ALL_ONES]]);
  assert.equal(guestStatNumber(params, 'balloon.unused'), 524288);
  assert.equal(guestStatNumber(params, 'balloon.usable'), undefined);
  assert.equal(guestStatNumber(params, 'balloon.available'), undefined);
  assert.equal(guestStatNumber(params, 'balloon.disk_caches'), undefined);
});
