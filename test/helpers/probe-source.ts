/** The probe source as a module connector (test/helpers/probe-connectors.ts). */
import { probeSource } from './probe-connectors.js';

export default probeSource;
