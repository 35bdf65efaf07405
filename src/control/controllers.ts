import type { OptionsOf } from '../ground/controller.js';
import { cpuController } from '../cpu/controller.js';
import { memoryController } from '../memory/controller.js';

// Every controller virtbalance can run, in the order they decide each interval. Adding one is a
// folder under src/ with a controller.ts implementing src/ground/controller.ts, and one line here
// (docs/architecture.md has the recipe).
export const controllers = {
  cpu: cpuController,
  memory: memoryController,
} as const;

export type ControllerKind = keyof typeof controllers;

/** Options for each controller that runs; a controller without options does not run. */
export type ControllerOptions = { [K in ControllerKind]?: OptionsOf<(typeof controllers)[K]> };

export const controllerKinds = Object.keys(controllers) as ControllerKind[];

/** The kinds that run under these options, in registry order. */
export function enabledKinds(options: ControllerOptions): ControllerKind[] {
  return controllerKinds.filter((kind) => options[kind] !== undefined);
}

/** The trace header's record of which controllers ran and with what options. */
export function controllersForTrace(options: ControllerOptions): { controllers: Record<string, boolean>; options: Record<string, unknown> } {
  const kinds = enabledKinds(options);
  return {
    controllers: Object.fromEntries(controllerKinds.map((kind) => [kind, kinds.includes(kind)])),
    options: Object.fromEntries(kinds.map((kind) => [kind, options[kind]])),
  };
}
