/**
 * Config deltas: unchanged resources travel as indexes into the list the receiver holds and decode
 * to the receiver's own objects; a moved document keeps its content and takes its new position.
 */
import { describe, expect, it } from 'vitest';
import { decodeDelta, encodeByIdentity, encodeDelta } from '../../config/resource-delta.js';
import type { Resource } from '../../config/resources.js';
import { serviceEntry } from '../helpers/resources.js';

function at(r: Resource, line: number, docIndex = line): Resource {
  return { ...r, source: { file: 'a.yaml', docIndex, line } };
}

describe('config deltas', () => {
  const a = at(serviceEntry('a.local', 80, [{ port: 1 }]), 1);
  const b = at(serviceEntry('b.local', 80, [{ port: 2 }]), 10);
  const c = at(serviceEntry('c.local', 80, [{ port: 3 }]), 20);

  it('sends everything when the receiver holds nothing', () => {
    const { entries } = encodeDelta([a, b], undefined);
    expect(entries).toEqual([a, b]);
    expect(decodeDelta(entries, [])).toEqual([a, b]);
  });

  it('sends an unchanged resource as its index and a changed one whole', () => {
    const first = encodeDelta([a, b, c], undefined);
    const held = decodeDelta(first.entries, []);
    const b2 = at(serviceEntry('b.local', 80, [{ port: 99 }]), 10);
    // Parsed again: equal content, new objects.
    const again = [structuredClone(a), b2, structuredClone(c)];
    const { entries } = encodeDelta(again, first.next);
    expect(entries).toEqual([0, b2, 2]);
    const decoded = decodeDelta(entries, held);
    expect(decoded[0]).toBe(held[0]);
    expect(decoded[1]).toEqual(b2);
    expect(decoded[2]).toBe(held[2]);
  });

  it('moves a document that only changed place, keeping its content', () => {
    const first = encodeDelta([a, b], undefined);
    const held = decodeDelta(first.entries, []);
    const inserted = at(serviceEntry('new.local', 80, [{ port: 5 }]), 1);
    const shifted = [inserted, at(a, 5), at(b, 14)];
    const { entries } = encodeDelta(shifted, first.next);
    expect(entries).toEqual([
      inserted,
      { ref: 0, source: shifted[1]!.source },
      { ref: 1, source: shifted[2]!.source },
    ]);
    const decoded = decodeDelta(entries, held);
    expect(decoded).toEqual(shifted);
    expect(decoded[1]!.spec).toBe(held[0]!.spec);
  });

  it('rejects an index the receiver does not have', () => {
    expect(() => decodeDelta([3], [a])).toThrow('config delta names item 3 of a base of 1');
  });

  it('encodes by identity against the list the sender sent before', () => {
    expect(encodeByIdentity([a, c], [a, b, c])).toEqual([0, 2]);
    const c2 = structuredClone(c);
    expect(encodeByIdentity([c2, b], [a, b, c])).toEqual([c2, 1]);
    expect(encodeByIdentity([a], undefined)).toEqual([a]);
  });
});
