// Achievements, quests, leaderboards and tips. The engine that awards them runs with the event
// consumers; the leaderboards they move are served from here.
import { defineModule } from '../modules/contract.js';
import { registerGamificationRoutes } from './routes.js';
import { GamificationService } from './service.js';

export const gamificationModule = defineModule({
  name: 'gamification',
  settings: null,
  async start(ctx) {
    const { deployment, storage, bus, logger } = ctx;
    const gamification = await GamificationService.start({ storage, bus, logger, redisUrl: deployment.redisUrl, leaderboardPrefix: `${deployment.eventsStream}:lb:` });
    return {
      api: gamification,
      routes: () => registerGamificationRoutes(ctx.http, ctx.ws, gamification),
      close: () => gamification.close(),
    };
  },
});
