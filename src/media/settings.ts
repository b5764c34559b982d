// Live media: the mediasoup workers, the addresses and ports their transports use, how viewers
// spread over routers, and the quality stats' period.
import { z } from 'zod';
import { int, type SettingsGroup, type SettingsOf } from '../shared/settings.js';

/** What the media plane, its live rooms and their events read. */
export const mediaSettings = {
  workers: { env: 'VEZA_MEDIA_WORKERS', flag: 'media-workers', schema: int(0, 1024).default(0), doc: 'mediasoup worker processes (0: one per CPU core)' },
  listenIp: { env: 'VEZA_MEDIA_LISTEN_IP', flag: 'media-listen-ip', schema: z.ipv4().or(z.ipv6()).default('127.0.0.1'), doc: 'Local IP that WebRTC and plain RTP transports listen on' },
  announcedAddress: { env: 'VEZA_MEDIA_ANNOUNCED_ADDRESS', flag: 'media-announced-address', schema: z.string().min(1).max(255).optional(), doc: 'Public IP or host name put in ICE candidates instead of the listen IP (behind NAT, or listening on 0.0.0.0)' },
  rtcMinPort: { env: 'VEZA_MEDIA_RTC_MIN_PORT', flag: 'media-rtc-min-port', schema: int(1024, 65535).default(40000), doc: 'Lowest UDP/TCP port of media transports' },
  rtcMaxPort: { env: 'VEZA_MEDIA_RTC_MAX_PORT', flag: 'media-rtc-max-port', schema: int(1024, 65535).default(49999), doc: 'Highest UDP/TCP port of media transports' },
  routerMaxConsumers: { env: 'VEZA_MEDIA_ROUTER_MAX_CONSUMERS', flag: 'media-router-max-consumers', schema: int(0, 100_000).default(300), doc: 'Consumers on one router of a room before new viewers go to a router on another worker (pipeToRouter); 0: no limit' },
  maxViewers: { env: 'VEZA_MEDIA_MAX_VIEWERS', flag: 'media-max-viewers', schema: int(0, 1_000_000).default(0), doc: 'Viewers receiving a live room over WebRTC; past it a viewer\'s receiving transport is refused with `room-full` and the client watches HLS (0: no limit)' },
  statsIntervalMs: { env: 'VEZA_MEDIA_STATS_INTERVAL_MS', flag: 'media-stats-interval-ms', schema: int(0, 3_600_000).default(10_000), doc: 'Period of the stream.quality events (bitrate, loss, jitter per consumer); 0: off' },
} as const satisfies SettingsGroup;

export type MediaSettings = SettingsOf<typeof mediaSettings>;
