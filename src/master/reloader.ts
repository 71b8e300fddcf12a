/**
 * --reload, for development: watch the app's directory (and --reload-extra-file paths) with
 * fs.watch, and call back once per burst of changes. The master answers with the same rolling
 * reload as SIGHUP, so a change that breaks the app leaves the old workers serving.
 */

import { type FSWatcher, watch } from 'node:fs';

/** Editors write several events per save; changes this close together make one reload. */
const SETTLE_MS = 200;

export function watchForChanges(paths: readonly string[], onChange: (file: string) => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  const changed = (file: string) => {
    if (/(^|[\\/])(node_modules|\.[^\\/]+)([\\/]|$)/.test(file)) return;
    last = file;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange(last);
    }, SETTLE_MS);
  };
  const watchers: FSWatcher[] = paths.map((path) =>
    watch(path, { recursive: true }, (_event, name) => changed(name ? `${path}/${name}` : path)),
  );
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
