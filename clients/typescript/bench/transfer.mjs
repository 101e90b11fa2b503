// Uploads and downloads one large file through @fip/client/node against a
// running hub and prints throughput and the client's peak RSS:
//
//   FIP_URL=http://127.0.0.1:8080 FIP_USERNAME=ada FIP_PASSWORD=... \
//     node bench/transfer.mjs [MiB, default 1024]
//
// The file is written once to a temporary folder (pseudo-random bytes, so
// nothing compresses), uploaded with UploadFile, downloaded with
// DownloadFile (SHA-256 checked) and both copies are deleted at the end.
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomFillSync } from "node:crypto";
import { connect } from "@fip/client/node";

const mib = Number(process.argv[2] ?? 1024);
const { FIP_URL, FIP_USERNAME, FIP_PASSWORD } = process.env;
if (!FIP_URL || !FIP_USERNAME || !FIP_PASSWORD) {
  console.error("set FIP_URL, FIP_USERNAME and FIP_PASSWORD");
  process.exit(2);
}

const dir = await mkdtemp(join(tmpdir(), "fip-bench-"));
const source = join(dir, "bench.bin");
const hash = createHash("sha256");
{
  const out = createWriteStream(source);
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < mib; i++) {
    randomFillSync(block);
    hash.update(block);
    if (!out.write(block)) await once(out, "drain");
  }
  out.end();
  await once(out, "close");
}
const sha256 = hash.digest("hex");
const rssBefore = process.resourceUsage().maxRSS;

const hub = connect({ url: FIP_URL });
await hub.login(FIP_USERNAME, FIP_PASSWORD);

const mibps = (bytes, ms) => (bytes / (1 << 20) / (ms / 1000)).toFixed(1);
let t = performance.now();
const file = await hub.upload(source, { name: "bench.bin", sha256 });
const upMs = performance.now() - t;
t = performance.now();
await hub.download(file.id, join(dir, "copy.bin"), file.sha256);
const downMs = performance.now() - t;
await hub.clients.files.deleteFile({ id: file.id });
await rm(dir, { recursive: true, force: true });

const bytes = mib * (1 << 20);
console.log(`upload   ${mib} MiB in ${(upMs / 1000).toFixed(1)} s: ${mibps(bytes, upMs)} MiB/s`);
console.log(`download ${mib} MiB in ${(downMs / 1000).toFixed(1)} s: ${mibps(bytes, downMs)} MiB/s (SHA-256 checked)`);
console.log(
  `peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB ` +
    `(${(rssBefore / 1024).toFixed(0)} MiB before the transfers)`,
);
