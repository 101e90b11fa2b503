import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { apiError, apiErrorFromRest } from "@fip/client";
import { BadRequestSchema, ErrorInfoSchema, HelpSchema } from "@fip/client/gen/google/rpc/error_details_pb";
import { JobErrorAction, JobSchema } from "@fip/client/gen/fip/jobs/v1/job_pb";
import { actionFor, jobFailure } from "../src/app/actions";

function grpcError(code: Code, reason: string, metadata: Record<string, string>, extra: ConstructorParameters<typeof ConnectError>[3] = []) {
  return new ConnectError("the message", code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain: "fip", metadata } },
    ...(extra ?? []),
  ]);
}

describe("errors are decoded from google.rpc.Status details", () => {
  it("reads ErrorInfo, BadRequest and Help from a gRPC-web error", () => {
    const e = apiError(
      grpcError(Code.FailedPrecondition, "CREDENTIALS_MISSING", { service_id: "3", settings_path: "/settings/services/3" }, [
        { desc: HelpSchema, value: { links: [{ description: "configure", url: "/settings/services/3" }] } },
        { desc: BadRequestSchema, value: { fieldViolations: [{ field: "service_id", description: "no credential" }] } },
      ]),
    );
    expect(e.reason).toBe("CREDENTIALS_MISSING");
    expect(e.status).toBe("FAILED_PRECONDITION");
    expect(e.metadata.service_id).toBe("3");
    expect(e.help[0].url).toBe("/settings/services/3");
    expect(e.fieldViolations[0].field).toBe("service_id");
  });

  it("survives the details' binary round trip, as on the wire", () => {
    const info = create(ErrorInfoSchema, { reason: "SESSION_ENDED", domain: "fip" });
    const wire = new ConnectError("ended", Code.Unauthenticated, undefined, [{ desc: ErrorInfoSchema, value: info }]);
    const decoded = ConnectError.from(wire);
    expect(apiError(decoded).reason).toBe("SESSION_ENDED");
  });

  it("treats an error without ErrorInfo by its code", () => {
    expect(apiError(new ConnectError("down", Code.Unavailable)).reason).toBe("UNAVAILABLE");
    expect(apiError(new ConnectError("bug", Code.Internal)).reason).toBe("INTERNAL");
  });

  it("reads the REST error body the same way", () => {
    const e = apiErrorFromRest(400, {
      error: "INPUT_INVALID",
      message: "not a vcf",
      status: "INVALID_ARGUMENT",
      metadata: { file_id: "f1", check: "NOT_VCF" },
      field_violations: [{ field: "input_file_id", description: "not a VCF file", reason: "NOT_VCF" }],
    });
    expect(e.code).toBe(Code.InvalidArgument);
    expect(e.reason).toBe("INPUT_INVALID");
    expect(e.fieldViolations[0].reason).toBe("NOT_VCF");
  });
});

describe("the UI acts on the reason", () => {
  const act = (reason: string, metadata: Record<string, string> = {}, code = Code.FailedPrecondition) =>
    actionFor(apiError(grpcError(code, reason, metadata)));

  it("CREDENTIALS_MISSING opens Setup required for every service lacking one", () => {
    const a = act("CREDENTIALS_MISSING", { service_id: "2", service_ids: "2,5", settings_path: "/settings/services/2", state: "absent" });
    expect(a).toEqual({ kind: "setup_required", serviceIds: [2n, 5n], settingsPath: "/settings/services/2", inactive: false });
  });

  it("a paused credential says so", () => {
    const a = act("CREDENTIALS_MISSING", { service_id: "1", state: "inactive" });
    expect(a).toMatchObject({ kind: "setup_required", serviceIds: [1n], settingsPath: "/settings/services/1", inactive: true });
  });

  it("a refused or expired credential asks for an update", () => {
    expect(act("CREDENTIALS_REJECTED", { service_id: "4", settings_path: "/settings/services/4" })).toMatchObject({
      kind: "update_credentials",
      serviceId: 4n,
      expired: false,
    });
    expect(act("CREDENTIALS_EXPIRED", { service_id: "4" })).toMatchObject({ kind: "update_credentials", expired: true });
  });

  it("an ended session sends the user to sign in", () => {
    expect(act("SESSION_ENDED", {}, Code.Unauthenticated)).toEqual({ kind: "sign_in" });
    expect(act("TOKEN_EXPIRED", { token_kind: "access" }, Code.Unauthenticated)).toEqual({ kind: "sign_in" });
  });

  it("field violations go to their fields", () => {
    const e = apiError(
      grpcError(Code.InvalidArgument, "VALIDATION_FAILED", {}, [
        { desc: BadRequestSchema, value: { fieldViolations: [{ field: "name", description: "is required" }] } },
      ]),
    );
    expect(actionFor(e)).toEqual({ kind: "fix_fields", fields: { name: "is required" } });
  });

  it("a bad input lists every failed check", () => {
    const e = apiError(
      grpcError(Code.InvalidArgument, "INPUT_INVALID", { check: "TOO_FEW_SAMPLES" }, [
        {
          desc: BadRequestSchema,
          value: {
            fieldViolations: [
              { field: "input_file_id", description: "5 samples, at least 20", reason: "TOO_FEW_SAMPLES" },
              { field: "input_file_id", description: "not sorted", reason: "UNSORTED" },
            ],
          },
        },
      ]),
    );
    expect(actionFor(e)).toEqual({
      kind: "fix_input",
      problems: [
        { code: "TOO_FEW_SAMPLES", description: "5 samples, at least 20" },
        { code: "UNSORTED", description: "not sorted" },
      ],
    });
  });

  it("an unavailable server or a rate limit says when to retry", () => {
    expect(act("SERVICE_UNAVAILABLE", { service_id: "1", retry_after_seconds: "30" }, Code.Unavailable)).toEqual({
      kind: "retry_later",
      seconds: 30,
    });
    expect(act("RATE_LIMITED", { retry_after_seconds: "10" }, Code.ResourceExhausted)).toEqual({ kind: "wait", seconds: 10 });
  });

  it("an unknown reason is shown as it is", () => {
    expect(act("SOMETHING_NEW", {})).toEqual({ kind: "show", message: "the message" });
  });
});

describe("a failed job's action", () => {
  it("a refused token: update credentials at the job's link", () => {
    const job = create(JobSchema, {
      errorAction: JobErrorAction.UPDATE_CREDENTIALS,
      errorActionUrl: "/settings/services/7",
      errorMessage: "refused (HTTP 401): update your credentials",
    });
    expect(jobFailure(job)).toEqual({
      kind: "update_credentials",
      path: "/settings/services/7",
      message: "refused (HTTP 401): update your credentials",
    });
  });
  it("a bad file: fix the input", () => {
    expect(jobFailure(create(JobSchema, { errorAction: JobErrorAction.FIX_INPUT })).kind).toBe("fix_input");
  });
});
