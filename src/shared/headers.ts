/**
 * What an HTTP header (or gRPC metadata) value may hold, checked where header values are
 * configured: the OTLP exporter's and the forwarder's headers.
 */

/**
 * Visible ASCII, with spaces inside: what both HTTP (RFC 9110 field values, without obsolete text)
 * and gRPC metadata (which refuses tabs) accept. A value outside it is refused where it is
 * configured, so that no HTTP or gRPC library refuses it later with an error quoting the value (a
 * secret).
 */
export const HEADER_VALUE = /^(?:[!-~](?:[ !-~]*[!-~])?)?$/;

/** How {@link HEADER_VALUE} reads in an error's "expected". */
export const HEADER_VALUE_FORM = 'visible ASCII characters, with spaces inside';
