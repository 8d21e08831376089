// The contract of a session, shared by the workflow, its activities, the gateway, the API and
// tests: Temporal message definitions, workflow input and state, the frames the server sends,
// the activity interfaces and the routing rules both sides apply. No Node imports: the workflow
// bundle includes this module.
export * from './session';
export * from './activities';
export * from './routing';
export * from './builtins';
export * from './similarity';
export * from './rest';
export * from './tool-names';
