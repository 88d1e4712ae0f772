/**
 * The loop sleeps when idle, however slow a poll is. It drains in slices of
 * a few milliseconds and arms the core's wake-up after 100 empty polls (now: after the core has polled for 50 µs in one fh_poll call); a
 * poll that costs more than the slice allows (strace, a loaded VM) used to
 * end every slice before the hundredth empty poll, so the loop rescheduled
 * itself forever and an idle server spun at 100% CPU. Polls are slowed here
 * on purpose (50 µs each), and counted.
 */
import { afterAll, expect, test } from "bun:test";
import { loadCore } from "../src/ffi.ts";
import { newServer } from "../src/index.ts";

const core = loadCore() as unknown as { fh_poll: (srv: unknown) => number };
const original = core.fh_poll;
let polls = 0;
afterAll(() => {
  core.fh_poll = original;
});

test("with polls slowed to 50 µs each, an idle server sleeps between the core's wake-ups instead of polling on", async () => {
  core.fh_poll = (srv) => {
    polls++;
    const t = performance.now();
    while (performance.now() - t < 0.05) {}
    return original(srv);
  };
  const server = newServer({ port: 0, host: "127.0.0.1", handler: (req) => req.response(200, "ok") });
  const running = server.run();
  try {
    expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("ok");
    await Bun.sleep(300); // the last request's slice and its empty polls
    const before = polls;
    await Bun.sleep(1000);
    // Asleep but for the timeout sweep's wake-ups (4 a second, each a short run of empty polls: ~150
    // polls here); spinning, it made ~20,000 in that second.
    expect(polls - before).toBeLessThan(1000);
    // And it still wakes for the next request.
    expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("ok");
  } finally {
    core.fh_poll = original;
    await server.stop(true);
    await running.catch(() => {});
  }
});
