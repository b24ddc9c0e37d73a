// Loop detection: a request that carries this instance's own Via pseudonym has been through
// it already, and a destination that resolves to one of its own listeners would feed it its
// own traffic. Both are refused with proxy_loop_detected.
import { networkInterfaces } from 'node:os';
import { HopFailure } from '../classify/failure.ts';
import type { Lifecycle } from '../exchange/lifecycle.ts';
import { formatHostPort, unmapIPv4 } from '../util/address.ts';

export interface OwnListener {
  host: string;
  port: number;
}

export function registerLoopDetection(lifecycle: Lifecycle, viaName: string, listeners: () => readonly OwnListener[]): void {
  const pattern = new RegExp(`(^|[\\s,])1\\.1 ${escapeRegExp(viaName)}(?=$|[\\s,])`);
  lifecycle.intercept('policy', (ex) => {
    const via = ex.request.via;
    if (via && pattern.test(via)) return new HopFailure('loop_detected', `this request already passed through ${viaName} (Via: ${via.slice(0, 100)})`);
    return undefined;
  });
  lifecycle.intercept('connect', (ex) => {
    if (ex.port === undefined || !ex.resolved) return undefined;
    for (const own of listeners()) {
      if (own.port !== ex.port) continue;
      for (const address of ex.resolved) {
        if (isOwnAddress(address, own.host)) {
          return new HopFailure('loop_detected', `${formatHostPort(address, ex.port)} is this proxy's own listener`);
        }
      }
    }
    return undefined;
  });
}

function isOwnAddress(address: string, boundHost: string): boolean {
  const normalized = unmapIPv4(address);
  if (normalized === boundHost) return true;
  const wildcard = boundHost === '0.0.0.0' || boundHost === '::';
  // Connecting to the unspecified address reaches this host itself (Linux treats it as loopback).
  const loopback = normalized.startsWith('127.') || normalized === '::1' || normalized === '0.0.0.0' || normalized === '::' || normalized.startsWith('0.');
  if (loopback) return wildcard || boundHost.startsWith('127.') || boundHost === '::1' || boundHost === 'localhost';
  if (!wildcard) return false;
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.address === normalized));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
