// The events API: clients and partner servers publish catalogued events over HTTP onto the bus.
import { defineModule } from '../modules/contract.js';
import { registerEventRoutes } from './http.js';

export const eventsModule = defineModule({
  name: 'events',
  settings: null,
  async start(ctx) {
    return { api: null, routes: () => registerEventRoutes(ctx.http, ctx.bus) };
  },
});
