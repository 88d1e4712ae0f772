/**
 * probe.ts - the scanner's benchmark entry points (c/probe.c), compiled as a
 * translation unit of their own: a server does not compile them.
 */
import { cc } from "bun:ffi";

/** c/probe.c's functions: the scanner on a buffer, a scan loop, one FFI round trip. */
export function loadProbe() {
  return cc({
    source: `${import.meta.dir}/../../c/probe.c`,
    symbols: {
      fh_scan_probe: { args: ["ptr", "i32", "i32", "f64", "ptr"], returns: "i32" },
      fh_scan_loop: { args: ["ptr", "i32", "i32"], returns: "i32" },
      fh_noop: { args: ["i32"], returns: "i32" },
    },
  }).symbols;
}
