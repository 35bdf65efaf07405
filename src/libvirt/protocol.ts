// libvirt's remote protocol as data: the wire types and ONE table of the procedures virtbalance calls.
// Numbers and layouts follow libvirt's remote_protocol.x / virnetprotocol.x (written out here, not copied).
// Note on XDR: `char`, `unsigned char` and `unsigned short` fields travel as full 4-byte words.
import {
  xarray, xfixedArray, xhyper, xint, xoptional, xstring, xstruct, xuhyper, xuhyperNum, xuint, xunion,
  xvarOpaque, xvoid, xdouble, type Codec, type TypeOf,
} from './codec.js';
import { XdrError, type XdrReader, type XdrWriter } from './xdr.js';

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_VERSION = 1;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** Message types (virNetMessageType). */
export const enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
}

/** Message status (virNetMessageStatus). */
export const enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

// Decoder limits: generous (hosts with many CPUs and domains) but bounded, so bad input cannot make us allocate wildly.
const STRING_MAX = 4_194_304;
const DOMAIN_LIST_MAX = 16_384;
const CPUMAP_MAX = 2_048;
const CPUMAPS_MAX = 8_388_608;
const VCPUINFO_MAX = 16_384;
const NODE_STATS_MAX = 16;
/** REMOTE_DOMAIN_SCHEDULER_PARAMETERS_MAX */
const SCHEDULER_PARAMETERS_MAX = 16;
/** REMOTE_MIGRATE_COOKIE_MAX */
const MIGRATE_COOKIE_MAX = 4_194_304;
/** REMOTE_DOMAIN_JOB_STATS_MAX */
const DOMAIN_JOB_STATS_MAX = 64;
const MEMORY_STATS_MAX = 1_024;
const AUTH_TYPE_LIST_MAX = 20;
const NODE_MAX_CELLS = 1_024;
const SECURITY_MODEL_MAX = 257;
const DOMAIN_ID_LIST_MAX = 16_384;
const TYPED_PARAMS_MAX = 262_144;

// ---- Constants of libvirt's public API that virtbalance passes or reads ----

export const AuthType = { None: 0, Sasl: 1, Polkit: 2 } as const;
/** VIR_DRV_FEATURE_PROGRAM_KEEPALIVE: asking it makes the daemon ping us, so a dead peer is noticed. */
export const FEATURE_PROGRAM_KEEPALIVE = 10;
/** VIR_DRV_FEATURE_*: what a daemon says it supports when asked (connectSupportsFeature). */
export const DriverFeature = { TypedParamString: 9, ProgramKeepalive: 10, RemoteEventCallback: 14, RemoteCloseCallback: 15 } as const;
/** VIR_TYPED_PARAM_STRING_OKAY: a flag the C library adds to calls returning typed parameters. */
export const TYPED_PARAM_STRING_OKAY = 1 << 2;
/** virDomainModificationImpact. On a running domain "current" is its live state; unlike an explicit "live", every driver takes it. */
export const DomainAffect = { Current: 0, Live: 1, Config: 2 } as const;
/** virDomainDeviceModifyFlags: the device calls' flags (attach, detach, update); the first three are DomainAffect's. */
export const DeviceModify = { Current: 0, Live: 1, Config: 2, Force: 4 } as const;
export const DomainStatsGroup = { State: 1, CpuTotal: 2, Balloon: 4, Vcpu: 8, Interface: 16, Block: 32 } as const;
/** VIR_CONNECT_GET_ALL_DOMAINS_STATS_*: which domains an all-domain-stats call reports. */
export const GetAllDomainStatsFlags = { Active: 1, Inactive: 2, Persistent: 4, Transient: 8, Running: 16, Paused: 32, Shutoff: 64, Other: 128, NoWait: 1 << 29, Backing: 1 << 30, EnforceStats: 2 ** 31 } as const;
/** virErrorNumber: the error codes virtbalance raises or reacts to. */
export const ErrorCode = {
  InternalError: 1,
  NoSupport: 3,
  InvalidArg: 8,
  OperationFailed: 9,
  Rpc: 39,
  NoDomain: 42,
  AuthFailed: 45,
  OperationInvalid: 55,
  /** "Timed out during operation": e.g. a domain's state change lock held by a call waiting on a hung QEMU. */
  OperationTimeout: 68,
} as const;
/** virErrorDomain: where an error comes from. */
export const ErrorDomain = { None: 0, Dom: 6, Rpc: 7, Qemu: 10, Test: 12, Remote: 13, Domain: 20 } as const;
/** virErrorLevel. */
export const ErrorLevel = { None: 0, Warning: 1, Error: 2 } as const;
export const ListDomainsFlags = { Active: 1, Inactive: 2, Persistent: 4, Transient: 8, Running: 16, Paused: 32, Shutoff: 64, Other: 128 } as const;
export const DomainEventId = { Lifecycle: 0 } as const;
/** virDomainJobType: what domainGetJobStats says of a domain's job (none, or one under way with a known or unknown end). */
/** virDomainMigrateFlags virtbalance uses (tests only): live, and keep the job from Begin3 to Confirm3. */
export const MigrateFlags = { Live: 1, ChangeProtection: 256 } as const;
export const DomainJobType = { None: 0, Bounded: 1, Unbounded: 2, Completed: 3, Failed: 4, Cancelled: 5 } as const;
/** virDomainJobOperation (the `operation` job statistic), by number: what the job does. */
export const DOMAIN_JOB_OPERATIONS = [
  'unknown', 'start', 'save', 'restore', 'incoming migration', 'outgoing migration', 'snapshot', 'snapshot revert', 'dump', 'backup', 'snapshot delete',
] as const;
/** virDomainPausedReason, by number: why a paused domain is paused (`state.reason` of a paused domain). */
export const DOMAIN_PAUSED_REASONS = [
  'unknown', 'user', 'migration', 'save', 'dump', 'ioerror', 'watchdog', 'from snapshot', 'shutting down', 'snapshot', 'crashed', 'starting up',
  'postcopy', 'postcopy failed', 'api error',
] as const;
export const NODE_CPU_STATS_ALL_CPUS = -1;
export const NODE_MEMORY_STATS_ALL_CELLS = -1;
export const TypedParamType = { Int: 1, UInt: 2, LLong: 3, ULLong: 4, Double: 5, Boolean: 6, String: 7 } as const;

/** virDomainState, by number. */
export const DOMAIN_STATES = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'] as const;
/** virDomainEventType (lifecycle), by number. */
export const LIFECYCLE_EVENTS = ['defined', 'undefined', 'started', 'suspended', 'resumed', 'stopped', 'shutdown', 'pmsuspended', 'crashed'] as const;
/** virDomainMemoryStatTags, by number: the names virsh dommemstat prints. */
export const MEMORY_STAT_TAGS = [
  'swap_in', 'swap_out', 'major_fault', 'minor_fault', 'unused', 'available', 'actual', 'rss', 'usable', 'last_update',
  'disk_caches', 'hugetlb_pgalloc', 'hugetlb_pgfail',
] as const;

// ---- Wire types ----

export const nonnullString = xstring(STRING_MAX);
export const optString = xoptional(nonnullString);

export function uuidToText(b: Uint8Array): string {
  const h = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function uuidFromText(s: string): Uint8Array {
  const hex = s.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new XdrError(`not a UUID: '${s}'`);
  return Buffer.from(hex, 'hex');
}

export const uuid: Codec<string> = {
  enc: (w, v) => w.fixedOpaque(uuidFromText(v), 16),
  dec: (r) => uuidToText(r.fixedOpaqueView(16)),
  minBytes: 16,
};

/** remote_nonnull_domain: how the wire names a domain. `id` is -1 for an inactive domain. */
export interface Domain {
  name: string;
  uuid: string;
  id: number;
}
/** A domain as callers name it: the daemon finds it by UUID, so the id may be left out. */
export interface DomainHandle {
  name: string;
  uuid: string;
  id?: number;
}

function encDomain(w: XdrWriter, v: DomainHandle): void {
  w.string(v.name, STRING_MAX);
  w.fixedOpaque(uuidFromText(v.uuid), 16);
  w.int(v.id ?? -1);
}
function decDomain(r: XdrReader): Domain {
  const name = r.string(STRING_MAX);
  const id16 = uuidToText(r.fixedOpaqueView(16));
  return { name, uuid: id16, id: r.int() };
}
/** Domains in replies. */
export const domain: Codec<Domain> = { enc: encDomain, dec: decDomain, minBytes: 24 };
/** Domains in arguments. */
export const domainArg: Codec<DomainHandle> = { enc: encDomain, dec: decDomain, minBytes: 24 };
export const optDomain = xoptional(domain);

const network = xstruct({ name: nonnullString, uuid });

/** remote_error: what a failed call carries back. */
export const remoteError = xstruct({
  code: xint,
  domain: xint,
  message: optString,
  level: xint,
  dom: optDomain,
  str1: optString,
  str2: optString,
  str3: optString,
  int1: xint,
  int2: xint,
  net: xoptional(network),
});
export type RemoteError = TypeOf<typeof remoteError>;

export const vcpuInfo = xstruct({ number: xuint, state: xint, cpuTime: xuhyperNum, cpu: xint });
export type VcpuInfoWire = TypeOf<typeof vcpuInfo>;

/** remote_typed_param, faithfully: the type travels with the value (round-trips byte for byte). */
export const typedParam = xstruct({
  field: nonnullString,
  value: xunion({
    [TypedParamType.Int]: xint,
    [TypedParamType.UInt]: xuint,
    [TypedParamType.LLong]: xhyper,
    [TypedParamType.ULLong]: xuhyper,
    [TypedParamType.Double]: xdouble,
    [TypedParamType.Boolean]: xint,
    [TypedParamType.String]: nonnullString,
  }),
});
export type TypedParam = TypeOf<typeof typedParam>;

export type TypedParamValue = number | bigint | boolean | string;

/**
 * A typed-parameter list decoded straight into a Map (the hot path of all-domain stats).
 * 64-bit values become numbers when exact, bigints otherwise. Encoding infers the wire type from the JS
 * value: boolean, string, bigint (llong/ullong by sign), integer number (llong/ullong by sign), else double.
 */
export const typedParamMap: Codec<Map<string, TypedParamValue>> = {
  minBytes: 4,
  dec(r: XdrReader) {
    const n = r.arrayLength(TYPED_PARAMS_MAX, 12);
    const m = new Map<string, TypedParamValue>();
    for (let i = 0; i < n; i++) {
      const field = r.string(STRING_MAX);
      const type = r.int();
      let v: TypedParamValue;
      switch (type) {
        case TypedParamType.Int: v = r.int(); break;
        case TypedParamType.UInt: v = r.uint(); break;
        case TypedParamType.LLong: v = r.hyperCompact(); break;
        case TypedParamType.ULLong: v = r.uhyperCompact(); break;
        case TypedParamType.Double: v = r.double(); break;
        case TypedParamType.Boolean: v = r.int() !== 0; break;
        case TypedParamType.String: v = r.string(STRING_MAX); break;
        default: throw new XdrError(`typed parameter '${field}' has unknown type ${type}`);
      }
      m.set(field, v);
    }
    return m;
  },
  enc(w: XdrWriter, m) {
    w.uint(m.size);
    for (const [field, v] of m) {
      w.string(field, STRING_MAX);
      if (typeof v === 'boolean') { w.int(TypedParamType.Boolean); w.int(v ? 1 : 0); }
      else if (typeof v === 'string') { w.int(TypedParamType.String); w.string(v, STRING_MAX); }
      else if (typeof v === 'bigint') {
        if (v < 0n) { w.int(TypedParamType.LLong); w.hyper(v); } else { w.int(TypedParamType.ULLong); w.uhyper(v); }
      } else if (Number.isSafeInteger(v)) {
        if (v < 0) { w.int(TypedParamType.LLong); w.hyperNumber(v); } else { w.int(TypedParamType.ULLong); w.uhyperNumber(v); }
      } else { w.int(TypedParamType.Double); w.double(v); }
    }
  },
};

const nodeStat = xstruct({ field: nonnullString, value: xuhyperNum });
const memoryStat = xstruct({ tag: xint, val: xuhyperNum });
export const domainStatsRecord = xstruct({ dom: domain, params: typedParamMap });
/** The same record with each parameter's wire type chosen by the sender (the server: `state.state` is an int, `balloon.*` ullong, ...). */
export const domainStatsRecordTyped = xstruct({ dom: domain, params: xarray(typedParam, TYPED_PARAMS_MAX) });
export const allDomainStatsTypedRet = xstruct({ retStats: xarray(domainStatsRecordTyped, DOMAIN_LIST_MAX) });
export const lifecycleMsg = xstruct({ callbackID: xint, msg: xstruct({ dom: domain, event: xint, detail: xint }) });
export type LifecycleMsg = TypeOf<typeof lifecycleMsg>;

const domArgs = xstruct({ dom: domainArg });
const domFlagsArgs = xstruct({ dom: domainArg, flags: xuint });
const domRet = xstruct({ dom: domain });

function proc<A, R>(number: number, args: Codec<A>, ret: Codec<R>): Procedure<A, R> {
  return { number, args, ret };
}
export interface Procedure<A, R> {
  number: number;
  args: Codec<A>;
  ret: Codec<R>;
}

/**
 * Every remote procedure virtbalance calls (the client) or answers (the server, src/libvirt/server.ts):
 * number, argument type, result type. Nothing else knows a number.
 */
export const procedures = {
  connectOpen: proc(1, xstruct({ name: optString, flags: xuint }), xvoid),
  connectClose: proc(2, xvoid, xvoid),
  connectGetType: proc(3, xvoid, xstruct({ type: nonnullString })),
  connectGetVersion: proc(4, xvoid, xstruct({ hvVer: xuhyperNum })),
  nodeGetInfo: proc(6, xvoid, xstruct({
    model: xfixedArray(xint, 32),
    memory: xuhyperNum,
    cpus: xint,
    mhz: xint,
    nodes: xint,
    sockets: xint,
    cores: xint,
    threads: xint,
  })),
  domainCreate: proc(9, domArgs, xvoid),
  domainDefineXml: proc(11, xstruct({ xml: nonnullString }), domRet),
  domainDestroy: proc(12, domArgs, xvoid),
  domainGetXmlDesc: proc(14, domFlagsArgs, xstruct({ xml: nonnullString })),
  domainGetInfo: proc(16, domArgs, xstruct({ state: xuint, maxMem: xuhyperNum, memory: xuhyperNum, nrVirtCpu: xuint, cpuTime: xuhyperNum })),
  domainGetAutostart: proc(15, domArgs, xstruct({ autostart: xint })),
  domainGetMaxMemory: proc(17, domArgs, xstruct({ memory: xuhyperNum })),
  domainGetMaxVcpus: proc(18, domArgs, xstruct({ num: xint })),
  domainGetOsType: proc(19, domArgs, xstruct({ type: nonnullString })),
  domainGetVcpus: proc(20, xstruct({ dom: domainArg, maxinfo: xint, maplen: xint }),
    xstruct({ info: xarray(vcpuInfo, VCPUINFO_MAX), cpumaps: xvarOpaque(CPUMAPS_MAX) })),
  domainLookupById: proc(22, xstruct({ id: xint }), domRet),
  domainLookupByName: proc(23, xstruct({ name: nonnullString }), domRet),
  domainLookupByUuid: proc(24, xstruct({ uuid }), domRet),
  domainPinVcpu: proc(26, xstruct({ dom: domainArg, vcpu: xuint, cpumap: xvarOpaque(CPUMAP_MAX) }), xvoid),
  domainResume: proc(28, domArgs, xvoid),
  domainSetMemory: proc(31, xstruct({ dom: domainArg, memory: xuhyperNum }), xvoid),
  domainSuspend: proc(34, domArgs, xvoid),
  domainUndefine: proc(35, domArgs, xvoid),
  connectListDomains: proc(37, xstruct({ maxids: xint }), xstruct({ ids: xarray(xint, DOMAIN_ID_LIST_MAX) })),
  connectNumOfDomains: proc(51, xvoid, xstruct({ num: xint })),
  connectGetHostname: proc(59, xvoid, xstruct({ hostname: nonnullString })),
  connectSupportsFeature: proc(60, xstruct({ feature: xint }), xstruct({ supported: xint })),
  authList: proc(66, xvoid, xstruct({ types: xarray(xint, AUTH_TYPE_LIST_MAX) })),
  authPolkit: proc(70, xvoid, xstruct({ complete: xint })),
  nodeGetCellsFreeMemory: proc(101, xstruct({ startCell: xint, maxcells: xint }), xstruct({ cells: xarray(xuhyperNum, NODE_MAX_CELLS) })),
  nodeGetFreeMemory: proc(102, xvoid, xstruct({ freeMem: xuhyperNum })),
  connectGetUri: proc(110, xvoid, xstruct({ uri: nonnullString })),
  /** `char model<>` and `char doi<>`: arrays of chars, each char a 4-byte word. */
  nodeGetSecurityModel: proc(122, xvoid, xstruct({ model: xarray(xint, SECURITY_MODEL_MAX), doi: xarray(xint, SECURITY_MODEL_MAX) })),
  connectIsSecure: proc(149, xvoid, xstruct({ secure: xint })),
  domainIsActive: proc(150, domArgs, xstruct({ active: xint })),
  domainIsPersistent: proc(151, domArgs, xstruct({ persistent: xint })),
  connectGetLibVersion: proc(157, xvoid, xstruct({ libVer: xuhyperNum })),
  domainMemoryStats: proc(159, xstruct({ dom: domainArg, maxStats: xuint, flags: xuint }), xstruct({ stats: xarray(memoryStat, MEMORY_STATS_MAX) })),
  /** virDomainUpdateDeviceFlags: one device's XML (e.g. a virtio-mem `<memory>` with a new `<requested>`), modify flags. */
  domainUpdateDeviceFlags: proc(174, xstruct({ dom: domainArg, xml: nonnullString, flags: xuint }), xvoid),
  domainHasManagedSaveImage: proc(183, domFlagsArgs, xstruct({ result: xint })),
  domainCreateWithFlags: proc(196, domFlagsArgs, domRet),
  domainGetVcpusFlags: proc(200, domFlagsArgs, xstruct({ num: xint })),
  domainSetMemoryFlags: proc(204, xstruct({ dom: domainArg, memory: xuhyperNum, flags: xuint }), xvoid),
  domainGetState: proc(212, domFlagsArgs, xstruct({ state: xint, reason: xint })),
  domainPinVcpuFlags: proc(225, xstruct({ dom: domainArg, vcpu: xuint, cpumap: xvarOpaque(CPUMAP_MAX), flags: xuint }), xvoid),
  nodeGetCpuStats: proc(227, xstruct({ cpuNum: xint, nparams: xint, flags: xuint }),
    xstruct({ params: xarray(nodeStat, NODE_STATS_MAX), nparams: xint })),
  nodeGetMemoryStats: proc(228, xstruct({ nparams: xint, cellNum: xint, flags: xuint }),
    xstruct({ params: xarray(nodeStat, NODE_STATS_MAX), nparams: xint })),
  /**
   * virDomainMigrateBegin3, the source's first step of a client-driven migration: the domain's
   * outgoing-migration job starts and holds until domainMigrateConfirm3 (or the client's connection
   * closes). virtbalance calls it only in tests, to hold a real job on a guest for as long as it likes.
   */
  domainMigrateBegin3: proc(213, xstruct({ dom: domainArg, xmlin: optString, flags: xuhyperNum, dname: optString, resource: xuhyperNum }),
    xstruct({ cookieOut: xvarOpaque(MIGRATE_COOKIE_MAX), xml: nonnullString })),
  /** virDomainMigrateConfirm3 on the source: ends the outgoing job; `cancelled` 1 leaves the domain running here. */
  domainMigrateConfirm3: proc(218, xstruct({ dom: domainArg, cookieIn: xvarOpaque(MIGRATE_COOKIE_MAX), flags: xuhyperNum, cancelled: xint }), xvoid),
  domainSetSchedulerParametersFlags: proc(219, xstruct({ dom: domainArg, params: xarray(typedParam, SCHEDULER_PARAMETERS_MAX), flags: xuint }), xvoid),
  domainGetSchedulerParametersFlags: proc(223, xstruct({ dom: domainArg, nparams: xint, flags: xuint }),
    xstruct({ params: xarray(typedParam, SCHEDULER_PARAMETERS_MAX) })),
  domainGetVcpuPinInfo: proc(230, xstruct({ dom: domainArg, ncpumaps: xint, maplen: xint, flags: xuint }),
    xstruct({ cpumaps: xvarOpaque(CPUMAPS_MAX), num: xint })),
  domainUndefineFlags: proc(231, domFlagsArgs, xvoid),
  /** virDomainSaveFlags: stops the domain, its memory and state written to `to` (a path on the daemon's host); `dxml` an optional new definition. */
  domainSaveFlags: proc(232, xstruct({ dom: domainArg, to: nonnullString, dxml: optString, flags: xuint }), xvoid),
  /** virDomainRestoreFlags: starts a domain again from a file written by domainSaveFlags (with a new id). */
  domainRestoreFlags: proc(233, xstruct({ from: nonnullString, dxml: optString, flags: xuint }), xvoid),
  domainDestroyFlags: proc(234, domFlagsArgs, xvoid),
  connectListAllDomains: proc(273, xstruct({ needResults: xint, flags: xuint }), xstruct({ domains: xarray(domain, DOMAIN_LIST_MAX), ret: xuint })),
  nodeGetCpuMap: proc(293, xstruct({ needMap: xint, needOnline: xint, flags: xuint }), xstruct({ cpumap: xvarOpaque(CPUMAP_MAX), online: xuint, ret: xint })),
  /** virDomainGetJobStats: the domain's job (`type`, DomainJobType) and its statistics (`operation`, `time_elapsed`, ...), as typed parameters. */
  domainGetJobStats: proc(298, domFlagsArgs, xstruct({ type: xint, params: xarray(typedParam, DOMAIN_JOB_STATS_MAX) })),
  domainSetMemoryStatsPeriod: proc(308, xstruct({ dom: domainArg, period: xint, flags: xuint }), xvoid),
  connectDomainEventCallbackRegisterAny: proc(316, xstruct({ eventID: xint, dom: xoptional(domainArg) }), xstruct({ callbackID: xint })),
  connectDomainEventCallbackDeregisterAny: proc(317, xstruct({ callbackID: xint }), xvoid),
  connectGetAllDomainStats: proc(344, xstruct({ doms: xarray(domainArg, DOMAIN_LIST_MAX), stats: xuint, flags: xuint }),
    xstruct({ retStats: xarray(domainStatsRecord, DOMAIN_LIST_MAX) })),
  domainDefineXmlFlags: proc(350, xstruct({ xml: nonnullString, flags: xuint }), domRet),
  connectRegisterCloseCallback: proc(360, xvoid, xvoid),
  connectUnregisterCloseCallback: proc(361, xvoid, xvoid),
} as const;

export type ProcedureName = keyof typeof procedures;
export type ArgsOf<N extends ProcedureName> = TypeOf<(typeof procedures)[N]['args']>;
export type RetOf<N extends ProcedureName> = TypeOf<(typeof procedures)[N]['ret']>;

/** Asynchronous messages (events) the daemon sends, by procedure number. */
export const eventMessages = {
  318: { name: 'lifecycle', body: lifecycleMsg },
} as const;
