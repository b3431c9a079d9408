export { simulatorTransformer } from './simulator-transformer';
export { simulatorWebhookSignature, verifySimulatorWebhook, parseSignatureHeader } from './simulator-webhook';
export { simulatorStatusMeaning, SIMULATOR_STATUSES, type SimulatorStatus } from './simulator-status-map';
