// The failure converter used with payload encryption: a failure's message and stack trace go into
// its encoded attributes (a payload, so the codec encrypts them) instead of plain text. Loaded by
// path (`failureConverterPath`): by clients and workers, and bundled into the workflow sandbox, so
// it imports nothing but @temporalio/common.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
