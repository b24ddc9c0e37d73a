// Request framing a proxy must refuse although llhttp accepts it.
import type { IncomingMessage } from 'node:http';
import { HopFailure } from '../classify/failure.ts';

/**
 * Framing llhttp accepts but a proxy must refuse (RFC 9112 §6.1, §6.3). A transfer coding
 * besides chunked ("gzip, chunked", "identity, chunked", or split over two fields) would be
 * lost with the hop-by-hop Transfer-Encoding field while its coded bytes go on. Transfer-Encoding
 * in an HTTP/1.0 request means the framing is faulty. Transfer_Encoding and Content_Length are
 * read as framing fields by servers that fold "_" into "-" (CGI-style gateways), which would
 * frame the body differently from hopwatch.
 */
export function framingFailure(req: IncomingMessage): HopFailure | undefined {
  const raw = req.rawHeaders;
  let codings: string[] | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'transfer-encoding') {
      for (const coding of raw[i + 1]!.split(',')) {
        const token = coding.trim().toLowerCase();
        if (token) (codings ??= []).push(token);
      }
    } else if (name === 'transfer_encoding' || name === 'content_length') {
      return new HopFailure('request_malformed', `${raw[i]}: a framing field spelled with "_" is refused (servers that read it as ${name.replace('_', '-')} would frame the body differently)`);
    }
  }
  if (!codings) return undefined;
  if (req.httpVersion !== '1.1') {
    return new HopFailure('request_malformed', `Transfer-Encoding in an HTTP/${req.httpVersion} request: its framing cannot be trusted (RFC 9112 section 6.1)`);
  }
  if (codings.length !== 1 || codings[0] !== 'chunked') {
    return new HopFailure('request_malformed', `Transfer-Encoding "${codings.join(', ').slice(0, 60)}": only chunked is accepted`);
  }
  return undefined;
}
