import * as Y from 'yjs';
import { z } from 'zod';
import type { Logger } from '../log.js';
import { roleFor } from '../server/auth.js';
import { badRequest, CloseCode, forbidden } from '../server/errors.js';
import type { WebSocketRouter } from '../server/websocket.js';
import type { VezaSocket } from '../server/websocket.js';
import { syncStep2, updateMessage } from '../collab/protocol.js';
import { DOC_ID_PATTERN } from '../shared/ids.js';
import { isUnixMs, MAX_UNIX_MS } from '../shared/time.js';
import type { LoggedUpdateRow, ReplayStore } from './replay-store.js';

const PAGE = 500;
const EMPTY_STATE = Y.encodeStateAsUpdate(new Y.Doc());
const MAX_SPEED = 1000;
/** Bytes queued to a viewer before sending waits for it to drain. */
const SEND_WINDOW = 1 << 20;

const controlSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('seek'), at: z.number().finite().nonnegative().max(MAX_UNIX_MS) }),
  z.object({ type: z.literal('pause') }),
  z.object({ type: z.literal('play') }),
  z.object({ type: z.literal('speed'), speed: z.number().positive().max(MAX_SPEED) }),
]);

interface Viewer {
  tenantId: string;
  docId: string;
  at: number;
  speed: number;
  playing: boolean;
  /** Log id of the last update the viewer holds. */
  position: string | null;
  /** Whether the viewer has been sent a state (a forward seek then only needs what follows). */
  hasState: boolean;
  /** Timeline time (Unix ms) that corresponded to wall time `wallStart` (performance.now()). */
  timelineStart: number;
  wallStart: number;
  queue: LoggedUpdateRow[];
  exhausted: boolean;
  timer: NodeJS.Timeout | null;
  /** Bumped by every seek and close: work started for an older generation is dropped. */
  generation: number;
  closed: boolean;
}

type ViewerSocket = VezaSocket<Viewer>;

/**
 * `ws://HOST/replay/<docId>?token=…&at=<ms>&speed=<x>`: the session as it was at `at` (a y-websocket
 * sync step 2 with the nearest checkpoint, then the updates logged after it up to `at`), then the recorded updates (sync update messages) at their
 * original pace times `speed`. Text messages steer it: {"type":"seek","at":ms}, {"type":"pause"},
 * {"type":"play"}, {"type":"speed","speed":x}. The server reports {"type":"state",…} after each
 * change, {"type":"reset","at":ms} before the state of a backward seek (start from a fresh Y.Doc;
 * a forward seek sends only the updates in between), and
 * {"type":"end","at":ms} when it has played everything recorded so far (it then pauses).
 */
export class ReplayService {
  private readonly viewers = new Set<ViewerSocket>();

  constructor(
    private readonly store: ReplayStore,
    ws: WebSocketRouter,
    private readonly logger: Logger,
    maxDocBytes: number,
  ) {
    ws.route<Viewer>('/replay/:doc', {
      // The state after a seek is one message as large as the document; updates wait for drains.
      maxBackpressure: Math.min(2 ** 31 - 1, maxDocBytes + 4 * SEND_WINDOW),
      closeOnBackpressureLimit: true,
      authorize: ({ params, principal, query }) => {
        const docId = params.doc ?? '';
        if (!DOC_ID_PATTERN.test(docId)) throw badRequest('document id must be 1-200 characters of letters, digits and ._:-');
        if (!roleFor(principal, docId)) throw forbidden(`no role on document ${docId}`);
        const at = query.has('at') ? Number(query.get('at')) : 0;
        const speed = query.has('speed') ? Number(query.get('speed')) : 1;
        if (!isUnixMs(at)) throw badRequest(`at must be a time in Unix milliseconds, from 0 to ${MAX_UNIX_MS}`);
        if (!(speed > 0 && speed <= MAX_SPEED)) throw badRequest(`speed must be above 0 and at most ${MAX_SPEED}`);
        // Playing from the start by default; `play=0` opens paused (the web client's viewer does).
        const playing = query.get('play') !== '0';
        return { tenantId: principal.tenantId, docId, at, speed, playing, position: null, hasState: false, timelineStart: at, wallStart: 0, queue: [], exhausted: false, timer: null, generation: 0, closed: false };
      },
      open: (ws) => {
        this.viewers.add(ws);
        void this.seek(ws, ws.getUserData().state.at);
      },
      message: (ws, data, isBinary) => this.control(ws, data, isBinary),
      drain: (ws) => this.schedule(ws),
      close: (ws) => {
        const viewer = ws.getUserData().state;
        viewer.closed = true;
        viewer.generation++;
        if (viewer.timer) clearTimeout(viewer.timer);
        this.viewers.delete(ws);
      },
    });
  }

  /** Closes every viewer (shutdown). */
  close(): void {
    for (const ws of [...this.viewers]) ws.end(CloseCode.goingAway, 'server shutting down');
  }

  private control(ws: ViewerSocket, data: ArrayBuffer, isBinary: boolean): void {
    const viewer = ws.getUserData().state;
    let command: z.infer<typeof controlSchema>;
    try {
      if (isBinary) throw new Error('control messages are JSON text');
      const parsed = controlSchema.safeParse(JSON.parse(Buffer.from(data).toString('utf8')));
      if (!parsed.success) throw new Error(`bad control message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`);
      command = parsed.data;
    } catch (error) {
      ws.end(CloseCode.protocolError, (error as Error).message.slice(0, 120));
      return;
    }
    const now = performance.now();
    switch (command.type) {
      case 'seek':
        void this.seek(ws, command.at);
        return;
      case 'pause':
        if (viewer.playing) {
          viewer.timelineStart = this.timelineAt(viewer, now);
          viewer.playing = false;
          this.stopTimer(viewer);
        }
        break;
      case 'play':
        if (!viewer.playing) {
          viewer.playing = true;
          viewer.wallStart = now;
          this.schedule(ws);
        }
        break;
      case 'speed':
        viewer.timelineStart = this.timelineAt(viewer, now);
        viewer.wallStart = now;
        viewer.speed = command.speed;
        this.stopTimer(viewer);
        this.schedule(ws);
        break;
    }
    this.report(ws);
  }

  /**
   * Moves the viewer to `at`. Forward from where it is, it only needs the updates in between (no
   * reset: the viewer's document already holds the rest); otherwise it gets a reset notice and the
   * whole state at `at`. Then playback goes on from there if playing.
   */
  private async seek(ws: ViewerSocket, at: number): Promise<void> {
    const viewer = ws.getUserData().state;
    const generation = ++viewer.generation;
    this.stopTimer(viewer);
    try {
      const { tenantId, docId } = viewer;
      const target = await this.store.lastUpdateAt(tenantId, docId, at);
      const forward = viewer.hasState && (target === null ? viewer.position === null : viewer.position === null || BigInt(target.id) >= BigInt(viewer.position));
      const parts = forward ? (target ? await this.store.updatesBetween(tenantId, docId, viewer.position, target.id) : []) : (await this.store.stateAt(tenantId, docId, at)).parts;
      // Before the first update there is nothing to wait for: the timeline starts at the recording's start.
      const first = target === null ? (await this.store.updatesAfter(tenantId, docId, null, 1))[0] : undefined;
      if (viewer.closed || generation !== viewer.generation) return;
      viewer.position = target?.id ?? null;
      viewer.timelineStart = first ? Math.max(at, first.at) : at;
      viewer.wallStart = performance.now();
      viewer.queue = [];
      viewer.exhausted = false;
      ws.cork(() => {
        if (!forward) {
          ws.send(JSON.stringify({ type: 'reset', at }), false);
          ws.send(syncStep2(parts[0] ?? EMPTY_STATE), true);
        }
        for (const part of forward ? parts : parts.slice(1)) ws.send(updateMessage(part), true);
      });
      viewer.hasState = true;
      this.report(ws);
      this.schedule(ws);
    } catch (error) {
      if (viewer.closed) return;
      this.logger.error({ err: error, doc: viewer.docId }, 'replay seek failed');
      ws.end(CloseCode.internalError, 'could not read the recording; retry later');
    }
  }

  /** Sends what is due, then sleeps until the next update is (fetching pages as it goes). */
  private schedule(ws: ViewerSocket): void {
    const viewer = ws.getUserData().state;
    if (!viewer.playing || viewer.closed || viewer.timer || ws.getBufferedAmount() > SEND_WINDOW) return;
    if (viewer.queue.length === 0) {
      if (viewer.exhausted) return;
      const generation = viewer.generation;
      this.store.updatesAfter(viewer.tenantId, viewer.docId, viewer.position, PAGE).then(
        (rows) => {
          if (viewer.closed || generation !== viewer.generation) return;
          viewer.queue = rows;
          if (rows.length === 0) {
            viewer.exhausted = true;
            viewer.timelineStart = this.timelineAt(viewer, performance.now());
            viewer.playing = false;
            ws.send(JSON.stringify({ type: 'end', at: viewer.timelineStart }), false);
            this.report(ws);
            return;
          }
          this.schedule(ws);
        },
        (error: unknown) => {
          if (viewer.closed) return;
          this.logger.error({ err: error, doc: viewer.docId }, 'replay read failed');
          ws.end(CloseCode.internalError, 'could not read the recording; retry later');
        },
      );
      return;
    }
    const now = this.timelineAt(viewer, performance.now());
    const due: LoggedUpdateRow[] = [];
    while (viewer.queue.length > 0 && viewer.queue[0]!.at <= now) due.push(viewer.queue.shift()!);
    if (due.length > 0) {
      ws.cork(() => {
        for (const row of due) ws.send(updateMessage(row.update), true);
      });
      viewer.position = due.at(-1)!.id;
    }
    if (viewer.queue.length === 0) return this.schedule(ws);
    const wait = (viewer.queue[0]!.at - now) / viewer.speed;
    viewer.timer = setTimeout(() => {
      viewer.timer = null;
      this.schedule(ws);
    }, Math.min(wait, 2 ** 31 - 1));
  }

  private timelineAt(viewer: Viewer, wallNow: number): number {
    return viewer.playing ? viewer.timelineStart + (wallNow - viewer.wallStart) * viewer.speed : viewer.timelineStart;
  }

  private stopTimer(viewer: Viewer): void {
    if (viewer.timer) clearTimeout(viewer.timer);
    viewer.timer = null;
  }

  private report(ws: ViewerSocket): void {
    const viewer = ws.getUserData().state;
    ws.send(JSON.stringify({ type: 'state', at: Math.round(this.timelineAt(viewer, performance.now())), playing: viewer.playing, speed: viewer.speed }), false);
  }
}
