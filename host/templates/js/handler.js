// {{name}}: a hookhost plugin in JavaScript, built with ComponentizeJS.
//
// The host calls `plugin.handle` once per webhook call. WIT names become camelCase
// (`recordId`, `deliveryId`); a `failure` is thrown as `{ tag, val }`; an `option` is a value
// or `undefined`; `list<u8>` is a Uint8Array.
import { log, config, secret } from 'marketplace:webhook/host@0.2.0';
import { get, set } from 'marketplace:webhook/kv@0.2.0';

export const plugin = {
  handle(inv) {
    let payload;
    try {
      payload = JSON.parse(inv.payload);
    } catch (e) {
      // Final, not retried. (An exception that escapes `handle` traps the call.)
      throw { tag: 'invalid-input', val: `the payload is not JSON: ${e.message}` };
    }
    const fields = payload && typeof payload === 'object' ? Object.keys(payload).length : 0;
    if (fields === 0) {
      // A business "no": final, not retried.
      throw { tag: 'rejected', val: 'the record has no fields' };
    }
    // Activation parameters of the tenant (`hookhost plugin run --set greeting=…`).
    const greeting = config('greeting') ?? 'Hallo';
    // Secret parameters (sealed at rest, masked in every API) are read apart
    // (`hookhost plugin run --secret api_key=…`); `config` does not return them.
    const apiKeySet = secret('api_key') !== undefined;
    // The key-value store is scoped to the tenant and the service.
    const previous = get('calls');
    const calls = (previous ? Number(new TextDecoder().decode(previous)) : 0) + 1;
    set('calls', new TextEncoder().encode(String(calls)));
    log('info', `${inv.module} ${inv.recordId} for tenant ${inv.tenant.id}`);
    const body = { greeting, module: inv.module, recordId: inv.recordId, fields, calls, apiKeySet };
    return { body: JSON.stringify(body), updates: [] };
  },
};
