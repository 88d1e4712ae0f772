/**
 * Runs the core conformance suite (test/suites/core.ts) against fasthttp's
 * server on the backend chosen by FASTHTTP_BACKEND (epoll on Linux by
 * default). `npm test` runs this file once per backend: the same suite, not a
 * copy.
 */
import { expect, test } from "bun:test";
import { newServer } from "../src/index.ts";
import { runCoreSuite } from "./suites/core.ts";

const backend = process.env.FASTHTTP_BACKEND || (process.platform === "linux" ? "epoll" : "kqueue");

test(`the server runs on the ${backend} backend`, async () => {
  const server = newServer({ port: 0, host: "127.0.0.1", handler: () => new Uint8Array(0) });
  const done = server.run();
  expect(server.stats().backend).toBe(backend);
  await server.stop();
  await done;
});

runCoreSuite({ name: `${backend} backend`, newServer });
