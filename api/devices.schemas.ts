// Request and response schemas of the xiaozhi provisioning routes (/xiaozhi/ota/…) and the devices
// REST API (/api/v1/devices): they validate and they are the OpenAPI document's.
import { z } from 'zod';
import { sessionSettingsShape } from '../sessions/session.schemas';

/** A MAC address as xiaozhi firmware sends it in Device-Id (either case; stored lowercase). */
export const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
/** Client-Id: a UUID in its usual spelling (any version: xiaozhi-sdk derives its own from the MAC). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const deviceHeadersSchema = z.object({
  'Device-Id': z.string().regex(MAC_PATTERN).meta({ description: "The device's MAC address, e.g. aa:bb:cc:dd:ee:ff" }),
  'Client-Id': z.string().regex(UUID_PATTERN).meta({ description: 'A UUID the device keeps' }),
});

/** What the firmware and the SDK post (application, board, chip, …); only a few fields are read, nothing else is checked. */
export const otaBodySchema = z
  .looseObject({
    application: z.looseObject({ version: z.string().optional(), name: z.string().optional() }).optional(),
    board: z.looseObject({ type: z.string().optional(), name: z.string().optional() }).optional(),
  })
  .meta({ id: 'XiaozhiOtaRequest' });

export const otaReplySchema = z
  .object({
    server_time: z.object({
      timestamp: z.number().int().meta({ description: 'Milliseconds since the epoch' }),
      timezone_offset: z.number().int().meta({ description: "The server's offset from UTC in minutes (east positive)" }),
    }),
    firmware: z.object({
      version: z.string().meta({ description: 'The version the device sent: never newer, so no device flashes itself' }),
      url: z.literal(''),
    }),
    websocket: z.object({
      url: z.string().meta({
        description: "The gateway's device socket (GATEWAY_PUBLIC_URL's origin, else PUBLIC_HOST/HOST:GATEWAY_PORT) + /xiaozhi/v1/",
      }),
      token: z
        .string()
        .meta({ description: 'The device token (Authorization: Bearer); a new one with every call, the previous one stops working' }),
    }),
    activation: z
      .object({
        code: z
          .string()
          .regex(/^\d{6}$/)
          .meta({ description: 'Bind it with POST /api/v1/devices/bind; used once, valid 10 minutes' }),
        message: z.string(),
        challenge: z.string(),
      })
      .optional()
      .meta({ description: 'Only while no user has bound the device' }),
  })
  .meta({ id: 'XiaozhiOtaReply', description: 'Not in the envelope: the shape xiaozhi firmware and SDKs read. Never an mqtt section.' });

export const activateBodySchema = z
  .looseObject({
    serial_number: z.string().max(128).optional(),
    challenge: z
      .string()
      .max(128)
      .optional()
      .meta({ description: 'The challenge of the OTA reply; firmware without a serial number posts {}' }),
    hmac: z.string().max(256).optional().meta({ description: 'Ignored: its key lives in the device' }),
  })
  .meta({ id: 'XiaozhiActivateRequest' });

export const activateReplySchema = z.object({ status: z.enum(['activated', 'pending']) });

export const bindBodySchema = z
  .strictObject({
    code: z
      .string()
      .transform((value) => value.replace(/\s+/g, ''))
      .pipe(z.string().regex(/^\d{6}$/, 'must be the 6 digits the device shows')),
  })
  .meta({ id: 'DeviceBind' });

export const DEVICE_NAME_MAX = 64;

export const deviceUpdateSchema = z
  .strictObject({
    name: z
      .string()
      .trim()
      .min(1)
      .max(DEVICE_NAME_MAX)
      // eslint-disable-next-line no-control-regex -- refusing control characters is the point
      .regex(/^[^\x00-\x1f\x7f]*$/, 'must not contain control characters')
      .optional(),
    ...sessionSettingsShape,
  })
  .refine((value) => value.name !== undefined || value.default_llm_id !== undefined || value.enabled_functions !== undefined, {
    message: 'set name, default_llm_id or enabled_functions',
  })
  .meta({ id: 'DeviceUpdate', description: "A device's name and its session's settings (validated as a session's)" });

export const publicDeviceSchema = z
  .object({
    id: z.number().int(),
    device_id: z.string().meta({ description: 'Device-Id: the MAC address' }),
    client_id: z.string().meta({ description: 'Client-Id: a UUID' }),
    name: z.string(),
    bound_at: z.string(),
    last_seen_at: z
      .string()
      .nullable()
      .meta({ description: 'When it was last heard from: a provisioning call, or its socket (refreshed every minute while open)' }),
    online: z.boolean().meta({ description: 'Whether its socket (/xiaozhi/v1/ on a gateway) is open now' }),
    firmware_version: z.string().nullable(),
    default_llm_id: z.number().int().nullable(),
    enabled_functions: z.array(z.string()).nullable(),
  })
  .meta({ id: 'Device' });
