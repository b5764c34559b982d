export function workerCachePath(version: string, env?: NodeJS.ProcessEnv): string;
export function workerProblem(binary: string): string | null;
