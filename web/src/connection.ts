// How every screen says it cannot reach the server, and finds out when it can again: one banner
// (the studio's, the replay's, the DJ room's) and one probe of the server's health.
import { h } from './api.js';

export interface ConnectionBanner {
  readonly element: HTMLElement;
  /** Shows the banner with what is happening and what the page does about it. */
  offline(text: string): void;
  online(): void;
}

export function connectionBanner(): ConnectionBanner {
  const element = h('div', { class: 'banner', 'data-testid': 'connection', role: 'status', hidden: true });
  return {
    element,
    offline: (text) => {
      element.textContent = text;
      element.hidden = false;
    },
    online: () => {
      element.hidden = true;
      element.textContent = '';
    },
  };
}

/** Resolves once the server answers its health check again (every `everyMs`), or rejects when `signal` aborts. */
export async function serverBack(signal: AbortSignal, everyMs = 1000): Promise<void> {
  for (;;) {
    if (signal.aborted) throw new Error('stopped waiting for the server');
    const ok = await fetch('/healthz', { cache: 'no-store', signal }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
