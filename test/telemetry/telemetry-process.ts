/**
 * A gateway's telemetry in its own process, so a test can kill it like a power cut (SIGKILL:
 * no DISCONNECT, the broker sees the socket drop). Args: brokerUrl gatewayId topicPrefix discoveryPrefix.
 */
import { startMqttTelemetry } from '../../src/telemetry/index.ts';

const [brokerUrl, gatewayId, topicPrefix, discoveryPrefix] = process.argv.slice(2) as [string, string, string, string];
const telemetry = startMqttTelemetry({ brokerUrl, gatewayId, topicPrefix, discoveryPrefix, log: (level, message) => void (level !== 'info' && process.stderr.write(`${level} ${message}\n`)) });
while (!telemetry.connected()) await new Promise((resolve) => setTimeout(resolve, 20));
process.stdout.write('connected\n');
// Stay up until killed.
setInterval(() => undefined, 60_000);
