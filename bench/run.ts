// `npm run bench`: every goal of the performance issue, each against a floor measured in the same
// run on the same Temporal dev server and PostgreSQL, with the scripted fake LLM as the only
// stand-in. Prints floor / Switchboard / ratio side by side; a full run also rewrites the table
// between the bench markers of docs/performance.md and the chart docs/bench-latency.svg.
//
//   npm run bench                      the full run (a few minutes)
//   npm run bench -- --quick           a smoke run with few iterations; the page and chart untouched
//   npm run bench -- --peer litellm    also LiteLLM's proxy side by side (installed into .tools/litellm-venv);
//                                      POST /v1/chat/completions is measured the same way in every run
//   npm run bench -- --json out.json   also write the figures as JSON
//   npm run bench -- --cpu-prof        also write CPU profiles of the run (the bench process with the
//                                      in-process gateway and worker, each workflow thread, each
//                                      server child) under bench/profiles/<time>/, and print where
//                                      the time went (bench/profile-summary.ts)
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dropRunDatabase } from '../test/support/database';
import { stopTestTemporal } from '../test/support/temporal';
import { runBench } from './bench';
import { latencyCdfSvg } from './chart';
import { CPU_PROFILE_DIR_ENV, profilesDir, recordProfiledProcess, summarizeProfiles } from './profile-summary';
import { chartSeries, consoleReport, CHART_PATH, PERFORMANCE_PAGE, performanceSection, writePerformancePage } from './report';

const root = path.resolve(__dirname, '..');

/** The same command again under `node --cpu-prof`, with the children told to profile themselves too. */
function rerunProfiled(): Promise<number> {
  const dir = profilesDir(root);
  mkdirSync(dir, { recursive: true });
  const args = process.argv.slice(2).filter((a) => a !== '--cpu-prof');
  process.env[CPU_PROFILE_DIR_ENV] = dir;
  const child = spawn(process.execPath, [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', dir, __filename, ...args], {
    stdio: 'inherit',
  });
  recordProfiledProcess(child.pid, 'bench process (clients, fake LLM, floor worker, the in-process gateway and worker)');
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      if (code === 0) console.log(`\n${summarizeProfiles(dir)}\nCPU profiles in ${path.relative(root, dir)}`);
      resolve(code ?? 1);
    }),
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean' }, peer: { type: 'string' }, json: { type: 'string' }, 'cpu-prof': { type: 'boolean' } },
    allowPositionals: false,
  });
  if (values.peer !== undefined && values.peer !== 'litellm') throw new Error(`unknown peer "${values.peer}"; the one peer is litellm`);
  if (values['cpu-prof'] && !process.env[CPU_PROFILE_DIR_ENV]) {
    process.exitCode = await rerunProfiled();
    return;
  }
  const quick = values.quick === true;
  try {
    const { figures, samples } = await runBench({
      profile: quick ? 'quick' : 'full',
      peer: values.peer === 'litellm' ? 'litellm' : undefined,
      chatCompletions: true,
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
      writePerformancePage(path.join(root, PERFORMANCE_PAGE), performanceSection(figures, true));
      console.log(`\n${PERFORMANCE_PAGE} and ${CHART_PATH} updated`);
    }
  } finally {
    await stopTestTemporal();
    await dropRunDatabase();
  }
}

main().then(
  // process.exit, not a natural end: --cpu-prof writes its profile at exit, and open handles
  // (the Temporal runtime) would otherwise keep the process alive.
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
