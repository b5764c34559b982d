// The Versions panel of a session, in the studio and the replay viewer: the versions newest first
// (label, author, time; automatic ones with their reason), "Name this version", opening one
// read-only, restoring one as a branch session (then opening it) or into this session (after a
// confirmation, with an Undo that restores the version taken just before), and renaming or deleting
// one's own. A viewer sees the list and opens versions; the buttons that change anything are not there.
import { h, type Session } from './api.js';
import { REASONS, roleOn, type HistoryApi, type Version } from './history-api.js';

export interface VersionsPanelOptions {
  /** Opens a version read-only (the replay viewer at its time). */
  open(version: Version): void;
  /** More buttons for a version (the replay viewer's "Compare from"). */
  extra?(version: Version): HTMLElement[];
  /** The list changed (loaded again after a change). */
  changed?(versions: Version[]): void;
}

export interface VersionsPanel {
  element: HTMLElement;
  versions(): Version[];
  refresh(): Promise<void>;
}

const time = (ms: number) => new Date(ms).toLocaleString();

export function versionsPanel(history: HistoryApi, session: Session, options: VersionsPanelOptions): VersionsPanel {
  let versions: Version[] = [];
  let role: string | null = null;
  const editable = () => role === 'owner' || role === 'editor';
  const list = h('ul', { class: 'version-list', 'data-testid': 'version-list' });
  const status = h('p', { class: 'version-status', role: 'status', 'data-testid': 'versions-status' });
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': 'versions-error' });
  const fail = (e: unknown) => {
    error.textContent = (e as Error).message;
  };

  // --- naming a version (editors and owners) ------------------------------------------------------
  const label = h('input', { name: 'label', maxLength: 100, required: true, placeholder: 'e.g. Chorus done', 'aria-label': 'version label', 'data-testid': 'version-label' });
  const description = h('textarea', { name: 'description', maxLength: 2000, rows: 2, placeholder: 'description (optional)', 'aria-label': 'version description (optional)', 'data-testid': 'version-description' });
  const nameButton = h('button', { type: 'submit', class: 'primary', 'data-testid': 'name-version' }, 'Name this version');
  const nameForm = h('form', { class: 'version-form', hidden: true }, label, description, nameButton);
  nameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void act(async () => {
      const made = await history.name(label.value, description.value.trim());
      label.value = '';
      description.value = '';
      status.replaceChildren(`Named “${made.label}”.`);
    });
  });

  /**
   * Runs a change, loads the list again either way, then says what went wrong: the reason appears
   * only once the list it speaks of is on screen, so a click after it lands on the current rows.
   */
  const act = async (change: () => Promise<void>) => {
    error.textContent = '';
    let failure: { reason: unknown } | null = null;
    try {
      await change();
    } catch (e) {
      failure = { reason: e };
    }
    await refresh();
    if (failure) fail(failure.reason);
  };

  /** Asks once more in the version's own row: `question`, then `yes` runs `run`. */
  const confirm = (row: HTMLElement, question: string, yes: string, run: () => Promise<void>) => {
    row.querySelector('.confirm')?.remove();
    const yesButton = h('button', { class: 'primary', 'data-testid': 'confirm-yes' }, yes);
    const noButton = h('button', { 'data-testid': 'confirm-no' }, 'Cancel');
    const box = h('div', { class: 'confirm', role: 'group', 'aria-label': question }, h('span', {}, question), yesButton, noButton);
    yesButton.addEventListener('click', () => {
      box.remove();
      void act(run);
    });
    noButton.addEventListener('click', () => box.remove());
    row.append(box);
    yesButton.focus();
  };

  const restoredInto = (version: Version, undo: Version | null) => {
    status.replaceChildren(`Restored “${version.label}”`);
    if (!undo) return;
    const undoButton = h('button', { class: 'small', 'data-testid': 'restore-undo' }, 'Undo');
    undoButton.addEventListener('click', () =>
      void act(async () => {
        undoButton.disabled = true;
        await history.restoreInto(undo.id);
        status.replaceChildren('Undone: the session is back as it was before the restore.');
      }),
    );
    status.append(' — ', undoButton);
  };

  const rename = (row: HTMLElement, version: Version) => {
    row.querySelector('.confirm')?.remove();
    const newLabel = h('input', { value: version.label, maxLength: 100, 'aria-label': `new label of ${version.label}`, 'data-testid': 'rename-label' });
    const newDescription = h('textarea', { maxLength: 2000, rows: 2, 'aria-label': `new description of ${version.label}`, 'data-testid': 'rename-description' });
    newDescription.value = version.description;
    const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'rename-save' }, 'Save');
    const cancel = h('button', { type: 'button', 'data-testid': 'rename-cancel' }, 'Cancel');
    const form = h('form', { class: 'confirm version-form' }, newLabel, newDescription, h('div', {}, save, ' ', cancel));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void act(async () => {
        await history.rename(version.id, { label: newLabel.value, description: newDescription.value });
        form.remove();
        status.replaceChildren(`Renamed to “${newLabel.value.trim()}”.`);
      });
    });
    cancel.addEventListener('click', () => form.remove());
    row.append(form);
    newLabel.focus();
  };

  const button = (testId: string, text: string, name: string, onclick: () => void) => h('button', { class: 'small', 'data-testid': testId, 'aria-label': `${text}: ${name}`, onclick }, text);

  const row = (version: Version) => {
    const item = h('li', { 'data-version': version.id, 'data-kind': version.kind });
    const mine = editable() && (version.author === session.userId || role === 'owner');
    const buttons: HTMLElement[] = [button('version-open', 'Open', version.label, () => options.open(version)), ...(options.extra?.(version) ?? [])];
    if (editable()) {
      buttons.push(
        button('version-branch', 'Restore as a branch', version.label, () =>
          void act(async () => {
            const { branch } = await history.branch(version.id);
            location.hash = `#/studio/${encodeURIComponent(branch.sessionId)}`;
          }),
        ),
        button('version-restore', 'Restore into this session', version.label, () =>
          confirm(item, `Replace the music of ${history.sessionId} with “${version.label}” for everyone in it?`, 'Restore', async () => {
            const { undo } = await history.restoreInto(version.id);
            restoredInto(version, undo);
          }),
        ),
      );
    }
    if (mine) {
      buttons.push(
        button('version-rename', 'Rename', version.label, () => rename(item, version)),
        button('version-delete', 'Delete', version.label, () =>
          confirm(item, `Delete the version “${version.label}”? The session itself does not change.`, 'Delete', async () => {
            await history.remove(version.id);
            status.replaceChildren(`Deleted “${version.label}”.`);
          }),
        ),
      );
    }
    const parts = [
      h('div', { class: 'version-head' }, h('b', { 'data-testid': 'version-name' }, version.label), ' ', h('span', { class: 'muted' }, `${version.author}, ${time(version.at ?? Date.parse(version.createdAt))}`)),
      version.kind === 'auto' && version.reason ? h('span', { class: 'badge', 'data-testid': 'version-reason' }, `automatic: ${REASONS[version.reason]}`) : null,
      version.description ? h('p', { class: 'version-description' }, version.description) : null,
      h('div', { class: 'version-buttons' }, ...buttons),
    ];
    item.append(...parts.filter((p): p is HTMLElement => p !== null));
    return item;
  };

  // The rows are drawn again only when the list changed, and only from the newest load: a reload
  // that finds the same versions (opening the panel, a change refused) leaves an open confirmation
  // or rename form where it is.
  let loads = 0;
  let drawn = '';
  const refresh = async () => {
    const load = ++loads;
    let loaded: Version[];
    try {
      role ??= await roleOn(session, history.sessionId);
      loaded = (await history.versions()).versions;
    } catch (e) {
      return fail(e);
    }
    if (load !== loads) return;
    versions = loaded;
    nameForm.hidden = !editable();
    const shown = JSON.stringify([role, versions]);
    if (shown === drawn) return;
    drawn = shown;
    list.replaceChildren(...versions.map(row));
    if (versions.length === 0) list.append(h('li', { class: 'muted' }, editable() ? 'No versions yet: name one to come back to it.' : 'No versions yet.'));
    options.changed?.(versions);
  };
  void refresh();

  const element = h('section', { class: 'versions', 'data-testid': 'versions', 'aria-label': 'Versions' }, nameForm, status, error, list);
  return { element, versions: () => versions, refresh };
}
