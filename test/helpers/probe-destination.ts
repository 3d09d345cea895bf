/** The probe destination as a module connector (test/helpers/probe-connectors.ts). */
import { probeDestination } from './probe-connectors.js';

export default probeDestination;
