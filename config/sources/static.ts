/**
 * The `static` source: documents held in memory and replaced whole by the embedder (tests, a
 * program that builds its config in code). The simplest implementation of the seam; each
 * {@link StaticSource.set} is one `change`.
 */
import { EventEmitter } from 'node:events';
import type { ConfigSource, ConfigSourceEvents, RawDocument, SourceSnapshot } from './source.js';

/** Documents in memory as a {@link ConfigSource}. */
export class StaticSource extends EventEmitter<ConfigSourceEvents> implements ConfigSource {
  readonly name = 'static';
  private current: SourceSnapshot;
  private started = false;

  /** @param documents the initial documents (see {@link RawDocument}: decoded objects with provenance). */
  constructor(documents: readonly RawDocument[] = []) {
    super();
    this.current = { documents, diagnostics: [] };
  }

  read(): Promise<SourceSnapshot> {
    return Promise.resolve(this.current);
  }

  /** Replaces every document; emits `change` once started. */
  set(documents: readonly RawDocument[]): void {
    this.current = { documents, diagnostics: [] };
    if (this.started) this.emit('change');
  }

  start(): Promise<void> {
    this.started = true;
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.started = false;
    return Promise.resolve();
  }
}
