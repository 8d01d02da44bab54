// Send COUNT track calls with the real @segment/analytics-node client, retrying as it does by
// default (backoff shortened), to a segdbg that may fault on purpose (docs/faults.md).
//
//   node tests/node/deliver.js HOST WRITE_KEY COUNT MAX_RETRIES
//
// Each call carries properties.seq = 0..COUNT-1. Prints {"errors": [...]} on stdout when flushed.
const { Analytics } = require('@segment/analytics-node');

const [host, writeKey, count, maxRetries] = process.argv.slice(2);
const analytics = new Analytics({
  writeKey, host, maxEventsInBatch: 10, flushInterval: 50, maxRetries: Number(maxRetries), httpRequestTimeout: 5000,
});
const errors = [];
analytics.on('error', (err) => errors.push(String((err && (err.reason || err.message || err.code)) || err)));
for (let seq = 0; seq < Number(count); seq++) {
  analytics.track({ userId: 'u-node', event: 'Tick', properties: { seq } });
}
analytics.closeAndFlush({ timeout: 60000 }).then(() => {
  process.stdout.write(JSON.stringify({ errors }));
});
