// xiaozhi devices: the provisioning routes devices call (/xiaozhi/ota/, /xiaozhi/ota/activate; no
// JWT, the device headers name the device) and the caller's devices under /api/v1/devices. Thin:
// the device service does the work.
import Router from '@koa/router';
import { z } from 'zod';
import type { PublicDevice } from '../contract/devices';
import {
  activateBodySchema,
  activateReplySchema,
  bindBodySchema,
  deviceHeadersSchema,
  deviceUpdateSchema,
  otaBodySchema,
  otaReplySchema,
  publicDeviceSchema,
} from './devices.schemas';
import type { DeviceService } from './devices.service';
import { respond, userOf } from './respond';
import { KNOWN_METHODS, route, type RouteDocs, type RouteLink } from './route-docs';

// Compile-time guard: the documented shape is exactly the one the service returns.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameShape: Same<z.infer<typeof publicDeviceSchema>, PublicDevice> = true;

/** The provisioning routes, at the path a user puts in the firmware or SDK: with and without the trailing slash. */
function createProvisioningRouter(service: DeviceService, docs: RouteDocs): Router {
  // strict: `/xiaozhi/ota` and `/xiaozhi/ota/` are both registered, so each is documented as it is served.
  const router = new Router({ methods: KNOWN_METHODS, strict: true });
  const tag = 'xiaozhi devices';
  for (const path of ['/xiaozhi/ota/', '/xiaozhi/ota']) {
    route(
      router,
      docs,
      'post',
      path,
      {
        summary:
          'Provisioning, called by a xiaozhi device at boot: the device socket URL and a new device token; while no user has bound the device, an activation code',
        tag,
        public: true,
        headers: deviceHeadersSchema,
        body: otaBodySchema,
        response: otaReplySchema,
        raw: true,
        errors: [409, 429, 503],
      },
      async (ctx) => {
        const reply = await service.provision((name) => ctx.get(name), ctx.request.body, ctx.ip);
        ctx.status = 200;
        ctx.body = reply;
      },
    );
  }
  for (const path of ['/xiaozhi/ota/activate', '/xiaozhi/ota/activate/']) {
    route(
      router,
      docs,
      'post',
      path,
      {
        summary:
          "The device's activation poll: 200 once its code is bound, 202 while it waits; 404 for an unknown challenge, 410 once expired",
        tag,
        public: true,
        headers: deviceHeadersSchema,
        body: activateBodySchema,
        response: activateReplySchema,
        extraSuccess: [202],
        errors: [404, 410],
      },
      async (ctx) => {
        const status = await service.activate((name) => ctx.get(name), ctx.request.body);
        respond(ctx, { status }, status === 'activated' ? {} : { status: 202, message: 'waiting for a user to bind the code' });
      },
    );
  }
  return router;
}

function createDevicesRouter(service: DeviceService, docs: RouteDocs): Router {
  const router = new Router({ prefix: '/api/v1', methods: KNOWN_METHODS });
  const tag = 'Devices';
  const links = (expression: string, names: readonly string[]): Record<string, RouteLink> =>
    Object.fromEntries(names.map((name) => [name, { operationId: name, parameters: { id: expression } }]));
  route(
    router,
    docs,
    'get',
    '/devices',
    {
      operationId: 'listDevices',
      links: links('$response.body#/data/0/id', ['updateDevice', 'unbindDevice']),
      summary: 'Your xiaozhi devices, in the order they were bound',
      tag,
      response: z.array(publicDeviceSchema),
    },
    async (ctx) => {
      respond(ctx, await service.list(userOf(ctx)));
    },
  );
  route(
    router,
    docs,
    'post',
    '/devices/bind',
    {
      operationId: 'bindDevice',
      links: links('$response.body#/data/id', ['updateDevice', 'unbindDevice']),
      summary: 'Bind the device that shows this activation code to you (a code is used once and expires after 10 minutes)',
      tag,
      body: bindBodySchema,
      response: publicDeviceSchema,
      successStatus: 201,
      errors: [409],
    },
    async (ctx) => {
      respond(ctx, await service.bind(userOf(ctx), ctx.request.body, ctx.ip), { status: 201, message: 'bound' });
    },
  );
  route(
    router,
    docs,
    'patch',
    '/devices/:id',
    {
      operationId: 'updateDevice',
      links: links('$request.path.id', ['unbindDevice']),
      summary: "Rename a device, or set its session's default_llm_id / enabled_functions",
      tag,
      body: deviceUpdateSchema,
      response: publicDeviceSchema,
      errors: [404],
    },
    async (ctx) => {
      respond(ctx, await service.update(userOf(ctx), ctx.params.id!, ctx.request.body), { message: 'updated' });
    },
  );
  route(
    router,
    docs,
    'delete',
    '/devices/:id',
    {
      operationId: 'unbindDevice',
      summary: 'Unbind a device: its token stops working at once; it provisions afresh with a new code',
      tag,
      response: publicDeviceSchema,
      errors: [404],
    },
    async (ctx) => {
      respond(ctx, await service.remove(userOf(ctx), ctx.params.id!), { message: 'unbound' });
    },
  );
  return router;
}

/** Both routers: provisioning (public) and /api/v1/devices (authenticated by the API's guard). */
export function createDeviceRouters(service: DeviceService, docs: RouteDocs): Router[] {
  return [createProvisioningRouter(service, docs), createDevicesRouter(service, docs)];
}
