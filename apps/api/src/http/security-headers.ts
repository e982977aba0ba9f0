import type { RequestHandler, Response } from 'express';

/** For JSON answers: nothing may be loaded, framed or run on the strength of a response of this API. */
export const API_CONTENT_SECURITY_POLICY =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Security headers on every answer (set by hand: the few we need do not justify a dependency). An HTML page that
 * needs more sets its own Content-Security-Policy with `setContentSecurityPolicy`.
 */
export const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Content-Security-Policy', API_CONTENT_SECURITY_POLICY);
  // Honoured only over HTTPS (behind a TLS-terminating proxy); harmless on plain HTTP.
  res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  next();
};

export function setContentSecurityPolicy(res: Response, policy: string): void {
  res.setHeader('Content-Security-Policy', policy);
}
