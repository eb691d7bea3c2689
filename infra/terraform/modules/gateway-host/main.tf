# A Sluice data-plane host: `sluice gateway` joined to one gateway group of a control plane.
# Everything is rendered by ../sluice-host; this module turns gateway inputs into settings.

locals {
  status_port = tonumber(reverse(split(":", var.status_addr))[0])

  default_sysctl = {
    # Accept queues for bursts of new connections on every listener.
    "net.core.somaxconn"           = "65535"
    "net.ipv4.tcp_max_syn_backlog" = "65535"
    "net.core.netdev_max_backlog"  = "16384"
    # Every proxied connection takes an ephemeral port towards its upstream.
    "net.ipv4.ip_local_port_range" = "1024 65535"
    "net.ipv4.tcp_tw_reuse"        = "1"
    "net.ipv4.tcp_fin_timeout"     = "15"
    # UDP sessions: room for bursts in the socket buffers.
    "net.core.rmem_max" = "16777216"
    "net.core.wmem_max" = "16777216"
    "fs.file-max"       = "2097152"
    "fs.nr_open"        = tostring(max(1048576, var.limit_nofile))
  }
  # The widened ephemeral range would otherwise hand a listen port to an outgoing connection.
  reserved_ports = concat(var.listen_port_ranges, [tostring(local.status_port)])
  sysctl = merge(
    local.default_sysctl,
    { "net.ipv4.ip_local_reserved_ports" = join(",", local.reserved_ports) },
    var.sysctl_overrides,
  )

  environment = merge(
    {
      SLUICE_CONTROL_PLANE = var.control_plane_url
      SLUICE_GATEWAY_GROUP = var.gateway_group
      SLUICE_STATUS_ADDR   = var.status_addr
      SLUICE_DATA_DIR      = var.data_dir
      SLUICE_LOG_LEVEL     = var.log_level
      SLUICE_DRAIN_TIMEOUT = tostring(var.drain_timeout_seconds)
    },
    var.listen_addr == null ? {} : { SLUICE_LISTEN_ADDR = var.listen_addr },
    var.runtime_adapter == null ? {} : { SLUICE_RUNTIME_ADAPTER = var.runtime_adapter },
    var.extra_environment,
  )
}

module "host" {
  source = "../sluice-host"

  service_name         = "sluice-gateway"
  description          = "Sluice L4 gateway (data plane)"
  command              = "gateway"
  runtime              = var.runtime
  artifact_url         = var.artifact_url
  artifact_sha256      = var.artifact_sha256
  package_version      = var.package_version
  release_base_url     = var.release_base_url
  node_version         = var.node_version
  deno_version         = var.deno_version
  environment          = local.environment
  secret_environment   = { SLUICE_GATEWAY_TOKEN = var.gateway_token }
  bind_ports           = local.reserved_ports
  data_dir             = var.data_dir
  install_dir          = var.install_dir
  service_user         = var.service_user
  limit_nofile         = var.limit_nofile
  stop_timeout_seconds = var.drain_timeout_seconds + 15
  sysctl               = local.sysctl
}
