/**
 * The `files` source: `-f` paths (files or directories), read as `kubectl apply -f` reads them, and
 * watched so that every way a file is replaced is seen: an in-place write, a new file renamed over
 * the old one (editors, `kubectl cp`, atomic writers), and a ConfigMap volume's symlink swap (the
 * `..data` link re-pointed at a new timestamped directory).
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { readConfigFiles } from '../load.js';
import type { ConfigSource, ConfigSourceEvents, SourceSnapshot } from './source.js';

/**
 * Why the parent directory is watched and not the file: `fs.watch(file)` follows the inode, so once
 * the file is renamed over (or its symlink re-pointed) the watch sees the old, unlinked inode and
 * never fires again. A directory watch sees every entry change, including `..data` swaps, and
 * survives them.
 */
interface WatchedPath {
  /** The `-f` path as given. */
  readonly path: string;
  readonly isDirectory: boolean;
  /** `dev:ino:size:mtime` of what the path resolves to (through symlinks); '' when missing. */
  fingerprint: string;
  /**
   * The path itself is a symlink (a ConfigMap volume's `config.yaml` → `..data/config.yaml`): only
   * then can another entry of the directory change what it resolves to.
   */
  isSymlink: boolean;
}

/** `-f` paths as a {@link ConfigSource}. */
export class FileSource extends EventEmitter<ConfigSourceEvents> implements ConfigSource {
  readonly name = 'files';
  private watchers: FSWatcher[] = [];
  private started = false;

  /** @param paths `-f` values: files or directories (a directory contributes its *.yaml/*.yml/*.json). */
  constructor(readonly paths: readonly string[]) {
    super();
  }

  /** Reads every path now (see `readConfigFiles`). Never rejects. */
  read(): Promise<SourceSnapshot> {
    return readConfigFiles(this.paths);
  }

  /**
   * Watches each path's directory (a directory path: itself). A path that cannot be watched is
   * reported as an `error` event and skipped; the others still work.
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const path of this.paths) {
      const s = await stat(path).catch(() => undefined);
      const link = await isSymlink(path);
      if (!this.started) return; // closed meanwhile
      const entry: WatchedPath = {
        path,
        isDirectory: s?.isDirectory() ?? false,
        fingerprint: fingerprint(s),
        isSymlink: link,
      };
      const dir = entry.isDirectory ? path : dirname(resolve(path));
      try {
        const w = watch(dir, (_event, name) => void this.onEvent(entry, name));
        w.on('error', (err) => this.report(err));
        this.watchers.push(w);
      } catch (err) {
        this.report(new Error(`cannot watch ${dir} for ${path}: ${(err as Error).message}`));
      }
    }
  }

  /** An `error` event when someone listens (an unheard `error` event would throw). */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    this.started = false;
  }

  /**
   * A directory path changes with any entry of it. A file path changes when its own entry is
   * named, or when what it resolves to is no longer the same file (another entry of the directory,
   * such as `..data`, was re-pointed); unrelated files in the same directory are ignored.
   */
  private async onEvent(entry: WatchedPath, name: string | Buffer | null): Promise<void> {
    const own = name === null || String(name) === basename(entry.path);
    // Another entry of the directory (an access log written next to the config: one event per
    // write) cannot change a file path that is not a symlink: no `stat` for it. The bench's access
    // log next to its config cost ~0.5 µs of CPU per proxied request in `stat`s (CPU profile).
    if (!entry.isDirectory && !own && !entry.isSymlink) return;
    if (own && !entry.isDirectory) entry.isSymlink = await isSymlink(entry.path);
    const s = await stat(entry.path).catch(() => undefined);
    const next = fingerprint(s);
    const changed = next !== entry.fingerprint;
    entry.fingerprint = next;
    if (!this.started) return;
    if (entry.isDirectory || changed || own) {
      this.emit('change');
    }
  }
}

/** Whether `path` is a symlink itself (false when missing). */
async function isSymlink(path: string): Promise<boolean> {
  const l = await lstat(path).catch(() => undefined);
  return l?.isSymbolicLink() ?? false;
}

function fingerprint(s: Stats | undefined): string {
  return s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}` : '';
}
