// The contract of a session, shared by the workflow, its activities, the gateway, the API and
// tests: Temporal message definitions, workflow input and state, the frames the server sends,
// the activity interfaces and the bounds; definitions only (the routing rules are in routing/). No
// Node imports: the workflow bundle includes this module.
export * from './session';
export * from './activities';
export * from './builtins';
export * from './rest';
export * from './bounds';
export * from './failure-texts';
export * from './tool-names';
export * from './openai-chat';
export * from './device-tools';
