// Send a fixed set of calls with the real @rudderstack/rudder-sdk-node client to a segdbg.
//
//   node tests/node/run_rudder.js DATA_PLANE_URL WRITE_KEY
//
// Prints {"errors": [...]} on stdout once the client has flushed.
const Analytics = require('@rudderstack/rudder-sdk-node');

const [dataPlaneUrl, writeKey] = process.argv.slice(2);
const errors = [];
const client = new Analytics(writeKey, {
  dataPlaneUrl,
  flushAt: 100,
  flushInterval: 60000,
  retryCount: 0,
  errorHandler: (err) => errors.push(String((err && err.message) || err)),
});
client.identify({ userId: 'u-rudder', traits: { plan: 'pro' } });
client.track({ userId: 'u-rudder', event: 'Order Completed', properties: { total: 30, currency: 'USD' } });
client.page({ userId: 'u-rudder', name: 'Docs', properties: { path: '/docs' } });
client.flush().then(
  () => process.stdout.write(JSON.stringify({ errors })),
  (err) => process.stdout.write(JSON.stringify({ errors: [...errors, String(err)] })),
);
