// The browser's transport: gRPC-web to the gateway.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

export { createClients, type FipClients } from "./services.js";

/** gRPC-web to the gateway at `baseUrl` ("" for the page's origin). */
export function grpcWebTransport(baseUrl: string, interceptors: Interceptor[] = []): Transport {
  return createGrpcWebTransport({
    baseUrl: baseUrl || (typeof location !== "undefined" ? location.origin : "/"),
    interceptors,
  });
}
