# A Sluice control-plane host: `sluice control-plane` (admin API + config delivery) on PostgreSQL.
# Any number of these may share one database. Everything is rendered by ../sluice-host.

locals {
  admin_port  = tonumber(reverse(split(":", var.admin_addr))[0])
  status_port = tonumber(reverse(split(":", var.status_addr))[0])

  default_sysctl = {
    # Every gateway holds a long-lived config stream; bursts of reconnects after a restart hit the accept queue.
    "net.core.somaxconn"               = "4096"
    "net.ipv4.tcp_max_syn_backlog"     = "4096"
    "net.ipv4.ip_local_port_range"     = "1024 65535"
    "net.ipv4.ip_local_reserved_ports" = join(",", distinct([tostring(local.admin_port), tostring(local.status_port)]))
    "net.ipv4.tcp_tw_reuse"            = "1"
    "fs.file-max"                      = "1048576"
  }
  sysctl = merge(local.default_sysctl, var.sysctl_overrides)

  environment = merge(
    {
      SLUICE_ADMIN_ADDR  = var.admin_addr
      SLUICE_STATUS_ADDR = var.status_addr
      SLUICE_DATA_DIR    = var.data_dir
      SLUICE_LOG_LEVEL   = var.log_level
    },
    var.extra_environment,
  )
  secret_environment = merge(
    { DATABASE_URL = var.database_url },
    var.admin_key == null ? {} : { SLUICE_ADMIN_KEY = var.admin_key },
  )
}

module "host" {
  source = "../sluice-host"

  service_name         = "sluice-control-plane"
  description          = "Sluice control plane (admin API, config delivery)"
  command              = "control-plane"
  runtime              = var.runtime
  artifact_url         = var.artifact_url
  artifact_sha256      = var.artifact_sha256
  package_version      = var.package_version
  release_base_url     = var.release_base_url
  node_version         = var.node_version
  deno_version         = var.deno_version
  environment          = local.environment
  secret_environment   = local.secret_environment
  bind_ports           = distinct([tostring(local.admin_port), tostring(local.status_port)])
  data_dir             = var.data_dir
  install_dir          = var.install_dir
  service_user         = var.service_user
  limit_nofile         = var.limit_nofile
  stop_timeout_seconds = var.stop_timeout_seconds
  sysctl               = local.sysctl
}
