// The clients of every public service over one transport (gRPC-web in the
// browser, gRPC over HTTP/2 in Node).
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { UserService } from "./gen/fip/user/v1/user_service_pb.js";
import { CredentialService } from "./gen/fip/user/v1/credential_service_pb.js";
import { AuditService } from "./gen/fip/user/v1/audit_service_pb.js";
import { RegistryService } from "./gen/fip/registry/v1/registry_service_pb.js";
import { JobService } from "./gen/fip/jobs/v1/job_service_pb.js";
import { FileService } from "./gen/fip/files/v1/file_service_pb.js";
import { NotificationService } from "./gen/fip/notify/v1/notification_service_pb.js";
import { MonitorService } from "./gen/fip/monitor/v1/monitor_service_pb.js";

export interface FipClients {
  users: Client<typeof UserService>;
  credentials: Client<typeof CredentialService>;
  audit: Client<typeof AuditService>;
  registry: Client<typeof RegistryService>;
  jobs: Client<typeof JobService>;
  files: Client<typeof FileService>;
  notifications: Client<typeof NotificationService>;
  monitor: Client<typeof MonitorService>;
}

/** One client per public service, sharing `transport`. */
export function createClients(transport: Transport): FipClients {
  return {
    users: createClient(UserService, transport),
    credentials: createClient(CredentialService, transport),
    audit: createClient(AuditService, transport),
    registry: createClient(RegistryService, transport),
    jobs: createClient(JobService, transport),
    files: createClient(FileService, transport),
    notifications: createClient(NotificationService, transport),
    monitor: createClient(MonitorService, transport),
  };
}
