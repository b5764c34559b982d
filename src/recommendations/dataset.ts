// Reading interaction files such as Last.fm HetRec's user_artists.dat: a header line, then
// `userID \t artistID \t weight` rows. Raw ids are mapped to dense indices (0..n-1, in ascending order
// of raw id) because the model's matrices are indexed by them.
import { readFileSync } from 'node:fs';
import { RecommendationError } from './errors.js';
import { csrFromTriples, type CsrMatrix } from './sparse.js';

export interface InteractionData {
  /** users × items weights. */
  matrix: CsrMatrix;
  /** Raw id of each user index. */
  userIds: Int32Array;
  /** Raw id of each item index. */
  itemIds: Int32Array;
}

/** Parses a tab-separated (user, item, weight) file with one header line. */
export function readInteractionFile(file: string): InteractionData {
  return parseInteractions(readFileSync(file, 'utf8'), file);
}

export function parseInteractions(text: string, source = 'input'): InteractionData {
  const lines = text.split('\n').slice(1).filter((line) => line.trim() !== '');
  const raw = lines.map((line, i) => parseRow(line, `${source}:${i + 2}`));
  const userIds = distinctSorted(raw.map((row) => row[0]));
  const itemIds = distinctSorted(raw.map((row) => row[1]));
  const userIndex = indexOf(userIds);
  const itemIndex = indexOf(itemIds);
  const matrix = csrFromTriples(
    { rows: raw.map((row) => userIndex.get(row[0])!), cols: raw.map((row) => itemIndex.get(row[1])!), values: raw.map((row) => row[2]) },
    userIds.length,
    itemIds.length,
  );
  return { matrix, userIds, itemIds };
}

function parseRow(line: string, where: string): [number, number, number] {
  const fields = line.trim().split('\t');
  const numbers = fields.map(Number);
  if (fields.length !== 3 || !Number.isInteger(numbers[0]) || !Number.isInteger(numbers[1]) || !Number.isFinite(numbers[2]) || numbers[2]! < 0) {
    throw new RecommendationError(`${where}: expected "user<TAB>item<TAB>weight" with integer ids and a weight ≥ 0, got ${JSON.stringify(line)}`);
  }
  return numbers as [number, number, number];
}

function distinctSorted(values: number[]): Int32Array {
  return Int32Array.from(new Set(values)).sort();
}

function indexOf(ids: Int32Array): Map<number, number> {
  return new Map(Array.from(ids, (id, index) => [id, index]));
}
