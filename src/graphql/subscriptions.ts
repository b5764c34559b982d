// GraphQL over WebSocket at /graphql/ws with the graphql-transport-ws protocol: the graphql-ws
// package's own server (`makeServer`) driven over a uWS socket. The token is checked at the upgrade
// like every socket's (Authorization header, or a `bearer.<token>` subprotocol from browsers); each
// `subscribe` goes through the same persisted queries, allow-list and limits as HTTP.
import { execute, GraphQLError, subscribe, type ExecutionArgs } from 'graphql';
import { makeServer, type WebSocket as GraphqlWsSocket } from 'graphql-ws';
import { badRequest } from '../server/errors.js';
import type { Principal } from '../server/auth.js';
import type { VezaSocket, WebSocketRouter } from '../server/websocket.js';
import type { GraphqlServices } from './context.js';
import { requestSchema, type GraphqlEngine } from './engine.js';

export const GRAPHQL_WS_PROTOCOL = 'graphql-transport-ws';

interface SocketState {
  principal: Principal | null;
  closed: boolean;
  onMessage: ((data: string) => Promise<void>) | null;
  closed$: ((code?: number, reason?: string) => Promise<void>) | null;
}

export function registerGraphqlSocket(ws: WebSocketRouter, engine: GraphqlEngine, services: GraphqlServices, onError: (error: unknown) => void): void {
  const server = makeServer<Record<string, unknown> | undefined, { principal: Principal }>({
    schema: engine.schema,
    onSubscribe: (ctx, _id, payload) => {
      const parsed = requestSchema.safeParse(payload);
      if (!parsed.success) return [new GraphQLError(`the subscribe payload is not a GraphQL request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')}`, { extensions: { code: 'BAD_REQUEST' } })];
      const prepared = engine.prepare(parsed.data);
      if ('errors' in prepared) return prepared.errors;
      const args: ExecutionArgs = {
        schema: engine.schema,
        document: prepared.document,
        operationName: prepared.operation.name?.value ?? null,
        variableValues: prepared.variables,
        contextValue: engine.context(ctx.extra.principal, services),
      };
      return args;
    },
    execute: (args) => execute(args),
    subscribe: (args) => subscribe(args),
  });

  ws.route<SocketState>('/graphql/ws', {
    authorize: ({ headers, principal }) => {
      const offered = (headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!offered.includes(GRAPHQL_WS_PROTOCOL)) throw badRequest(`this socket speaks the ${GRAPHQL_WS_PROTOCOL} subprotocol; offer it in Sec-WebSocket-Protocol`);
      return { principal, closed: false, onMessage: null, closed$: null };
    },
    open: (socket) => {
      const state = socket.getUserData().state;
      const adapter: GraphqlWsSocket = {
        protocol: GRAPHQL_WS_PROTOCOL,
        send: (data) => {
          if (!state.closed) socket.send(data, false);
        },
        close: (code, reason) => {
          if (!state.closed) socket.end(code ?? 1000, reason ?? '');
        },
        onMessage: (cb) => {
          state.onMessage = cb;
        },
      };
      state.closed$ = server.opened(adapter, { principal: state.principal! });
    },
    message: (socket: VezaSocket<SocketState>, data) => {
      const state = socket.getUserData().state;
      state.onMessage?.(Buffer.from(data).toString('utf8')).catch((error: unknown) => {
        onError(error);
        if (!state.closed) socket.end(1011, 'internal error');
      });
    },
    close: (socket, code, reason) => {
      const state = socket.getUserData().state;
      state.closed = true;
      void state.closed$?.(code, Buffer.from(reason).toString('utf8'));
    },
  });
}
