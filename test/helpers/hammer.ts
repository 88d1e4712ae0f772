/**
 * A small load generator run as a child process by the event-loop test: keep-alive connections
 * that each send `depth` pipelined GETs, wait for the answers, and repeat, until at least `total`
 * responses have arrived and at least `minMs` have passed. Prints one JSON line
 * `{ start, end, responses }` (epoch milliseconds) and exits 0; any error or non-200 answer
 * exits 1 with the reason on stderr. Every wait is bounded by the helpers' timeouts.
 *
 * @example
 * bun test/helpers/hammer.ts <port> <total> <connections> <depth> <minMs>
 */
import { Client, concat, httpRequest } from "./net.ts";

const [port, total, connections, depth, minMs] = process.argv.slice(2).map(Number) as [number, number, number, number, number];
const HARD_LIMIT_MS = 10_000;

async function main(): Promise<void> {
  const batch = concat(...Array.from({ length: depth }, (_, i) => httpRequest("GET", `/h${i}`)));
  const clients = await Promise.all(Array.from({ length: connections }, () => Client.connect(port)));
  let responses = 0;
  const start = Date.now();
  const keepGoing = () => (responses < total || Date.now() - start < minMs) && Date.now() - start < HARD_LIMIT_MS;
  await Promise.all(
    clients.map(async (client) => {
      while (keepGoing()) {
        await client.write(batch);
        const answers = await client.next(depth, { timeoutMs: 5000 });
        for (let i = 0; i < answers.length; i++) {
          const res = answers[i]!;
          if (res.status !== 200 || res.text !== `/h${i}`) {
            throw new Error(`answer ${i} of a batch was ${res.status} ${JSON.stringify(res.text)}`);
          }
        }
        responses += answers.length;
      }
    }),
  );
  const end = Date.now();
  for (const client of clients) client.destroy();
  console.log(JSON.stringify({ start, end, responses }));
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(String(err?.stack ?? err));
    process.exit(1);
  },
);
