/** A DNS A query for the backend's name, and a bounded check that a port answers it over UDP. */
import { createSocket } from "node:dgram";
import { DNS_NAME } from "../backends/index.ts";

export function dnsQueryPacket(id: number): Buffer {
  const labels = DNS_NAME.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "ascii")]));
  const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** Sends a query every 200 ms until one is answered or `timeoutMs` passes. */
export function waitForDnsAnswer(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    let id = 1;
    const finish = (ok: boolean) => {
      clearInterval(resend);
      clearTimeout(deadline);
      socket.close();
      resolve(ok);
    };
    socket.on("message", (msg) => {
      if (msg.length >= 12 && (msg[2]! & 0x80) !== 0) finish(true);
    });
    socket.on("error", () => undefined);
    const send = () => socket.send(dnsQueryPacket(id++ & 0xffff), port, "127.0.0.1");
    const resend = setInterval(send, 200);
    const deadline = setTimeout(() => finish(false), timeoutMs);
    send();
  });
}
