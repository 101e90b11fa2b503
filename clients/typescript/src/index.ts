// @fip/client: the platform's TypeScript client. Messages and service
// descriptors are generated from proto/ into ./gen (`npm run generate`);
// this layer adds the gRPC-web transport, sessions, errors and uploads.
export * from "./errors";
export * from "./session";
export * from "./transport";
export * from "./upload";
