// The built-ins as an activity, for sessions recorded before the workflow ran them itself.
import { runBuiltin, type StandardFunctionInput, type StandardFunctionOutput } from '../contract';

export async function executeStandardFunction(input: StandardFunctionInput): Promise<StandardFunctionOutput> {
  return runBuiltin(input);
}
