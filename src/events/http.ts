import { z } from 'zod';
import { badRequest } from '../server/errors.js';
import type { HttpRouter } from '../server/http.js';
import type { EventBus } from './bus.js';
import { clientReportableTypes, createEvent, payloadSchemas, type VezaEvent } from './catalog.js';

export const reportSchema = z.object({
  type: z.enum(clientReportableTypes),
  payload: z.record(z.string(), z.unknown()),
  /** A client-chosen id makes a retried report count once. */
  id: z.uuid().optional(),
  at: z.iso.datetime({ offset: true }).optional(),
});

/** The 202 of a report: the event as the bus took it. */
export const reportAccepted = z.object({ id: z.string(), type: z.enum(clientReportableTypes), at: z.string() });

/**
 * `POST /api/v1/events`: players report what listeners do (plays, likes, shares). The tenant and
 * actor come from the token, never from the body; the payload is validated against the catalog.
 */
export function registerEventRoutes(http: HttpRouter, bus: EventBus): void {
  http.route(
    'POST',
    '/api/v1/events',
    async (ctx) => {
      const report = await ctx.json(reportSchema);
      const principal = ctx.principal!;
      const payload = payloadSchemas[report.type].safeParse(report.payload);
      if (!payload.success) {
        throw badRequest(
          `payload does not match ${report.type}`,
          payload.error.issues.map((i) => ({ path: ['payload', ...i.path].join('.'), message: i.message })),
        );
      }
      const event = createEvent(report.type, {
        tenantId: principal.tenantId,
        actor: principal.userId,
        payload: payload.data,
        ...(report.id ? { id: report.id } : {}),
        ...(report.at ? { at: new Date(report.at) } : {}),
      });
      await bus.publish(event as VezaEvent);
      return { status: 202, json: { id: event.id, type: event.type, at: event.at } };
    },
    { auth: 'required', tag: 'events', summary: 'Report what a listener did (a play, a like, a share)', body: reportSchema, responses: { 202: reportAccepted } },
  );
}
