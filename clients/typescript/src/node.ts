// @fip/client/node: the SDK for Node scripts. gRPC over HTTP/2 to the
// gateway (@connectrpc/connect-node), a refresh token kept in a file,
// uploads streamed from disk (FileService.UploadFile, client streaming) and
// downloads streamed to disk (DownloadFile, resumed with `offset`, SHA-256
// checked), all in constant memory. Nothing here touches the DOM.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile, readFile, chmod } from "node:fs/promises";
import { basename, dirname, join, normalize, isAbsolute, sep } from "node:path";
import { once } from "node:events";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { Hub, type HubOptions, type RefreshTokenStore } from "./hub.js";
import { FileKind, UploadFileRequestSchema, type File as HubFile, type UploadFileRequest } from "./gen/fip/files/v1/file_pb.js";
import type { JobResultFile } from "./gen/fip/jobs/v1/job_result_pb.js";
import { integrityError, TokenExpired, toFipError } from "./exceptions.js";

export * from "./errors.js";
export * from "./exceptions.js";
export * from "./hub.js";
export * from "./services.js";

/** Upload chunk size: the hub's streams move 1 MiB messages. */
export const CHUNK_BYTES = 1 << 20;

/** gRPC over HTTP/2 (prior knowledge for http://, ALPN for https://) to the gateway. */
export function nodeTransport(baseUrl: string, interceptors: Interceptor[] = []): Transport {
  return createGrpcTransport({ baseUrl, interceptors });
}

/**
 * A refresh token in a file, mode 0600: written to a temporary file and
 * renamed over the old one, so a crash never leaves half a token.
 */
export function fileTokenStore(path: string): RefreshTokenStore {
  return {
    async get() {
      try {
        return (await readFile(path, "utf8")).trim() || null;
      } catch {
        return null;
      }
    },
    async set(token) {
      if (!token) {
        await rm(path, { force: true });
        return;
      }
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, token, { mode: 0o600 });
      await chmod(tmp, 0o600);
      await rename(tmp, path);
    },
  };
}

export interface ConnectOptions extends Omit<HubOptions, "transport"> {
  /** The gateway, e.g. `https://hub.example.org`. */
  url: string;
}

/** Where a transfer stands. */
export interface TransferProgress {
  /** Bytes moved so far (a resumed download counts what was already there). */
  bytes: number;
  /** All of them, when known (0 otherwise). */
  total: number;
}

export interface UploadOptions {
  /** The name the hub stores (default: the file's own name). */
  name?: string;
  contentType?: string;
  kind?: FileKind;
  /** The expected SHA-256 (hex): the hub refuses the upload when the bytes differ. */
  sha256?: string;
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface DownloadOptions {
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

/** A result written to disk. */
export interface Downloaded {
  jobId: string;
  fileId: string;
  path: string;
  sizeBytes: number;
  sha256: string;
}

/** A Hub over gRPC with Node's file transfers. */
export class NodeHub extends Hub {
  /**
   * Uploads `path` as metadata then ~1 MiB chunks read from a file stream
   * (memory stays flat whatever the size); the stored file, with the SHA-256
   * the hub computed.
   */
  async upload(path: string, options: UploadOptions = {}): Promise<HubFile> {
    const size = (await stat(path)).size;
    const send = () => {
      let sent = 0;
      const messages = async function* (): AsyncGenerator<UploadFileRequest> {
        yield create(UploadFileRequestSchema, {
          data: {
            case: "metadata",
            value: {
              name: options.name ?? basename(path),
              kind: options.kind ?? FileKind.INPUT,
              contentType: options.contentType ?? guessContentType(path),
              expectedSizeBytes: BigInt(size),
              expectedSha256: options.sha256 ?? "",
            },
          },
        });
        const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES, signal: options.signal });
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          sent += chunk.length;
          yield create(UploadFileRequestSchema, { data: { case: "chunk", value: chunk } });
          options.onProgress?.({ bytes: sent, total: size });
        }
      };
      return this.clients.files.uploadFile(messages(), { signal: options.signal });
    };
    let res;
    try {
      res = await send();
    } catch (e) {
      // An access token that expired under way: renew and send the file again.
      if (!(toFipError(e) instanceof TokenExpired)) throw toFipError(e);
      await this.refresh();
      res = await send();
    }
    return res.file!;
  }

  /**
   * Downloads one file to `path`: the bytes go to `path.part`, which a later
   * call resumes with `offset`; the file is kept only when the whole content
   * matches `sha256` (a mismatch deletes it and throws IntegrityCheckFailed).
   */
  async download(fileId: string, path: string, sha256: string, options: DownloadOptions = {}): Promise<Downloaded> {
    const part = `${path}.part`;
    await mkdir(dirname(path), { recursive: true });
    const hash = createHash("sha256");
    let offset = 0;
    // Hash what an earlier attempt left, streaming.
    try {
      for await (const chunk of createReadStream(part, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        offset += chunk.length;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    let total = 0;
    for (let attempt = 0; ; attempt++) {
      const out = createWriteStream(part, { flags: "a" });
      try {
        for await (const message of this.clients.files.downloadFile(
          { id: fileId, offset: BigInt(offset) },
          { signal: options.signal },
        )) {
          if (message.data.case === "metadata") {
            total = Number(message.data.value.sizeBytes);
          } else if (message.data.case === "chunk") {
            const chunk = message.data.value;
            hash.update(chunk);
            offset += chunk.length;
            if (!out.write(chunk)) await once(out, "drain");
            options.onProgress?.({ bytes: offset, total });
          }
        }
        out.end();
        await once(out, "close");
        break;
      } catch (e) {
        out.end();
        await once(out, "close");
        const err = toFipError(e);
        // Resume where the stream stopped: after a renewal, or once after a break.
        if (err instanceof TokenExpired && attempt < 2) {
          await this.refresh();
          continue;
        }
        if (err.error.code === 14 /* UNAVAILABLE */ && attempt < 2 && !options.signal?.aborted) continue;
        throw err;
      }
    }
    const actual = hash.digest("hex");
    if (actual !== sha256.toLowerCase()) {
      await rm(part, { force: true });
      throw integrityError(`${basename(path)}: SHA-256 ${actual} does not match the hub's ${sha256}`, {
        file_id: fileId,
        expected_sha256: sha256,
        actual_sha256: actual,
      });
    }
    await rename(part, path);
    return { jobId: "", fileId, path, sizeBytes: offset, sha256: actual };
  }

  /**
   * Downloads every result of a job into `dir` (each child's into a folder
   * named after it, for a job with several targets), SHA-256 checked.
   */
  async downloadResults(jobId: string, dir: string, options: DownloadOptions = {}): Promise<Downloaded[]> {
    const jobs = await this.resultJobs(jobId);
    const done: Downloaded[] = [];
    for (const id of jobs) {
      const listing = await this.results(id);
      if (!listing.complete) throw new Error(`the hub is still fetching the results of job ${id}: try again shortly`);
      const into = jobs.length > 1 ? join(dir, id) : dir;
      for (const result of listing.files) {
        const d = await this.download(result.fileId, join(into, safeRelative(result)), result.sha256, options);
        done.push({ ...d, jobId: id });
      }
    }
    return done;
  }
}

/** Signs nothing in yet: `await hub.login(...)`, or pass `accessToken`. */
export function connect(options: ConnectOptions): NodeHub {
  return new NodeHub({ ...options, transport: (interceptors) => nodeTransport(options.url, interceptors) });
}

/** A result's name as a path inside the download folder (never outside it). */
function safeRelative(result: JobResultFile): string {
  const name = normalize(result.name);
  if (!name || isAbsolute(name) || name.split(sep).includes("..")) {
    throw new Error(`refusing result name ${JSON.stringify(result.name)}`);
  }
  return name;
}

function guessContentType(path: string): string {
  if (path.endsWith(".gz") || path.endsWith(".bgz")) return "application/gzip";
  if (path.endsWith(".vcf")) return "text/plain";
  return "application/octet-stream";
}
