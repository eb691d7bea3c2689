/** Sluice only: publish-to-accept time, and the request/connection rate with 10,000 routes vs 1. */

import { newConnectionsWorkload, redisRequestsWorkload } from "./redis.ts";
import { median, type Workload } from "./workload.ts";

export const publishWorkload: Workload = {
  key: "publish",
  name: "publish → new port accepting",
  figures: [{ id: "publish_to_accept_ms", label: "publish → port accepts", unit: "ms", better: "lower" }],
  quick: true,
  skip: (ctx) => (ctx.target.controlPlane ? undefined : "no control plane"),
  async run(ctx) {
    return { publish_to_accept_ms: await ctx.target.controlPlane!.publishToAcceptMs() };
  },
};

export const routeScaleWorkload: Workload = {
  key: "routes",
  name: "10,000 routes vs 1",
  figures: [
    { id: "routes_10k_newconn_ratio", label: "new conn rate, 10k routes/1", unit: "×", better: "higher" },
    { id: "routes_10k_get_ratio", label: "GET -P1 rate, 10k routes/1", unit: "×", better: "higher" },
    { id: "publish_10k_ms", label: "publish 10k routes → accepts", unit: "ms", better: "lower" },
  ],
  quick: false,
  once: true,
  skip: (ctx) => (ctx.target.controlPlane ? undefined : "no control plane"),
  async run(ctx) {
    const getP1 = redisRequestsWorkload(1);
    const rates = async () => {
      const conn: number[] = [];
      const get: number[] = [];
      for (let i = 0; i < ctx.runs; i++) {
        conn.push((await newConnectionsWorkload.run(ctx)).ping_newconn_rps!);
        get.push((await getP1.run(ctx)).get_p1_rps!);
      }
      return { conn: median(conn), get: median(get) };
    };
    const one = await rates();
    const publishMs = await ctx.target.controlPlane!.addRoutes(ctx.extraRoutes);
    const many = await rates();
    return {
      routes_10k_newconn_ratio: many.conn / one.conn,
      routes_10k_get_ratio: many.get / one.get,
      publish_10k_ms: publishMs,
    };
  },
};
