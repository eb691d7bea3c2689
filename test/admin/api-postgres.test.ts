/** The admin API suite on the machine's PostgreSQL, in a fresh database created and dropped by the test. */

import { adminApiSuite } from "./fixtures/api-suite.ts";
import { postgresBackend } from "./fixtures/backends.ts";

adminApiSuite(postgresBackend);
