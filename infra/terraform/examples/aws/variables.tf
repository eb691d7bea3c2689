variable "region" {
  description = "AWS region."
  type        = string
}

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "sluice"
}

variable "vpc_id" {
  description = "VPC the hosts and load balancers live in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets (one per AZ) for the instances and the internal control-plane NLB. They need outbound internet (NAT) to download the release."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Subnets for the gateways' internet-facing NLB."
  type        = list(string)
}

variable "instance_type" {
  description = "EC2 instance type for both roles (x86_64: the release binary and the installer are amd64)."
  type        = string
  default     = "c6i.large"
}

variable "runtime" {
  description = "bun, node or deno (see the modules)."
  type        = string
  default     = "bun"
}

variable "artifact_url" {
  description = "https URL of the release artifact for the chosen runtime (dist/sluice or dist/sluice-<version>.tar.gz)."
  type        = string
}

variable "artifact_sha256" {
  description = "Its line from dist/SHA256SUMS."
  type        = string
}

variable "database_url" {
  description = "PostgreSQL URL for the control plane (e.g. an RDS instance reachable from the private subnets)."
  type        = string
  sensitive   = true
}

variable "admin_key" {
  description = "Admin API key (X-API-KEY). Keep it in a secret store; pass with TF_VAR_admin_key."
  type        = string
  sensitive   = true
}

variable "admin_cidrs" {
  description = "Networks allowed to reach the admin API (operators, CI)."
  type        = list(string)
  default     = []
}

variable "control_plane_count" {
  description = "Control-plane replicas (they share the database)."
  type        = number
  default     = 2
}

variable "gateway_group" {
  description = "Gateway group the gateways join (`default` exists from the first start)."
  type        = string
  default     = "default"
}

variable "gateway_token" {
  description = "Gateway token of the group (POST /api/gateway_groups/:id/token). Null on the first apply: only the control plane is created."
  type        = string
  default     = null
  sensitive   = true
  validation {
    condition     = var.gateway_count == 0 || var.gateway_token != null
    error_message = "gateway_count > 0 needs gateway_token: issue one with POST /api/gateway_groups/:id/token after the first apply."
  }
}

variable "gateway_count" {
  description = "Gateway instances in the autoscaling group. 0 (the first apply) creates only the control plane."
  type        = number
  default     = 0
}

variable "stream_listeners" {
  description = "Ports the NLB forwards to the gateways; keep them inside the group's stream_port_ranges."
  type = list(object({
    port     = number
    protocol = string # TCP or UDP
  }))
  default = [{ port = 9000, protocol = "TCP" }]
  validation {
    condition     = alltrue([for l in var.stream_listeners : contains(["TCP", "UDP"], l.protocol) && l.port >= 1 && l.port <= 65535])
    error_message = "stream_listeners need protocol TCP or UDP and a port from 1 to 65535."
  }
}

variable "client_cidrs" {
  description = "Networks allowed to reach the stream ports."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}
