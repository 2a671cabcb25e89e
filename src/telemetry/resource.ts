/**
 * The resource every span and metric carries, and the `service.name` that alerts and reports use.
 */

import {
  type DetectedResource,
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  type Resource,
  type ResourceDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import {
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
} from '@opentelemetry/semantic-conventions';
import type { PerfSidecarConfig } from '../config.ts';
import { isServiceName } from '../shared/options.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { hostPackageIdentity, type ServiceIdentity } from './identity.ts';
import { ATTR_PROCESS_COMMAND_ARGS, ATTR_PROCESS_COMMAND_LINE } from './semconv.ts';

/**
 * Drops the command line from the process detector's output: command lines can carry passwords
 * (`--redis-url=redis://:secret@...`), and resource attributes go on every span.
 */
const processDetectorWithoutArgs: ResourceDetector = {
  detect(config): DetectedResource {
    const detected = processDetector.detect(config);
    const attributes = { ...detected.attributes };
    delete attributes[ATTR_PROCESS_COMMAND_ARGS];
    delete attributes[ATTR_PROCESS_COMMAND_LINE];
    return { ...detected, attributes };
  },
};

/** The resource and the resolved `service.name`. */
export interface TelemetryResource {
  readonly resource: Resource;
  /** `service.name`, from synchronous sources only (the detectors may add more to the resource later). */
  readonly serviceName: string;
}

/**
 * The resource: the SDK defaults, the given identity defaults (else the host's package.json),
 * perf-sidecar as `telemetry.distro.*`, then the detectors (host, OS, process without its command
 * line, and the environment: `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`); a `serviceName`
 * given in the configuration wins over all of them.
 */
export function buildResource(
  config: PerfSidecarConfig,
  identity: ServiceIdentity | undefined,
): TelemetryResource {
  const own = identity ?? hostPackageIdentity();
  const defaults = defaultResource().merge(
    resourceFromAttributes({
      ...(own.name ? { [ATTR_SERVICE_NAME]: own.name } : {}),
      ...(own.version ? { [ATTR_SERVICE_VERSION]: own.version } : {}),
      [ATTR_TELEMETRY_DISTRO_NAME]: SCOPE_NAME,
      [ATTR_TELEMETRY_DISTRO_VERSION]: VERSION,
    }),
  );
  let resource = defaults.merge(
    detectResources({
      detectors: [
        serviceInstanceIdDetector,
        hostDetector,
        osDetector,
        processDetectorWithoutArgs,
        envDetector,
      ],
    }),
  );
  if (config.serviceName !== undefined) {
    resource = resource.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }));
  }
  const fromEnv = envDetector.detect().attributes?.[ATTR_SERVICE_NAME];
  const serviceName =
    config.serviceName ??
    (isServiceName(fromEnv) ? fromEnv : undefined) ??
    own.name ??
    String(defaultResource().attributes[ATTR_SERVICE_NAME] ?? 'unknown_service:node');
  return { resource, serviceName };
}
