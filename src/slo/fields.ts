/** The field names of the budget hashes (see `SLO_KEYS` in `semconv.ts`). */

/**
 * The field name of an operation of a service in the budget hashes: the service's length first, so
 * that no two (service, operation) pairs share a name whatever characters they hold. The own service
 * (the rollups' unscoped keys) is length 0: `0:checkout`; another one `8:payments/charge`.
 */
export function sloFieldName(service: string | undefined, operation: string): string {
  return service === undefined ? `0:${operation}` : `${service.length}:${service}${operation}`;
}
