// Run JavaScript call snippets with the real @segment/analytics-node client against a segdbg.
//
//   node tests/node/run_calls.js HOST WRITE_KEY SNIPPETS.json
//
// Each snippet is run as a function body with `analytics` bound to one client (sending each
// event as it comes, no retries); the client is flushed and closed, then the errors it reported
// are printed as JSON on stdout: {"errors": [...]}.
const fs = require('fs');
const { Analytics } = require('@segment/analytics-node');

const [host, writeKey, snippetsFile] = process.argv.slice(2);
const snippets = JSON.parse(fs.readFileSync(snippetsFile, 'utf8'));
const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 1, maxRetries: 0 });
const errors = [];
analytics.on('error', (err) => errors.push(String((err && (err.reason || err.message || err.code)) || err)));
for (const snippet of snippets) {
  new Function('analytics', snippet)(analytics);
}
analytics.closeAndFlush({ timeout: 20000 }).then(() => {
  process.stdout.write(JSON.stringify({ errors }));
});
