/**
 * --reload, for development: watch the app's directory (and --reload-extra-file paths) and call
 * back once per burst of changes. The master answers with the same rolling reload as SIGHUP, so a
 * change that breaks the app leaves the old workers serving.
 *
 * chokidar watches, not node:fs.watch: on Linux, Node 20's recursive fs.watch keeps a watch on the
 * file's inode, so after a save that writes a new file and renames it over the old one (vim,
 * `sed -i`, JetBrains safe write, `git checkout`) it no longer sees that file at all. chokidar
 * watches directories, follows renames and reports such a save as one `change`.
 */

import { statSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import picomatch from 'picomatch';

/** Editors write several events per save; changes this close together make one reload. */
const SETTLE_MS = 200;

export interface WatchOptions {
  /**
   * What to watch: the app's directory and the --reload-extra-file paths. A directory is filtered by
   * `include` and `exclude`; a file (or a path that does not exist yet) is watched whatever its name.
   */
  readonly paths: readonly string[];
  /** --reload-include globs. */
  readonly include: readonly string[];
  /** --reload-exclude globs. */
  readonly exclude: readonly string[];
}

/**
 * A matcher for a list of globs: one without a `/` is matched against the last part of the path (a
 * name), one with a `/` against the whole path. picomatch's own `basename` option would match every
 * glob against the name only, so the two kinds are compiled apart.
 */
function globMatcher(globs: readonly string[]): (path: string) => boolean {
  const options = { dot: true };
  const byName = globs.filter((g) => !g.includes('/'));
  const byPath = globs.filter((g) => g.includes('/'));
  const name = byName.length > 0 ? picomatch(byName, options) : () => false;
  const path = byPath.length > 0 ? picomatch(byPath, options) : () => false;
  return (rel) => name(rel.slice(rel.lastIndexOf('/') + 1)) || path(rel);
}

/** Which paths under a watched directory count, from the --reload-include/--reload-exclude globs. */
export function reloadFilter(include: readonly string[], exclude: readonly string[]) {
  const included = globMatcher(include);
  const excluded = globMatcher(exclude);
  const parts = (rel: string) => rel.split(sep).filter((p) => p !== '');
  return {
    /** True when `rel` or a directory above it is excluded: the watcher does not descend there. */
    excluded(rel: string): boolean {
      const segments = parts(rel);
      for (let i = 1; i <= segments.length; i++) {
        if (excluded(segments.slice(0, i).join('/'))) return true;
      }
      return false;
    },
    /** True when a change to the file at `rel` reloads. */
    reloads(rel: string): boolean {
      return !this.excluded(rel) && included(parts(rel).join('/'));
    },
  };
}

export interface WatchHandlers {
  /** The files changed in one burst, in the order first seen. */
  readonly onChange: (files: string[]) => void;
  /** What the watcher could not do (e.g. the system's inotify watch limit was reached). */
  readonly onError: (err: Error) => void;
  /** Every path is being watched: changes from now on are seen. */
  readonly onReady: () => void;
}

/** Starts watching; returns a stop function. */
export function watchForChanges(opts: WatchOptions, handlers: WatchHandlers): () => void {
  const { onChange, onError } = handlers;
  let timer: NodeJS.Timeout | null = null;
  const burst = new Set<string>();
  const changed = (file: string) => {
    burst.add(file);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      const files = [...burst];
      burst.clear();
      onChange(files);
    }, SETTLE_MS);
  };

  const filter = reloadFilter(opts.include, opts.exclude);
  const isDir = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  const dirs = opts.paths.map((p) => resolve(p)).filter(isDir);
  const extraFiles = new Set(opts.paths.map((p) => resolve(p)).filter((p) => !isDir(p)));
  const watchers: FSWatcher[] = [];
  let pending = dirs.length + extraFiles.size;
  const watchOne = (root: string, accepts: (path: string) => boolean, prune: (path: string) => boolean) => {
    const watcher = watch(root, {
      ignoreInitial: true,
      // Excluded directories (node_modules, .git) are never descended into, and files that would not
      // reload are not watched, so neither costs a watch.
      ignored: (path, stats) => prune(path) || (stats?.isFile() === true && !accepts(path)),
    });
    watcher.on('all', (event, path) => {
      if ((event === 'add' || event === 'change' || event === 'unlink') && accepts(path)) changed(path);
    });
    watcher.on('error', (err) => onError(err instanceof Error ? err : new Error(String(err))));
    watcher.once('ready', () => {
      if (--pending === 0) handlers.onReady();
    });
    watchers.push(watcher);
  };

  for (const root of dirs) {
    const rel = (path: string) => relative(root, path);
    watchOne(
      root,
      (path) => extraFiles.has(path) || filter.reloads(rel(path)),
      (path) => !extraFiles.has(path) && filter.excluded(rel(path)),
    );
  }
  for (const file of extraFiles) {
    watchOne(
      file,
      (path) => path === file,
      () => false,
    );
  }

  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) void w.close();
  };
}
