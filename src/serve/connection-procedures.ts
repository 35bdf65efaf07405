import { DriverFeature } from '../libvirt/protocol.js';
import type { Handlers } from '../libvirt/server.js';

// What every served host answers the same way: the open handshake a libvirt client sends
// (auth list, features, open, close callbacks, URI) and close. Each served host adds the rest.

const AUTH_NONE = 0;

/**
 * @param uri the URI the client is told it reached (`qemu:///system` unless given)
 * @param events whether lifecycle events are offered (REMOTE_EVENT_CALLBACK)
 */
export function connectionHandlers(uri: string | undefined, events: boolean): Handlers {
  const features: number[] = [DriverFeature.TypedParamString, DriverFeature.ProgramKeepalive, DriverFeature.RemoteCloseCallback, ...(events ? [DriverFeature.RemoteEventCallback] : [])];
  return {
    authList: () => ({ types: [AUTH_NONE] }),
    connectSupportsFeature: ({ feature }) => ({ supported: features.includes(feature) ? 1 : 0 }),
    connectOpen: ({ name, flags }, session) => {
      session.openedName = name ?? '';
      session.readOnly = (flags & 1) !== 0;
    },
    connectClose: () => undefined,
    connectRegisterCloseCallback: () => undefined,
    connectUnregisterCloseCallback: () => undefined,
    connectGetUri: () => ({ uri: uri ?? 'qemu:///system' }),
  };
}
