// BoundedQueue: backpressure (push), drop-and-count (offer), close/drain semantics, and a long
// run through a tiny queue that must neither lose nor duplicate anything.
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../src/events/queue.js";

/** Lets every pending microtask (and promise continuation) run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Tracks whether a promise has settled, without awaiting it. */
function track(p: Promise<unknown>): { settled: () => boolean; rejected: () => unknown } {
  let settled = false;
  let error: unknown;
  p.then(
    () => (settled = true),
    (err: unknown) => {
      settled = true;
      error = err;
    },
  );
  return { settled: () => settled, rejected: () => error };
}

describe("BoundedQueue construction", () => {
  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects capacity %s", (capacity) => {
    expect(() => new BoundedQueue<number>(capacity)).toThrow(RangeError);
  });

  it("accepts capacity 1", () => {
    expect(new BoundedQueue<number>(1).capacity).toBe(1);
  });
});

describe("BoundedQueue.push (backpressure)", () => {
  it("resolves at once while there is room", async () => {
    const q = new BoundedQueue<number>(2);
    const a = track(q.push(1));
    const b = track(q.push(2));
    await settle();
    expect(a.settled()).toBe(true);
    expect(b.settled()).toBe(true);
    expect(q.length).toBe(2);
    expect(q.accepted).toBe(2);
  });

  it("waits while full and resumes waiting pushers in FIFO order, one per take", async () => {
    const q = new BoundedQueue<number>(2);
    await q.push(1);
    await q.push(2);
    const p3 = track(q.push(3));
    const p4 = track(q.push(4));
    await settle();
    expect(p3.settled()).toBe(false);
    expect(p4.settled()).toBe(false);
    expect(q.length).toBe(2);
    expect(q.accepted).toBe(2);

    expect(await q.take()).toBe(1);
    await settle();
    expect(p3.settled()).toBe(true);
    expect(p4.settled()).toBe(false);
    expect(q.length).toBe(2);

    expect(await q.take()).toBe(2);
    await settle();
    expect(p4.settled()).toBe(true);

    expect(await q.take()).toBe(3);
    expect(await q.take()).toBe(4);
    expect(q.length).toBe(0);
    expect(q.accepted).toBe(4);
    expect(q.drops()).toEqual({});
  });

  it("does not let a new push overtake one that is already waiting", async () => {
    const q = new BoundedQueue<string>(1);
    await q.push("a");
    const b = track(q.push("b"));
    await settle();
    expect(b.settled()).toBe(false);
    // A push right after the take, before "b" has had a chance to resume: the slot freed by
    // that take belongs to "b", which has waited longest.
    const t = q.take();
    const c = track(q.push("c"));
    expect(await t).toBe("a");
    await settle();
    expect(b.settled()).toBe(true);
    expect(c.settled()).toBe(false);
    expect(await q.take()).toBe("b");
    await settle();
    expect(c.settled()).toBe(true);
    expect(await q.take()).toBe("c");
  });

  it("wakes every waiting pusher when takes come faster than the pushers resume (no lost wake-up)", async () => {
    const q = new BoundedQueue<string>(1);
    await q.push("x");
    const a = track(q.push("a"));
    const b = track(q.push("b"));
    // Two takes back to back, before the woken pusher had a chance to run: the second one waits.
    const t1 = q.take();
    const t2 = q.take();
    expect(await t1).toBe("x");
    expect(await t2).toBe("a");
    await settle();
    expect(a.settled()).toBe(true);
    // The queue is empty now, so "b" must have got in; otherwise producer and consumer wait on each other forever.
    expect(b.settled()).toBe(true);
    const t3 = track(q.take());
    await settle();
    expect(t3.settled()).toBe(true);
  });

  it("rejects a push made after close", async () => {
    const q = new BoundedQueue<number>(4);
    q.close();
    await expect(q.push(1)).rejects.toThrow(/closed/);
    expect(q.accepted).toBe(0);
  });

  it("rejects pushes still waiting when the queue is closed, and keeps what was accepted", async () => {
    const q = new BoundedQueue<number>(1);
    await q.push(1);
    const pending = q.push(2);
    const t = track(pending);
    await settle();
    expect(t.settled()).toBe(false);
    q.close();
    await expect(pending).rejects.toThrow(/closed/);
    expect(await q.take()).toBe(1);
    expect(await q.take()).toBeUndefined();
    expect(q.accepted).toBe(1);
  });
});

describe("BoundedQueue.offer (drop and count)", () => {
  it("accepts until full, then drops and counts exactly per source", async () => {
    const q = new BoundedQueue<string>(3);
    const results: boolean[] = [];
    results.push(q.offer("a1", "A")); // accepted
    results.push(q.offer("b1", "B")); // accepted
    results.push(q.offer("a2", "A")); // accepted: now full
    for (let i = 0; i < 5; i++) results.push(q.offer(`a-drop-${i}`, "A"));
    for (let i = 0; i < 2; i++) results.push(q.offer(`b-drop-${i}`, "B"));
    expect(results).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(q.drops()).toEqual({ A: 5, B: 2 });
    expect(q.accepted).toBe(3);
    expect(q.length).toBe(3);

    // One take frees exactly one slot: the next offer gets in, the one after is dropped again.
    expect(await q.take()).toBe("a1");
    expect(q.offer("b2", "B")).toBe(true);
    expect(q.offer("b-drop-x", "B")).toBe(false);
    expect(q.drops()).toEqual({ A: 5, B: 3 });
    expect(q.accepted).toBe(4);

    const rest: string[] = [];
    q.close();
    for await (const item of q) rest.push(item);
    expect(rest).toEqual(["b1", "a2", "b2"]);
  });

  it("never drops while there is room, and hands an item straight to a waiting consumer", async () => {
    const q = new BoundedQueue<number>(1);
    const t = q.take();
    expect(q.offer(7, "A")).toBe(true);
    expect(await t).toBe(7);
    expect(q.offer(8, "A")).toBe(true);
    expect(q.drops()).toEqual({});
  });

  it("drops and counts offers after close", () => {
    const q = new BoundedQueue<number>(4);
    q.close();
    expect(q.offer(1, "A")).toBe(false);
    expect(q.drops()).toEqual({ A: 1 });
    expect(q.accepted).toBe(0);
  });

  it("returns a snapshot of the drop counters", () => {
    const q = new BoundedQueue<number>(1);
    q.offer(1, "A");
    q.offer(2, "A");
    const snap = q.drops();
    q.offer(3, "A");
    expect(snap).toEqual({ A: 1 });
    expect(q.drops()).toEqual({ A: 2 });
  });
});

describe("BoundedQueue.close", () => {
  it("lets the consumer drain what is queued, then gives undefined (repeatedly)", async () => {
    const q = new BoundedQueue<number>(4);
    await q.push(1);
    await q.push(2);
    q.offer(3, "A");
    q.close();
    expect(await q.take()).toBe(1);
    expect(await q.take()).toBe(2);
    expect(await q.take()).toBe(3);
    expect(await q.take()).toBeUndefined();
    expect(await q.take()).toBeUndefined();
  });

  it("wakes a consumer waiting on an empty queue with undefined", async () => {
    const q = new BoundedQueue<number>(4);
    const t = track(q.take());
    await settle();
    expect(t.settled()).toBe(false);
    q.close();
    await settle();
    expect(t.settled()).toBe(true);
    expect(await q.take()).toBeUndefined();
  });

  it("ends async iteration after the rest is drained", async () => {
    const q = new BoundedQueue<number>(8);
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const item of q) seen.push(item);
      return "ended";
    })();
    for (let i = 0; i < 20; i++) await q.push(i);
    q.close();
    await expect(consumer).resolves.toBe("ended");
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("supports only one waiting consumer", () => {
    const q = new BoundedQueue<number>(1);
    void q.take();
    expect(() => q.take()).toThrow(/one consumer/);
    q.close();
  });
});

describe("BoundedQueue under load", () => {
  it("moves 100k items through a capacity-8 queue in order, without loss or duplication", async () => {
    const N = 100_000;
    const q = new BoundedQueue<number>(8);
    let maxLength = 0;
    let waits = 0;

    const producer = (async () => {
      for (let i = 0; i < N; i++) {
        if (q.length >= q.capacity) waits++;
        await q.push(i);
        maxLength = Math.max(maxLength, q.length);
      }
      q.close();
    })();

    const received: number[] = [];
    let n = 0;
    for await (const item of q) {
      received.push(item);
      // A slow-ish consumer: it yields to the event loop now and then, so the producer fills the queue.
      if (++n % 1000 === 0) await settle();
      else if (n % 7 === 0) await Promise.resolve();
    }
    await producer;

    expect(received.length).toBe(N);
    let inOrder = true;
    for (let i = 0; i < N; i++) if (received[i] !== i) inOrder = false;
    expect(inOrder).toBe(true);
    expect(q.accepted).toBe(N);
    expect(q.drops()).toEqual({});
    expect(maxLength).toBeLessThanOrEqual(8);
    // The producer really was held back by a full queue, not just racing an idle consumer.
    expect(waits).toBeGreaterThan(0);
  });

  it("keeps FIFO order with several producers pushing concurrently", async () => {
    const q = new BoundedQueue<string>(3);
    const producers = ["A", "B", "C"].map(async (p) => {
      for (let i = 0; i < 2000; i++) await q.push(`${p}${i}`);
    });
    const all = Promise.all(producers).then(() => q.close());
    const got: string[] = [];
    for await (const item of q) got.push(item);
    await all;
    expect(got.length).toBe(6000);
    expect(new Set(got).size).toBe(6000);
    for (const p of ["A", "B", "C"]) {
      const mine = got.filter((s) => s.startsWith(p)).map((s) => Number(s.slice(1)));
      expect(mine).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    }
  });
});
