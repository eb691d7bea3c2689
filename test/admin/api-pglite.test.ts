/** The admin API suite on embedded PostgreSQL (PGlite) in a fresh temp dir. */

import { adminApiSuite } from "./fixtures/api-suite.ts";
import { pgliteBackend } from "./fixtures/backends.ts";

adminApiSuite(pgliteBackend);
