// The side modules' event consumers, in start order (closed in reverse).
import { gamificationConsumer } from '../gamification/consumer.js';
import { historyConsumer } from '../history/consumer.js';
import { insightsConsumer } from '../insights/consumer.js';
import { recommendationsConsumer } from '../recommendations/consumer.js';
import { webhooksConsumer } from '../webhooks/consumer.js';
import type { ConsumerModule } from './contract.js';

export const consumerModules: readonly ConsumerModule[] = [recommendationsConsumer, insightsConsumer, gamificationConsumer, historyConsumer, webhooksConsumer];
