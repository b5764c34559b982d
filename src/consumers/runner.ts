import type { ConsumerContext, ConsumerName, RunningConsumer } from './contract.js';
import { consumerModules } from './modules.js';

/** Starts the named consumers in order; the result closes them in reverse, each even if one fails. */
export async function runConsumers(ctx: ConsumerContext, names: readonly ConsumerName[]): Promise<RunningConsumer> {
  const running: { name: ConsumerName; consumer: RunningConsumer }[] = [];
  const close = async () => {
    for (const { name, consumer } of running.toReversed()) {
      await consumer.close().catch((error: unknown) => ctx.logger.error({ err: error, consumer: name }, 'consumer did not close cleanly'));
    }
  };
  try {
    for (const module of consumerModules) {
      if (names.includes(module.name)) running.push({ name: module.name, consumer: await module.start(ctx) });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}
