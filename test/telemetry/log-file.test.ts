import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogFile, utf8 } from '../../telemetry/log-file.js';

const line = (i: number): string => `{"n":${i},"pad":"${'x'.repeat(i % 97)}"}\n`;

/** A named pipe with a reader that starts paused; the writer end is non-blocking, as stdout pipes can be. */
function slowPipe(): { fd: number; resume: () => void; received: () => string; ended: Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'mg-logfile-'));
  const fifo = join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  // Read end first (non-blocking open needs no writer), then the write end (needs a reader).
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const reader = new Socket({ fd: readFd, readable: true, writable: false });
  reader.pause();
  const chunks: Buffer[] = [];
  reader.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve) => reader.once('end', () => resolve()));
  return { fd, resume: () => reader.resume(), received: () => Buffer.concat(chunks).toString('utf8'), ended };
}

describe('LogFile', () => {
  it('writes every batch, in order, and drained() resolves after the last byte', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-logfile-')), 'access.log');
    const lf = new LogFile(file);
    let expected = '';
    for (let b = 0; b < 500; b++) {
      let batch = '';
      for (let i = 0; i < 20; i++) batch += line(b * 20 + i);
      expected += batch;
      lf.write(batch);
    }
    await lf.drained();
    expect(readFileSync(file, 'utf8')).toBe(expected);
  });

  it('survives EAGAIN and short writes on a slow non-blocking pipe, losing nothing', async () => {
    const pipe = slowPipe();
    let dropped = 0;
    const lf = new LogFile(pipe.fd, { onDrop: (n) => (dropped += n) });
    let expected = '';
    // ~2 MB: far more than the 64 KiB a Linux pipe holds while nobody reads.
    for (let b = 0; b < 400; b++) {
      let batch = '';
      for (let i = 0; i < 100; i++) batch += line(b * 100 + i);
      expected += batch;
      lf.write(batch);
    }
    pipe.resume();
    await lf.drained();
    closeSync(pipe.fd);
    await pipe.ended;
    expect(dropped).toBe(0);
    expect(pipe.received().length).toBe(expected.length);
    expect(pipe.received()).toBe(expected);
  });

  it('drops and counts lines beyond its queue bound while the destination is stalled', async () => {
    const pipe = slowPipe();
    let dropped = 0;
    const lf = new LogFile(pipe.fd, { maxQueuedChars: 256 * 1024, onDrop: (n) => (dropped += n) });
    let offered = 0;
    for (let b = 0; b < 200; b++) {
      let batch = '';
      for (let i = 0; i < 50; i++) batch += line(i);
      offered += 50;
      lf.write(batch);
    }
    expect(dropped).toBeGreaterThan(0);
    pipe.resume();
    await lf.drained();
    closeSync(pipe.fd);
    await pipe.ended;
    const arrived = pipe.received().split('\n').length - 1;
    expect(arrived + dropped).toBe(offered);
    // Whole lines only: every line that arrived is intact JSON.
    for (const l of pipe.received().trimEnd().split('\n'))
      expect(() => JSON.parse(l) as unknown).not.toThrow();
  });

  it('drained() waits for what was written before it, not for later writes', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-logfile-')), 'busy.log');
    const lf = new LogFile(file);
    for (let i = 0; i < 100; i++) lf.write(line(i));
    let writing = true;
    let i = 100;
    // A steady writer that never lets the queue run empty while drained() is pending.
    const keepWriting = (): void => {
      if (!writing) return;
      lf.write(line(i++));
      setImmediate(keepWriting);
    };
    keepWriting();
    await lf.drained();
    writing = false;
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.length - 1).toBeGreaterThanOrEqual(100);
    expect(lines.slice(0, 100)).toEqual(Array.from({ length: 100 }, (_, k) => line(k).trimEnd()));
    await lf.drained();
    lf.close();
  });

  it('counts a failed write as dropped lines and keeps going', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mg-logfile-')), 'ro.log');
    closeSync(openSync(file, 'w'));
    const fd = openSync(file, 'r'); // writes fail with EBADF
    let dropped = 0;
    const lf = new LogFile(fd, { onDrop: (n) => (dropped += n) });
    lf.write(line(1) + line(2));
    lf.write(line(3));
    await lf.drained();
    expect(dropped).toBe(3);
    closeSync(fd);
  });
});

describe('utf8 (the writer encoding an ASCII batch as latin1)', () => {
  it('gives exactly the UTF-8 bytes, ASCII or not', () => {
    const cases = [
      '{"path":"/productpage","code":200}\n',
      '',
      '{"user_agent":"café ☕ 😀"}\n',
      'lone surrogate \ud800 and \udfff\n',
      'latin1 range \u00e9\u00ff but not ASCII\n',
      '\u2028 line separator\n',
    ];
    for (const text of cases) expect(utf8(text).equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('writes a non-ASCII line byte for byte as UTF-8', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshgate-logfile-'));
    const file = join(dir, 'utf8.log');
    const log = new LogFile(file);
    log.write('{"ua":"naïve"}\n');
    await log.drained();
    log.close();
    expect(readFileSync(file)).toEqual(Buffer.from('{"ua":"naïve"}\n', 'utf8'));
  });
});
