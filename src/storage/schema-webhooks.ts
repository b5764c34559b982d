// The tables of tenants' webhooks (migration 0023).
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

export interface WebhookSecret {
  secret: string;
  createdAt: string;
  /** When a rotated-out secret stops signing; null while it is the current one. */
  expiresAt: string | null;
}

export interface WhEndpointsTable {
  tenant_id: string;
  id: string;
  url: string;
  description: Generated<string>;
  event_types: JSONColumnType<string[]>;
  secrets: JSONColumnType<WebhookSecret[]>;
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  failing_since: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface WhMessagesTable {
  tenant_id: string;
  id: string;
  event_id: string;
  event_type: string;
  /** The exact bytes every attempt sends and signs. */
  body: string;
  created_at: Generated<Date>;
}

export interface WhDeliveriesTable {
  tenant_id: string;
  id: string;
  message_id: string;
  endpoint_id: string;
  state: Generated<'pending' | 'delivered' | 'failed'>;
  attempts: Generated<number>;
  next_attempt_at: Date;
  replay_of: string | null;
  created_at: Generated<Date>;
  finished_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface WhAttemptsTable {
  tenant_id: string;
  id: string;
  delivery_id: string;
  message_id: string;
  endpoint_id: string;
  attempt: number;
  at: Date;
  status: 'succeeded' | 'failed';
  response_code: number | null;
  duration_ms: number;
  error: string | null;
  response_body: string | null;
}

export interface WebhookTables {
  wh_endpoints: WhEndpointsTable;
  wh_messages: WhMessagesTable;
  wh_deliveries: WhDeliveriesTable;
  wh_attempts: WhAttemptsTable;
}

// The webhook tables join the database's type from here, so that schema.ts (long already, and
// where other modules add their tables) does not change for them.
declare module './schema.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging: the tables come in through `extends`
  interface Database extends WebhookTables {}
}
