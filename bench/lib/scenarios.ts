/**
 * scenarios.ts - the load shapes every server is measured under.
 */

export interface Scenario {
  id: string;
  /** Short description for tables and the chart. */
  label: string;
  connections: number;
  /** Requests per write; 1 = no pipelining. */
  pipeline: number;
}

export function allScenarios(depth: number): Scenario[] {
  return [
    { id: "c1", label: "1 connection (latency)", connections: 1, pipeline: 1 },
    { id: "c50", label: "50 connections", connections: 50, pipeline: 1 },
    { id: "c1000", label: "1000 connections", connections: 1000, pipeline: 1 },
    { id: "pipelined", label: `256 connections, pipelined x${depth}`, connections: 256, pipeline: depth },
  ];
}

/** File descriptors to allow a process that holds `connections` sockets. */
export function fdLimitFor(connections: number): number {
  return Math.max(4096, connections * 2 + 1024);
}
