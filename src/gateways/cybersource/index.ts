export { cybersourceTransformer } from './cybersource-transformer';
