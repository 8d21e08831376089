// Shapes of the devices REST API (/api/v1/devices) that the web console reads too. Types only.

/** A xiaozhi device bound to the caller (GET /api/v1/devices). */
export interface PublicDevice {
  id: number;
  /** The Device-Id the device sends: its MAC address. */
  device_id: string;
  /** The Client-Id the device sends: a UUID. */
  client_id: string;
  name: string;
  bound_at: string;
  last_seen_at: string | null;
  /** Whether the device's socket (/xiaozhi/v1/ on a gateway) is open now. */
  online: boolean;
  /** The firmware version the device last reported. */
  firmware_version: string | null;
  /** The device session's default LLM config (null: routing decides). */
  default_llm_id: number | null;
  /** Functions the device session may offer (null: all). */
  enabled_functions: string[] | null;
}
