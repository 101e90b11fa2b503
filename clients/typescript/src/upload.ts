// Uploads over the REST multipart route (`POST /api/files/upload`): browsers
// cannot stream a request body over gRPC-web. XMLHttpRequest reports upload
// progress; an AbortSignal cancels (the hub then stores nothing).
import { ApiErrorException, apiErrorFromRest } from "./errors.js";

/** Where an upload stands. */
export interface UploadProgress {
  loaded: number;
  total: number;
  /** Recent speed in bytes per second (0 until known). */
  bytesPerSecond: number;
  /** Estimated seconds to go (Infinity until known). */
  secondsLeft: number;
}

/** The stored file, as `fip.files.v1.File` in REST JSON. */
export interface UploadedFile {
  id: string;
  name: string;
  sizeBytes: number;
  sha256: string;
  contentType: string;
}

export interface UploadOptions {
  /** The gateway ("" for the page's origin). */
  baseUrl: string;
  file: Blob;
  name: string;
  contentType?: string;
  /** The access token to send. */
  token: () => Promise<string>;
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
  /** The XMLHttpRequest constructor (tests). */
  xhr?: () => XMLHttpRequest;
  now?: () => number;
}

/**
 * Tracks speed over a sliding window of samples, so that a stall shows
 * at once and a burst does not dominate.
 */
export class SpeedMeter {
  private samples: { t: number; loaded: number }[] = [];
  constructor(private readonly windowMs = 3000) {}

  sample(t: number, loaded: number, total: number): UploadProgress {
    this.samples.push({ t, loaded });
    while (this.samples.length > 2 && t - this.samples[0].t > this.windowMs) {
      this.samples.shift();
    }
    const first = this.samples[0];
    const dt = (t - first.t) / 1000;
    const bytesPerSecond = dt > 0 ? (loaded - first.loaded) / dt : 0;
    const secondsLeft =
      loaded >= total ? 0 : bytesPerSecond > 0 ? (total - loaded) / bytesPerSecond : Infinity;
    return { loaded, total, bytesPerSecond, secondsLeft };
  }
}

/** An upload cancelled through its AbortSignal. */
export class UploadCancelled extends Error {
  constructor() {
    super("the upload was cancelled");
    this.name = "UploadCancelled";
  }
}

/** Uploads `file` as an input file; resolves to the stored file. */
export function uploadFile(options: UploadOptions): Promise<UploadedFile> {
  return options.token().then(
    (token) =>
      new Promise<UploadedFile>((resolve, reject) => {
        if (options.signal?.aborted) return reject(new UploadCancelled());
        const xhr = options.xhr ? options.xhr() : new XMLHttpRequest();
        const now = options.now ?? (() => performance.now());
        const meter = new SpeedMeter();
        const form = new FormData();
        // Metadata fields must come before the file part.
        form.append("name", options.name);
        form.append("kind", "input");
        if (options.contentType) form.append("content_type", options.contentType);
        form.append("expected_size_bytes", String(options.file.size));
        form.append("file", options.file, options.name);
        xhr.open("POST", `${options.baseUrl}/api/files/upload`);
        xhr.responseType = "text";
        if (token) xhr.setRequestHeader("authorization", `Bearer ${token}`);
        xhr.setRequestHeader("accept", "application/json");
        meter.sample(now(), 0, options.file.size);
        xhr.upload.onprogress = (e) => {
          const total = e.lengthComputable ? e.total : options.file.size;
          options.onProgress?.(meter.sample(now(), e.loaded, total));
        };
        const onAbort = () => xhr.abort();
        options.signal?.addEventListener("abort", onAbort, { once: true });
        const done = () => options.signal?.removeEventListener("abort", onAbort);
        xhr.onabort = () => {
          done();
          reject(new UploadCancelled());
        };
        xhr.onerror = () => {
          done();
          reject(
            new ApiErrorException(
              apiErrorFromRest(503, {
                error: "UNAVAILABLE",
                message: "the upload was interrupted: the hub could not be reached",
              }),
            ),
          );
        };
        xhr.onload = () => {
          done();
          let body: unknown = undefined;
          try {
            body = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
          } catch {
            body = undefined;
          }
          if (xhr.status >= 200 && xhr.status < 300 && body && typeof body === "object") {
            const f = body as Record<string, unknown>;
            resolve({
              id: String(f.id),
              name: String(f.name ?? options.name),
              sizeBytes: Number(f.size_bytes ?? options.file.size),
              sha256: String(f.sha256 ?? ""),
              contentType: String(f.content_type ?? ""),
            });
          } else {
            reject(new ApiErrorException(apiErrorFromRest(xhr.status, body)));
          }
        };
        xhr.send(form);
      }),
  );
}
