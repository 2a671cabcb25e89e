// `node scripts/require-node.mjs <major.minor> <what>`: run before the npm scripts that execute
// TypeScript directly (demo, bench, dashboards). Node strips types by default only from 22.18 on;
// on an older Node those scripts would fail with ERR_UNKNOWN_FILE_EXTENSION, so this says plainly
// what is needed instead. Plain JavaScript, so that it runs on every Node the package supports.
const [wanted = '', what = 'this script'] = process.argv.slice(2);
const match = /^(\d+)\.(\d+)$/.exec(wanted);
if (!match) {
  process.stderr.write(
    `require-node: expected a minimum such as 22.18 as the first argument, got "${wanted}"\n`,
  );
  process.exit(64);
}
const [major, minor] = process.versions.node.split('.').map(Number);
const [needMajor, needMinor] = [Number(match[1]), Number(match[2])];
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  process.stderr.write(
    `${what} runs TypeScript directly and needs Node ${wanted} or newer; this is Node ${process.versions.node}. ` +
      'Run it as `scripts/with-node.sh npm run ...` (it provides Node 24).\n',
  );
  process.exit(1);
}
