import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { RegisterPage, validateRegistration, safeNext } from "../src/pages/Auth";
import { validateDraft, formErrorsFrom } from "../src/pages/NewJob";
import { emptyDraft, newTarget } from "../src/app/draft";
import { listRequest } from "../src/pages/Jobs";
import { JobStatus } from "@fip/client/gen/fip/jobs/v1/job_pb";

describe("registration form", () => {
  it("shows each mistake at its labelled field before anything is sent", async () => {
    render(
      <MemoryRouter>
        <RegisterPage />
      </MemoryRouter>,
    );
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Username"), "a b");
    await user.type(screen.getByLabelText("Email"), "not-an-email");
    await user.type(screen.getByLabelText("Password"), "short");
    await user.type(screen.getByLabelText("Confirm password"), "other");
    await user.click(screen.getByRole("button", { name: "Create account" }));
    const username = screen.getByLabelText("Username");
    expect(username.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(username.getAttribute("aria-describedby")!.split(" ").pop()!)!.textContent).toMatch(/3 to 150/);
    expect(screen.getByText("Enter a valid email address")).toBeTruthy();
    expect(screen.getByText("At least 8 characters")).toBeTruthy();
    expect(screen.getByText("The passwords do not match")).toBeTruthy();
    expect(screen.getAllByText("Required")).toHaveLength(2);
  });

  it("accepts a valid registration", () => {
    expect(
      validateRegistration({
        username: "ada",
        email: "ada@example.org",
        password: "a long passphrase",
        confirm: "a long passphrase",
        firstName: "Ada",
        lastName: "Lovelace",
        institution: "",
        department: "",
      }),
    ).toEqual({});
  });

  it("returns only to paths of the app after sign-in", () => {
    expect(safeNext("/jobs/1")).toBe("/jobs/1");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
});

describe("new job form", () => {
  it("names every missing choice", () => {
    const d = emptyDraft();
    expect(validateDraft(d)).toEqual({
      name: "Give the job a name",
      input_file_id: "Choose a VCF file",
      build: "Choose the build of your input",
      "targets[0].service_id": "Choose a service",
    });
  });

  it("refuses the same target twice and a bad r² filter", () => {
    const t1 = { ...newTarget(), serviceId: "1", panelId: "2" };
    const t2 = { ...newTarget(), serviceId: "1", panelId: "2" };
    const d = { ...emptyDraft(), name: "x", build: "1", file: new File(["x"], "a.vcf"), targets: [t1, t2], r2Filter: "3" };
    expect(validateDraft(d)).toEqual({
      "targets[1].reference_panel_id": "This target is chosen twice",
      r2_filter: "Between 0 and 1",
    });
  });

  it("maps the hub's field paths onto the form", () => {
    expect(formErrorsFrom({ population: "not offered", build: "hg19 only" }, false)).toEqual({
      "targets[0].population": "not offered",
      build: "hg19 only",
    });
    expect(formErrorsFrom({ "targets[1].population": "not offered", "targets[0].build": "no" }, true)).toEqual({
      "targets[1].population": "not offered",
      build: "no",
    });
  });
});

describe("jobs filters", () => {
  it("become one ListJobs request", () => {
    const r = listRequest({ status: "active", service: "3", from: "2026-01-02", to: "2026-01-02", query: " study ", pageSize: 25, pageToken: "t" });
    expect(r.status).toEqual([JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING]);
    expect(r.serviceId).toBe(3n);
    expect(r.query).toBe("study");
    expect(r.topLevelOnly).toBe(true);
    expect(Number(r.createdBefore!.seconds - r.createdAfter!.seconds)).toBe(86400);
  });
});
