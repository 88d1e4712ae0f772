/**
 * app.ts - the apps the adapter benchmark servers serve: the same two routes, a hello world and a
 * JSON route, written as a user of each framework writes them (no precomputed responses), once
 * with Hono and once with Elysia. `apps[name]` is the app's `fetch`, as both servers take it.
 */
import { Elysia } from "elysia";
import { Hono } from "hono";

/** The Hono app. */
export const app = new Hono();
app.get("/", (c) => c.text("Hello, World!"));
app.get("/json", (c) => c.json({ message: "Hello, World!" }));

/** The same routes with Elysia: a string is sent as text/plain, an object as JSON. */
export const elysia = new Elysia().get("/", () => "Hello, World!").get("/json", () => ({ message: "Hello, World!" }));

/** The apps by name (the servers' second argument), with the label the benchmark prints. */
export const apps = {
  hono: { label: "Hono", fetch: app.fetch },
  elysia: { label: "Elysia", fetch: elysia.fetch },
} as const;

export type AppName = keyof typeof apps;

/** The app named by `name` (default "hono"); exits with a usage message for an unknown one. */
export function appNamed(name: string | undefined, usage: string): (typeof apps)[AppName] {
  const key = (name ?? "hono") as AppName;
  if (!(key in apps)) {
    console.error(`unknown app ${JSON.stringify(name)} (${Object.keys(apps).join(" or ")}); usage: ${usage}`);
    process.exit(2);
  }
  return apps[key];
}
