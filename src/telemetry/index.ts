/** Telemetry's public surface (docs/telemetry.md): MQTT + Home Assistant discovery, and the local status page. */
export { startMqttTelemetry, type MqttTelemetry, type MqttTelemetryOptions } from './mqtt-telemetry.ts';
export { createStatusSource, type StatusSource, type StatusSourceOptions, type StatusUpdate, type PlannedSegment } from './status-source.ts';
export { startStatusPage, type StatusPage, type StatusPageOptions } from './status-page.ts';
export { discoveryMessages, telemetryTopics, type DiscoveryMessage, type HaEntityConfig, type TelemetryTopics } from './home-assistant.ts';
export type { PlanMessage, StateMessage } from './messages.ts';
