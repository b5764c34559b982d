// One GraphQL request from its parameters to its result, shared by HTTP and the WebSocket: resolve
// persisted queries, parse and validate (cached per query text, with the document's operations and,
// for an operation without variables, its depth and cost), check depth and cost, then execute with a
// fresh context (the request's loaders). An operation run a second time is compiled by graphql-jit
// and runs compiled from then on (about a third less time per execution than graphql-js on the home
// screen); one that does not compile keeps running on graphql-js. A batch (several requests in one POST) shares one context
// and counts its operations' costs together against the same limit.
import {
  execute,
  GraphQLError,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { z } from 'zod';
import type { Principal } from '../server/auth.js';
import { createContext, type GraphqlContext, type GraphqlServices } from './context.js';
import { limitErrors, measureOperation, type OperationSize } from './limits.js';
import { sha256, type PersistedQueries } from './persisted.js';

/** The parameters of a GraphQL request (a POST body, a GET's query string, a `subscribe` message's payload). */
export const requestSchema = z.object({
  query: z.string().max(100_000).optional(),
  operationName: z.string().max(200).nullish(),
  variables: z.record(z.string(), z.unknown()).nullish(),
  extensions: z
    .object({ persistedQuery: z.object({ version: z.literal(1), sha256Hash: z.string().regex(/^[0-9a-f]{64}$/, 'sha256Hash must be 64 lowercase hex digits') }).optional() })
    .passthrough()
    .nullish(),
});
export type GraphqlRequest = z.output<typeof requestSchema>;

export interface EngineOptions {
  maxDepth: number;
  maxCost: number;
  operations: 'any' | 'allow-list';
}

/** A request ready to run, or the errors that stop it. */
export type Prepared = { document: DocumentNode; operation: OperationDefinitionNode; variables: Record<string, unknown>; cost: number } | { errors: GraphQLError[] };

interface Parsed {
  document: DocumentNode;
  fragments: Map<string, FragmentDefinitionNode>;
  operations: OperationDefinitionNode[];
  /** Depth and cost of the operations that take no variables (they cannot change). */
  sizes: Map<OperationDefinitionNode, OperationSize>;
  errors: readonly GraphQLError[];
}

const CACHE_MAX = 1000;

export const errorWith = (message: string, code: string, extra: Record<string, unknown> = {}) => new GraphQLError(message, { extensions: { code, ...extra } });

export class GraphqlEngine {
  /** Parsed and validated documents by query text; the oldest is dropped past CACHE_MAX. */
  private readonly documents = new Map<string, Parsed>();
  /**
   * Per operation of a cached document: how often it ran, then its compiled form (null where
   * graphql-jit cannot compile it). Dropped with the document.
   */
  private readonly compiled = new WeakMap<OperationDefinitionNode, { runs: number; query?: CompiledQuery | null }>();

  constructor(
    readonly schema: GraphQLSchema,
    private readonly persisted: PersistedQueries,
    private readonly options: EngineOptions,
  ) {}

  /** The query a request runs, per the persisted queries and the allow-list. */
  private queryOf(request: GraphqlRequest): string | GraphQLError {
    const hash = request.extensions?.persistedQuery?.sha256Hash;
    const allowList = this.options.operations === 'allow-list';
    if (hash === undefined) {
      if (request.query === undefined) return errorWith('the request has no query (and no extensions.persistedQuery)', 'BAD_REQUEST');
      if (allowList && !this.persisted.inManifest(sha256(request.query))) {
        return errorWith('this server runs only the operations of its manifest; this query is not one of them', 'OPERATION_NOT_ALLOWED');
      }
      return request.query;
    }
    if (request.query === undefined) {
      const known = this.persisted.get(hash);
      if (known === undefined) {
        return allowList
          ? errorWith('this server runs only the operations of its manifest; no operation has this hash', 'OPERATION_NOT_ALLOWED')
          : errorWith('PersistedQueryNotFound', 'PERSISTED_QUERY_NOT_FOUND');
      }
      return known;
    }
    if (sha256(request.query) !== hash) return errorWith('provided sha does not match query', 'PERSISTED_QUERY_HASH_MISMATCH');
    if (allowList) {
      if (!this.persisted.inManifest(hash)) return errorWith('this server runs only the operations of its manifest; it registers no others', 'OPERATION_NOT_ALLOWED');
      return request.query;
    }
    return request.query;
  }

  private parsed(query: string): Parsed {
    let entry = this.documents.get(query);
    if (entry) return entry;
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: 10_000 });
    } catch (error) {
      return { document: { kind: Kind.DOCUMENT, definitions: [] }, fragments: new Map(), operations: [], sizes: new Map(), errors: [error as GraphQLError] };
    }
    const errors = validate(this.schema, document, specifiedRules);
    const fragments = new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
    const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    entry = { document, fragments, operations, sizes: new Map(), errors };
    this.documents.set(query, entry);
    if (this.documents.size > CACHE_MAX) this.documents.delete(this.documents.keys().next().value!);
    return entry;
  }

  prepare(request: GraphqlRequest): Prepared {
    const query = this.queryOf(request);
    if (query instanceof GraphQLError) return { errors: [query] };
    const { document, fragments, operations, sizes, errors } = this.parsed(query);
    if (errors.length > 0) return { errors: [...errors] };
    const operation = request.operationName ? operations.find((o) => o.name?.value === request.operationName) : operations.length === 1 ? operations[0] : undefined;
    if (!operation) {
      return { errors: [errorWith(request.operationName ? `no operation named ${request.operationName} in the document` : 'the document has several operations; name one in operationName', 'BAD_REQUEST')] };
    }
    const variables = request.variables ?? {};
    const hash = request.extensions?.persistedQuery?.sha256Hash;
    // Registered once it has proven valid: a client cannot fill the store with junk.
    if (hash !== undefined && request.query !== undefined && this.options.operations === 'any') this.persisted.register(hash, query);
    let size = sizes.get(operation);
    if (!size) {
      size = measureOperation(this.schema, operation, fragments, variables);
      if (!operation.variableDefinitions?.length) sizes.set(operation, size);
    }
    const tooBig = limitErrors(size, this.options);
    if (tooBig.length > 0) return { errors: tooBig };
    return { document, operation, variables, cost: size.cost };
  }

  /**
   * Several requests sent together: each prepared as if alone, then their costs counted together
   * against the same limit (a batch is not a way round it): over it, none runs. They run at once
   * with one context, so their storage reads batch together too.
   */
  async runBatch(requests: readonly Prepared[], context: GraphqlContext): Promise<ExecutionResult[]> {
    const cost = requests.reduce((sum, p) => sum + ('errors' in p ? 0 : p.cost), 0);
    if (cost > this.options.maxCost) {
      const error = errorWith(`the batch's operations cost ${cost} together (one per field, times the limit of each list it is in); the limit is ${this.options.maxCost}: send fewer operations or ask for less`, 'QUERY_TOO_COSTLY', { cost, maxCost: this.options.maxCost });
      return requests.map(() => ({ errors: [error] }));
    }
    return Promise.all(requests.map((p) => this.run(p, context)));
  }

  context(principal: Principal, services: GraphqlServices): GraphqlContext {
    return createContext(principal, services);
  }

  async run(prepared: Prepared, context: GraphqlContext): Promise<ExecutionResult> {
    if ('errors' in prepared) return { errors: prepared.errors };
    if (prepared.operation.operation !== 'query') {
      return { errors: [errorWith(`${prepared.operation.operation} operations run over the WebSocket (graphql-transport-ws) at /graphql/ws`, 'BAD_REQUEST')] };
    }
    const compiled = this.compiledOf(prepared);
    if (compiled) return compiled.query(undefined, context, prepared.variables);
    return execute({ schema: this.schema, document: prepared.document, operationName: prepared.operation.name?.value ?? null, variableValues: prepared.variables, contextValue: context });
  }

  /** The operation's compiled form from its second run on; null while it runs on graphql-js. */
  private compiledOf(prepared: Exclude<Prepared, { errors: GraphQLError[] }>): CompiledQuery | null {
    let entry = this.compiled.get(prepared.operation);
    if (!entry) this.compiled.set(prepared.operation, (entry = { runs: 0 }));
    if (entry.query !== undefined) return entry.query;
    if (++entry.runs < 2) return null;
    try {
      const compiled = compileQuery(this.schema, prepared.document, prepared.operation.name?.value);
      entry.query = isCompiledQuery(compiled) ? compiled : null;
    } catch {
      entry.query = null;
    }
    return entry.query;
  }
}
