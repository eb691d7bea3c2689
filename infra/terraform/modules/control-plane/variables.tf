# ---- what to install -------------------------------------------------------------------------

variable "runtime" {
  description = "JavaScript runtime: bun (single binary), node or deno (release tarball + npm ci on the host)."
  type        = string
  default     = "bun"
  validation {
    condition     = contains(["bun", "deno", "node"], var.runtime)
    error_message = "runtime must be one of bun, deno, node."
  }
}

variable "artifact_url" {
  description = "https URL of the release artifact (dist/sluice for bun, dist/sluice-<version>.tar.gz for node/deno). Set this with artifact_sha256, or set package_version."
  type        = string
  default     = null
  validation {
    condition     = var.artifact_url == null || can(regex("^https://[^\\s'\"]+$", var.artifact_url))
    error_message = "artifact_url must be an https:// URL without spaces or quotes."
  }
  validation {
    condition     = (var.artifact_url == null) != (var.package_version == null)
    error_message = "Set exactly one of artifact_url (with artifact_sha256) or package_version."
  }
}

variable "artifact_sha256" {
  description = "SHA-256 of the artifact at artifact_url, as in dist/SHA256SUMS. Required with artifact_url."
  type        = string
  default     = null
  validation {
    condition     = var.artifact_url == null || can(regex("^[0-9a-fA-F]{64}$", var.artifact_sha256))
    error_message = "artifact_sha256 must be the 64-hex-digit SHA-256 of the artifact when artifact_url is set."
  }
}

variable "package_version" {
  description = "Release version (e.g. 0.1.0) installed from release_base_url; verified against that release's SHA256SUMS."
  type        = string
  default     = null
  validation {
    condition     = var.package_version == null || can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.]+)?$", var.package_version))
    error_message = "package_version must be a semantic version such as 0.1.0."
  }
}

variable "release_base_url" {
  description = "Release download root, required with package_version: <base>/v<version>/{sluice,sluice-<version>.tar.gz,SHA256SUMS}."
  type        = string
  default     = null
  validation {
    condition     = var.package_version == null || can(regex("^https://[^\\s'\"]+[^/]$", var.release_base_url))
    error_message = "release_base_url must be an https:// URL (no trailing slash) when package_version is set."
  }
}

variable "node_version" {
  description = "Node.js version for runtime node (and for npm ci under deno)."
  type        = string
  default     = "20.20.2"
  validation {
    condition     = can(regex("^(2[0-9]|[3-9][0-9])\\.[0-9]+\\.[0-9]+$", var.node_version))
    error_message = "node_version must be a full version, 20.0.0 or later."
  }
}

variable "deno_version" {
  description = "Deno version for runtime deno."
  type        = string
  default     = "2.9.6"
  validation {
    condition     = can(regex("^[2-9]\\.[0-9]+\\.[0-9]+$", var.deno_version))
    error_message = "deno_version must be a full version, 2.0.0 or later."
  }
}

# ---- what the control plane serves -----------------------------------------------------------

variable "database_url" {
  description = "PostgreSQL URL (postgres://user:password@host:5432/db?sslmode=require). Every control-plane replica uses the same database. Written only to the 0600 environment file."
  type        = string
  sensitive   = true
  validation {
    condition     = can(regex("^postgres(ql)?://[^\\s]+$", var.database_url))
    error_message = "database_url must be a postgres:// or postgresql:// URL without spaces."
  }
}

variable "admin_key" {
  description = "Admin API key (SLUICE_ADMIN_KEY). Null: the first start generates one and prints it once to the journal."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.admin_key == null || can(regex("^[!-~]{16,}$", var.admin_key))
    error_message = "admin_key must be at least 16 printable characters without spaces."
  }
}

variable "admin_addr" {
  description = "host:port of the admin API (gateways stream their config from it, so it must be reachable from them)."
  type        = string
  default     = "0.0.0.0:9180"
  validation {
    condition     = try(regex("^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$", var.admin_addr)[1] <= 65535, false)
    error_message = "admin_addr must be host:port with a port from 1 to 65535 (IPv6 in brackets)."
  }
}

variable "status_addr" {
  description = "host:port of /healthz, /readyz and /metrics. Use 0.0.0.0:9091 when a load balancer checks /readyz."
  type        = string
  default     = "127.0.0.1:9091"
  validation {
    condition     = try(regex("^(\\[[0-9A-Fa-f:.]+\\]|[0-9.]+|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$", var.status_addr)[1] <= 65535, false)
    error_message = "status_addr must be host:port with a port from 1 to 65535 (IPv6 in brackets)."
  }
}

variable "log_level" {
  description = "pino log level."
  type        = string
  default     = "info"
  validation {
    condition     = contains(["trace", "debug", "info", "warn", "error", "fatal"], var.log_level)
    error_message = "log_level must be one of trace, debug, info, warn, error, fatal."
  }
}

# ---- host ------------------------------------------------------------------------------------

variable "data_dir" {
  description = "State directory; the only path the service may write."
  type        = string
  default     = "/var/lib/sluice"
  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.data_dir)) && !contains(["/", "/etc", "/usr", "/opt"], trimsuffix(var.data_dir, "/"))
    error_message = "data_dir must be an absolute path of its own (not /, /etc, /usr or /opt)."
  }
}

variable "install_dir" {
  description = "Where Sluice and its runtime are installed."
  type        = string
  default     = "/opt/sluice"
  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+[^/]$", var.install_dir))
    error_message = "install_dir must be an absolute path without a trailing slash."
  }
}

variable "service_user" {
  description = "System user the control plane runs as (created on the host)."
  type        = string
  default     = "sluice"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.service_user)) && var.service_user != "root"
    error_message = "service_user must be a valid system user name other than root."
  }
}

variable "limit_nofile" {
  description = "Open-file limit of the service."
  type        = number
  default     = 65536
  validation {
    condition     = var.limit_nofile >= 4096 && var.limit_nofile <= 8388608 && floor(var.limit_nofile) == var.limit_nofile
    error_message = "limit_nofile must be a whole number from 4096 to 8388608."
  }
}

variable "stop_timeout_seconds" {
  description = "How long connections may drain after SIGTERM before systemd kills the control plane."
  type        = number
  default     = 15
  validation {
    condition     = var.stop_timeout_seconds >= 1 && var.stop_timeout_seconds <= 3600
    error_message = "stop_timeout_seconds must be from 1 to 3600."
  }
}

variable "sysctl_overrides" {
  description = "Kernel settings merged over the module's defaults (key = sysctl name)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.sysctl_overrides : can(regex("^[a-z0-9_.]+$", k)) && !strcontains(v, "\n")])
    error_message = "sysctl_overrides keys must be sysctl names (a-z 0-9 _ .) and values a single line."
  }
}

variable "extra_environment" {
  description = "More environment variables for the control plane (e.g. SLUICE_METRICS_PREFIX)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.extra_environment : can(regex("^[A-Z_][A-Z0-9_]*$", k)) && !strcontains(v, "\n")])
    error_message = "extra_environment keys must be UPPER_SNAKE_CASE and values a single line."
  }
}
