// TLS alert descriptions (IANA "TLS Alerts" registry). RFC 9209's tls_alert_received carries the id
// and this name; OpenSSL reports alerts as reason strings such as SSLV3_ALERT_HANDSHAKE_FAILURE.
export const TLS_ALERTS: Readonly<Record<number, string>> = {
  0: 'close_notify', 10: 'unexpected_message', 20: 'bad_record_mac', 21: 'decryption_failed',
  22: 'record_overflow', 30: 'decompression_failure', 40: 'handshake_failure', 41: 'no_certificate',
  42: 'bad_certificate', 43: 'unsupported_certificate', 44: 'certificate_revoked', 45: 'certificate_expired',
  46: 'certificate_unknown', 47: 'illegal_parameter', 48: 'unknown_ca', 49: 'access_denied',
  50: 'decode_error', 51: 'decrypt_error', 60: 'export_restriction', 70: 'protocol_version',
  71: 'insufficient_security', 80: 'internal_error', 86: 'inappropriate_fallback', 90: 'user_canceled',
  100: 'no_renegotiation', 109: 'missing_extension', 110: 'unsupported_extension',
  111: 'certificate_unobtainable', 112: 'unrecognized_name', 113: 'bad_certificate_status_response',
  114: 'bad_certificate_hash_value', 115: 'unknown_psk_identity', 116: 'certificate_required',
  120: 'no_application_protocol', 121: 'ech_required',
};

const BY_NAME = new Map(Object.entries(TLS_ALERTS).map(([id, name]) => [name, Number(id)]));
BY_NAME.set('user_cancelled', 90); // OpenSSL's spelling

/**
 * The alert id inside an OpenSSL error code such as ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION.
 * OpenSSL 3 renamed the "sslv3 alert …" reasons to "ssl/tls alert …", and Node builds the code
 * from the reason text, so a received handshake_failure is ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE.
 */
export function alertIdFromOpenSsl(code: string): number | undefined {
  const m = /^ERR_SSL_(?:SSLV3_ALERT_|SSL\/TLS_ALERT_|TLSV1_ALERT_|TLSV13_ALERT_|TLSV1_)(.+)$/.exec(code);
  return m ? BY_NAME.get(m[1]!.toLowerCase()) : undefined;
}

export function alertName(id: number): string {
  return TLS_ALERTS[id] ?? `alert_${id}`;
}
