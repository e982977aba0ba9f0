import type { GatewayRejection } from './gateway-common.ts';
import type { InstanceDirectory } from './instance-directory.ts';
import type { DocumentObject } from './render.ts';
import type { RequestParams } from './request-params.ts';
import type { Scenario } from './scenario.ts';

/**
 * What an action (actions.ts, monitoring-agent-actions.ts) is handed and answers: either an action result (HTTP 200,
 * which may itself report a failure) or a gateway-style error document (missing or invalid parameter, unknown
 * instance).
 */

export type ActionAnswer =
  | {
      readonly kind: 'result';
      readonly rootName: string;
      readonly errorCode: number;
      readonly document: DocumentObject;
    }
  | ({ readonly kind: 'error' } & GatewayRejection);

export type ActionContext = {
  params: RequestParams;
  requestId: string;
  nowMs: number;
  scenario: Readonly<Scenario>;
  instances: InstanceDirectory;
  /** Told when a NodeInstall or InstallMonitoringAgent actually starts an install (not for no-ops or refusals). */
  onInstallStarted(instanceId: string): void;
};
