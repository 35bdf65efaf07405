// The simulated host: scenarios as data, a deterministic Hypervisor and its virtual clock.
export { createSimulatedHost, SimulatedHost, VirtualClock } from './simulated-host.js';
export { SIM_EPOCH_SECONDS } from './physics.js';
export type { SimulatedRun } from './simulated-host.js';
export type { SimOptions } from './physics.js';
export { balloonOnlyVariant, loadScenario, parseScenario, ScenarioError, DEFAULT_USED_MIB, DEFAULT_MEMORY_DEVICE_RATES } from './scenario.js';
export type { Scenario, DomainSpec, HostSpec, ControllerKind, ReadSpec, MemoryDeviceSpec, MemoryDeviceRates } from './scenario.js';
export type { Workload, WorkloadShape, Noise } from './workload.js';
export { fairShare, waterLevel } from './fair-share.js';
export type { ShareProblem, ShareResult } from './fair-share.js';
export type { TruthInterval, VcpuTruth, DomainTruth, CacheTruth, DeviceTruth, OomEvent, LifecycleEvent, ActionCounts } from './truth.js';
