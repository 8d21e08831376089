// Prometheus counters and latency histograms per route. Routes are labelled by their pattern
// (`/api/v1/ai-configs/:id`), never the raw path, so label cardinality stays bounded.
import type { Context } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerEventLoopMetrics } from '../../lib/event-loop';

export interface HttpMetrics {
  registry: Registry;
  /** Counts a finished request and its latency (called by the request context, which times it). */
  observe(ctx: Context, seconds: number): void;
}

type Labels = Record<'method' | 'route' | 'status', string>;

export function createHttpMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerEventLoopMetrics(registry);
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // One label object per method, route and status (a bounded set), built once.
  const labelSets = new Map<string, Labels>();
  return {
    registry,
    observe(ctx, seconds) {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const key = `${ctx.method} ${ctx.status} ${route}`;
      let labels = labelSets.get(key);
      if (!labels) {
        labels = { method: ctx.method, route: String(route), status: String(ctx.status) };
        labelSets.set(key, labels);
      }
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
  };
}
