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

# ---- what the gateway joins ------------------------------------------------------------------

variable "control_plane_url" {
  description = "Base URL of the control plane's admin API, e.g. https://sluice-cp.internal:9180; several replicas comma-separated."
  type        = string
  validation {
    condition     = alltrue([for u in split(",", var.control_plane_url) : can(regex("^https?://[A-Za-z0-9.\\-\\[\\]:]+(/[^\\s'\"]*)?$", trimspace(u)))])
    error_message = "control_plane_url must be an http:// or https:// URL, or several separated by commas."
  }
}

variable "gateway_group" {
  description = "Gateway group the instance joins (the group's name as given to `sluice gateway --group`)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", var.gateway_group))
    error_message = "gateway_group must be 1-100 letters, digits, '_', '.' or '-', starting with a letter or digit."
  }
}

variable "gateway_token" {
  description = "Gateway token of the group (POST /api/gateway_groups/:id/token). Written only to the 0600 environment file."
  type        = string
  sensitive   = true
  validation {
    condition     = can(regex("^[!-~]{16,}$", var.gateway_token))
    error_message = "gateway_token must be at least 16 printable characters without spaces."
  }
}

# ---- how it listens --------------------------------------------------------------------------

variable "listen_port_ranges" {
  description = "Stream ports this host may open (the group's stream_port_ranges): 'PORT' or 'FROM-TO'. A port below 1024 grants CAP_NET_BIND_SERVICE; the ranges are kept out of the ephemeral port range."
  type        = list(string)
  default     = []
  validation {
    condition = alltrue([
      for r in var.listen_port_ranges : try(
        can(regex("^[0-9]{1,5}(-[0-9]{1,5})?$", r)) &&
        tonumber(split("-", r)[0]) >= 1 &&
        tonumber(reverse(split("-", r))[0]) <= 65535 &&
        tonumber(split("-", r)[0]) <= tonumber(reverse(split("-", r))[0]),
        false
      )
    ])
    error_message = "listen_port_ranges entries must be 'PORT' or 'FROM-TO' with 1 <= FROM <= TO <= 65535."
  }
}

variable "listen_addr" {
  description = "Address for routes without server_addr (SLUICE_LISTEN_ADDR); null keeps the CLI default 0.0.0.0."
  type        = string
  default     = null
  validation {
    condition     = var.listen_addr == null || can(cidrhost("${var.listen_addr}/32", 0)) || can(cidrhost("${var.listen_addr}/128", 0))
    error_message = "listen_addr must be an IPv4 or IPv6 address."
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

variable "runtime_adapter" {
  description = "Socket adapter (SLUICE_RUNTIME_ADAPTER): native or node-compat; null keeps the default (native)."
  type        = string
  default     = null
  validation {
    condition     = var.runtime_adapter == null || contains(["native", "node-compat"], coalesce(var.runtime_adapter, "native"))
    error_message = "runtime_adapter must be native or node-compat."
  }
}

# ---- host ------------------------------------------------------------------------------------

variable "data_dir" {
  description = "State directory (last good config); the only path the service may write."
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
  description = "System user the gateway runs as (created on the host)."
  type        = string
  default     = "sluice"
  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.service_user)) && var.service_user != "root"
    error_message = "service_user must be a valid system user name other than root."
  }
}

variable "limit_nofile" {
  description = "Open-file limit of the service (two per proxied TCP connection)."
  type        = number
  default     = 1048576
  validation {
    condition     = var.limit_nofile >= 4096 && var.limit_nofile <= 8388608 && floor(var.limit_nofile) == var.limit_nofile
    error_message = "limit_nofile must be a whole number from 4096 to 8388608."
  }
}

variable "drain_timeout_seconds" {
  description = "How long connections of a removed route may finish (SLUICE_DRAIN_TIMEOUT); systemd waits this plus 15 s after SIGTERM."
  type        = number
  default     = 30
  validation {
    condition     = var.drain_timeout_seconds >= 0 && var.drain_timeout_seconds <= 3600
    error_message = "drain_timeout_seconds must be from 0 to 3600."
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
  description = "More environment variables for the gateway (e.g. SLUICE_METRICS_PREFIX)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.extra_environment : can(regex("^[A-Z_][A-Z0-9_]*$", k)) && !strcontains(v, "\n")])
    error_message = "extra_environment keys must be UPPER_SNAKE_CASE and values a single line."
  }
}
