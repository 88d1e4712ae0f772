/**
 * Runs the core conformance suite (test/suites/core.ts) against fasthttp's server with the
 * backend the platform picks. Another backend gets its own runCoreSuite call here.
 */
import { newServer } from "../src/index.ts";
import { runCoreSuite } from "./suites/core.ts";

runCoreSuite({ name: "default backend", newServer });
