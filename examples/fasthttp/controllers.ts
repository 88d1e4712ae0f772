/**
 * controllers.ts - one function per route. Each takes what the router extracted from the
 * request and returns a complete response.
 */
import { json, text } from "./response.ts";

// Built once: the home page never changes.
const HOME = text(200, "Welcome to fasthttp!\n");

/** GET / */
export function home(): Uint8Array {
  return HOME;
}

/** GET /user/:id - ids are positive integers. */
export function getUser(id: string): Uint8Array {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return notFound(`/user/${id}`);
  return json(200, { id: Number(id), name: `User ${id}` });
}

/** POST /user - the body must be a JSON object; it is echoed back with 201 Created. */
export function createUser(body: string): Uint8Array {
  let user: unknown;
  try {
    user = JSON.parse(body);
  } catch {
    return json(400, { error: "the body is not valid JSON" });
  }
  if (typeof user !== "object" || user === null || Array.isArray(user)) {
    return json(400, { error: "the body must be a JSON object" });
  }
  return json(201, { created: user });
}

/** Anything else. */
export function notFound(path: string): Uint8Array {
  return json(404, { error: "not found", path });
}
