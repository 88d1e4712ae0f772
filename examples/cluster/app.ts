/**
 * app.ts - what each instance of the cluster serves.
 *
 * - `/stats`: this instance's id, the requests it has answered and its server figures, as JSON;
 * - anything else: `instance <id>` (so you can see which instance nginx picked).
 */
import type { HttpRequest, ServerStats } from "../../src/index.ts";

const encoder = new TextEncoder();

/** The handler of instance `id`; `stats` reads its server's figures. */
export function instanceHandler(id: string, stats: () => ServerStats): (req: HttpRequest) => Uint8Array {
  const hello = encoder.encode(`instance ${id}\n`);
  let requests = 0;
  return (req) => {
    requests++;
    if (req.string(req.path) === "/stats") {
      const { connections } = stats();
      return encoder.encode(`${JSON.stringify({ id, requests, openConnections: connections })}\n`);
    }
    return hello;
  };
}
