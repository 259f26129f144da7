/**
 * Ways a config file gets replaced on disk, as tests of hot reload need them: a new file renamed
 * over the old one (editors, atomic writers) and a mounted ConfigMap volume, which kubelet updates
 * by writing a new timestamped directory and re-pointing the `..data` symlink at it.
 */
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes `text` to a temporary file beside `file` and renames it over `file` (a new inode). */
export function renameOver(file: string, text: string): void {
  const tmp = `${file}.${process.hrtime.bigint()}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** A ConfigMap volume in a folder: `<dir>/config.yaml -> ..data/config.yaml`, `..data -> ..<n>`. */
export interface ConfigMapVolume {
  /** The folder (what `-f` names when the whole volume is read). */
  readonly dir: string;
  /** `<dir>/config.yaml`, the symlink users point `-f` at. */
  readonly file: string;
  /** Publishes `text` as kubelet does: new `..<n>/config.yaml`, then `..data` swapped atomically. */
  update(text: string): void;
}

/**
 * Lays out a ConfigMap volume with key `config.yaml` holding `text` in `dir` (which must exist).
 * @returns the volume, ready for {@link ConfigMapVolume.update}.
 */
export function configMapVolume(dir: string, text: string): ConfigMapVolume {
  let generation = 0;
  const update = (next: string): void => {
    const ts = `..2026_12_03_10_00_${String(generation++).padStart(2, '0')}.000000001`;
    mkdirSync(join(dir, ts));
    writeFileSync(join(dir, ts, 'config.yaml'), next);
    symlinkSync(ts, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  };
  update(text);
  const file = join(dir, 'config.yaml');
  symlinkSync('..data/config.yaml', file);
  return { dir, file, update };
}
