// `npm run bench`: every goal of the performance issue, each against a floor measured in the same
// run on the same Temporal dev server and PostgreSQL, with the scripted fake LLM as the only
// stand-in. Prints floor / Switchboard / ratio side by side; a full run also rewrites the table
// between the bench markers in README.md and the chart docs/bench-latency.svg.
//
//   npm run bench                      the full run (a few minutes)
//   npm run bench -- --quick           a smoke run with few iterations; README and chart untouched
//   npm run bench -- --peer litellm    also LiteLLM's proxy as a peer row (installed into .tools/litellm-venv)
//   npm run bench -- --json out.json   also write the figures as JSON
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dropRunDatabase } from '../test/support/database';
import { stopTestTemporal } from '../test/support/temporal';
import { runBench } from './bench';
import { latencyCdfSvg } from './chart';
import { chartSeries, consoleReport, CHART_PATH, readmeSection, writeReadme } from './report';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, peer: { type: 'string' }, json: { type: 'string' } },
    allowPositionals: false,
  });
  if (values.peer !== undefined && values.peer !== 'litellm') throw new Error(`unknown peer "${values.peer}"; the one peer is litellm`);
  const quick = values.quick === true;
  const root = path.resolve(__dirname, '..');
  try {
    const { figures, samples } = await runBench({
      profile: quick ? 'quick' : 'full',
      peer: values.peer === 'litellm' ? 'litellm' : undefined,
    });
    console.log(consoleReport(figures));
    if (values.json) writeFileSync(values.json, JSON.stringify(figures, null, 2) + '\n');
    if (!quick) {
      const chart = path.join(root, CHART_PATH);
      mkdirSync(path.dirname(chart), { recursive: true });
      writeFileSync(
        chart,
        latencyCdfSvg(
          chartSeries(samples),
          'Latency of one message: Switchboard vs direct LLM calls vs a bare Workflow Update',
          `npm run bench, ${figures.meta.date}, ${figures.meta.cores} cores, Node ${figures.meta.node}; fake LLM answering at once`,
        ),
      );
      writeReadme(path.join(root, 'README.md'), readmeSection(figures, true));
      console.log(`\nREADME.md and ${CHART_PATH} updated`);
    }
  } finally {
    await stopTestTemporal();
    await dropRunDatabase();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
