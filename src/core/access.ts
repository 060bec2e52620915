// What the access options ask for: read by src/api.ts for every network (asked where it cannot apply is EINVAL),
// done by the unix adapters (src/unix/access.ts, src/unix/peers.ts).
import type { FileAccess, PeerAccess } from './types.js';

/** Whether a socket file's rights (mode, owner, group) are asked for. */
export const asksRights = (a: FileAccess): boolean => a.mode !== undefined || a.owner !== undefined || a.group !== undefined;

/** Whether any peer check is asked for (`allow: 'everyone'` asks for none). */
export const asksPeers = (o: PeerAccess): boolean => (o.allow !== undefined && o.allow !== 'everyone') || o.authorize !== undefined;
