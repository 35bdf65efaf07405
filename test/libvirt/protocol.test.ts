import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { xvoid, type Codec } from '../../src/libvirt/codec.js';
import { beginPacket, endPacket } from '../../src/libvirt/packet.js';
import {
  domain, domainArg, domainStatsRecord, lifecycleMsg, procedures, remoteError, typedParam, typedParamMap, uuidFromText, uuidToText,
  vcpuInfo, type ProcedureName, type TypedParamValue,
} from '../../src/libvirt/protocol.js';
import { XdrWriter } from '../../src/libvirt/xdr.js';
import { cat, dom, hex, i32, opaque, str, u32, u64, u64hex, UUID_BYTES, UUID_TEXT } from './bytes.js';
import { decode, encode } from './round-trip.js';


/** Decoded opaque fields are Buffers (views); compare as Buffers. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, normalize(x)]));
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

function vector<T>(c: Codec<T>, v: T, bytes: Buffer, what: string): void {
  assert.deepEqual(encode(c, v).toString('hex'), bytes.toString('hex'), `${what}: encoding`);
  assert.deepEqual(normalize(decode(c, bytes)), normalize(v), `${what}: decoding`);
}

const D = { name: 'test', uuid: UUID_TEXT, id: 1 };
const DB = dom('test', 1);

function modelWords(s: string): Buffer {
  const words: Buffer[] = [];
  for (let i = 0; i < 32; i++) words.push(i32(i < s.length ? s.charCodeAt(i) : 0));
  return cat(...words);
}

type Vec = [value: unknown, bytes: Buffer];
/** One args and one ret vector for every procedure of the table (void sides excepted). */
const vectors: Record<ProcedureName, { args?: Vec; ret?: Vec }> = {
  connectOpen: { args: [{ name: 'qemu:///system', flags: 0 }, cat(u32(1), str('qemu:///system'), u32(0))] },
  connectClose: {},
  nodeGetInfo: {
    ret: [
      { model: [...'x86_64'].map((c) => c.charCodeAt(0)).concat(new Array(26).fill(0)), memory: 4417740, cpus: 2, mhz: 2596, nodes: 1, sockets: 1, cores: 2, threads: 1 },
      cat(modelWords('x86_64'), u64(4417740), i32(2), i32(2596), i32(1), i32(1), i32(2), i32(1)),
    ],
  },
  domainCreate: { args: [{ dom: D }, DB] },
  domainDefineXml: { args: [{ xml: '<domain/>' }, str('<domain/>')], ret: [{ dom: D }, DB] },
  domainDestroy: { args: [{ dom: D }, DB] },
  domainGetXmlDesc: { args: [{ dom: D, flags: 2 }, cat(DB, u32(2))], ret: [{ xml: '<domain/>' }, str('<domain/>')] },
  domainGetInfo: {
    args: [{ dom: D }, DB],
    ret: [{ state: 1, maxMem: 8388608, memory: 2097152, nrVirtCpu: 2, cpuTime: 123456789012 }, cat(u32(1), u64(8388608), u64(2097152), u32(2), u64(123456789012))],
  },
  domainGetMaxMemory: { args: [{ dom: D }, DB], ret: [{ memory: 8388608 }, u64(8388608)] },
  domainGetVcpus: {
    args: [{ dom: D, maxinfo: 2, maplen: 1 }, cat(DB, i32(2), i32(1))],
    ret: [
      { info: [{ number: 0, state: 1, cpuTime: 5e9, cpu: 1 }, { number: 1, state: 1, cpuTime: 6e9, cpu: 0 }], cpumaps: Buffer.from([2, 1]) },
      cat(u32(2), u32(0), i32(1), u64(5e9), i32(1), u32(1), i32(1), u64(6e9), i32(0), opaque([2, 1])),
    ],
  },
  domainLookupById: { args: [{ id: 1 }, i32(1)], ret: [{ dom: D }, DB] },
  domainLookupByName: { args: [{ name: 'test' }, str('test')], ret: [{ dom: D }, DB] },
  domainLookupByUuid: { args: [{ uuid: UUID_TEXT }, UUID_BYTES], ret: [{ dom: D }, DB] },
  domainPinVcpu: { args: [{ dom: D, vcpu: 0, cpumap: Buffer.from([2]) }, cat(DB, u32(0), opaque([2]))] },
  domainSetMemory: { args: [{ dom: D, memory: 1048576 }, cat(DB, u64(1048576))] },
  domainUndefine: { args: [{ dom: D }, DB] },
  connectGetHostname: { ret: [{ hostname: 'vm' }, str('vm')] },
  connectSupportsFeature: { args: [{ feature: 10 }, i32(10)], ret: [{ supported: 1 }, i32(1)] },
  authList: { ret: [{ types: [0, 2] }, cat(u32(2), i32(0), i32(2))] },
  authPolkit: { ret: [{ complete: 1 }, i32(1)] },
  nodeGetFreeMemory: { ret: [{ freeMem: 3679186944 }, u64hex('db4bf000')] },
  connectGetLibVersion: { ret: [{ libVer: 9000000 }, u64(9000000)] },
  domainMemoryStats: {
    args: [{ dom: D, maxStats: 13, flags: 0 }, cat(DB, u32(13), u32(0))],
    ret: [{ stats: [{ tag: 6, val: 2097152 }, { tag: 4, val: 1048576 }] }, cat(u32(2), i32(6), u64(2097152), i32(4), u64(1048576))],
  },
  domainCreateWithFlags: { args: [{ dom: D, flags: 0 }, cat(DB, u32(0))], ret: [{ dom: D }, DB] },
  domainSetMemoryFlags: { args: [{ dom: D, memory: 524288, flags: 1 }, cat(DB, u64(524288), u32(1))] },
  domainGetState: { args: [{ dom: D, flags: 0 }, cat(DB, u32(0))], ret: [{ state: 1, reason: 1 }, cat(i32(1), i32(1))] },
  domainPinVcpuFlags: { args: [{ dom: D, vcpu: 1, cpumap: Buffer.from([1, 0]), flags: 1 }, cat(DB, u32(1), opaque([1, 0]), u32(1))] },
  nodeGetCpuStats: {
    args: [{ cpuNum: -1, nparams: 4, flags: 0 }, cat(i32(-1), i32(4), u32(0))],
    ret: [{ params: [{ field: 'user', value: 9797400000 }], nparams: 1 }, cat(u32(1), str('user'), u64(9797400000), i32(1))],
  },
  nodeGetMemoryStats: {
    args: [{ nparams: 4, cellNum: -1, flags: 0 }, cat(i32(4), i32(-1), u32(0))],
    ret: [{ params: [{ field: 'total', value: 24684084 }, { field: 'free', value: 23859248 }], nparams: 2 },
      cat(u32(2), str('total'), u64(24684084), str('free'), u64(23859248), i32(2))],
  },
  // remote_typed_param: field, then the type (4 = ullong) and its value.
  domainSetSchedulerParametersFlags: {
    args: [{ dom: D, params: [{ field: 'cpu_shares', value: { type: 4, value: 2048n } }], flags: 0 }, cat(DB, u32(1), str('cpu_shares'), i32(4), u64(2048), u32(0))],
  },
  domainGetSchedulerParametersFlags: {
    args: [{ dom: D, nparams: 16, flags: 0 }, cat(DB, i32(16), u32(0))],
    ret: [{ params: [{ field: 'cpu_shares', value: { type: 4, value: 1024n } }] }, cat(u32(1), str('cpu_shares'), i32(4), u64(1024))],
  },
  domainGetVcpuPinInfo: {
    args: [{ dom: D, ncpumaps: 2, maplen: 1, flags: 0 }, cat(DB, i32(2), i32(1), u32(0))],
    ret: [{ cpumaps: Buffer.from([3, 3]), num: 2 }, cat(opaque([3, 3]), i32(2))],
  },
  domainUndefineFlags: { args: [{ dom: D, flags: 4 }, cat(DB, u32(4))] },
  domainDestroyFlags: { args: [{ dom: D, flags: 0 }, cat(DB, u32(0))] },
  connectListAllDomains: {
    args: [{ needResults: 1, flags: 0 }, cat(i32(1), u32(0))],
    ret: [{ domains: [D], ret: 1 }, cat(u32(1), DB, u32(1))],
  },
  domainSetMemoryStatsPeriod: { args: [{ dom: D, period: 1, flags: 1 }, cat(DB, i32(1), u32(1))] },
  connectDomainEventCallbackRegisterAny: {
    args: [{ eventID: 0, dom: null }, cat(i32(0), u32(0))],
    ret: [{ callbackID: 7 }, i32(7)],
  },
  connectDomainEventCallbackDeregisterAny: { args: [{ callbackID: 7 }, i32(7)] },
  connectGetAllDomainStats: {
    args: [{ doms: [], stats: 13, flags: 0 }, cat(u32(0), u32(13), u32(0))],
    ret: [
      { retStats: [{ dom: D, params: new Map<string, TypedParamValue>([['vcpu.0.time', 5e9], ['balloon.current', 2097152]]) }] },
      cat(u32(1), DB, u32(2), str('vcpu.0.time'), i32(4), u64(5e9), str('balloon.current'), i32(4), u64(2097152)),
    ],
  },
  connectGetType: { ret: [{ type: 'QEMU' }, str('QEMU')] },
  connectGetVersion: { ret: [{ hvVer: 7002000 }, u64(7002000)] },
  domainGetAutostart: { args: [{ dom: D }, DB], ret: [{ autostart: 0 }, i32(0)] },
  domainGetMaxVcpus: { args: [{ dom: D }, DB], ret: [{ num: 2 }, i32(2)] },
  domainGetOsType: { args: [{ dom: D }, DB], ret: [{ type: 'hvm' }, str('hvm')] },
  connectListDomains: { args: [{ maxids: 16 }, i32(16)], ret: [{ ids: [1, 3] }, cat(u32(2), i32(1), i32(3))] },
  connectNumOfDomains: { ret: [{ num: 2 }, i32(2)] },
  nodeGetCellsFreeMemory: { args: [{ startCell: 0, maxcells: 1 }, cat(i32(0), i32(1))], ret: [{ cells: [3679186944] }, cat(u32(1), u64hex('db4bf000'))] },
  connectGetUri: { ret: [{ uri: 'qemu:///system' }, str('qemu:///system')] },
  nodeGetSecurityModel: { ret: [{ model: [110, 111], doi: [] }, cat(u32(2), i32(110), i32(111), u32(0))] },
  connectIsSecure: { ret: [{ secure: 1 }, i32(1)] },
  domainIsActive: { args: [{ dom: D }, DB], ret: [{ active: 1 }, i32(1)] },
  domainIsPersistent: { args: [{ dom: D }, DB], ret: [{ persistent: 0 }, i32(0)] },
  // remote_domain_update_device_flags_args: the domain, the device XML as a string, the flags (1 = live).
  domainUpdateDeviceFlags: { args: [{ dom: D, xml: '<memory/>', flags: 1 }, cat(DB, str('<memory/>'), u32(1))] },
  domainResume: { args: [{ dom: D }, DB] },
  domainSuspend: { args: [{ dom: D }, DB] },
  domainSaveFlags: { args: [{ dom: D, to: '/tmp/x.sav', dxml: null, flags: 0 }, cat(DB, str('/tmp/x.sav'), u32(0), u32(0))] },
  domainRestoreFlags: { args: [{ from: '/tmp/x.sav', dxml: '<domain/>', flags: 4 }, cat(str('/tmp/x.sav'), u32(1), str('<domain/>'), u32(4))] },
  domainGetJobStats: {
    args: [{ dom: D, flags: 0 }, cat(DB, u32(0))],
    ret: [{ type: 2, params: [{ field: 'operation', value: { type: 1, value: 2 } }] }, cat(i32(2), u32(1), str('operation'), i32(1), i32(2))],
  },
  domainMigrateBegin3: {
    args: [{ dom: D, xmlin: null, flags: 257, dname: null, resource: 0 }, cat(DB, u32(0), u64(257), u32(0), u64(0))],
    ret: [{ cookieOut: Buffer.from([1, 2, 3]), xml: '<domain/>' }, cat(opaque([1, 2, 3]), str('<domain/>'))],
  },
  domainMigrateConfirm3: { args: [{ dom: D, cookieIn: Buffer.alloc(0), flags: 257, cancelled: 1 }, cat(DB, opaque([]), u64(257), i32(1))] },
  domainHasManagedSaveImage: { args: [{ dom: D, flags: 0 }, cat(DB, u32(0))], ret: [{ result: 0 }, i32(0)] },
  domainGetVcpusFlags: { args: [{ dom: D, flags: 1 }, cat(DB, u32(1))], ret: [{ num: 2 }, i32(2)] },
  nodeGetCpuMap: {
    args: [{ needMap: 1, needOnline: 1, flags: 0 }, cat(i32(1), i32(1), u32(0))],
    ret: [{ cpumap: Buffer.from([15]), online: 4, ret: 4 }, cat(opaque([15]), u32(4), i32(4))],
  },
  connectRegisterCloseCallback: {},
  connectUnregisterCloseCallback: {},
  domainDefineXmlFlags: { args: [{ xml: '<domain/>', flags: 0 }, cat(str('<domain/>'), u32(0))], ret: [{ dom: D }, DB] },
};

describe('remote protocol: fixed byte vectors for every procedure in the table', () => {
  for (const [name, p] of Object.entries(procedures) as [ProcedureName, (typeof procedures)[ProcedureName]][]) {
    test(`${name} (procedure ${p.number})`, () => {
      const v = vectors[name];
      if ((p.args as Codec<unknown>) === xvoid) assert.equal(v.args, undefined);
      else {
        assert.ok(v.args, `${name} needs an args vector`);
        vector(p.args as Codec<unknown>, v.args[0], v.args[1], `${name} args`);
      }
      if ((p.ret as Codec<unknown>) === xvoid) assert.equal(v.ret, undefined);
      else {
        assert.ok(v.ret, `${name} needs a ret vector`);
        vector(p.ret as Codec<unknown>, v.ret[0], v.ret[1], `${name} ret`);
      }
    });
  }

  test('procedure numbers are unique', () => {
    const numbers = Object.values(procedures).map((p) => p.number);
    assert.equal(new Set(numbers).size, numbers.length);
  });
});

describe('remote protocol: structs', () => {
  test('a domain given without id travels with id -1', () => {
    assert.deepEqual(encode(domainArg, { name: 'test', uuid: UUID_TEXT }), dom('test', -1));
  });

  test('UUID text and bytes', () => {
    assert.equal(uuidToText(UUID_BYTES), UUID_TEXT);
    assert.deepEqual(Buffer.from(uuidFromText(UUID_TEXT)), UUID_BYTES);
    assert.throws(() => uuidFromText('not-a-uuid'), /not a UUID/);
  });

  test('remote_error with message and null optionals', () => {
    const bytes = cat(i32(42), i32(10), u32(1), str('Domain not found'), i32(2), u32(0), u32(1), str('x'), u32(0), u32(0), i32(0), i32(0), u32(0));
    vector(remoteError, {
      code: 42, domain: 10, message: 'Domain not found', level: 2, dom: null, str1: 'x', str2: null, str3: null, int1: 0, int2: 0, net: null,
    }, bytes, 'remote_error');
  });

  test('remote_vcpu_info', () => {
    vector(vcpuInfo, { number: 3, state: 1, cpuTime: 2 ** 40, cpu: 7 }, cat(u32(3), i32(1), u64hex('10000000000'), i32(7)), 'vcpu_info');
  });

  test('typed param: every union arm', () => {
    const cases: [unknown, Buffer][] = [
      [{ field: 'a', value: { type: 1, value: -3 } }, cat(str('a'), i32(1), i32(-3))],
      [{ field: 'b', value: { type: 2, value: 4000000000 } }, cat(str('b'), i32(2), u32(4000000000))],
      [{ field: 'c', value: { type: 3, value: -5n } }, cat(str('c'), i32(3), hex('fffffffffffffffb'))],
      [{ field: 'd', value: { type: 4, value: 2n ** 63n } }, cat(str('d'), i32(4), hex('8000000000000000'))],
      [{ field: 'e', value: { type: 5, value: 1.5 } }, cat(str('e'), i32(5), hex('3ff8000000000000'))],
      [{ field: 'f', value: { type: 6, value: 1 } }, cat(str('f'), i32(6), i32(1))],
      [{ field: 'g', value: { type: 7, value: 'hi' } }, cat(str('g'), i32(7), str('hi'))],
    ];
    for (const [v, b] of cases) vector(typedParam as Codec<unknown>, v, b, JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x)));
  });

  test('typed param map decodes every type the daemon sends', () => {
    const bytes = cat(
      u32(6),
      str('state.state'), i32(1), i32(1),
      str('vcpu.current'), i32(2), u32(2),
      str('x.neg'), i32(3), hex('fffffffffffffffe'),
      str('vcpu.0.time'), i32(4), u64(179559205666202),
      str('x.big'), i32(4), hex('ffffffffffffffff'),
      str('x.ok'), i32(6), i32(1),
    );
    const m = decode(typedParamMap, bytes);
    assert.deepEqual([...m], [
      ['state.state', 1], ['vcpu.current', 2], ['x.neg', -2], ['vcpu.0.time', 179559205666202], ['x.big', 2n ** 64n - 1n], ['x.ok', true],
    ]);
  });

  test('typed param map round trip (fast-check)', () => {
    const value = fc.oneof(
      fc.boolean(),
      fc.string({ maxLength: 20 }),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc.maxSafeNat(),
      fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
      fc.bigInt({ min: -(2n ** 63n), max: -(2n ** 53n) }),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
    );
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(fc.string({ maxLength: 24 }), value), { selector: ([k]) => k, maxLength: 40 }), (entries) => {
      const m = new Map<string, TypedParamValue>(entries);
      assert.deepEqual(decode(typedParamMap, encode(typedParamMap, m)), m);
    }));
  });

  test('domain stats records and lifecycle events round trip (fast-check)', () => {
    const arbDomain = fc.record({ name: fc.string({ minLength: 1, maxLength: 30 }), uuid: fc.uuid(), id: fc.integer({ min: -1, max: 10000 }) }, { noNullPrototype: true });
    fc.assert(fc.property(arbDomain, fc.dictionary(fc.string({ maxLength: 20 }), fc.maxSafeNat(), { maxKeys: 30 }), (d, params) => {
      const rec = { dom: d, params: new Map<string, TypedParamValue>(Object.entries(params)) };
      assert.deepEqual(decode(domainStatsRecord, encode(domainStatsRecord, rec)), rec);
      assert.deepEqual(decode(domain, encode(domain, d)), d);
    }));
    fc.assert(fc.property(arbDomain, fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 10 }), (d, event, detail) => {
      const m = { callbackID: 1, msg: { dom: d, event, detail } };
      assert.deepEqual(decode(lifecycleMsg, encode(lifecycleMsg, m)), m);
    }));
  });

  test('every procedure\'s args and ret round trip from its vector after arbitrary re-encoding', () => {
    for (const [name, v] of Object.entries(vectors)) {
      const p = procedures[name as ProcedureName];
      for (const [codec, vec] of [[p.args, v.args], [p.ret, v.ret]] as const) {
        if (!vec) continue;
        const c = codec as Codec<unknown>;
        assert.deepEqual(encode(c, decode(c, vec[1])), vec[1], name);
      }
    }
  });
});

describe('packet header', () => {
  test('a call packet: length, program, version, procedure, type, serial, status, payload', () => {
    const w = new XdrWriter();
    const s = beginPacket(w, 0x20008086, 1, 59, 0, 7, 0);
    w.string('ab');
    endPacket(w, s);
    assert.equal(w.toBuffer().toString('hex'), cat(u32(36), hex('20008086'), u32(1), i32(59), i32(0), u32(7), i32(0), str('ab')).toString('hex'));
  });
});
