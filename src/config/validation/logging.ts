import type { OptionName } from '../options.js';
import type { OptionReader } from '../reader.js';
import type { LoggingPart } from '../types.js';

export type { LoggingPart };

/** What each log line shows instead of oauth2-proxy's text template. */
const JSON_FIELDS: Readonly<Record<string, string>> = {
  auth_logging_format: 'time, event, user, msg and the event\'s fields',
  request_logging_format: 'time, method, path, status, durationMs, user, client, requestId',
  standard_logging_format: 'time, level, msg and fields',
};

/**
 * oauth2-proxy's three log streams (standard, auth, request) and where errors go. Its text
 * templates (*_logging_format) are accepted: Portcullis writes JSON lines, so a template other
 * than the default draws a warning naming the fields a line has instead.
 */
export function validateLogging(r: OptionReader): LoggingPart {
  for (const name of ['auth_logging_format', 'request_logging_format', 'standard_logging_format'] as const satisfies readonly OptionName[]) {
    if (r.str(name) !== r.spec(name).default && r.str(name) !== '') {
      r.warnings.push(`${r.spec(name).env} is not used: Portcullis writes JSON lines (${JSON_FIELDS[name]}), not oauth2-proxy's text templates`);
    }
  }
  return {
    authLogging: r.bool('auth_logging'),
    standardLogging: r.bool('standard_logging'),
    errorsToInfoLog: r.bool('errors_to_info_log'),
  };
}
