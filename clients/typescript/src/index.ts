// @fip/client: the platform's TypeScript client for browsers (and what is
// shared with Node). Messages and service descriptors are generated from
// proto/ into ./gen (`npm run generate`); this layer adds the gRPC-web
// transport, the browser session, errors and typed exceptions, the Hub
// (sign-in, targets, submit, watch, pages) and REST multipart uploads.
// Node scripts import "@fip/client/node" instead.
export * from "./errors.js";
export * from "./exceptions.js";
export * from "./hub.js";
export * from "./session.js";
export * from "./transport.js";
export * from "./upload.js";
