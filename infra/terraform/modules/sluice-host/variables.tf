# Inputs of the shared host renderer. The user-facing modules (gateway-host, control-plane) validate
# their inputs in terms of their own variables; the checks here guard the renderer itself.

variable "service_name" {
  description = "systemd unit name without `.service`; also names the environment file /etc/sluice/<name>.env."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.service_name))
    error_message = "service_name must be lowercase letters, digits and '-', starting with a letter."
  }
}

variable "description" {
  description = "The unit's Description=."
  type        = string
}

variable "command" {
  description = "The sluice command the unit runs."
  type        = string
  validation {
    condition     = contains(["start", "gateway", "control-plane"], var.command)
    error_message = "command must be start, gateway or control-plane."
  }
}

variable "runtime" {
  description = "JavaScript runtime: bun (the single binary dist/sluice), node or deno (the release tarball)."
  type        = string
  default     = "bun"
  validation {
    condition     = contains(["bun", "deno", "node"], var.runtime)
    error_message = "runtime must be one of bun, deno, node."
  }
}

variable "artifact_url" {
  description = "https URL of the release artifact: the `sluice` binary for bun, `sluice-<version>.tar.gz` for node and deno."
  type        = string
  default     = null
}

variable "artifact_sha256" {
  description = "SHA-256 of the artifact at artifact_url (lowercase hex); the host refuses a download that does not match."
  type        = string
  default     = null
}

variable "package_version" {
  description = "Release version to install from release_base_url/v<version>/, checked against that release's SHA256SUMS."
  type        = string
  default     = null
}

variable "release_base_url" {
  description = "Where releases live: <base>/v<version>/{sluice,sluice-<version>.tar.gz,SHA256SUMS}."
  type        = string
  default     = null
}

variable "node_version" {
  description = "Node.js version installed from nodejs.org (runtime node; for deno it only runs `npm ci`)."
  type        = string
  default     = "20.20.2"
}

variable "deno_version" {
  description = "Deno version installed from the denoland/deno GitHub release (runtime deno)."
  type        = string
  default     = "2.9.6"
}

variable "environment" {
  description = "Settings written to the environment file (not secret)."
  type        = map(string)
  default     = {}
}

variable "secret_environment" {
  description = "Secret settings written to the environment file (mode 0600, read by systemd as root)."
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "bind_ports" {
  description = "Every port or range (`PORT` / `FROM-TO`) the process listens on: decides CAP_NET_BIND_SERVICE and the reserved local ports."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for r in var.bind_ports : can(regex("^[0-9]{1,5}(-[0-9]{1,5})?$", r))])
    error_message = "bind_ports entries must be 'PORT' or 'FROM-TO'."
  }
}

variable "data_dir" {
  description = "Writable state directory (the only path the unit may write besides its private /tmp)."
  type        = string
  default     = "/var/lib/sluice"
}

variable "install_dir" {
  description = "Where the binary, the app tree and the runtimes are installed (read-only for the service)."
  type        = string
  default     = "/opt/sluice"
}

variable "service_user" {
  description = "System user the service runs as (created by the installer)."
  type        = string
  default     = "sluice"
}

variable "limit_nofile" {
  description = "LimitNOFILE for the service: two descriptors per proxied TCP connection."
  type        = number
  default     = 1048576
}

variable "stop_timeout_seconds" {
  description = "TimeoutStopSec: how long connections may drain after SIGTERM."
  type        = number
  default     = 30
}

variable "sysctl" {
  description = "Kernel settings written to /etc/sysctl.d/60-<service_name>.conf (already merged with defaults by the caller)."
  type        = map(string)
  default     = {}
}
