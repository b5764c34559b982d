// Tenants' signed webhooks (Standard Webhooks). This module serves the API (endpoints, secrets,
// messages, the delivery log, replay); the `webhooks` event consumer, on the consumers' thread or
// process, turns bus events into messages and deliveries and runs the sender (consumer.ts). The two
// meet only in the database, so deliveries survive restarts.
import { defineModule } from '../modules/contract.js';
import { DeliveryLog } from './delivery-log.js';
import { EndpointStore } from './endpoints.js';
import { registerWebhookRoutes } from './routes.js';

export const webhooksModule = defineModule({
  name: 'webhooks',
  settings: 'webhooks',
  async start(ctx) {
    const endpoints = new EndpointStore(ctx.storage, ctx.settings.allowPrivate);
    const log = new DeliveryLog(ctx.storage);
    if (ctx.settings.allowPrivate) ctx.logger.warn('webhook endpoints may point at loopback and private addresses (VEZA_WEBHOOKS_ALLOW_PRIVATE); never in production');
    return {
      api: { endpoints, log },
      routes: () => registerWebhookRoutes(ctx.http, { endpoints, log }),
    };
  },
});
