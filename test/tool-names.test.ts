// The tool-name mapper (contract/tool-names.ts): real MCP and device tool names to names every
// provider takes, deterministically, with collisions told apart. Pure functions; no servers.
import assert from 'node:assert/strict';
import {
  assignToolNames,
  namesTool,
  PROVIDER_TOOL_NAME_PATTERN,
  providerToolName,
  TOOL_NAME_PATTERN,
  type RoutableConfig,
} from '../contract';
import { isFunctionEnabled, routingCandidates } from '../routing';
import { sessionSettingsUpdateSchema } from '../sessions/session.schemas';

describe('tool names: real names and the names providers are offered', () => {
  it('keeps every name providers already take, "-" included', () => {
    for (const name of ['get_weather', 'get-sum', 'get-env', 'A1', '9lives', '_x', 'x'.repeat(64)]) {
      assert.equal(providerToolName(name), name);
    }
  });

  it('maps "." to "_", and names over 64 characters to a sanitised, cut name with a stable hash of the real name', () => {
    assert.equal(providerToolName('self.light.set_brightness'), 'self_light_set_brightness');
    assert.equal(providerToolName('a.b.c'), 'a_b_c');
    const long = 'a'.repeat(60) + '.' + 'b'.repeat(67);
    assert.equal(long.length, 128);
    assert.ok(TOOL_NAME_PATTERN.test(long));
    const mapped = providerToolName(long);
    assert.equal(mapped.length, 64);
    assert.match(mapped, PROVIDER_TOOL_NAME_PATTERN);
    assert.equal(mapped, providerToolName(long), 'the same name maps the same way every time');
    assert.ok(mapped.startsWith('a'.repeat(55) + '_'));
    assert.ok(!TOOL_NAME_PATTERN.test('x'.repeat(129)), 'real names stop at 128 characters');
  });

  it('maps long names that read alike once cut to different names; alike once sanitised is a collision, told apart in a set', () => {
    assert.notEqual(providerToolName('light.on'), providerToolName('light_on.'));
    assert.equal(providerToolName('light.on'), 'light_on', 'a collision with the real name light_on: refused at save, suffixed in a set');
    const stem = 'device_'.repeat(10); // 70 characters: both are cut to the same 55
    assert.notEqual(providerToolName(`${stem}one`), providerToolName(`${stem}two`));
    for (const name of [`${stem}one`, `${stem}two`, 'a.b', '.', '-.-']) assert.match(providerToolName(name), PROVIDER_TOOL_NAME_PATTERN);
  });

  it('resolves a collision in a set: a name providers take keeps it, the mapped one is suffixed again', () => {
    const dotted = 'self.light.set_brightness';
    const spelt = providerToolName(dotted); // a real name that happens to equal the dotted one's mapped name
    const names = assignToolNames([dotted, spelt, 'get-sum']);
    assert.equal(names.get(spelt), spelt);
    assert.equal(names.get('get-sum'), 'get-sum');
    const other = names.get(dotted)!;
    assert.notEqual(other, spelt);
    assert.match(other, PROVIDER_TOOL_NAME_PATTERN);
    assert.equal(new Set(names.values()).size, 3);
    // The set decides, not the order it came in.
    assert.deepEqual([...assignToolNames(['get-sum', spelt, dotted]).entries()].sort(), [...names.entries()].sort());
  });

  it('keeps reserved names (another kind of tool) out of a set', () => {
    const names = assignToolNames(['get_time', 'self.get_time'], ['get_time']);
    assert.notEqual(names.get('get_time'), 'get_time');
    assert.equal(new Set([...names.values(), 'get_time']).size, 3);
  });

  it('lets enabled_functions name a function by its real or its mapped name', () => {
    assert.ok(namesTool('self.light.set_brightness', 'self.light.set_brightness'));
    assert.ok(namesTool('self_light_set_brightness', 'self.light.set_brightness'));
    assert.ok(!namesTool('self_light_set_brightness_283b945f', 'self.light.set_brightness'));
    assert.ok(!namesTool('self-light-set_brightness', 'self.light.set_brightness'));
    const light: RoutableConfig = {
      id: 1,
      config_name: 'Light',
      config_type: 'function_call',
      description: 'light',
      model_name: null,
      function_name: 'self.light.set_brightness',
      is_active: true,
      priority: 0,
    };
    for (const enabled of [['self.light.set_brightness'], ['self_light_set_brightness']]) {
      const settings = { default_llm_id: null, enabled_functions: enabled, role: null };
      assert.deepEqual(routingCandidates([light], settings), [light]);
    }
    assert.ok(!isFunctionEnabled({ default_llm_id: null, enabled_functions: ['get-sum'], role: null }, 'self.light.set_brightness'));
  });

  it('accepts real and mapped names in enabled_functions (REST and session_config share the schema), and nothing else', () => {
    const names = ['self.light.set_brightness', 'self_light_set_brightness', 'get-sum', 'x'.repeat(128)];
    assert.ok(sessionSettingsUpdateSchema.safeParse({ enabled_functions: names }).success);
    for (const bad of ['get sum', 'x'.repeat(129), '']) {
      const parsed = sessionSettingsUpdateSchema.safeParse({ enabled_functions: [bad] });
      assert.ok(!parsed.success, bad);
      assert.deepEqual(parsed.error.issues[0]?.path, ['enabled_functions', 0]);
    }
  });
});
