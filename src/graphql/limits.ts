// Depth and cost of an operation, checked after validation and before it runs. Depth counts nested
// selections (fragments are followed, not counted). Cost is one per field, times the size of every
// list it sits in: a list's `limit` argument (or its default); a list without one inside a field that
// takes a `limit` (a leaderboard's entries), that limit; else LIST_GUESS items.
import {
  GraphQLError,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  Kind,
  valueFromAST,
  type ArgumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** Items assumed for a list field that takes no `limit` (a session's tracks, a standing's achievements). */
export const LIST_GUESS = 10;

export interface OperationSize {
  depth: number;
  cost: number;
}

export function measureOperation(schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>, variables: Record<string, unknown>): OperationSize {
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  if (!root) return { depth: 0, cost: 0 };
  let depth = 0;
  const walk = (set: SelectionSetNode, parent: GraphQLObjectType, level: number, multiplier: number, seen: ReadonlySet<string>, inherited: number | null = null): number => {
    depth = Math.max(depth, level);
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const field = parent.getFields()[selection.name.value];
        if (!field) continue; // __typename and introspection cost nothing
        cost += multiplier;
        const named = getNamedType(field.type);
        if (selection.selectionSet && isObjectType(named)) {
          const limit = limitOf(field, selection.arguments ?? [], variables);
          const size = isListType(getNullableType(field.type)) ? (limit ?? inherited ?? LIST_GUESS) : 1;
          cost += walk(selection.selectionSet, named, level + 1, multiplier * size, seen, size === 1 ? limit : null);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        cost += walk(selection.selectionSet, isObjectType(on) ? on : parent, level, multiplier, seen, inherited);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || seen.has(name)) continue; // validation refuses cycles; this guards the walk
        const on = schema.getType(fragment.typeCondition.name.value);
        cost += walk(fragment.selectionSet, isObjectType(on) ? on : parent, level, multiplier, new Set([...seen, name]), inherited);
      }
    }
    return cost;
  };
  const cost = walk(operation.selectionSet, root, 0, 1, new Set());
  return { depth, cost };
}

/** The field's `limit` argument as given (or its default); null when it takes none. */
function limitOf(field: GraphQLField<unknown, unknown>, args: readonly ArgumentNode[], variables: Record<string, unknown>): number | null {
  const limitArg = field.args.find((a) => a.name === 'limit');
  if (!limitArg) return null;
  const given = args.find((a) => a.name.value === 'limit');
  const value = given ? valueFromAST(given.value, limitArg.type, variables) : limitArg.defaultValue;
  return typeof value === 'number' && value > 0 ? value : null;
}

/** Errors for an operation over the limits (empty when within them). */
export function limitErrors(size: OperationSize, limits: { maxDepth: number; maxCost: number }): GraphQLError[] {
  const errors: GraphQLError[] = [];
  if (size.depth > limits.maxDepth) {
    errors.push(new GraphQLError(`the operation is ${size.depth} levels deep; the limit is ${limits.maxDepth}`, { extensions: { code: 'QUERY_TOO_DEEP', depth: size.depth, maxDepth: limits.maxDepth } }));
  }
  if (size.cost > limits.maxCost) {
    errors.push(
      new GraphQLError(`the operation costs ${size.cost} (one per field, times the limit of each list it is in); the limit is ${limits.maxCost}: ask for fewer items or fields`, {
        extensions: { code: 'QUERY_TOO_COSTLY', cost: size.cost, maxCost: limits.maxCost },
      }),
    );
  }
  return errors;
}
