/**
 * Runs the keep-alive and framing regression suite (test/suites/keepalive.ts) against fasthttp's
 * server on the backend chosen by FASTHTTP_BACKEND (epoll on Linux by default). `npm test` runs
 * this file once per backend: the same suite, not a copy.
 */
import { newServer } from "../src/index.ts";
import { runKeepAliveSuite } from "./suites/keepalive.ts";

const backend = process.env.FASTHTTP_BACKEND || (process.platform === "linux" ? "epoll" : "kqueue");

runKeepAliveSuite({ backend, newServer });
