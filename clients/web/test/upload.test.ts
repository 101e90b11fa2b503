import { describe, expect, it } from "vitest";
import { SpeedMeter } from "@fip/client";

describe("upload progress", () => {
  it("reports speed over a sliding window and the time left", () => {
    const m = new SpeedMeter(3000);
    m.sample(0, 0, 100_000_000);
    const p = m.sample(1000, 10_000_000, 100_000_000);
    expect(p.bytesPerSecond).toBe(10_000_000);
    expect(p.secondsLeft).toBe(9);
    m.sample(2000, 20_000_000, 100_000_000);
    m.sample(3000, 30_000_000, 100_000_000);
    // A stall shows once the window moves past the fast part.
    const stalled = m.sample(6500, 30_000_000, 100_000_000);
    expect(stalled.bytesPerSecond).toBe(0);
    expect(stalled.secondsLeft).toBe(Infinity);
    expect(m.sample(7000, 100_000_000, 100_000_000).secondsLeft).toBe(0);
  });
});
