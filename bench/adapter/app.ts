/**
 * app.ts - the Hono app both adapter benchmark servers serve: a hello world and a JSON route,
 * written as a Hono user writes them (no precomputed responses).
 */
import { Hono } from "hono";

export const app = new Hono();
app.get("/", (c) => c.text("Hello, World!"));
app.get("/json", (c) => c.json({ message: "Hello, World!" }));
